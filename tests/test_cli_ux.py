"""The command line as a newcomer meets it (real CLI in subprocesses, real git): ``--json``
before or after every command, one JSON shape per command and one error object for every
refusal, handler failures explained in text mode, ``mlgate run`` refusing handlers of another
stage and accepting a ticket name, did-you-mean, the stage-0 gate refusing the untouched
template, ``init``/``new`` next steps and warnings, ``--help`` by section, colour on a
terminal (and ``NO_COLOR``), ``check`` failing-first, and shell completion of tickets and
handlers."""
from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import click
import pytest

from mlgate.cli import SECTIONS, cli, section_of
from mlgate.workspace import Workspace

from conftest import git, mlgate, write_goal

ANSI = re.compile(r"\x1b\[[0-9;]*m")


@pytest.fixture
def ws(git_repo: Path) -> Workspace:
    ws, _ = Workspace.init(git_repo)
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-q", "-m", "mlgate init")
    return ws


def _configure(ws: Workspace, text: str) -> None:
    (ws.root / "mlgate.yaml").write_text(text)
    git(ws.root, "commit", "-q", "-am", "configure mlgate")


def _commands(group: click.Group, prefix: str = "") -> list[tuple[str, click.Command]]:
    out = []
    for name, cmd in group.commands.items():
        out.append((prefix + name, cmd))
        if isinstance(cmd, click.Group):
            out += _commands(cmd, prefix + name + " ")
    return out


# -- --json everywhere, one shape per command ------------------------------------------


def test_every_command_takes_json_after_its_name() -> None:
    missing = [name for name, cmd in _commands(cli)
               if name != "hook" and "--json" not in {o for p in cmd.params for o in p.opts}]
    assert not missing, f"commands without --json: {missing}"


def test_json_before_and_after_the_command_give_the_same_answer(ws: Workspace) -> None:
    t = ws.new_ticket("first")
    for args in (["status", "first"], ["list"], ["check", "first"], ["baseline", "show"],
                 ["can-edit", "src/model.py"], ["runs", "first"]):
        a = mlgate(t.checkout, "--json", *args)
        b = mlgate(t.checkout, *args, "--json")
        assert a.returncode == b.returncode, (args, a.stderr, b.stderr)
        assert json.loads(a.stdout) == json.loads(b.stdout), args


def test_status_is_an_object_with_name_and_a_list_without(ws: Workspace) -> None:
    t = ws.new_ticket("first")
    ws.new_ticket("second")
    one = json.loads(mlgate(ws.root, "status", "first", "--json").stdout)
    assert isinstance(one, dict) and one["ticket"] == "first"
    every = json.loads(mlgate(ws.root, "status", "--json").stdout)
    assert isinstance(every, list) and {d["ticket"] for d in every} == {"first", "second"}
    here = json.loads(mlgate(t.checkout, "status", "--json").stdout)  # inside a worktree
    assert isinstance(here, list) and [d["ticket"] for d in here] == ["first"]
    assert here[0] == one | {k: here[0][k] for k in here[0] if k not in one}


def test_refusals_share_one_error_object(ws: Workspace) -> None:
    _configure(ws, "handlers: {5: [train]}\n")
    t = ws.new_ticket("first")
    wt = t.checkout
    cases = {
        "gate_failed": (["advance"], 1),            # a refused move, with the gate's checks
        "edit_denied": (["can-edit", "src/model.py"], 1),
        "handler_not_configured": (["run", "train"], 1),
        "ticket_not_found": (["status", "nope"], 2),
        "usage": (["check", "--no-such-option"], 2),
        "transition_not_allowed": (["reenter", "Local Fix", "--reason", "x"], 1),
    }
    for kind, (args, code) in cases.items():
        r = mlgate(wt, *args, "--json")
        assert r.returncode == code, (kind, r.stdout, r.stderr)
        data = json.loads(r.stdout)
        assert {"error", "message", "exit_code"} <= set(data), (kind, data)
        assert data["error"] == kind and data["exit_code"] == code, (kind, data)
        assert data["message"].strip(), (kind, data)
    refused = json.loads(mlgate(wt, "advance", "--json").stdout)
    failing = json.loads(mlgate(wt, "check", "--json").stdout)
    # a failing `check` is the same object as the refused `advance`, checks included
    assert refused["checks"] == failing["checks"] and refused["error"] == failing["error"]
    assert any(not c["ok"] and c["id"] == "s0.requirements.goal" for c in failing["checks"])


# -- mlgate run ------------------------------------------------------------------------


