"""Reliability under load and faults, with real processes, real signals and real git.

* Concurrency: several processes run mixed operations (advance, check, reenter, block,
  unblock, status, handler runs that write evidence) on one ticket at once. The Transition
  Log stays contiguous, every operation is in the log exactly once or not at all, every read
  sees a sealed file, and no evidence file is overwritten.
* SIGKILL: writers killed at random moments. The state file, the evidence and the artifacts
  mlgate writes are always a whole old or a whole new version; the lock of a killed process
  never wedges the next command (``filelock`` uses ``flock``: the kernel drops it).
* Disk full (``RLIMIT_FSIZE``), a read-only ticket folder and an unwritable state file: a
  ``WriteFailed`` (exit 4) naming the path, and the old file byte for byte.
* git failing half way through ``new`` and ``archive --finalize``: nothing half-made is left,
  and the message says what to do (extends tests/test_git_workflow.py).

The full-size variants are marked ``heavy`` (CI runs them too).
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import random
import re
import resource
import shutil
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import git
from mlgate import constants as C
from mlgate.evidence import results as ev
from mlgate.errors import GateFailed, GitError, LockTimeout, TransitionNotAllowed
from mlgate.evidence.results import CheckResult, HandlerResult
from mlgate.state.mdparse import Document
from mlgate.state.statefile import StateDoc
from mlgate.state.seal import load_key, seal_state
from mlgate.util import file_lock
from mlgate.workspace import Workspace
from test_walk import GOOD, fill, walk_to

TESTS = Path(__file__).resolve().parent
NAME = "load"
TAG_RE = re.compile(r"w\d+-op\d+")
PY = sys.executable
MLGATE = str(Path(sys.executable).parent / "mlgate")


class Tiny:
    """A stage handler that passes at once (what a real one writes, minus the work)."""

    name = "tiny"
    stages = tuple(C.STAGE_NUMBERS)

    def run(self, ctx: ev.HandlerContext) -> HandlerResult:
        return HandlerResult(handler="tiny", stage=ctx.stage, status="Pass",
                             checks=[CheckResult("ok", "pass", "nothing to check")],
                             commit=ctx.commit, metrics={"n": 1})


def registry():  # type: ignore[no-untyped-def]
    from mlgate.handlers.registry import Registry

    reg = Registry()
    reg.register(Tiny())
    return reg


def make_ticket(root: Path) -> Workspace:
    """A non-git workspace with ticket ``load`` in stage 5, the artifacts of stages 5 and 6
    filled in (advancing works) and stage 7's left as scaffolded (advancing from 7 is refused
    with a gate report, so the ticket cycles through 4-7 without reaching 8)."""
    root.mkdir(parents=True)
    ws, _ = Workspace.init(root)
    t = walk_to(ws, NAME, 5)
    fill(t.folder, 5)
    fill(t.folder, 6)
    shutil.copy(GOOD / "handoff-summary.md", t.folder / "handoff-summary.md")
    text = (t.folder / "handoff-summary.md").read_text().replace("<ticket-name>", NAME)
    (t.folder / "handoff-summary.md").write_text(text)
    return ws


# -- operations ------------------------------------------------------------------------------

OPS = ["advance", "advance", "reenter", "block", "unblock", "check", "status", "run", "run"]


def do_op(ws: Workspace, op: str, tag: str, reg: object) -> dict:
    """One operation on the ticket (a fresh Ticket, as a new command would make)."""
    t = ws.ticket(NAME)
    rec: dict = {"tag": tag, "op": op, "ok": True}
    try:
        if op == "advance":
            doc = t.doc()
            art = C.STAGES[doc.snapshot.current_stage or 0].artifact
            if doc.snapshot.active_reentry and art:  # a re-entry path is walked once the
                with (t.folder / art).open("a") as fh:  # artifacts it names were updated
                    fh.write(f"\n<!-- {tag}: revised after the re-entry -->\n")
            rec["tid"] = t.advance(reason=tag).transition_id
        elif op == "reenter":
            rec["tid"] = t.reenter("Local Fix", tag).transition_id
        elif op == "block":
            rec["tid"] = t.block(tag).transition_id
        elif op == "unblock":
            rec["tid"] = t.unblock(tag).transition_id
        elif op == "check":
            rec["gate_ok"] = t.check().ok
        elif op == "status":
            doc = t.doc()
            st = t.state_of(doc)
            t.allowed(doc)
            rec["seal"] = st.seal  # every read must see a whole, sealed file
            rec["stage"] = st.stage
        elif op == "run":
            rec["evidence"] = t.run_handlers(["tiny"], registry=reg, only_configured=False)[0].evidence
        elif op == "handoff":
            t._set_handoff("User verification received", tag)
    except (GateFailed, TransitionNotAllowed) as exc:
        rec.update(ok=False, refused=type(exc).__name__)
    except Exception as exc:  # noqa: BLE001 - reported by the test
        rec.update(ok=False, crash=f"{type(exc).__name__}: {exc}", tb=traceback.format_exc())
    return rec


def worker(root: str, wid: int, n: int, seed: int, out: str, go: str) -> None:
    """Entry point of one load process (``python -c``): wait for the start signal, then
    ``n`` random operations; the records go to ``out`` as JSON."""
    ws = Workspace(Path(root))
    reg = registry()
    rng = random.Random(seed)
    while not os.path.exists(go):
        time.sleep(0.005)
    records = [do_op(ws, rng.choice(OPS), f"w{wid}-op{i}", reg) for i in range(n)]
    Path(out).write_text(json.dumps(records))


def run_load(root: Path, procs: int, ops: int) -> list[dict]:
    go = root.parent / "go"
    outs = [root.parent / f"w{i}.json" for i in range(procs)]
    env = {k: v for k, v in os.environ.items()} | {"MLGATE_LOCK_TIMEOUT": "120"}
    children = [subprocess.Popen(
        [PY, "-c", f"import sys; sys.path[:0] = [{str(TESTS)!r}]; import test_reliability as R; "
                   f"R.worker({str(root)!r}, {i}, {ops}, {1000 + i}, {str(outs[i])!r}, "
                   f"{str(go)!r})"], env=env, cwd=root) for i in range(procs)]
    time.sleep(0.5)
    go.write_text("go")
    for c in children:
        assert c.wait(timeout=900) == 0
    return [r for o in outs for r in json.loads(o.read_text())]


def check_after_load(ws: Workspace, records: list[dict], initial_rows: int) -> None:
    crashes = [r for r in records if "crash" in r]
    assert not crashes, "\n".join(r["tb"] for r in crashes[:3])
    t = ws.ticket(NAME)
    doc = t.doc()
    assert seal_state(doc, ws.key()) == "valid"
    rows = doc.transitions
    # the log is contiguous from T-001
    assert [r.id for r in rows] == [f"T-{i:03d}" for i in range(1, len(rows) + 1)]
    # every successful move is in the log exactly once, under the id it was told; no
    # refused or read-only operation left a row
    logged = [TAG_RE.search(r.reason).group(0)  # type: ignore[union-attr]
              for r in rows[initial_rows:]]
    assert len(logged) == len(set(logged))
    moves = {r["tag"]: r["tid"] for r in records if r.get("ok") and "tid" in r}
    assert set(logged) == set(moves)
    by_id = {r.id: r for r in rows}
    for tag, tid in moves.items():
        assert tag in by_id[tid].reason
    # the snapshot agrees with the last row
    last = rows[-1]
    snap = doc.snapshot
    assert (snap.current_stage, snap.last_transition_id, snap.permission) == (
        last.to_stage, last.id, last.permission_after)
    # every read saw a sealed file
    assert {r["seal"] for r in records if r["op"] == "status" and r["ok"]} <= {"valid"}
    # every handler run saved its own evidence file; none was overwritten
    runs = [r["evidence"] for r in records if r["op"] == "run" and r["ok"]]
    assert len(runs) == len(set(runs))
    files = ev.list_evidence(t.folder, handler="tiny")
    assert sorted(f"{C.EVIDENCE_DIR}/{p.name}" for p, *_ in files) == sorted(runs)
    for stage in {s for _, s, _, _ in files}:
        ns = sorted(n for _, s, _, n in files if s == stage)
        assert ns == list(range(1, len(ns) + 1))
    for p, *_ in files:
        assert ev.load(p).status == "Pass"
    for g in doc.gates.values():  # the gate rows name evidence that exists
        for item in (e.strip() for e in g.evidence.split(",")):
            if "-tiny-" in item:
                assert (t.folder / item).is_file(), item
    assert not list(t.folder.glob(".*.tmp")), "a temp file was left behind"
    rep = t.doctor()
    assert rep.ok, rep.problems


def test_concurrent_operations_small(tmp_path: Path) -> None:
    ws = make_ticket(tmp_path / "proj")
    initial = len(ws.ticket(NAME).doc().transitions)
    records = run_load(ws.root, procs=4, ops=12)
    assert len(records) == 48
    check_after_load(ws, records, initial)


@pytest.mark.heavy
def test_concurrent_operations_8x50(tmp_path: Path) -> None:
    ws = make_ticket(tmp_path / "proj")
    initial = len(ws.ticket(NAME).doc().transitions)
    records = run_load(ws.root, procs=8, ops=50)
    assert len(records) == 400
    check_after_load(ws, records, initial)
    done = {r["op"] for r in records if r["ok"]}
    assert {"advance", "reenter", "block", "unblock", "run", "status", "check"} <= done


# -- SIGKILL ---------------------------------------------------------------------------------

needs_fork = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork (POSIX)")


def _victim(root: Path, seed: int) -> None:
    """The body of a forked writer: operations until it is killed."""
    ws = Workspace(root)
    reg = registry()
    rng = random.Random(seed)
    ops = OPS + ["handoff", "handoff"]
    i = 0
    while True:
        do_op(ws, rng.choice(ops), f"w0-op{i}", reg)
        i += 1


@contextlib.contextmanager
def forked(target, *args) -> Iterator[int]:  # type: ignore[no-untyped-def]
    pid = os.fork()
    if pid == 0:  # the child never returns into pytest
        try:
            signal.signal(signal.SIGALRM, signal.SIG_DFL)
            target(*args)
        finally:
            os._exit(0)
    try:
        yield pid
    finally:
        with contextlib.suppress(ProcessLookupError, ChildProcessError):
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)


def check_after_kill(ws: Workspace, key: bytes) -> int:
    """The files after a kill are whole versions; returns the number of temp files the
    killed writer left (proof that the kill landed inside a write)."""
    t = ws.ticket(NAME)
    doc = StateDoc.load(t.state_path)  # parses: never torn
    assert seal_state(doc, key) == "valid"
    ids = [r.id for r in doc.transitions]
    assert ids == [f"T-{i:03d}" for i in range(1, len(ids) + 1)]
    for p, *_ in ev.list_evidence(t.folder):
        json.loads(p.read_text())  # never a half-written JSON file
    handoff = Document.load(t.folder / "handoff-summary.md")
    field = handoff.section("Finalization Status").field("User verification received")
    assert field is not None and re.fullmatch(r"`(w0-op\d+|Yes` / `No)`", field.raw), field.raw
    assert handoff.render().endswith("\n")
    left = list(t.folder.glob(f".{C.STATE_FILE}.*.tmp")) + \
        list(t.folder.glob(".handoff-summary.md.*.tmp")) + \
        list((t.folder / C.EVIDENCE_DIR).glob(".*.tmp"))
    return len(left)


def kill_loop(ws: Workspace, kills: int, min_mid_write: int = 0, max_kills: int = 0) -> dict:
    key = ws.key()
    rng = random.Random(7)
    stats = {"kills": 0, "mid_write": 0, "waits": []}
    os.environ["MLGATE_LOCK_TIMEOUT"] = "20"
    try:
        while stats["kills"] < kills or (stats["mid_write"] < min_mid_write
                                         and stats["kills"] < max_kills):
            with forked(_victim, ws.root, stats["kills"]) as pid:
                time.sleep(rng.uniform(0.01, 0.25))
                os.kill(pid, signal.SIGKILL)
            stats["kills"] += 1
            stats["mid_write"] += 1 if check_after_kill(ws, key) else 0
            # the next command is not wedged by the killed process's lock
            start = time.perf_counter()
            rec = do_op(ws, "run", "after-kill", registry())
            stats["waits"].append(time.perf_counter() - start)
            assert rec["ok"], rec
            assert not list(ws.ticket(NAME).folder.glob(f".{C.STATE_FILE}.*.tmp"))
    finally:
        os.environ.pop("MLGATE_LOCK_TIMEOUT", None)
    assert max(stats["waits"]) < 15, stats["waits"]
    return stats


@needs_fork
def test_sigkill_at_random_moments_small(tmp_path: Path) -> None:
    ws = make_ticket(tmp_path / "proj")
    stats = kill_loop(ws, kills=25)
    assert stats["kills"] == 25
    t = ws.ticket(NAME)
    assert t.doctor().ok


@needs_fork
@pytest.mark.heavy
def test_sigkill_at_random_moments_heavy(tmp_path: Path) -> None:
    ws = make_ticket(tmp_path / "proj")
    stats = kill_loop(ws, kills=220, min_mid_write=1, max_kills=600)
    assert stats["kills"] >= 220 and stats["mid_write"] >= 1, stats
    assert ws.ticket(NAME).doctor().ok


@needs_fork
@pytest.mark.parametrize("mode", ["off", "file"])
def test_sigkill_with_relaxed_fsync_still_never_tears(tmp_path: Path, mode: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """MLGATE_FSYNC=off/file drop fsyncs, not the temp-file-and-rename: a killed writer still
    leaves a whole old or a whole new file."""
    monkeypatch.setenv("MLGATE_FSYNC", mode)
    ws = make_ticket(tmp_path / "proj")
    stats = kill_loop(ws, kills=10)
    assert stats["kills"] == 10
    assert ws.ticket(NAME).doctor().ok


@pytest.mark.parametrize(("mode", "fsyncs"), [(None, 2), ("full", 2), ("FILE", 1), ("off", 0)])
def test_fsync_modes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str | None,
                     fsyncs: int) -> None:
    """full (the default) syncs the file and its folder, file only the file, off neither; the
    file's bytes and permission bits are the same in every mode."""
    from mlgate import util

    calls: list[int] = []
    real = os.fsync
    monkeypatch.setattr(util.os, "fsync", lambda fd: (calls.append(fd), real(fd))[1])
    if mode is None:
        monkeypatch.delenv("MLGATE_FSYNC", raising=False)
    else:
        monkeypatch.setenv("MLGATE_FSYNC", mode)
    target = tmp_path / "f.md"
    target.write_text("old\n")
    target.chmod(0o640)
    util.atomic_write(target, "new\n")
    assert target.read_text() == "new\n"
    assert target.stat().st_mode & 0o777 == 0o640
    assert len(calls) == fsyncs
    assert not list(tmp_path.glob(".*.tmp"))


