"""Builders shared by the lock and hook tests (imported by tests/test_policy.py and
tests/test_hooks_*.py), and the tests that the tickets they build are what mlgate writes:
real git worktrees on ``codex/<ticket>``, state files from the shipped template, sealed with
the real seal key."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from mlgate import tickets
from mlgate.state.statefile import StateDoc
from mlgate.state.seal import load_key, seal_state

REPO_ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = REPO_ROOT / "shared" / "workflow-state-template.md"
MLGATE = str(Path(sys.executable).parent / "mlgate")


def git(cwd: Path, *args: str, check: bool = True, env: dict[str, str] | None = None
        ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=check,
                          env=env)


def state_text(name: str, stage: int, permission: str = "Locked") -> str:
    """The template with the snapshot filled in (unsealed)."""
    doc = StateDoc.parse(TEMPLATE.read_text(encoding="utf-8"), "workflow-state.md")
    nxt = stage + 1 if stage < 8 else None
    doc.set_snapshot(ticket=name, current_stage=stage, next_stage=nxt, permission=permission,
                     active_reentry=False, classification=None)
    return doc.render()


def write_state(folder: Path, name: str, stage: int, permission: str = "Locked",
                seal: bool = True, root: Path | None = None) -> Path:
    """Write ``folder/workflow-state.md``; sealed with the workspace key unless ``seal`` is
    False (a hand-written file)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "workflow-state.md"
    text = state_text(name, stage, permission)
    if seal:
        ws_root = root if root is not None else tickets.workspace_root(folder)
        key = load_key(tickets.key_dir(ws_root), create=True)
        assert key is not None
        doc = StateDoc.parse(text, str(path))
        doc.apply_seal(key)
        text = doc.render()
    path.write_text(text, encoding="utf-8")
    return path


def add_ticket(repo: Path, name: str, stage: int, permission: str = "Locked",
               seal: bool = True, worktree: bool = True, commit: bool = True) -> Path:
    """A ticket in ``repo`` (a git repository with one commit). With ``worktree``: branch
    ``codex/<name>`` checked out in ``<repo>.worktrees/<name>`` holding the ticket folder;
    else the folder sits in ``repo`` itself (``--no-worktree``). Returns the checkout."""
    if worktree:
        checkout = repo.parent / f"{repo.name}.worktrees" / name
        git(repo, "worktree", "add", "-q", "-b", f"codex/{name}", str(checkout))
    else:
        checkout = repo
    folder = checkout / "tickets" / "in-progress" / name
    write_state(folder, name, stage, permission, seal=seal, root=repo)
    if commit and (checkout / ".git").exists():
        git(checkout, "add", "tickets")
        git(checkout, "commit", "-q", "--no-verify", "-m", f"ticket {name}")
    return checkout


def set_stage(checkout: Path, name: str, stage: int, permission: str = "Locked",
              seal: bool = True, root: Path | None = None) -> Path:
    return write_state(checkout / "tickets" / "in-progress" / name, name, stage, permission,
                       seal=seal, root=root)


def claude_payload(tool: str, cwd: Path, **tool_input: object) -> bytes:
    return json.dumps({
        "session_id": "s-1", "transcript_path": "/tmp/t.jsonl", "cwd": str(cwd),
        "permission_mode": "default", "hook_event_name": "PreToolUse", "tool_name": tool,
        "tool_input": tool_input, "tool_use_id": "toolu_01"}).encode()


def run_hook(kind: str, payload: bytes | None = None, cwd: Path | None = None,
             args: tuple[str, ...] = ()) -> subprocess.CompletedProcess[bytes]:
    """``mlgate hook KIND`` through the installed console script, as the tools run it."""
    env = {k: v for k, v in os.environ.items() if k not in ("GIT_INDEX_FILE", "GIT_DIR")}
    return subprocess.run([MLGATE, "hook", kind, *args], input=payload, cwd=cwd,
                          capture_output=True, env=env, timeout=60)


def deny_reason(proc: subprocess.CompletedProcess[bytes]) -> str | None:
    """The deny reason a Claude/Codex hook run printed, None when it allowed."""
    assert proc.returncode == 0, (proc.returncode, proc.stderr)
    out = proc.stdout.decode().strip()
    if not out:
        return None
    data = json.loads(out)
    spec = data["hookSpecificOutput"]
    assert spec["hookEventName"] == "PreToolUse"
    assert spec["permissionDecision"] == "deny"
    return spec["permissionDecisionReason"]


# -- the builders build what mlgate itself would read ------------------------------------


def test_sealed_ticket_in_its_own_worktree(git_repo: Path) -> None:
    checkout = add_ticket(git_repo, "alpha", 3)
    found = tickets.find_tickets(git_repo)
    assert [(t.name, t.own_worktree, t.checkout) for t in found] == [
        ("alpha", True, checkout)]
    doc = StateDoc.load(found[0].folder / "workflow-state.md")
    assert doc.snapshot.current_stage == 3 and doc.snapshot.permission == "Locked"
    key = load_key(tickets.key_dir(git_repo))
    assert seal_state(doc, key) == "valid"
    assert git(checkout, "branch", "--show-current").stdout.strip() == "codex/alpha"


def test_hand_edit_breaks_the_seal_and_unsealed_file_reads_missing(git_repo: Path) -> None:
    checkout = add_ticket(git_repo, "beta", 3)
    path = checkout / "tickets" / "in-progress" / "beta" / "workflow-state.md"
    path.write_text(path.read_text().replace("- Current Stage: `3`", "- Current Stage: `4`"))
    key = load_key(tickets.key_dir(git_repo))
    assert seal_state(StateDoc.load(path), key) == "broken"
    unsealed = set_stage(checkout, "beta", 3, seal=False, root=git_repo)
    assert seal_state(StateDoc.load(unsealed), key) == "missing"
