"""`mlgate hook claude`: real PreToolUse payloads (peers.md §2.1) through the installed
console script, against real ticket worktrees; and every fail-closed path."""
from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from mlgate.lock import hook as fast
from test_hooks_helpers import add_ticket, claude_payload, deny_reason, run_hook, set_stage

SRC = "src/model.py"


@pytest.fixture
def locked(git_repo: Path) -> Path:
    """A ticket worktree in stage 3 (Experiment Plan), sealed."""
    return add_ticket(git_repo, "exp", 3)


def claude(tool: str, cwd: Path, **tool_input: object) -> str | None:
    """The hook as Claude Code runs it: the console script, the payload on stdin."""
    return deny_reason(run_hook("claude", claude_payload(tool, cwd, **tool_input)))


def judge(tool: str, cwd: Path, **tool_input: object) -> str | None:
    """The same payload judged in this process (the many Bash cases; quicker)."""
    return fast.judge_payload("claude", claude_payload(tool, cwd, **tool_input))


@pytest.mark.parametrize("tool,key", [("Edit", "file_path"), ("Write", "file_path"),
                                      ("MultiEdit", "file_path"),
                                      ("NotebookEdit", "notebook_path")])
def test_file_tools_are_denied_on_source_in_stage_3(locked: Path, tool: str, key: str) -> None:
    extra = {"Edit": {"old_string": "x = 1", "new_string": "x = 2"},
             "Write": {"content": "x = 2\n"},
             "MultiEdit": {"edits": [{"old_string": "x", "new_string": "y"}]},
             "NotebookEdit": {"new_source": "print(1)", "cell_id": "c1"}}[tool]
    reason = claude(tool, locked, **{key: str(locked / SRC)}, **extra)
    assert reason is not None and reason.startswith("mlgate: ")
    assert "stage 3 Experiment Plan" in reason
    assert "`mlgate check exp`" in reason and "`mlgate advance exp`" in reason
    # the ticket's own folder is always editable
    assert claude(tool, locked, **{key: str(locked / "tickets/in-progress/exp/plan.md")},
                  **extra) is None


def test_stage_4_unlocked_allows_and_stage_7_allows_docs(git_repo: Path) -> None:
    wt = add_ticket(git_repo, "exp", 4, "Unlocked")
    assert claude("Edit", wt, file_path=str(wt / SRC), old_string="a", new_string="b") is None
    set_stage(wt, "exp", 7, root=git_repo)
    assert claude("Write", wt, file_path=str(wt / "docs/usage.md"), content="#") is None
    assert claude("Write", wt, file_path=str(wt / "README.md"), content="#") is None
    reason = claude("Write", wt, file_path=str(wt / SRC), content="#")
    assert reason and "stage 7 Docs Sync" in reason and "Local Fix" in reason


BASH_WRITES = [
    "echo 'x = 2' > src/model.py",
    "printf x >> src/model.py",
    "python train.py 2> src/err.log",
    "make &> src/build.log",
    "cat src/model.py | tee src/copy.py",
    "sed -i 's/1/2/' src/model.py",
    "perl -pi -e 's/1/2/' src/model.py",
    "cp /etc/hostname src/model.py",
    "mv tickets/in-progress/exp/draft.py src/model.py",
    "rm src/model.py",
    "touch src/new.py",
    "truncate -s 0 src/model.py",
    "dd if=/dev/zero of=src/model.py count=1",
    "git apply fix.diff",
    "git checkout -- src/model.py",
    "git restore src/model.py",
    "python -c \"open('src/model.py', 'w').write('x = 2')\"",
    "python - <<'EOF'\nfrom pathlib import Path\nPath('src/model.py').write_text('x = 2')\nEOF",
    "cat > src/model.py <<EOF\nx = 2\nEOF",
    "cd src && echo x > model.py",
    "bash -c 'echo x > src/model.py'",
]


@pytest.mark.parametrize("command", BASH_WRITES, ids=[c[:40] for c in BASH_WRITES])
def test_bash_writes_to_source_are_denied(locked: Path, command: str) -> None:
    (locked / "fix.diff").write_text("--- a/src/model.py\n+++ b/src/model.py\n@@ -1 +1 @@\n"
                                     "-x = 1\n+x = 2\n")
    reason = judge("Bash", locked, command=command, description="edit")
    assert reason is not None, command
    assert "stage 3 Experiment Plan" in reason


@pytest.mark.parametrize("command", [
    "ls -la src", "cat src/model.py", "grep -rn x src/", "pytest -q", "git status",
    "git diff HEAD", "python train.py --epochs 1", "mlgate check exp",
    "echo note >> tickets/in-progress/exp/investigation-notes.md",
    "python train.py > /dev/null 2>&1", "echo hi > /tmp/scratch.txt",
])
def test_read_only_and_allowed_bash_commands_pass(locked: Path, command: str) -> None:
    assert judge("Bash", locked, command=command) is None


@pytest.mark.parametrize("command", ["git commit --no-verify -m wip", "git commit -nm wip",
                                     "git commit -a -n -m wip"])
def test_commit_without_hooks_is_denied_in_every_stage(git_repo: Path, command: str) -> None:
    wt = add_ticket(git_repo, "exp", 4, "Unlocked")
    reason = claude("Bash", wt, command=command)
    assert reason is not None and "the commit hook must run" in reason
    # also from the main checkout, where nothing else is locked
    assert judge("Bash", git_repo, command=command) is not None