def test_run_refuses_a_handler_of_another_stage_and_starts_nothing(ws: Workspace) -> None:
    _configure(ws, "handlers: {5: [train]}\ntrain:\n  command: \"python -c 'print(1)'\"\n")
    t = ws.new_ticket("first")
    r = mlgate(t.checkout, "run", "train")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "handler 'train' is not configured for stage 0 Bootstrap" in r.stderr
    assert "mlgate.yaml lists it for stage 5" in r.stderr and "once the ticket is in stage 5" \
        in r.stderr
    assert not (t.folder / "evidence").exists() and not (t.folder / "runs").exists()
    assert not (t.folder / "training-validation-report.md").exists()


def test_run_ticket_runs_its_handlers_and_text_shows_why_they_failed(ws: Workspace) -> None:
    _configure(ws, "handlers: {0: [train]}\n")  # no train.command
    t = ws.new_ticket("first")
    r = mlgate(ws.root, "run", "first")  # a ticket name, not a handler
    assert r.returncode == 1, r.stdout + r.stderr
    assert "train: Fail  (evidence/0-train-1.json)" in r.stdout
    assert "- [launch] train.command is not set in mlgate.yaml" in r.stdout  # the reason
    assert (t.folder / "evidence" / "0-train-1.json").is_file()


def test_a_crashed_run_prints_the_path_of_its_log(ws: Workspace) -> None:
    cmd = "python -c 'import sys; print(\\\"boom\\\"); sys.exit(3)'"
    _configure(ws, f'handlers: {{0: [train]}}\ntrain:\n  command: "{cmd}"\n  stall_after: 60\n')
    t = ws.new_ticket("first")
    r = mlgate(t.checkout, "run", timeout=180)
    assert r.returncode == 1, r.stdout + r.stderr
    log = t.folder / "runs" / "RUN-001" / "train.log"
    assert "- [run] RUN-001 ended crashed (exit code 3)" in r.stdout, r.stdout
    assert f"see {log}" in r.stdout and "boom" in log.read_text()


def test_unknown_handler_gets_a_did_you_mean(ws: Workspace) -> None:
    t = ws.new_ticket("first")
    r = mlgate(t.checkout, "run", "trian")
    assert r.returncode == 4 and "unknown handler 'trian' (did you mean 'train'?)" in r.stderr
    r = mlgate(t.checkout, "run", "torch-smok", "--json")
    assert json.loads(r.stdout)["suggestion"] == "torch-smoke"


# -- stage 0 ---------------------------------------------------------------------------


@pytest.mark.parametrize("goal", [None, "TODO", "tbd ...", "Goal: TBD"])
def test_stage0_gate_refuses_the_untouched_template(ws: Workspace, goal: str | None) -> None:
    t = ws.new_ticket("first")
    req = t.folder / "requirements.md"
    if goal is not None:
        req.write_text(req.read_text().replace("## Goal / Problem Statement\n\n-\n",
                                               f"## Goal / Problem Statement\n\n- {goal}\n"))
    r = mlgate(t.checkout, "advance")
    assert r.returncode == 1
    assert "[s0.requirements.goal] requirements.md:11:" in r.stderr
    assert "state the goal in your own words" in r.stderr
    write_goal(t.folder)
    r = mlgate(t.checkout, "advance")
    assert r.returncode == 0, r.stderr
    assert "stage 0 -> 1" in r.stdout


# -- init / new ------------------------------------------------------------------------


def test_init_says_what_next_and_warns_until_committed(git_repo: Path) -> None:
    r = mlgate(git_repo, "init")
    assert r.returncode == 0, r.stderr
    assert "warning: mlgate.yaml and tickets/ are not committed" in r.stdout
    assert "git add mlgate.yaml tickets && git commit" in r.stdout
    assert "next:" in r.stdout and "mlgate hooks install --git" in r.stdout
    assert "mlgate new NAME" in r.stdout
    r = mlgate(git_repo, "new", "early", "--json")  # made before the commit
    data = json.loads(r.stdout)
    assert data["warnings"] and "has no mlgate.yaml or tickets/" in data["warnings"][0]
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-q", "-m", "mlgate")
    r = mlgate(git_repo, "init")
    assert "warning" not in r.stdout and "(already initialised)" in r.stdout
    r = mlgate(git_repo, "new", "later")
    assert r.returncode == 0 and "warning" not in r.stdout
    assert "next:" in r.stdout and "cd " in r.stdout and "requirements.md" in r.stdout


# -- help, colour, check ------------------------------------------------------------------


