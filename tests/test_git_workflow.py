"""Git mode end to end: `new` in a clone of a bare remote (real fetch, origin/HEAD), tickets
found across worktrees, the walk with the pre-commit hook installed, `archive --finalize`
(merge commit, worktree removed, branch deleted), and refusals that leave nothing half-made."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import git, write_goal
from conftest import mlgate
from mlgate import constants as C
from mlgate.errors import GitError, InvalidTicketName, TicketExists
from mlgate.workspace import Workspace
from test_walk import GOOD, fill

import evidence_kit as kit




@pytest.fixture
def ws(git_workspace: Workspace) -> Workspace:
    return git_workspace


def test_new_makes_branch_and_worktree_from_refreshed_remote(ws: Workspace) -> None:
    t = ws.new_ticket("exp-one")
    wt = ws.root.parent / f"{ws.root.name}.worktrees" / "exp-one"
    assert t.checkout == wt and t.folder == wt / "tickets" / "in-progress" / "exp-one"
    assert git(wt, "branch", "--show-current") == "codex/exp-one"
    assert git(wt, "rev-parse", "HEAD") == git(ws.root, "rev-parse", "origin/main")
    b = t.state.bootstrap
    assert b["Bootstrap Mode"] == "Git"
    assert (b["Resolved Base Remote"], b["Resolved Base Branch"]) == ("origin", "main")
    assert b["Remote Refresh Performed"] == "Yes"
    assert b["Ticket Worktree Path"] == str(wt) and b["Ticket Branch"] == "codex/exp-one"
    failing = {c.id for c in t.check().failing()}
    assert failing == {"s0.requirements.goal"}  # the bootstrap record holds what happened
    write_goal(t.folder)
    assert t.check().ok
    # found from the main checkout and from inside the worktree
    assert [x.name for x in ws.tickets()] == ["exp-one"]
    assert Workspace.discover(wt).ticket(cwd=wt).name == "exp-one"
    r = mlgate(ws.root, "--json", "status")
    assert r.returncode == 0 and '"exp-one"' in r.stdout


def test_new_reuses_existing_branch_and_refuses_bad_names(ws: Workspace) -> None:
    git(ws.root, "branch", "codex/reuse")
    t = ws.new_ticket("reuse")
    assert git(t.checkout, "branch", "--show-current") == "codex/reuse"
    with pytest.raises(TicketExists):
        ws.new_ticket("reuse")
    for bad in ("../x", "/abs", "with space", "UPPER", "a" * 64, "x.lock", "trailing-",
                "ünicode", "a..b"):
        with pytest.raises(InvalidTicketName) as exc:
            ws.new_ticket(bad)
        assert "a ticket name is" in str(exc.value)


def test_new_refuses_taken_worktree_path_and_leaves_nothing(ws: Workspace) -> None:
    taken = ws.root.parent / f"{ws.root.name}.worktrees" / "taken"
    taken.mkdir(parents=True)
    (taken / "file.txt").write_text("someone else's\n")
    with pytest.raises(GitError) as exc:
        ws.new_ticket("taken")
    assert "already exists" in str(exc.value) and "nothing was created" in str(exc.value)
    assert not git(ws.root, "branch", "--list", "codex/taken")
    assert (taken / "file.txt").read_text() == "someone else's\n"
    assert ws.tickets() == []


def walk_git(ws: Workspace, t, upto: int) -> None:
    kit.walk_git(t, upto)


def test_hook_refuses_source_commit_outside_stage_4(ws: Workspace) -> None:
    from mlgate.lock import install as I

    I.install(ws.root, git=True)
    t = ws.new_ticket("locked")
    (t.checkout / "src" / "model.py").write_text("x = 3\n")
    git(t.checkout, "add", "src/model.py")
    r = subprocess.run(["git", "commit", "-m", "sneaky"], cwd=t.checkout, capture_output=True,
                       text=True)
    assert r.returncode != 0 and "stage 0" in (r.stderr + r.stdout)
    git(t.checkout, "restore", "--staged", "src/model.py")
    git(t.checkout, "checkout", "--", "src/model.py")
    git(t.checkout, "add", "tickets")
    git(t.checkout, "commit", "-q", "-m", "ticket files always commit")


@pytest.mark.slow
def test_walk_and_archive_finalize(ws: Workspace) -> None:
    from mlgate.lock import install as I

    # the agent hooks too: the settings files mlgate writes into each worktree must not stop
    # the stage-4 changed-files check or the finalize (stray files)
    I.install(ws.root, git=True, claude=True, codex=True)
    t = ws.new_ticket("full")
    assert (t.checkout / ".claude" / "settings.local.json").exists()
    walk_git(ws, t, 8)
    assert t.state.stage == 8
    fill(t.folder, 8)
    git(t.checkout, "add", "-A")
    git(t.checkout, "commit", "-q", "-m", "handoff")
    t.verify("Grace Hopper")
    git(t.checkout, "add", "-A")
    git(t.checkout, "commit", "-q", "-m", "verification")
    wt = t.checkout
    t.archive(finalize=True)
    done = ws.root / "tickets" / "done" / "full"
    assert done.is_dir() and (done / C.STATE_FILE).exists()
    assert not wt.exists()
    assert not git(ws.root, "branch", "--list", "codex/full")
    parents = git(ws.root, "log", "-1", "--format=%P").split()
    assert len(parents) == 2  # a merge commit, never a fast-forward or force
    assert "Merge codex/full" in git(ws.root, "log", "-1", "--format=%s")
    st = Workspace(ws.root).ticket("full").state
    assert st.gates[8].status == "Pass" and st.seal == "valid"
    assert (ws.root / "src" / "digits" / "model.py").exists()


@pytest.mark.slow
def test_finalize_conflict_refuses_and_changes_nothing(ws: Workspace) -> None:
    t = ws.new_ticket("clash")
    walk_git(ws, t, 8)
    fill(t.folder, 8)
    git(t.checkout, "add", "-A")
    git(t.checkout, "commit", "-q", "-m", "handoff")
    t.verify("Grace Hopper")
    git(t.checkout, "add", "-A")
    git(t.checkout, "commit", "-q", "-m", "verification")
    (ws.root / "src" / "digits").mkdir(parents=True)
    (ws.root / "src" / "digits" / "model.py").write_text("x = 99\n")  # main moved on: conflict
    git(ws.root, "add", "-A")
    git(ws.root, "commit", "-q", "-m", "conflicting change on main")
    before_state = t.state_path.read_bytes()
    head_main, head_branch = git(ws.root, "rev-parse", "HEAD"), git(t.checkout, "rev-parse", "HEAD")
    with pytest.raises(GitError) as exc:
        t.archive(finalize=True)
    assert "would conflict" in str(exc.value) and "src/digits/model.py" in str(exc.value)
    assert t.state_path.read_bytes() == before_state
    assert git(ws.root, "rev-parse", "HEAD") == head_main
    assert git(t.checkout, "rev-parse", "HEAD") == head_branch
    assert (t.checkout / "tickets" / "in-progress" / "clash").is_dir()
