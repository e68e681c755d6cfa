"""`mlgate hook codex`: apply_patch envelopes (peers.md §2.2) and Bash, through the console
script against real ticket worktrees; and the patch parsers."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlgate.lock.patch import diff_paths, envelope_paths, is_envelope
from test_hooks_helpers import add_ticket, deny_reason, run_hook

ENVELOPE = """*** Begin Patch
*** Add File: {add}
+print("new")
*** Update File: {update}
@@ def f():
-    return 1
+    return 2
*** Move to: {move}
*** Delete File: {delete}
*** End Patch
"""


def codex(cwd: Path, tool: str = "apply_patch", **tool_input: object) -> str | None:
    payload = {"session_id": "019a", "transcript_path": None, "cwd": str(cwd),
               "hook_event_name": "PreToolUse", "model": "gpt-5-codex", "tool_name": tool,
               "tool_input": tool_input, "tool_use_id": "call_1"}
    return deny_reason(run_hook("codex", json.dumps(payload).encode()))


def patch(add: str = "tickets/in-progress/exp/a.md", update: str = "tickets/in-progress/exp/b.md",
          move: str = "tickets/in-progress/exp/c.md",
          delete: str = "tickets/in-progress/exp/d.md") -> str:
    return ENVELOPE.format(add=add, update=update, move=move, delete=delete)


@pytest.mark.parametrize("slot", ["add", "update", "move", "delete"])
def test_each_envelope_operation_is_judged(git_repo: Path, slot: str) -> None:
    wt = add_ticket(git_repo, "exp", 3)
    assert codex(wt, command=patch()) is None  # only the ticket folder: allowed
    reason = codex(wt, command=patch(**{slot: "src/model.py"}))
    assert reason is not None and "src/model.py" in reason
    assert "stage 3 Experiment Plan" in reason


def test_absolute_paths_and_other_payload_keys(git_repo: Path) -> None:
    wt = add_ticket(git_repo, "exp", 5)
    text = patch(update=str(wt / "results_v1/summary.json"))
    assert codex(wt, input=text) is None  # run outputs in stage 5, patch under `input`
    reason = codex(wt, patch=patch(add=str(wt / "train.py")))
    assert reason is not None and "Local Fix" in reason
    wt4 = add_ticket(git_repo, "go", 4, "Unlocked")
    assert codex(wt4, command=patch(update="src/model.py")) is None


@pytest.mark.parametrize("bad", ["", "just text, no envelope", "*** Begin Patch\n*** End Patch\n"])
def test_envelope_without_files_denies(git_repo: Path, bad: str) -> None:
    wt = add_ticket(git_repo, "exp", 4, "Unlocked")
    reason = codex(wt, command=bad)
    assert reason is not None and "fail closed" in reason


def test_codex_bash_string_and_argv(git_repo: Path) -> None:
    wt = add_ticket(git_repo, "exp", 3)
    assert codex(wt, "Bash", command="echo x > src/model.py") is not None
    assert codex(wt, "Bash", command=["bash", "-lc", "sed -i s/1/2/ src/model.py"]) is not None
    assert codex(wt, "Bash", command=["rm", "src/model.py"]) is not None
    assert codex(wt, "Bash", command=["ls", "-la"]) is None
    reason = codex(wt, "Bash", command="git commit -n -m wip")
    assert reason is not None and "the commit hook must run" in reason
    # apply_patch run as a shell command (models do this) is read as a patch too
    heredoc = "apply_patch <<'EOF'\n" + patch(update="src/model.py") + "EOF\n"
    assert codex(wt, "Bash", command=heredoc) is not None
    assert codex(wt, "Bash", command=["apply_patch", patch(update="src/model.py")]) is not None


def test_envelope_parser() -> None:
    text = patch(add="a.py", update="b/c.py", move="d.py", delete="e f.py")
    assert is_envelope(text)
    assert envelope_paths(text) == ["a.py", "b/c.py", "d.py", "e f.py"]
    assert envelope_paths("no patch here") == []
    assert envelope_paths("*** Update File: x.py\n*** Update File: x.py\n") == ["x.py"]


def test_unified_diff_parser() -> None:
    diff = ('diff --git a/src/m.py b/src/m.py\nindex 1..2 100644\n--- a/src/m.py\n+++ b/src/m.py\n'
            '@@ -1 +1 @@\n-a\n+b\n'
            'diff --git a/new.py b/new.py\nnew file mode 100644\n--- /dev/null\n+++ b/new.py\n'
            'diff --git a/old.py b/moved.py\nrename from old.py\nrename to moved.py\n'
            'diff --git "a/sp ace.py" "b/sp ace.py"\n')
    assert diff_paths(diff) == ["src/m.py", "new.py", "old.py", "moved.py", "sp ace.py"]
    plain = "--- src/m.py.orig\t2024-01-01\n+++ src/m.py\t2024-01-02\n@@\n"
    assert diff_paths(plain, strip=0) == ["src/m.py.orig", "src/m.py"]
    assert diff_paths(plain, strip=None) == ["src/m.py.orig", "m.py.orig", "src/m.py", "m.py"]
