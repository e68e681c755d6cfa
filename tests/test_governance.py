"""Governance outside the worktree (issue 12 class 1 and 2, issue 13 replay protection): the
registry in the git common dir binds ticket, branch and worktree; a governed checkout whose
state cannot be read is Locked, wherever the branch is checked out; the per-ticket head
catches an older sealed state file restored with `git checkout` and a file sealed with the
readable key. Real git, real worktrees, the real CLI."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import git, mlgate
from mlgate import constants as C
from mlgate import tickets
from mlgate.errors import SealBroken
from mlgate.lock import governance
from mlgate.state.seal import load_key
from mlgate.state.statefile import StateDoc
from mlgate.workspace import Workspace
from test_git_workflow import walk_git
from test_walk import fill

SRC = "src/model.py"


def step(t, s: int) -> None:  # type: ignore[no-untyped-def]
    """Do stage ``s``'s work on the ticket (as walk_git does) and advance."""
    fill(t.folder, s)
    if s == 4:
        pkg = t.checkout / "src" / "digits"
        pkg.mkdir(parents=True, exist_ok=True)
        (pkg / "model.py").write_text("class DigitsCNN: ...\n")
    if s == 5:
        rep = t.folder / "training-validation-report.md"
        rep.write_text(rep.read_text().replace("3f9c2e1a7b4d",
                                               git(t.checkout, "rev-parse", "HEAD")))
    git(t.checkout, "add", "-A")
    git(t.checkout, "commit", "-q", "-m", f"stage {s} work")
    t.advance()


def at_stage(ws: Workspace, name: str, stage: int):  # type: ignore[no-untyped-def]
    """A real ticket walked to ``stage`` through the real gates (commits on its branch)."""
    t = ws.new_ticket(name)
    walk_git(ws, t, stage)
    t = ws.ticket(name)
    assert t.state.stage == stage
    return t


def _isolated_env(home: Path) -> dict[str, str]:
    home.mkdir(parents=True, exist_ok=True)
    (home / ".gitconfig").write_text("[init]\n\tdefaultBranch = main\n[user]\n\tname = Test\n"
                                     "\temail = test@example.com\n")
    return {"HOME": str(home), "GIT_CONFIG_GLOBAL": str(home / ".gitconfig"),
            "GIT_CONFIG_NOSYSTEM": "1", "GIT_TEMPLATE_DIR": str(home / "no-templates"),
            "GIT_AUTHOR_NAME": "Test", "GIT_COMMITTER_NAME": "Test",
            "GIT_AUTHOR_EMAIL": "test@example.com", "GIT_COMMITTER_EMAIL": "test@example.com"}


def ticket_template(base: Path, stage: int, hooks: bool) -> Path:
    """Build once (per test module): a clone of a bare remote, `mlgate init`, the git hooks
    when ``hooks``, and ticket ``exp`` walked to ``stage``. :func:`from_template` copies it."""
    from conftest import seed_repo
    from mlgate.lock import install as I

    with pytest.MonkeyPatch.context() as mp:
        for k, v in _isolated_env(base / "home").items():
            mp.setenv(k, v)
        seed = seed_repo(base / "seed")
        git(base, "clone", "-q", "--bare", str(seed), str(base / "remote.git"))
        git(base, "clone", "-q", str(base / "remote.git"), str(base / "clone"))
        ws, _ = Workspace.init(base / "clone")
        git(ws.root, "add", "-A")
        git(ws.root, "commit", "-q", "-m", "mlgate init")
        git(ws.root, "push", "-q", "origin", "main")
        if hooks:
            I.install(ws.root, git=True)
        at_stage(ws, "exp", stage)
    return base


