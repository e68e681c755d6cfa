"""Temp files left by killed writers (README "Reliability" -> "Atomic writes").

Every file mlgate writes goes through a temp file ``.<name>.XXXXXXXX.tmp`` and a rename. A
writer SIGKILLed between the two leaves the temp file; the next command that takes the
ticket's lock removes the stale ones in the ticket folder and in ``evidence/`` -- and never a
user's file, a folder, a link, or the temp file of a write that is still under way.

Writers are real forked processes doing real mlgate operations; they are stopped inside a
write (after the temp file is complete, before the rename) by pausing ``os.replace`` in the
child, then killed with SIGKILL. The "next command" is the real CLI in a subprocess.
"""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from mlgate import constants as C
from mlgate.evidence import results as ev
from mlgate.evidence.results import CheckResult, HandlerContext, HandlerResult
from mlgate.state.statefile import StateDoc
from mlgate.state.seal import seal_state
from mlgate.util import atomic_write
from mlgate.workspace import Workspace
from test_reliability import (
    MLGATE,
    NAME,
    Tiny,
    _victim,
    check_after_kill,
    do_op,
    forked,
    make_ticket,
)

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork (POSIX)")

REPORT = "training-validation-report.md"
USER_FILES = ("notes.tmp", ".notes.tmp", "draft.md.abcdefgh.tmp",
              f"{C.EVIDENCE_DIR}/.keep", f"{C.EVIDENCE_DIR}/notes.tmp",
              f"{C.EVIDENCE_DIR}/.x.json.tmp")


class Reporter:
    """A handler that rewrites an artifact of the ticket folder, as the train handler writes
    ``training-validation-report.md`` (under the run lock)."""

    name = "reporter"
    stages = tuple(C.STAGE_NUMBERS)

    def run(self, ctx: HandlerContext) -> HandlerResult:
        path = ctx.folder / REPORT
        atomic_write(path, path.read_text() + f"\n<!-- reporter {time.time()} -->\n")
        return HandlerResult(handler="reporter", stage=ctx.stage, status="Pass",
                             checks=[CheckResult("ok", "pass", "report updated")],
                             commit=ctx.commit)


def registry():  # type: ignore[no-untyped-def]
    from mlgate.handlers.registry import Registry

    reg = Registry()
    reg.register(Tiny())
    reg.register(Reporter())
    return reg


def temps(folder: Path) -> list[str]:
    """Every atomic-write temp file in the ticket folder and its evidence/ (plain files: not
    the folder and the link planted with such names)."""
    return sorted(str(p.relative_to(folder)) for d in (folder, folder / C.EVIDENCE_DIR)
                  for p in d.glob(".*.tmp")
                  if ev.TEMP_RE.match(p.name) and p.is_file() and not p.is_symlink())


def blocked(ws: Workspace) -> bool:
    doc = ws.ticket(NAME).doc()
    return doc.gates[doc.snapshot.current_stage].status == "Blocked"


def to_blockable_stage(ws: Workspace) -> None:
    """Advance the ticket to a stage that can be blocked (the random writers cycle it through
    stages 4-7; 4 and 6 cannot be blocked, and their artifacts are filled, so it advances)."""
    t = ws.ticket(NAME)
    while t.doc().snapshot.current_stage not in C.BLOCKABLE:
        t.advance("to a stage that can be blocked")


def toggle_block(ws: Workspace, reason: str) -> object:
    """A move that is allowed whatever the random writers left: unblock, block, or (in
    stage 4 or 6, where neither is allowed: the random writers may leave it there) a
    Local Fix re-entry."""
    t = ws.ticket(NAME)
    if blocked(ws):
        return t.unblock(reason)
    if t.doc().snapshot.current_stage in (4, 6):
        return t.reenter("Local Fix", reason)
    return t.block(reason)


def toggle_cli(ws: Workspace, reason: str) -> subprocess.CompletedProcess[str]:
    if blocked(ws):
        return mlgate_cli(ws, "unblock", NAME, "--reason", reason)
    if ws.ticket(NAME).doc().snapshot.current_stage in (4, 6):  # (see toggle_block)
        return mlgate_cli(ws, "reenter", "Local Fix", NAME, "--reason", reason)
    return mlgate_cli(ws, "block", NAME, "--reason", reason)