def test_help_groups_the_commands_into_sections(git_repo: Path) -> None:
    out = mlgate(git_repo, "--help").stdout
    titles = ["Workflow", "Evidence", "Hooks", "Inspection", "Admin"]
    positions = [out.index(f"\n{t}") for t in titles]
    assert positions == sorted(positions), out
    assert "\nCommands:" not in out and "\nOther" not in out
    for name in cli.commands:
        assert section_of(name) != "other", f"add {name!r} to SECTIONS in mlgate/cli.py"
        assert re.search(rf"^  {re.escape(name)}\s", out, re.M), name
    assert set(SECTIONS) == {"workflow", "evidence", "hooks", "inspection", "admin"}


def _on_a_terminal(cwd: Path, *args: str, env: dict[str, str] | None = None) -> str:
    """Run the CLI with stdout on a pseudo-terminal; return what it printed."""
    main, sub = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "mlgate", *args], cwd=cwd, stdout=sub,
                            stderr=sub, env={**os.environ, **(env or {})})
    os.close(sub)
    chunks = []
    while True:
        try:
            data = os.read(main, 4096)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=60)
    os.close(main)
    return b"".join(chunks).decode()


def test_colour_on_a_terminal_and_never_with_no_color(ws: Workspace) -> None:
    t = ws.new_ticket("first")
    coloured = _on_a_terminal(t.checkout, "check")
    assert ANSI.search(coloured) and "FAIL" in coloured
    plain = _on_a_terminal(t.checkout, "check", env={"NO_COLOR": "1"})
    assert "FAIL" in plain and not ANSI.search(plain)
    piped = mlgate(t.checkout, "check")
    assert "FAIL" in piped.stdout and not ANSI.search(piped.stdout + piped.stderr)
    forced = subprocess.run([sys.executable, "-m", "mlgate", "check"], cwd=t.checkout,
                            capture_output=True, text=True, env={**os.environ, "FORCE_COLOR": "1"})
    assert ANSI.search(forced.stdout)


def test_check_prints_failing_checks_first_and_passing_only_with_v(ws: Workspace) -> None:
    t = ws.new_ticket("first")
    out = mlgate(t.checkout, "check").stdout.splitlines()
    assert out[1].lstrip().startswith("FAIL") and not any(" ok " in f" {x} " for x in out)
    assert "passing; -v lists them" in out[-1]
    verbose = mlgate(t.checkout, "check", "-v").stdout.splitlines()
    kinds = [x.split()[0] for x in verbose[1:]]
    assert kinds[0] == "FAIL" and "ok" in kinds
    assert kinds.index("ok") > max(i for i, k in enumerate(kinds) if k == "FAIL")
    write_goal(t.folder)
    ok = mlgate(t.checkout, "check").stdout
    assert "PASS" in ok and "-v lists them" in ok and len(ok.splitlines()) == 1


# -- completion ---------------------------------------------------------------------------


def _complete(cwd: Path, words: str) -> list[str]:
    env = {**os.environ, "_MLGATE_COMPLETE": "bash_complete", "COMP_WORDS": words,
           "COMP_CWORD": str(len(words.split()) - (0 if words.endswith(" ") else 1))}
    r = subprocess.run([sys.executable, "-m", "mlgate"], cwd=cwd, env=env, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return [line.split(",", 1)[1] for line in r.stdout.splitlines()]


def test_completion_of_ticket_and_handler_names(ws: Workspace) -> None:
    _configure(ws, "handlers: {4: [torch-smoke, my-check]}\nmy-check: {}\n")
    t = ws.new_ticket("first-idea")
    ws.new_ticket("second")
    assert _complete(ws.root, "mlgate status f") == ["first-idea"]
    assert set(_complete(t.checkout, "mlgate check ")) == {"first-idea", "second"}
    run = _complete(ws.root, "mlgate run ")
    assert {"torch-smoke", "train", "my-check", "first-idea", "second"} <= set(run)
    assert _complete(ws.root, "mlgate run tr") == ["train"]
    assert "advance" in _complete(ws.root, "mlgate adv")
    source = subprocess.run([sys.executable, "-m", "mlgate"], capture_output=True, text=True,
                            env={**os.environ, "_MLGATE_COMPLETE": "bash_source"})
    assert "complete -o nosort -F _mlgate_completion mlgate" in source.stdout


def test_graph_svg_draws_the_stages_without_a_network(ws: Workspace, tmp_path: Path) -> None:
    t = ws.new_ticket("first")
    out = tmp_path / "g" / "first.svg"
    r = mlgate(t.checkout, "graph", "--svg", str(out), "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["svg"] == str(out) and "class S0 current" in data["mermaid"]
    svg = out.read_text()
    assert svg.startswith("<?xml") and 'xmlns="http://www.w3.org/2000/svg"' in svg
    assert "Bootstrap" in svg and "Handoff" in svg and "<style>" in svg
    assert "href=\"http" not in svg and "<script" not in svg