def from_template(template: Path, dest: Path):  # type: ignore[no-untyped-def]
    """A copy of a :func:`ticket_template` at ``dest`` (git's worktree links repaired), as
    (workspace, ticket)."""
    shutil.copytree(template, dest, symlinks=True)
    clone = dest / "clone"
    wt, admin = dest / "clone.worktrees" / "exp", clone / ".git" / "worktrees" / "exp"
    (wt / ".git").write_text(f"gitdir: {admin}\n")  # (git's own links, moved along)
    (admin / "gitdir").write_text(f"{wt / '.git'}\n")
    ws = Workspace(clone)
    return ws, ws.ticket("exp")


def can_edit(cwd: Path, path: str) -> subprocess.CompletedProcess[str]:
    return mlgate(cwd, "--json", "can-edit", path)


def allowed(cwd: Path, path: str = SRC) -> bool:
    r = can_edit(cwd, path)
    assert r.returncode in (0, 1), r.stderr
    return r.returncode == 0


def reason(cwd: Path, path: str = SRC) -> str:
    r = can_edit(cwd, path)
    assert r.returncode == 1, (r.stdout, r.stderr)
    return json.loads(r.stdout)["reason"]


@pytest.fixture
def ws(git_workspace: Workspace) -> Workspace:
    return git_workspace


