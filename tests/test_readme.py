"""The README and the docs site cannot drift from the CLI: every `mlgate ...` command line in
their code blocks names a real command with real options and parses; every CLI command is in
the README's command table; the README stays a short front page (the PyPI long description,
so no relative links)."""
from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest

from mlgate.cli import cli

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("**/*.md")),
         *sorted((ROOT / "stages").glob("**/README.md"))]


def _code_blocks(text: str) -> list[str]:
    return re.findall(r"```[a-z]*\n(.*?)```", text, flags=re.S)


def _command_lines() -> list[str]:
    out = []
    for block in (b for page in PAGES for b in _code_blocks(page.read_text())):
        console = any(raw.startswith("$ ") for raw in block.splitlines())
        for raw in block.splitlines():
            line = raw.strip()
            if console and not line.startswith("$ "):
                continue  # output shown under a prompt, not a command
            if line.startswith("$ "):
                line = line[2:]
            line = line.split("  #")[0].split(" # ")[0].strip()
            if re.match(r"^mlgate\s+\S", line) and "|" not in line and "[" not in line \
                    and "…" not in line \
                    and "..." not in line:
                out.append(line)
    return sorted(set(out))


COMMANDS = _command_lines()
DOCS = "\n".join(page.read_text() for page in PAGES)


def test_readme_shows_many_commands() -> None:
    assert len(COMMANDS) >= 25, COMMANDS


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("line", COMMANDS)
def test_every_readme_command_parses(line: str) -> None:
    args = shlex.split(line)[1:]
    ctx = cli.make_context("mlgate", list(args), resilient_parsing=False)
    cmd: click.Command = cli
    rest = ctx.protected_args + ctx.args
    while isinstance(cmd, click.Group) and rest:
        name, rest = rest[0], rest[1:]
        sub = cmd.get_command(ctx, name)
        assert sub is not None, f"docs line {line!r}: no command {name!r}"
        cmd = sub
        ctx = cmd.make_context(name, list(rest), parent=ctx, resilient_parsing=False)
        rest = getattr(ctx, "protected_args", []) + ctx.args if isinstance(cmd, click.Group) else []


def test_every_command_is_in_the_readme() -> None:
    """Every command is documented, in the README or on a page under docs/."""
    names = set(cli.commands)
    for group in ("hooks", "baseline", "round"):
        names |= {f"{group} {n}" for n in cli.commands[group].commands}  # type: ignore[attr-defined]
    missing = [n for n in sorted(names) if f"mlgate {n}" not in DOCS and f"`{n}" not in DOCS]
    assert not missing, f"commands not documented in README.md or docs/: {missing}"


def test_readme_starts_with_the_two_commands() -> None:
    head = README[:2500]
    assert "make demo" in head and "make test" in head


def test_readme_is_a_short_front_page_without_relative_links() -> None:
    assert len(README.splitlines()) <= 250
    links = re.findall(r"\]\(([^)]+)\)", README)
    assert links, "the README links to the docs site"
    relative = [u for u in links if not re.match(r"https?://", u)]
    assert not relative, f"PyPI cannot follow relative links: {relative}"
    for section in ("## Install", "## Quickstart", "## Concepts", "## Commands"):
        assert section in README


def test_readme_quickstart_is_in_the_users_own_project() -> None:
    quick = README[README.index("## Quickstart"):README.index("## Why")]
    block = _code_blocks(quick)[0]
    steps = [line for line in block.splitlines() if line.strip()]
    assert len(steps) <= 15
    for step in ("pip install", "mlgate init", "mlgate hooks install", "mlgate new",
                 "mlgate check", "mlgate advance"):
        assert step in block, step