def test_unknown_write_target_is_refused_while_locked(locked: Path) -> None:
    reason = claude("Bash", locked, command="echo x > \"$TARGET\"")
    assert reason is not None and "cannot tell what it writes" in reason
    # never judged against the command's directory: from the ticket folder too
    reason = claude("Bash", locked / "tickets/in-progress/exp", command="echo x > \"$TARGET\"")
    assert reason is not None and "Locked" in reason


def test_other_tools_and_events_pass(locked: Path) -> None:
    assert claude("Read", locked, file_path=str(locked / SRC)) is None
    assert claude("Grep", locked, pattern="x") is None
    post = json.loads(claude_payload("Edit", locked, file_path=str(locked / SRC)))
    post["hook_event_name"] = "PostToolUse"
    assert deny_reason(run_hook("claude", json.dumps(post).encode())) is None


# -- fail closed ---------------------------------------------------------------------------


@pytest.mark.parametrize("payload,needle", [
    (b"", "empty stdin"),
    (b"   \n", "empty stdin"),
    (b"{not json", "not JSON"),
    (b"[1, 2]", "expected a JSON object"),
    (b'{"tool_input": {}, "cwd": "/"}', "tool_name"),
    (b'{"tool_name": "Edit", "cwd": "/"}', "tool_input"),
    (b'{"tool_name": "Edit", "tool_input": [], "cwd": "/"}', "tool_input"),
    (b'{"tool_name": "Edit", "tool_input": {}, "cwd": "/"}', "file_path"),
    (b'{"tool_name": "Edit", "tool_input": {"file_path": 7}, "cwd": "/"}', "file_path"),
    (b'{"tool_name": "Bash", "tool_input": {}, "cwd": "/"}', "command"),
    (b'{"tool_name": "Edit", "tool_input": {"file_path": "/x"}}', "cwd"),
    (b'{"tool_name": "Edit", "tool_input": {"file_path": "/x"}, "cwd": "rel"}', "cwd"),
    (b"\xff\xfe{}", "not JSON"),
])
def test_malformed_payloads_deny(payload: bytes, needle: str) -> None:
    proc = run_hook("claude", payload)
    reason = deny_reason(proc)
    assert reason is not None and needle in reason and "fail closed" in reason
    assert needle in proc.stderr.decode()


def test_huge_payload_denies() -> None:
    big = json.dumps({"tool_name": "Write", "cwd": "/", "hook_event_name": "PreToolUse",
                      "tool_input": {"file_path": "/tmp/x", "content": "x" * (10 << 20)}})
    reason = deny_reason(run_hook("claude", big.encode()))
    assert reason is not None and "over" in reason and "fail closed" in reason


def test_unparseable_state_file_denies_with_file_and_line(locked: Path) -> None:
    state = locked / "tickets/in-progress/exp/workflow-state.md"
    lines = state.read_text().splitlines(keepends=True)
    idx = next(i for i, ln in enumerate(lines) if ln.startswith("- Code Edit Permission"))
    lines[idx] = "- Code Edit Permission: `Maybe`\n"
    state.write_text("".join(lines))
    reason = claude("Edit", locked, file_path=str(locked / SRC))
    assert reason is not None and f"{state}:{idx + 1}" in reason
    # the state file itself stays editable, so it can be fixed
    assert claude("Edit", locked, file_path=str(state)) is None


def test_broken_seal_denies(git_repo: Path) -> None:
    wt = add_ticket(git_repo, "exp", 3)
    state = wt / "tickets/in-progress/exp/workflow-state.md"
    state.write_text(state.read_text().replace("`3`", "`4`", 1).replace("`Locked`", "`Unlocked`",
                                                                         1))
    reason = claude("Edit", wt, file_path=str(wt / SRC))
    assert reason is not None and "seal broken" in reason
    assert "`mlgate doctor exp --repair`" in reason


def test_symlink_into_source_is_denied(locked: Path) -> None:
    link = locked / "tickets/in-progress/exp/model.py"
    link.symlink_to(locked / SRC)
    reason = claude("Write", locked, file_path=str(link), content="x")
    assert reason is not None and "a link to src/model.py" in reason
    assert claude("Bash", locked, command=f"echo x > {link}") is not None


def test_paths_outside_the_repo(locked: Path, git_repo: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere.txt"
    assert claude("Write", locked, file_path=str(outside), content="x") is None
    (git_repo / "mlgate.yaml").write_text("outside_tickets: block\n")
    reason = claude("Write", locked, file_path=str(outside), content="x")
    assert reason is not None and "outside_tickets: block" in reason


def test_internal_error_denies_in_process(locked: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import mlgate.lock.policy

    def boom(*_a: object, **_k: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(mlgate.lock.policy, "decide", boom)
    out, err = io.StringIO(), io.StringIO()
    rc = fast.agent_hook("claude", io.BytesIO(claude_payload("Edit", locked,
                                                             file_path=str(locked / SRC))),
                         out, err)
    assert rc == 0
    spec = json.loads(out.getvalue())["hookSpecificOutput"]
    assert spec["permissionDecision"] == "deny"
    assert "RuntimeError: disk on fire" in spec["permissionDecisionReason"]


def test_deny_falls_back_to_exit_2_when_stdout_is_gone(locked: Path) -> None:
    class Closed(io.StringIO):
        def write(self, _s: str) -> int:
            raise OSError("broken pipe")

    err = io.StringIO()
    rc = fast.agent_hook("claude", io.BytesIO(b"{bad"), Closed(), err)
    assert rc == 2 and "not JSON" in err.getvalue()


def test_usage() -> None:
    proc = run_hook("nonsense")
    assert proc.returncode == 2 and b"usage: mlgate hook" in proc.stderr