# -- a writer paused inside a write ----------------------------------------------------------

OPS: dict[str, Callable[[Workspace, int], object]] = {
    # op: what the writer does; PAUSE[op]: the file whose rename it is stopped before
    "state": lambda ws, i: toggle_block(ws, f"w0-op{i}"),
    "evidence": lambda ws, i: ws.ticket(NAME).run_handlers(["tiny"], registry=registry(), only_configured=False),
    "report": lambda ws, i: ws.ticket(NAME).run_handlers(["reporter"], registry=registry(), only_configured=False),
    "handoff": lambda ws, i: ws.ticket(NAME)._set_handoff("User verification received",
                                                          f"w0-op{i}"),
}
PAUSE = {"evidence": r"\d-tiny-\d+\.json", "report": REPORT, "handoff": "handoff-summary.md",
         "state": C.STATE_FILE}


def _paused_writer(root: Path, op: str, i: int, ready: Path, go: Path | None) -> None:
    """Child body: do ``op``; the rename of PAUSE[op] waits (after writing ``ready``) until
    ``go`` exists -- forever when ``go`` is None (the parent kills it there)."""
    import re

    real = os.replace
    pattern = re.compile(PAUSE[op])

    def replace(src, dst):  # type: ignore[no-untyped-def]
        if pattern.fullmatch(Path(dst).name) and not ready.exists():
            part = ready.with_name(ready.name + ".part")
            part.write_text(str(src))
            real(part, ready)  # whole at once: the parent reads it as soon as it exists
            while go is None or not go.exists():
                time.sleep(0.01)
        return real(src, dst)

    os.replace = replace  # this child only: atomic_write renames through os.replace
    OPS[op](Workspace(root), i)


class Child:
    """A forked child we wait for (and reap) ourselves."""

    def __init__(self, target, *args) -> None:  # type: ignore[no-untyped-def]
        self.pid = os.fork()
        if self.pid == 0:
            code = 0
            try:
                signal.signal(signal.SIGALRM, signal.SIG_DFL)
                target(*args)
            except BaseException:  # noqa: BLE001 - reported through the exit code
                import traceback

                traceback.print_exc()
                code = 1
            finally:
                os._exit(code)
        self.status: int | None = None

    def wait(self, timeout: float = 60) -> int:
        deadline = time.monotonic() + timeout
        while self.status is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.status = os.waitstatus_to_exitcode(status)
            elif time.monotonic() > deadline:
                self.kill()
                raise AssertionError(f"child {self.pid} did not finish in {timeout}s")
            else:
                time.sleep(0.01)
        return self.status

    def kill(self) -> None:
        if self.status is None:
            os.kill(self.pid, signal.SIGKILL)
            _, status = os.waitpid(self.pid, 0)
            self.status = os.waitstatus_to_exitcode(status)


