"""``mlgate hooks install --claude/--codex`` registers the MCP server in ``.mcp.json`` and
``.codex/config.toml`` of every checkout (``--no-mcp`` opts out), keeping everything else in
those files; and the registered command, run as an agent runs it, serves that checkout."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest

pytest.importorskip("mcp")
tomlkit = pytest.importorskip("tomlkit")

from mcp_client import payload, session  # noqa: E402
from mlgate.mcp import register  # noqa: E402
from mlgate.workspace import Workspace  # noqa: E402
from test_hooks_helpers import MLGATE, add_ticket  # noqa: E402

CODEX_BEFORE = """\
# my Codex settings
model = "o3"  # the model I use

[mcp_servers.docs]
command = "docs-server"
args = ["--port", "0"]
"""


def toml(text: str) -> dict[str, Any]:
    return tomlkit.parse(text).unwrap()


CLAUDE_BEFORE = {"mcpServers": {"docs": {"command": "docs-server", "args": []}},
                 "note": "kept"}


def install(cwd: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([MLGATE, "hooks", "install", *flags], cwd=cwd, capture_output=True,
                          text=True, timeout=120)


def test_registers_in_every_checkout_keeping_other_settings(git_repo: Path) -> None:
    Workspace.init(git_repo)
    wt = add_ticket(git_repo, "exp", 1)
    (git_repo / ".mcp.json").write_text(json.dumps(CLAUDE_BEFORE, indent=4))
    (git_repo / ".codex").mkdir()
    (git_repo / ".codex" / "config.toml").write_text(CODEX_BEFORE)

    r = install(git_repo, "--claude", "--codex")
    assert r.returncode == 0, r.stderr
    for checkout in (git_repo, wt):
        assert f"registered the mlgate MCP server for Claude Code in {checkout / '.mcp.json'}" \
            in r.stdout
        assert f"registered the mlgate MCP server for Codex in " \
               f"{checkout / '.codex' / 'config.toml'}" in r.stdout
        want = {"command": MLGATE, "args": ["mcp", "--workspace", str(checkout.resolve())]}
        claude = json.loads((checkout / ".mcp.json").read_text())
        assert claude["mcpServers"]["mlgate"] == {"type": "stdio", **want, "env": {}}
        codex = toml((checkout / ".codex" / "config.toml").read_text())
        assert codex["mcp_servers"]["mlgate"] == want
        assert (checkout / ".claude" / "settings.local.json").exists()  # the hooks
    # what was there is kept: other servers, other keys, the comments
    claude = json.loads((git_repo / ".mcp.json").read_text())
    assert claude["note"] == "kept" and claude["mcpServers"]["docs"] == \
        CLAUDE_BEFORE["mcpServers"]["docs"]
    text = (git_repo / ".codex" / "config.toml").read_text()
    assert text.startswith(CODEX_BEFORE)
    assert toml(text)["mcp_servers"]["docs"] == {"command": "docs-server",
                                                          "args": ["--port", "0"]}
    # a second install changes nothing
    before = {p: p.read_bytes() for p in (git_repo / ".mcp.json",
                                          git_repo / ".codex" / "config.toml")}
    r = install(git_repo, "--claude", "--codex")
    assert r.returncode == 0 and r.stdout.count("already registered") == 4, r.stdout
    assert all(p.read_bytes() == b for p, b in before.items())


def test_uninstall_removes_only_the_mlgate_entries(git_repo: Path) -> None:
    """`hooks uninstall --claude --codex`, typed by the person, takes the server out of every
    checkout again: other servers and settings stay; a file mlgate alone wrote goes."""
    from conftest import person

    Workspace.init(git_repo)
    wt = add_ticket(git_repo, "exp", 1)
    (git_repo / ".mcp.json").write_text(json.dumps(CLAUDE_BEFORE, indent=4))
    (git_repo / ".codex").mkdir()
    (git_repo / ".codex" / "config.toml").write_text(CODEX_BEFORE)
    assert install(git_repo, "--claude", "--codex").returncode == 0
    assert "mlgate" in json.loads((wt / ".mcp.json").read_text())["mcpServers"]

    rc, out = person(git_repo, "hooks", "uninstall", "--claude", "--codex",
                     answer=git_repo.name)
    assert rc == 0, out
    claude = json.loads((git_repo / ".mcp.json").read_text())
    assert claude == CLAUDE_BEFORE  # the other server and the other key are kept
    assert toml((git_repo / ".codex" / "config.toml").read_text()) == toml(CODEX_BEFORE)
    assert (git_repo / ".codex" / "config.toml").read_text().startswith("# my Codex settings")
    assert f"removed the mlgate MCP server for Claude Code from {git_repo / '.mcp.json'}" in out
    # the worktree's files held only mlgate's entry: deleted
    assert not (wt / ".mcp.json").exists() and not (wt / ".codex" / "config.toml").exists()
    assert "(deleted: nothing else was in it)" in out
    # a second uninstall finds nothing to remove and changes nothing
    rc, out = person(git_repo, "hooks", "uninstall", "--claude", "--codex",
                     answer=git_repo.name)
    assert rc == 0 and "removed the mlgate MCP server" not in out, out
    assert json.loads((git_repo / ".mcp.json").read_text()) == CLAUDE_BEFORE


def test_no_mcp_opts_out(git_repo: Path) -> None:
    Workspace.init(git_repo)
    r = install(git_repo, "--claude", "--codex", "--no-mcp")
    assert r.returncode == 0, r.stderr
    assert (git_repo / ".claude" / "settings.local.json").exists()
    assert not (git_repo / ".mcp.json").exists()
    assert not (git_repo / ".codex" / "config.toml").exists()
    assert "MCP" not in r.stdout
    r = install(git_repo, "--git")  # no agent named: nothing to register
    assert r.returncode == 0 and not (git_repo / ".mcp.json").exists()


@pytest.mark.parametrize("rel,text,needle", [
    (".mcp.json", '{"mcpServers": {', "not valid JSON"),
    (".mcp.json", "[1, 2]", "not an object"),
    (".mcp.json", '{"mcpServers": []}', "`mcpServers` is not an object"),
    (".codex/config.toml", "model = \n", "not valid TOML"),
    (".codex/config.toml", "mcp_servers = 3\n", "`mcp_servers` is not a table"),
])
def test_a_file_that_does_not_parse_is_not_overwritten(git_repo: Path, rel: str, text: str,
                                                       needle: str) -> None:
    Workspace.init(git_repo)
    path = git_repo / rel
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)
    r = install(git_repo, "--claude", "--codex")
    assert r.returncode == 2, r.stdout + r.stderr
    assert needle in r.stderr and str(path) in r.stderr and "--no-mcp" in r.stderr
    assert path.read_text() == text


def test_without_the_extra_nothing_is_registered(git_repo: Path) -> None:
    Workspace.init(git_repo)
    code = ("import sys; sys.modules['mcp'] = None; from mlgate.mcp import register; "
            f"print(register.register({str(git_repo)!r}, claude=True, codex=True))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       check=True)
    assert "pip install 'mlgate[mcp]'" in r.stdout
    assert not (git_repo / ".mcp.json").exists()


def test_the_registered_server_serves_its_checkout(git_repo: Path) -> None:
    """Start the server exactly as Claude Code would from the worktree's ``.mcp.json``:
    without a ticket argument, the tools answer for the worktree's ticket."""
    Workspace.init(git_repo)
    wt = add_ticket(git_repo, "exp", 0)
    add_ticket(git_repo, "other", 0)
    assert register.register(git_repo, claude=True)
    entry = json.loads((wt / ".mcp.json").read_text())["mcpServers"]["mlgate"]

    async def main() -> dict[str, object]:
        async with session(wt, command=entry["command"], args=entry["args"]) as s:
            return payload(await s.call_tool("status", {}))
    status = anyio.run(main)
    assert status["ticket"] == "exp" and status["stage"] == 0