@pytest.mark.parametrize(("var", "value", "says"), [
    ("MLGATE_FSYNC", "sometimes", "expected one of full, file, off"),
    ("MLGATE_LOCK_TIMEOUT", "soon", "expected a number of seconds"),
    ("MLGATE_LOCK_TIMEOUT", "-3", "expected seconds >= 0"),
])
def test_bad_environment_values_are_refused_before_any_write(
        tmp_path: Path, var: str, value: str, says: str) -> None:
    """A bad MLGATE_FSYNC / MLGATE_LOCK_TIMEOUT is a usage error (exit 2) naming the variable
    and the value, and the state file is untouched."""
    ws = make_ticket(tmp_path / "proj")
    state = ws.ticket(NAME).state_path
    before = state.read_bytes()
    env = dict(os.environ, **{var: value})
    proc = subprocess.run([MLGATE, "-C", str(ws.root), "advance", NAME], env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert f"{var}={value!r}" in proc.stderr and says in proc.stderr
    assert state.read_bytes() == before


def _hold_lock(lock: Path, ready: Path) -> None:
    with file_lock(lock):
        ready.write_text("held")
        time.sleep(600)


@needs_fork
def test_lock_of_a_killed_process_does_not_wedge(tmp_path: Path) -> None:
    """While a live process holds the ticket lock, a command waits and then fails naming
    the lock (exit 4); once that process is SIGKILLed the lock file is still on disk, but
    the kernel has dropped the flock, so the next command runs at once."""
    ws = make_ticket(tmp_path / "proj")
    lock = ws.lock_path(NAME)
    ready = tmp_path / "ready"
    env = dict(os.environ, MLGATE_LOCK_TIMEOUT="1")
    with forked(_hold_lock, lock, ready) as pid:
        for _ in range(2000):
            if ready.exists():
                break
            time.sleep(0.005)
        r = subprocess.run([MLGATE, "block", NAME, "--reason", "disk"], cwd=ws.root, env=env,
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 4, r.stderr
        assert "holds the lock" in r.stderr and str(lock) in r.stderr
        with pytest.raises(LockTimeout):
            os.environ["MLGATE_LOCK_TIMEOUT"] = "0.2"
            try:
                ws.ticket(NAME).block("disk")
            finally:
                del os.environ["MLGATE_LOCK_TIMEOUT"]
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        assert lock.exists()  # the stale lock file stays ...
        fd = os.open(lock, os.O_RDWR)
        try:  # ... but nobody holds it any more
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)
        start = time.perf_counter()
        r = subprocess.run([MLGATE, "block", NAME, "--reason", "disk"], cwd=ws.root, env=env,
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        assert time.perf_counter() - start < 30
    assert ws.ticket(NAME).state.gates[5].status == "Blocked"


def _make_key(folder: Path) -> None:
    load_key(folder, create=True)


@needs_fork
@pytest.mark.parametrize("rounds", [pytest.param(40, id="small"),
                                    pytest.param(300, id="heavy", marks=pytest.mark.heavy)])
def test_killed_key_creation_leaves_no_partial_key(tmp_path: Path, rounds: int) -> None:
    """The seal key is made all at once: after a SIGKILL at any moment it is either absent
    or a whole 32-byte key, never an empty file (an empty key would make seals forgeable)."""
    rng = random.Random(3)
    made = 0
    for i in range(rounds):
        folder = tmp_path / f"k{i}"
        with forked(_make_key, folder) as pid:
            time.sleep(rng.uniform(0, 0.003))
            os.kill(pid, signal.SIGKILL)
        key = load_key(folder)
        assert key is None or len(key) == 32
        made += key is not None
        assert load_key(folder, create=True) is not None
    assert made < rounds  # some kills landed before the key was in place


def test_damaged_seal_key_is_refused_not_used(tmp_path: Path) -> None:
    ws = make_ticket(tmp_path / "proj")
    keyfile = ws.root / ".mlgate" / "seal.key"
    keyfile.write_text("")  # what a crash of an older version could leave
    r = subprocess.run([MLGATE, "status", NAME], cwd=ws.root, capture_output=True, text=True)
    assert r.returncode == 3 and "seal key is damaged" in r.stderr and str(keyfile) in r.stderr
    d = ws.decide([str(ws.root / "README.md")])
    assert not d.allowed and "seal key is damaged" in d.reason


# -- disk full, read-only, permission denied --------------------------------------------------


def _fsize_limit(limit: int):  # type: ignore[no-untyped-def]
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of a core dump
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


def mlgate(cwd: Path, *args: str, preexec=None, env: dict | None = None
           ) -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
    return subprocess.run([MLGATE, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120, preexec_fn=preexec, env=env)


def assert_write_failed(r: subprocess.CompletedProcess[str], path: Path) -> None:
    assert r.returncode == 4, (r.returncode, r.stderr)
    assert "could not write" in r.stderr and str(path) in r.stderr, r.stderr
    assert "the previous file is unchanged" in r.stderr
    assert "Traceback" not in r.stderr


def test_disk_full_leaves_the_old_state_file(tmp_path: Path) -> None:
    """Files may not grow past 1 KiB (RLIMIT_FSIZE, SIGXFSZ ignored): every write of the
    7 KiB state file fails with EFBIG, as on a full disk."""
    ws = make_ticket(tmp_path / "proj")
    state = ws.ticket(NAME).state_path
    before = state.read_bytes()
    r = mlgate(ws.root, "block", NAME, "--reason", "no gpu", preexec=_fsize_limit(1024))
    assert_write_failed(r, state)
    assert state.read_bytes() == before
    assert not list(state.parent.glob(".*.tmp"))
    r = mlgate(ws.root, "--json", "advance", NAME, preexec=_fsize_limit(1024))
    assert r.returncode == 4 and json.loads(r.stdout)["error"] == "write_failed"
    assert json.loads(r.stdout)["path"] == str(state)
    assert state.read_bytes() == before
    # a new ticket on a full disk: refused, and nothing is left that blocks a retry
    r = mlgate(ws.root, "new", "second", preexec=_fsize_limit(1024))
    assert r.returncode == 4 and "Traceback" not in r.stderr, r.stderr
    assert [t.name for t in Workspace(ws.root).tickets()] == [NAME]
    assert mlgate(ws.root, "new", "second").returncode == 0
    # with room again, the same command works
    assert mlgate(ws.root, "block", NAME, "--reason", "no gpu").returncode == 0


@contextlib.contextmanager
def read_only(folder: Path) -> Iterator[str]:
    """Make ``folder`` refuse new files, by whatever works here: chmod for a normal user;
    as root (which ignores permissions) a read-only bind mount, else the immutable flag."""
    if os.geteuid() != 0:
        mode = folder.stat().st_mode
        folder.chmod(0o555)
        try:
            yield "chmod 0555"
        finally:
            folder.chmod(mode)
        return
    if subprocess.run(["mount", "--bind", "-o", "ro", str(folder), str(folder)],
                      capture_output=True).returncode == 0:
        try:
            yield "read-only bind mount"
        finally:
            subprocess.run(["umount", str(folder)], check=True)
        return
    if shutil.which("chattr") and subprocess.run(["chattr", "+i", str(folder)],
                                                 capture_output=True).returncode == 0:
        try:
            yield "chattr +i"
        finally:
            subprocess.run(["chattr", "-i", str(folder)], check=True)
        return
    pytest.skip("running as root without mount or chattr: cannot make a folder read-only")


def test_read_only_ticket_folder(tmp_path: Path) -> None:
    ws = make_ticket(tmp_path / "proj")
    t = ws.ticket(NAME)
    before = t.state_path.read_bytes()
    with read_only(t.folder):
        r = mlgate(ws.root, "block", NAME, "--reason", "no gpu")
        assert_write_failed(r, t.state_path)
        assert t.state_path.read_bytes() == before
        r = mlgate(ws.root, "--json", "status", NAME)  # reading still works
        assert r.returncode == 0 and json.loads(r.stdout)["seal"] == "valid"
    assert mlgate(ws.root, "block", NAME, "--reason", "no gpu").returncode == 0


@contextlib.contextmanager
def unwritable_file(path: Path) -> Iterator[str]:
    """``path`` may be read but not replaced: the immutable flag as root; for a normal user
    the folder without write permission (a rename needs it)."""
    if os.geteuid() != 0:
        mode = path.parent.stat().st_mode
        path.parent.chmod(0o555)
        try:
            yield "chmod 0555 on the folder"
        finally:
            path.parent.chmod(mode)
        return
    if shutil.which("chattr") and subprocess.run(["chattr", "+i", str(path)],
                                                 capture_output=True).returncode == 0:
        try:
            yield "chattr +i"
        finally:
            subprocess.run(["chattr", "-i", str(path)], check=True)
        return
    pytest.skip("running as root without chattr: cannot deny writing one file")


def test_permission_denied_on_the_state_file(tmp_path: Path) -> None:
    ws = make_ticket(tmp_path / "proj")
    t = ws.ticket(NAME)
    before = t.state_path.read_bytes()
    with unwritable_file(t.state_path):
        r = mlgate(ws.root, "advance", NAME)
        assert_write_failed(r, t.state_path)
        assert t.state_path.read_bytes() == before
        assert not list(t.folder.glob(".*.tmp"))  # the temp file is cleaned up
    assert mlgate(ws.root, "block", NAME, "--reason", "x").returncode == 0


# -- git failing half way ------------------------------------------------------------------------


@pytest.fixture
def gws(git_workspace: Workspace) -> Workspace:
    return git_workspace


def test_new_refuses_when_branch_exists_but_its_worktree_path_is_taken(gws: Workspace) -> None:
    git(gws.root, "branch", "codex/taken")
    tip = git(gws.root, "rev-parse", "codex/taken")
    taken = gws.root.parent / f"{gws.root.name}.worktrees" / "taken"
    taken.mkdir(parents=True)
    (taken / "notes.txt").write_text("mine\n")
    r = mlgate(gws.root, "new", "taken")
    assert r.returncode == 4 and "already exists" in r.stderr
    assert "hint: remove or move that folder" in r.stderr and "nothing was created" in r.stderr
    assert git(gws.root, "rev-parse", "codex/taken") == tip  # the branch is untouched
    assert (taken / "notes.txt").read_text() == "mine\n"
    assert len(git(gws.root, "worktree", "list").splitlines()) == 1
    assert Workspace(gws.root).tickets() == []


def test_new_when_the_worktree_path_is_a_file(gws: Workspace) -> None:
    parent = gws.root.parent / f"{gws.root.name}.worktrees"
    parent.write_text("a file where the worktrees folder should be\n")
    r = mlgate(gws.root, "new", "exp")
    assert r.returncode == 4 and "Traceback" not in r.stderr, r.stderr
    assert "nothing was left behind" in r.stderr and "worktrees:" in r.stderr
    assert not git(gws.root, "branch", "--list", "codex/exp")
    parent.unlink()
    (parent / "exp").parent.mkdir()
    (parent / "exp").write_text("a file where the worktree should be\n")
    r = mlgate(gws.root, "new", "exp")
    assert r.returncode == 4 and "already exists" in r.stderr and "Traceback" not in r.stderr


@contextlib.contextmanager
def refuse_new_entries(folder: Path) -> Iterator[None]:
    folder.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        folder.chmod(0o555)
        try:
            yield
        finally:
            folder.chmod(0o755)
        return
    if shutil.which("chattr") and subprocess.run(["chattr", "+i", str(folder)],
                                                 capture_output=True).returncode == 0:
        try:
            yield
        finally:
            subprocess.run(["chattr", "-i", str(folder)], check=True)
        return
    pytest.skip("running as root without chattr: cannot make git fail half way")


def test_new_when_git_worktree_add_fails_half_way(gws: Workspace) -> None:
    """`git worktree add -b` creates the branch, then fails to register the worktree (its
    admin folder refuses new entries): mlgate deletes the branch it had git create and says
    that nothing was left."""
    with refuse_new_entries(gws.root / ".git" / "worktrees"):
        r = mlgate(gws.root, "new", "half")
    assert r.returncode == 4 and "Traceback" not in r.stderr, r.stderr
    assert "nothing was left behind" in r.stderr and "codex/half" in r.stderr
    assert not git(gws.root, "branch", "--list", "codex/half")
    assert not (gws.root.parent / f"{gws.root.name}.worktrees" / "half").exists()
    assert len(git(gws.root, "worktree", "list").splitlines()) == 1
    r = mlgate(gws.root, "new", "half")  # and the retry just works
    assert r.returncode == 0, r.stderr


def stage8(ws: Workspace, name: str) -> object:
    from test_git_workflow import walk_git

    t = ws.new_ticket(name)
    walk_git(ws, t, 8)
    fill(t.folder, 8)
    git(t.checkout, "add", "-A")
    git(t.checkout, "commit", "-q", "-m", "handoff")
    t.verify("Grace Hopper")
    git(t.checkout, "add", "-A")
    git(t.checkout, "commit", "-q", "-m", "verification")
    return t


@pytest.mark.slow
def test_finalize_refuses_a_worktree_with_stray_files(gws: Workspace) -> None:
    t = stage8(gws, "stray")
    (t.checkout / "scratch.py").write_text("print('forgotten')\n")  # untracked
    before = t.state_path.read_bytes()
    heads = git(gws.root, "rev-parse", "HEAD"), git(t.checkout, "rev-parse", "HEAD")
    with pytest.raises(GitError) as exc:
        t.archive(finalize=True)
    msg = str(exc.value)
    assert "scratch.py" in msg and "nothing was changed" in msg
    assert t.state_path.read_bytes() == before and not t.archived
    assert (git(gws.root, "rev-parse", "HEAD"), git(t.checkout, "rev-parse", "HEAD")) == heads
    (t.checkout / "scratch.py").unlink()
    t.archive(finalize=True)
    assert not git(gws.root, "branch", "--list", "codex/stray")


@pytest.mark.slow
def test_finalize_merge_failing_half_way_says_how_to_finish(gws: Workspace) -> None:
    """The merge commit is refused by a `pre-merge-commit` hook of the main checkout after
    the archive was committed on the branch: git's merge is aborted (main unchanged), the
    ticket stays archived on its branch, and the message lists the commands to finish."""
    t = stage8(gws, "hooked")
    hook = gws.root / ".git" / "hooks" / "pre-merge-commit"
    hook.parent.mkdir(exist_ok=True)
    hook.write_text("#!/bin/sh\necho 'merges are frozen today' >&2\nexit 1\n")
    hook.chmod(0o755)
    head_main = git(gws.root, "rev-parse", "HEAD")
    with pytest.raises(GitError) as exc:
        t.archive(finalize=True)
    msg = str(exc.value)
    assert "merges are frozen today" in msg and "archived and committed on codex/hooked" in msg
    assert "git merge --no-ff codex/hooked" in msg and "git worktree remove" in msg
    assert git(gws.root, "rev-parse", "HEAD") == head_main
    assert not git(gws.root, "status", "--porcelain")  # no half-made merge in main
    assert not (gws.root / ".git" / "MERGE_HEAD").exists()
    done = t.checkout / "tickets" / "done" / "hooked"
    assert done.is_dir() and not git(t.checkout, "status", "--porcelain")
    # following the message finishes the job
    hook.unlink()
    git(gws.root, "merge", "--no-ff", "-q", "-m", "merge", "codex/hooked")
    git(gws.root, "worktree", "remove", str(t.checkout))
    git(gws.root, "branch", "-d", "codex/hooked")
    assert (gws.root / "tickets" / "done" / "hooked" / C.STATE_FILE).exists()
