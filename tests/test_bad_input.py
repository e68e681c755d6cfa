"""Bad input, answered clearly and safely.

* Ticket names: path traversal, absolute paths, spaces, look-alike letters, 300 characters,
  names git rejects, option-like names: every command refuses them with the rule (exit 2) and
  nothing is created, anywhere.
* Hook payloads (what tests/test_hooks_*.py do not cover yet): malformed payloads for Codex,
  nesting too deep for the JSON parser, NUL bytes and unencodable paths, directory symlinks,
  link chains and dangling links out of the ticket folder into source, links to mlgate's own
  machinery, `..` traversal, a huge command, a cwd outside the repository. Each is denied
  (fail closed) with a reason, through the real ``mlgate hook claude|codex`` console script.
* A state file edited by hand (permission, stage, a forged log row): the seal breaks, the lock
  and ``can-edit`` treat the ticket as Locked, ``doctor`` reports it (exit 3), ``advance``
  refuses to act on it, and ``doctor --repair`` records a Process Violation, relocks and puts
  the stage back where the Transition Log says it is.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import git
from mlgate import constants as C
from mlgate import tickets
from mlgate.cli import main as cli_main
from mlgate.errors import InvalidTicketName
from mlgate.lock.policy import decide
from mlgate.workspace import Workspace
from test_hooks_helpers import claude_payload, deny_reason, run_hook
from test_walk import fill

MLGATE = str(Path(sys.executable).parent / "mlgate")
SRC = "src/model.py"


def mlgate(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([MLGATE, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def cli(capsys: pytest.CaptureFixture[str], cwd: Path, *args: str) -> tuple[int, str, str]:
    """The CLI in this process (its one error boundary, exit codes included)."""
    with pytest.raises(SystemExit) as exc:
        cli_main(["-C", str(cwd), *args])
    out, err = capsys.readouterr()
    return int(exc.value.code or 0), out, err


@pytest.fixture
def gws(git_repo: Path) -> Workspace:
    ws, _ = Workspace.init(git_repo)
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-q", "-m", "mlgate init")
    return ws


# -- ticket names ----------------------------------------------------------------------------

BAD_NAMES = [
    "../x", "../../escape", "x/../../y", "/abs", "/tmp/evil", "~/home", "a/b", "a\\b", ".", "..",
    "with space", " lead", "trail ", "tab\tname", "new\nline", "semi;colon", "$(id)", "`id`",
    "\u0430bc",  # Cyrillic a
    "\uff41bc",  # fullwidth a
    "e\u0301",  # e + combining accent
    "caf\u00e9", "\u2024dot",  # one-dot leader, looks like "."
    "x" * 300, "a" * 64, "UPPER", "Mixed",
    "a..b", "a.lock", "x.lock", "trailing-", "@", "a@{1}", "a~1", "a^1", "a:b", "a?b", "a*b",
    "a[b", "a.b", "_under", "",
]


def test_bad_ticket_names_are_refused_with_the_rule(gws: Workspace,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    branches = git(gws.root, "branch", "--list")
    listing = sorted(p.name for p in gws.root.parent.iterdir())
    for name in BAD_NAMES:
        for args in (("new", name), ("status", name), ("advance", name), ("reopen", name),
                     ("archive", name), ("check", name)):
            args = (args[0], "--", args[1])  # so that "-x"-like names are names, not options
            code, _, err = cli(capsys, gws.root, *args)
            assert code == 2, (args, code, err)
            assert C.TICKET_NAME_RULE in err, (args, err)
    assert git(gws.root, "branch", "--list") == branches  # no branch was made
    assert sorted(p.name for p in gws.root.parent.iterdir()) == listing  # no worktree folder
    assert not [p for p in (gws.root / "tickets" / "in-progress").iterdir()
                if p.name != ".gitkeep"]
    assert not (gws.root / "tickets" / "x").exists() and not Path("/abs").exists()
    assert len(git(gws.root, "worktree", "list").splitlines()) == 1


@pytest.mark.parametrize("name", ["../x", "/tmp/evil", "\u0430bc", "x" * 300, "-x"])
def test_bad_names_through_the_console_script(gws: Workspace, name: str) -> None:
    r = mlgate(gws.root, "--json", "new", "--", name)
    assert r.returncode == 2, r.stderr
    data = json.loads(r.stdout)
    assert data["error"] == "invalid_ticket_name" and data["rule"] == C.TICKET_NAME_RULE
    assert data["name"] == name
    r = mlgate(gws.root, "new", name)  # unquoted "-x" is an unknown option: still exit 2
    assert r.returncode == 2 and "Traceback" not in r.stderr


def test_longest_valid_name_and_one_more(gws: Workspace, capsys: pytest.CaptureFixture[str]
                                         ) -> None:
    assert cli(capsys, gws.root, "new", "a" * 63)[0] == 0
    assert cli(capsys, gws.root, "new", "b" * 64)[0] == 2


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(max_size=80),
                 st.text(alphabet="abc-./\\ _~^:?*[@{}0123456789\u0430\u00e9A", max_size=70)))
def test_any_accepted_name_is_a_safe_folder_and_branch(name: str) -> None:
    """Whatever string is offered, it is refused with the rule, or it is a name that stays
    one folder inside tickets/in-progress and makes a valid git branch."""
    try:
        tickets.validate_name(name)
    except InvalidTicketName as exc:
        assert exc.rule == C.TICKET_NAME_RULE and exc.exit_code == 2
        return
    assert C.TICKET_NAME_RE.fullmatch(name) and name.isascii()
    base = Path("/w/tickets/in-progress")
    assert (base / name).resolve().parent == base.resolve()
    r = subprocess.run(["git", "check-ref-format", "--branch", f"codex/{name}"],
                       capture_output=True)
    assert r.returncode == 0


# -- hook payloads ---------------------------------------------------------------------------


@pytest.fixture
def locked(gws: Workspace) -> Path:
    """A real ticket worktree in stage 0 (source locked), made by `mlgate new`."""
    return gws.new_ticket("exp").checkout


def codex_payload(tool: str, cwd: Path, **tool_input: object) -> bytes:
    return json.dumps({"session_id": "019a", "transcript_path": None, "cwd": str(cwd),
                       "hook_event_name": "PreToolUse", "model": "gpt-5-codex",
                       "tool_name": tool, "tool_input": tool_input,
                       "tool_use_id": "call_1"}).encode()


def denied(agent: str, payload: bytes) -> str:
    proc = run_hook(agent, payload)
    reason = deny_reason(proc)
    assert reason is not None, f"allowed: {payload[:200]!r}"
    assert reason in proc.stderr.decode(errors="replace")
    return reason


@pytest.mark.parametrize("payload,needle", [
    (b"", "empty stdin"),
    (b"{", "not JSON"),
    (b"null", "expected a JSON object"),
    (b'{"tool_name": "apply_patch", "tool_input": {}, "cwd": "/"}', "patch text"),
    (b'{"tool_name": "apply_patch", "tool_input": {"command": 5}, "cwd": "/"}', "patch text"),
    (b'{"tool_name": "shell", "tool_input": {"command": {"a": 1}}, "cwd": "/"}', "command"),
    (b'{"tool_name": "apply_patch", "tool_input": {"command": "x"}}', "cwd"),
    (b"[" * 100_000 + b"]" * 100_000, "fail closed"),  # deeper than the JSON parser goes
])
def test_malformed_codex_payloads_deny(payload: bytes, needle: str) -> None:
    reason = denied("codex", payload)
    assert needle in reason and "fail closed" in reason


def test_nesting_too_deep_for_json_denies_claude() -> None:
    payload = b'{"tool_name": "Edit", "cwd": "/", "tool_input": ' + b"[" * 100_000 + \
        b"]" * 100_000 + b"}"
    reason = denied("claude", payload)
    assert "RecursionError" in reason and "fail closed" in reason


@pytest.mark.parametrize("path", [SRC + "\u0000.md", "src/a\ud800b.py"])
def test_unusable_paths_deny(locked: Path, path: str) -> None:
    """A NUL byte or a lone surrogate cannot name a file on disk: refused, not allowed."""
    payload = json.dumps({"hook_event_name": "PreToolUse", "tool_name": "Write",
                          "cwd": str(locked), "tool_input": {"file_path": path,
                                                             "content": "x"}}).encode()
    reason = denied("claude", payload)
    assert "fail closed" in reason


def test_directory_symlink_out_of_the_ticket_folder(locked: Path) -> None:
    folder = locked / "tickets" / "in-progress" / "exp"
    (folder / "code").symlink_to(locked / "src", target_is_directory=True)
    reason = denied("claude", claude_payload("Write", locked,
                                             file_path=str(folder / "code" / "model.py"),
                                             content="x = 2\n"))
    assert "a link to src/model.py" in reason and "stage 0" in reason
    reason = denied("codex", codex_payload("apply_patch", locked, command=(
        "*** Begin Patch\n*** Update File: tickets/in-progress/exp/code/model.py\n@@\n-x = 1\n"
        "+x = 2\n*** End Patch\n")))
    assert "src/model.py" in reason
    denied("claude", claude_payload("Bash", locked,
                                    command="echo 'x = 2' > tickets/in-progress/exp/code/model.py"))


def test_symlink_chain_and_dangling_link_into_source(locked: Path) -> None:
    folder = locked / "tickets" / "in-progress" / "exp"
    (folder / "b.py").symlink_to(locked / SRC)
    (folder / "a.py").symlink_to(folder / "b.py")
    reason = denied("claude", claude_payload("Edit", locked, file_path=str(folder / "a.py"),
                                             old_string="x", new_string="y"))
    assert "src/model.py" in reason
    # a link to a file that does not exist yet: writing it would create src/new.py
    (folder / "new.py").symlink_to(locked / "src" / "new.py")
    reason = denied("claude", claude_payload("Write", locked, file_path=str(folder / "new.py"),
                                             content="print(1)\n"))
    assert "src/new.py" in reason
    assert not (locked / "src" / "new.py").exists()


def test_symlink_to_mlgate_machinery(locked: Path, gws: Workspace) -> None:
    folder = locked / "tickets" / "in-progress" / "exp"
    key = tickets.key_dir(gws.root) / "seal.key"
    (folder / "key").symlink_to(key)
    reason = denied("claude", claude_payload("Write", locked, file_path=str(folder / "key"),
                                             content="00" * 32))
    assert "seal key" in reason
    hooks = gws.root / ".git" / "hooks"
    hooks.mkdir(exist_ok=True)
    (folder / "hooks").symlink_to(hooks, target_is_directory=True)
    reason = denied("claude", claude_payload("Write", locked,
                                             file_path=str(folder / "hooks" / "pre-commit"),
                                             content="exit 0"))
    assert "git hooks" in reason


@pytest.mark.parametrize("cwd_rel,path", [
    ("tickets/in-progress/exp", "../../../src/model.py"),
    (".", "tickets/in-progress/exp/../../../src/model.py"),
    (".", "./tickets/./in-progress//exp/../../.././src/model.py"),
])
def test_dotdot_traversal_out_of_the_ticket_folder(locked: Path, cwd_rel: str, path: str
                                                   ) -> None:
    reason = denied("claude", claude_payload("Write", locked / cwd_rel, file_path=path,
                                             content="x"))
    assert "src/model.py" in reason and "stage 0" in reason
    reason = denied("codex", codex_payload("apply_patch", locked / cwd_rel, command=(
        f"*** Begin Patch\n*** Add File: {path}\n+x\n*** End Patch\n")))
    assert "src/model.py" in reason


def test_huge_command_is_judged_in_bounded_time(locked: Path) -> None:
    command = "echo ok > tickets/in-progress/exp/notes.md; " * 20_000 + "echo x > src/model.py"
    start = time.perf_counter()
    reason = denied("claude", claude_payload("Bash", locked, command=command))
    assert time.perf_counter() - start < 60
    assert "src/model.py" in reason


def test_cwd_outside_the_repository_does_not_unlock_its_files(locked: Path,
                                                              tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    reason = denied("claude", claude_payload("Write", elsewhere,
                                             file_path=str(locked / SRC), content="x"))
    assert "stage 0" in reason
    assert not decide([str(locked / SRC)], cwd=elsewhere).allowed


# -- a state file edited by hand ---------------------------------------------------------------


LOCKED, UNLOCKED = "- Code Edit Permission: `Locked`", "- Code Edit Permission: `Unlocked`"


def forge(state: Path, edit: str) -> None:
    text = state.read_text()
    if edit == "unlock":
        text = text.replace(LOCKED, UNLOCKED)
    elif edit in ("stage", "skip"):
        to = "4" if edit == "stage" else "6"
        text = text.replace("- Current Stage: `3`", f"- Current Stage: `{to}`")
        text = text.replace(LOCKED, UNLOCKED)
    elif edit == "log":  # a whole forged move: log row, snapshot, gate
        last = [ln for ln in text.splitlines() if ln.startswith("| T-003 ")][0]
        row = "| T-004 | 2026-01-01 | 3 | 4 | Stage 3 gate passed | N/A | Unlocked | x |"
        text = text.replace(last, last + "\n" + row)
        text = text.replace("- Current Stage: `3`", "- Current Stage: `4`")
        text = text.replace(LOCKED, UNLOCKED)
        text = text.replace("- Last Transition ID: `T-003`", "- Last Transition ID: `T-004`")
    assert text != state.read_text()
    state.write_text(text)


@pytest.mark.parametrize("edit", ["unlock", "stage", "skip", "log"])
def test_hand_edited_state_is_locked_reported_and_repaired(
        git_repo: Path, edit: str, capsys: pytest.CaptureFixture[str]) -> None:
    ws, _ = Workspace.init(git_repo)
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-q", "-m", "mlgate init")
    t = ws.new_ticket("exp", worktree=True)
    for s in range(3):  # stage 3, Locked, sealed by mlgate
        fill(t.folder, s)
        git(t.checkout, "add", "-A")
        git(t.checkout, "commit", "-q", "-m", f"stage {s}")
        t.advance()
    wt = t.checkout
    forge(t.state_path, edit)

    def run(*args: str) -> tuple[int, str, str]:  # the CLI, in this process (quicker)
        return cli(capsys, wt, *args)

    code, out, _ = run("can-edit", SRC)
    assert code == 1 and "seal broken" in out
    assert not decide([str(wt / SRC)], cwd=wt).allowed
    reason = deny_reason(run_hook("claude", claude_payload("Edit", wt, file_path=str(wt / SRC),
                                                           old_string="x", new_string="y")))
    assert reason is not None and "seal broken" in reason
    (st,) = json.loads(run("--json", "status")[1])  # no NAME: a list
    assert st["seal"] == "broken" and st["permission"] == "Locked"
    assert st["recorded_permission"] == "Unlocked"
    code, out, _ = run("doctor")
    assert code == 3 and "[seal]" in out
    before = t.state_path.read_bytes()
    code, _, err = run("advance")
    assert code == 3 and "doctor exp --repair" in err
    assert t.state_path.read_bytes() == before  # a tampered file is never acted upon

    code, out, err = run("doctor", "--repair")
    assert code == 0, out + err
    (st,) = json.loads(run("--json", "status")[1])  # no NAME: a list
    assert st["seal"] == "valid" and st["permission"] == st["recorded_permission"] == "Locked"
    assert st["stage"] == (4 if edit == "log" else 3)  # back where the log says
    assert [v["id"] for v in st["violations"]] == ["V-001"]
    assert "seal broken" in st["violations"][0]["violation"]
    if edit == "skip":
        assert "Current Stage restored to 3" in st["violations"][0]["action"]
    assert run("can-edit", SRC)[0] == 1
    code, _, err = run("advance")
    assert code == 1 and "V-001" in err  # the violation blocks moves forward
    if edit == "log":  # a forged move into 4 does not unlock code: unlock re-checks stage 3
        assert run("unlock")[0] == 1
        assert run("can-edit", SRC)[0] == 1
    assert run("doctor")[0] == 0