def wait_file(path: Path, child: Child, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        pid, status = os.waitpid(child.pid, os.WNOHANG)
        if pid:
            child.status = os.waitstatus_to_exitcode(status)
            raise AssertionError(f"the writer ended ({child.status}) before pausing")
        time.sleep(0.01)


def kill_inside_a_write(ws: Workspace, op: str, i: int, tmp: Path) -> str:
    """Stop a real writer between its temp file and the rename; SIGKILL it there. Returns
    the temp file it left (relative to the ticket folder)."""
    ready = tmp / f"ready-{op}-{i}"
    child = Child(_paused_writer, ws.root, op, i, ready, None)
    try:
        wait_file(ready, child)
    finally:
        child.kill()
    assert child.status == -signal.SIGKILL
    left = Path(ready.read_text())
    assert left.is_file() and ev.TEMP_RE.match(left.name), left
    return str(left.relative_to(ws.ticket(NAME).folder))


def mlgate_cli(ws: Workspace, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([MLGATE, *args], cwd=ws.root, capture_output=True, text=True,
                          timeout=120)


def plant_user_files(folder: Path) -> dict[str, bytes]:
    planted = {}
    for rel in USER_FILES:
        (folder / rel).write_bytes(f"user data {rel}\n".encode())
        planted[rel] = (folder / rel).read_bytes()
    # a folder and a link that look like temp files are never touched (nor what it points to)
    (folder / ".scratch.abcdefgh.tmp").mkdir()
    (folder / ".scratch.abcdefgh.tmp" / "kept.txt").write_text("mine\n")
    (folder / "linked.txt").write_text("link target\n")
    (folder / C.EVIDENCE_DIR / ".linked.txt.abcdefgh.tmp").symlink_to(folder / "linked.txt")
    return planted


def assert_user_files_intact(folder: Path, planted: dict[str, bytes]) -> None:
    for rel, data in planted.items():
        assert (folder / rel).read_bytes() == data, rel
    assert (folder / ".scratch.abcdefgh.tmp" / "kept.txt").read_text() == "mine\n"
    assert (folder / C.EVIDENCE_DIR / ".linked.txt.abcdefgh.tmp").is_symlink()
    assert (folder / "linked.txt").read_text() == "link target\n"


# -- tests -----------------------------------------------------------------------------------


def test_temp_pattern_is_the_one_atomic_write_uses(tmp_path: Path) -> None:
    """What TEMP_RE recognises is exactly what atomic_write creates (a writer stopped before
    the rename), and not names a user picks."""
    ws = make_ticket(tmp_path / "proj")
    left = kill_inside_a_write(ws, "handoff", 0, tmp_path)
    assert ev.temp_target(Path(left).name) == "handoff-summary.md"
    for name in ("notes.tmp", ".notes.tmp", ".a.tmp", "draft.md.abcdefgh.tmp",
                 ".x.ABCDEFGH.tmp", ".x.abcdefg.tmp", ".keep"):
        assert ev.temp_target(name) is None, name


def test_next_command_removes_temps_of_killed_writers_and_nothing_else(tmp_path: Path) -> None:
    """Writers killed inside writes of evidence JSON, an artifact a handler rewrites,
    handoff-summary.md and workflow-state.md (four rounds each), plus writers killed at random
    moments: the files are whole, and the next command (`mlgate block`) removes every
    temp file they left in the ticket folder and evidence/, and nothing of the user's."""
    ws = make_ticket(tmp_path / "proj")
    t = ws.ticket(NAME)
    key = ws.key()
    planted = plant_user_files(t.folder)
    rng = random.Random(3)
    for i in range(10):  # at random moments: a kill may or may not land inside a write
        with forked(_victim, ws.root, 100 + i) as pid:
            time.sleep(rng.uniform(0.01, 0.2))
            os.kill(pid, signal.SIGKILL)
        check_after_kill(ws, key)
    to_blockable_stage(ws)  # the random writers may have left it at 4 or 6
    left = [kill_inside_a_write(ws, op, i, tmp_path) for i in range(4) for op in OPS]
    killed_at = time.time()
    check_after_kill(ws, key)  # whole files: the old versions
    # every kill left its temp file (kill_inside_a_write checks); the writers of later rounds
    # already removed some (the state file's and evidence's: they take the locks); the last
    # round's are all there
    assert len(set(left)) == 16
    now = temps(t.folder)
    assert set(left[-4:]) <= set(now)
    kinds = {"evidence" if p.startswith(C.EVIDENCE_DIR) else ev.temp_target(Path(p).name)
             for p in now}
    # (a kill at a random moment may also have hit another artifact mlgate writes, e.g. one
    # it scaffolds on a move, and on a slow machine that temp file is still young here)
    assert {C.STATE_FILE, "evidence", "handoff-summary.md", REPORT} <= kinds
    assert all(k == "evidence" or k.endswith(".md") for k in kinds), kinds

    # a read-only command takes no lock and removes nothing
    r = mlgate_cli(ws, "status", NAME)
    assert r.returncode == 0, r.stderr
    assert temps(t.folder) == now

    # temp files of the ticket folder count as stale once STALE_TEMP_AGE old (a few writers
    # of artifacts hold no lock); wait that long, as a user running the next command would
    time.sleep(max(0.0, killed_at + ev.STALE_TEMP_AGE + 0.2 - time.time()))
    r = toggle_cli(ws, "after the kills")
    assert r.returncode == 0, r.stderr
    assert temps(t.folder) == []
    assert_user_files_intact(t.folder, planted)
    doc = StateDoc.load(t.state_path)
    assert seal_state(doc, key) == "valid" and "after the kills" in doc.transitions[-1].reason
    assert t.doctor().ok
    for p, *_ in ev.list_evidence(t.folder):
        json.loads(p.read_text())


def test_fresh_artifact_temps_wait_but_state_and_evidence_temps_go_at_once(
        tmp_path: Path) -> None:
    """Right after a kill, the next command removes the temp files of the state file and of
    evidence/ at once; an artifact's temp file younger than STALE_TEMP_AGE is left for a
    later command (it could be a live write of a writer that holds no lock)."""
    ws = make_ticket(tmp_path / "proj")
    t = ws.ticket(NAME)
    state = kill_inside_a_write(ws, "state", 0, tmp_path)
    evid = kill_inside_a_write(ws, "evidence", 0, tmp_path)
    hand = kill_inside_a_write(ws, "handoff", 0, tmp_path)
    # (the clock of a loaded machine: keep it young however slowly the next command starts)
    os.utime(t.folder / hand, (time.time() + 60,) * 2)
    r = mlgate_cli(ws, "block", NAME, "--reason", "x")
    assert r.returncode == 0, r.stderr
    assert temps(t.folder) == [hand]
    os.utime(t.folder / hand, (time.time() - ev.STALE_TEMP_AGE - 1,) * 2)  # some time later
    r = mlgate_cli(ws, "unblock", NAME)
    assert r.returncode == 0, r.stderr
    assert temps(t.folder) == []
    assert state and evid


def test_mlgate_run_removes_evidence_temps_of_a_killed_run(tmp_path: Path) -> None:
    """A handler run killed while saving its evidence: the next run removes the temp file
    (every writer of evidence JSON holds the run lock) and saves its own evidence whole."""
    ws = make_ticket(tmp_path / "proj")
    t = ws.ticket(NAME)
    before = len(ev.list_evidence(t.folder))
    for i in range(3):  # each killed run already removed the temp file of the one before
        left = kill_inside_a_write(ws, "evidence", i, tmp_path)
        assert temps(t.folder) == [left]
    rec = do_op(ws, "run", "w0-op1", registry())
    assert rec["ok"], rec
    assert temps(t.folder) == []
    files = ev.list_evidence(t.folder)
    assert len(files) == before + 1 and ev.load(files[-1][0]).status == "Pass"


@pytest.mark.parametrize("op", ["evidence", "report", "handoff"])
def test_a_live_writers_temp_is_never_removed(tmp_path: Path, op: str) -> None:
    """A write still under way -- a handler run saving evidence or rewriting an artifact
    (it holds the run lock), or handoff-summary.md being updated (no lock) -- keeps its temp
    file while another command (`mlgate block`) takes the ticket lock and cleans up; the
    write then finishes."""
    ws = make_ticket(tmp_path / "proj")
    t = ws.ticket(NAME)
    ready, go = tmp_path / "ready", tmp_path / "go"
    child = Child(_paused_writer, ws.root, op, 7, ready, go)
    try:
        wait_file(ready, child)
        live = Path(ready.read_text())
        assert live.is_file()
        # a handler's temp file is protected by the run lock however old it is; the no-lock
        # handoff write by its age (kept young here, however slowly the command starts)
        age = -60 if op == "handoff" else ev.STALE_TEMP_AGE + 60
        os.utime(live, (time.time() - age,) * 2)
        r = mlgate_cli(ws, "block", NAME, "--reason", "meanwhile")
        assert r.returncode == 0, r.stderr
        assert live.is_file(), "the live writer's temp file was removed"
        go.write_text("go")
        assert child.wait() == 0
    finally:
        child.kill()
    assert not live.exists() and temps(t.folder) == []
    if op == "evidence":
        res = ev.latest(t.folder, t.state.stage, "tiny")
        assert res is not None and res.passed
    elif op == "report":
        assert "<!-- reporter" in (t.folder / REPORT).read_text()
    else:
        assert "`w0-op7`" in (t.folder / "handoff-summary.md").read_text()