@pytest.fixture(scope="module")
def _tpl4(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return ticket_template(tmp_path_factory.mktemp("tpl4"), 4, hooks=False)


@pytest.fixture(scope="module")
def _tpl5(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return ticket_template(tmp_path_factory.mktemp("tpl5"), 5, hooks=False)


@pytest.fixture
def t4(_tpl4: Path, tmp_path: Path):  # type: ignore[no-untyped-def]
    """Ticket ``exp`` in stage 4, Unlocked (source may change); a copy of one walk."""
    _ws, t = from_template(_tpl4, tmp_path / "w")
    assert t.state.effective_permission == "Unlocked"
    return t


@pytest.fixture
def t5(_tpl5: Path, tmp_path: Path):  # type: ignore[no-untyped-def]
    """Ticket ``exp`` in stage 5, Locked; a copy of one walk."""
    _ws, t = from_template(_tpl5, tmp_path / "w")
    return t


# -- the registry -------------------------------------------------------------------------


def test_new_registers_the_ticket_and_every_write_moves_its_head(ws: Workspace) -> None:
    t = ws.new_ticket("reg")
    gdir = tickets.key_dir(ws.root)
    assert gdir == ws.root / ".git" / "mlgate"
    reg = governance.load(gdir)
    b = reg.get("reg")
    assert b is not None and b.status == "in-progress" and b.branch == "codex/reg"
    assert Path(b.worktree) == Path(os.path.realpath(t.checkout))
    assert Path(b.folder) == t.folder and b.base == git(t.checkout, "rev-parse", "HEAD")
    # paths are stored relative to the governance folder: moving the project keeps them
    stored = json.loads((gdir / "registry.json").read_text())["tickets"]["reg"]
    assert not os.path.isabs(stored["worktree"]) and not os.path.isabs(stored["folder"])
    assert (gdir / "governed" / "refs" / "heads" / "codex" / "reg").is_file()
    head = governance.read_head(gdir, "reg")
    assert head is not None and head.seal == StateDoc.load(t.state_path).seal
    assert head.transition is None and head.stage == 0
    walk_git(ws, t, 2)
    head = governance.read_head(gdir, "reg")
    doc = StateDoc.load(t.state_path)
    assert (head.transition, head.stage) == ("T-002", 2) and head.seal == doc.seal
    assert head.state == t.state_path.read_text()
    assert not (gdir / "heads" / "reg.pending").exists()


# -- class 1: making the ticket disappear ---------------------------------------------------


def test_moving_the_state_file_away_locks_the_worktree(t4) -> None:  # type: ignore[no-untyped-def]
    wt = t4.checkout
    assert allowed(wt)
    os.rename(t4.state_path, wt / "state-elsewhere.md")
    why = reason(wt)
    assert "workflow-state.md is gone" in why and "Locked" in why
    assert "mlgate doctor exp --repair" in why
    # deleting the whole ticket folder: the same
    (wt / "state-elsewhere.md").rename(t4.state_path)
    assert allowed(wt)
    shutil.rmtree(t4.folder)
    assert "workflow-state.md is gone" in reason(wt)


def test_moving_the_folder_to_done_by_hand_locks(t4) -> None:  # type: ignore[no-untyped-def]
    wt = t4.checkout
    done = wt / "tickets" / "done" / "exp"
    done.parent.mkdir(parents=True, exist_ok=True)
    os.rename(t4.folder, done)
    assert not allowed(wt)


def test_branch_checked_out_in_the_main_checkout_is_governed(t5) -> None:  # type: ignore[no-untyped-def]
    t, ws = t5, t5.ws
    git(ws.root, "checkout", "-q", "--ignore-other-worktrees", "codex/exp")
    why = reason(ws.root)
    assert "ticket 'exp'" in why and "stage 5" in why
    # and with the state file moved away in the ticket's worktree: still Locked (the copy
    # committed on the branch, which the main checkout shows, does not stand in for it)
    os.rename(t.state_path, t.checkout / "x.md")
    assert "workflow-state.md is gone" in reason(ws.root)


def test_branch_checked_out_in_an_extra_worktree_is_governed(t4, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ws = t4.ws
    extra = tmp_path / "extra"
    git(ws.root, "worktree", "add", "-q", "-f", str(extra), "codex/exp")
    assert allowed(extra)  # stage 4, Unlocked: the ticket allows it anywhere
    step(t4, 4)  # leaves stage 4: Locked
    assert "stage 5" in reason(extra)
    os.rename(t4.state_path, t4.checkout / "x.md")
    assert "workflow-state.md is gone" in reason(extra)


def test_edited_gitdir_does_not_ungovern_the_worktree(t4) -> None:  # type: ignore[no-untyped-def]
    ws = t4.ws
    step(t4, 4)
    admin = ws.root / ".git" / "worktrees" / "exp"
    (admin / "gitdir").write_text(str(ws.root.parent / "elsewhere" / ".git") + "\n")
    why = reason(t4.checkout)
    assert "stage 5" in why and "exp" in why


def test_a_damaged_registry_refuses_every_edit(t4) -> None:  # type: ignore[no-untyped-def]
    ws = t4.ws
    (ws.root / ".git" / "mlgate" / "registry.json").write_text("{not json")
    why = reason(t4.checkout)
    assert "governance registry is not valid JSON" in why and "cannot decide" in why


def test_finalized_and_other_branches_are_not_governed(ws: Workspace) -> None:
    ws.new_ticket("one")
    git(ws.root, "branch", "other")
    git(ws.root, "checkout", "-q", "other")
    assert allowed(ws.root)
    reg = governance.load(ws.root / ".git" / "mlgate")
    assert reg.by_branch("other") is None and reg.by_branch("codex/one") is not None


# -- class 2 and replay: the head -------------------------------------------------------------


def test_an_older_sealed_state_restored_with_git_is_locked_and_repaired(t5) -> None:  # type: ignore[no-untyped-def]
    t = t5
    # stage 4's state file (Unlocked, validly sealed) is in the branch history: bring it back
    commit = git(t.checkout, "log", "--format=%H", "-1", "--grep", "stage 4 work")
    older = git(t.checkout, "show", f"{commit}:tickets/in-progress/exp/workflow-state.md")
    git(t.checkout, "checkout", commit, "--", "tickets/in-progress/exp/workflow-state.md")
    assert t.state_path.read_text().strip() == older.strip()
    doc = StateDoc.load(t.state_path)
    assert doc.snapshot.current_stage == 4 and doc.snapshot.permission == "Unlocked"
    assert t.seal_status(doc) == "valid"  # a real seal: only the head tells it is old
    why = reason(t.checkout)
    assert "not the state mlgate last wrote" in why and "T-005" in why
    st = json.loads(mlgate(t.checkout, "--json", "status", "exp").stdout)
    assert (st["head"], st["permission"], st["recorded_permission"]) == \
        ("behind", "Locked", "Unlocked")
    r = mlgate(t.checkout, "advance")
    assert r.returncode == 3 and "not the state mlgate last wrote" in r.stderr
    r = mlgate(t.checkout, "--json", "doctor", "exp")
    assert r.returncode == 3
    assert [p["id"] for p in json.loads(r.stdout)[0]["problems"]] == ["behind-head"]
    r = mlgate(t.checkout, "--json", "doctor", "exp", "--repair")
    assert r.returncode == 0, r.stdout + r.stderr
    doc = StateDoc.load(t.state_path)
    assert doc.snapshot.current_stage == 5 and doc.snapshot.last_transition_id == "T-005"
    v = doc.violations[-1]
    assert "not the state mlgate last wrote" in v.violation and v.cleared is False
    assert "quarantine/Q-001" in v.action
    kept = t.folder / "quarantine" / "Q-001" / "files" / "workflow-state.md"
    assert kept.read_text().strip() == older.strip()  # nothing is lost
    assert "stage 5" in reason(t.checkout)  # Locked as stage 5 again, not as a replay
    assert mlgate(t.checkout, "doctor", "exp").returncode == 0


def test_a_state_sealed_with_the_readable_key_is_locked(t4) -> None:  # type: ignore[no-untyped-def]
    step(t4, 4)
    key = load_key(tickets.key_dir(t4.ws.root))
    doc = StateDoc.load(t4.state_path)
    doc.set_snapshot(current_stage=4, next_stage=5, permission="Unlocked")
    doc.apply_seal(key)  # a validly sealed Unlocked file, written by a script
    t4.state_path.write_text(doc.render())
    assert t4.seal_status() == "valid"
    assert "not the state mlgate last wrote" in reason(t4.checkout)
    with pytest.raises(SealBroken):
        t4.unlock()


def test_prose_edits_and_a_removed_seal_line_keep_the_head(t4) -> None:  # type: ignore[no-untyped-def]
    text = t4.state_path.read_text()
    t4.state_path.write_text(text + "\n## Notes\n\nThe person wrote this.\n")
    assert allowed(t4.checkout)
    assert mlgate(t4.checkout, "doctor", "exp").returncode == 0
    t4.state_path.write_text("".join(ln for ln in text.splitlines(keepends=True)
                                     if not ln.startswith("<!-- mlgate-seal")))
    why = reason(t4.checkout)  # unsealed: never Unlocked, but not a replay either
    assert "not the state" not in why and "has no mlgate seal" in why
    t4.unlock()  # mlgate's first write seals it again (SPEC §4)
    assert allowed(t4.checkout)


def _killed_writer(root: Path, ready: Path) -> None:
    """Child body: a real move (a stage-4 Local Fix re-entry) whose state-file rename waits,
    after the head was written, until the parent kills it."""
    real = os.replace

    def replace(src, dst):  # type: ignore[no-untyped-def]
        if Path(dst).name == C.STATE_FILE:
            ready.write_text("paused")
            while True:
                time.sleep(0.01)
        return real(src, dst)

    os.replace = replace
    Workspace(root).ticket("exp").reenter("Local Fix", "killed half way")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_write_cut_off_between_head_and_state_did_not_happen(t4, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A process SIGKILLed after writing the head and before renaming the state file into
    place: the write did not happen. The lock still accepts the file (it is the previous
    one), and the next command puts the head back to it."""
    gdir = tickets.key_dir(t4.ws.root)
    before = t4.state_path.read_bytes()
    ready = tmp_path / "ready"
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            _killed_writer(t4.ws.root, ready)
        except BaseException:  # noqa: BLE001
            code = 1
        finally:
            os._exit(code)
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            assert time.monotonic() < deadline and os.waitpid(pid, os.WNOHANG) == (0, 0)
            time.sleep(0.01)
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    assert t4.state_path.read_bytes() == before
    assert (gdir / "heads" / "exp.pending").exists()
    assert governance.read_head(gdir, "exp").transition == "T-005"  # the cut-off move's
    assert allowed(t4.checkout)  # the previous file is still accepted
    assert mlgate(t4.checkout, "reenter", "Local Fix", "exp", "--reason", "again"
                  ).returncode == 0  # the next writer settles it, then moves
    assert not (gdir / "heads" / "exp.pending").exists()
    doc = StateDoc.load(t4.state_path)
    assert [r.reason for r in doc.transitions[-1:]] == ["again"]
    assert doc.transitions[-1].id == "T-005"  # the killed move left no trace in the log
    assert governance.read_head(gdir, "exp").seal == doc.seal
    assert mlgate(t4.checkout, "doctor", "exp").returncode == 0


def test_doctor_puts_back_a_deleted_state_file(t4) -> None:  # type: ignore[no-untyped-def]
    step(t4, 4)
    t4.state_path.unlink()
    r = mlgate(t4.checkout, "--json", "doctor", "exp")
    ids = [p["id"] for p in json.loads(r.stdout)[0]["problems"]]
    assert "behind-head" in ids and r.returncode == 3
    assert "is gone" in json.dumps(json.loads(r.stdout))
    r = mlgate(t4.checkout, "--json", "doctor", "exp", "--repair")
    assert r.returncode == 0, r.stdout
    doc = StateDoc.load(t4.state_path)
    assert doc.snapshot.current_stage == 5
    assert "is gone" in doc.violations[-1].violation


def test_doctor_reports_the_branch_checked_out_elsewhere(t4, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ws = t4.ws
    git(ws.root, "worktree", "add", "-q", "-f", str(tmp_path / "x"), "codex/exp")
    r = mlgate(t4.checkout, "--json", "doctor", "exp")
    probs = json.loads(r.stdout)[0]["problems"]
    assert [p["id"] for p in probs] == ["branch-elsewhere"]
    assert str(tmp_path / "x") in probs[0]["message"]


def test_unregistered_ticket_is_reported_and_registered_by_repair(ws: Workspace) -> None:
    t = ws.new_ticket("legacy")
    gdir = tickets.key_dir(ws.root)
    (gdir / "registry.json").write_text(json.dumps({"version": 1, "tickets": {}}))
    r = mlgate(t.checkout, "--json", "doctor", "legacy")
    assert [p["id"] for p in json.loads(r.stdout)[0]["problems"]] == ["unregistered"]
    assert mlgate(t.checkout, "doctor", "legacy", "--repair").returncode == 0
    assert governance.load(gdir).get("legacy") is not None


@pytest.mark.slow
def test_archive_finalize_and_reopen_keep_the_registry(ws: Workspace) -> None:
    from test_git_workflow import walk_git as walk
    from test_walk import fill

    t = ws.new_ticket("full")
    walk(ws, t, 8)
    fill(t.folder, 8)
    git(t.checkout, "add", "-A")
    git(t.checkout, "commit", "-q", "-m", "handoff")
    t.verify("Grace Hopper")
    git(t.checkout, "add", "-A")
    git(t.checkout, "commit", "-q", "-m", "verification")
    gdir = tickets.key_dir(ws.root)
    t.archive(finalize=True)
    b = governance.load(gdir).get("full")
    assert b.status == "finalized" and b.branch is None
    assert Path(b.folder) == ws.root / "tickets" / "done" / "full"
    assert not (gdir / "governed" / "refs" / "heads" / "codex" / "full").exists()
    t2 = ws.reopen("full")
    b = governance.load(gdir).get("full")
    assert b.status == "in-progress" and Path(b.folder) == t2.folder
    assert governance.read_head(gdir, "full").seal == StateDoc.load(t2.state_path).seal
