"""Governance outside the worktree (SPEC §16): which ticket governs which branch and
worktree, and the state mlgate last wrote for each ticket (its *head*).

Everything lives beside the seal key, in ``<git common dir>/mlgate/`` (non-git:
``<workspace>/.mlgate/``), where no checkout's files reach it:

* ``registry.json`` — one binding per ticket: ticket ↔ branch ↔ worktree ↔ folder, and
  whether the ticket is ``in-progress``, ``done`` (archived, not merged) or ``finalized``
  (merged: nothing governed any more). Written by ``mlgate new`` and kept up to date by
  every transition, archive, reopen and finalize. A ticket governs its branch and its worktree
  for as long as it is in progress or done, *wherever* that branch is checked out, and
  whether or not its folder or state file can still be found: a governed checkout whose state
  cannot be read is Locked, with the reason (fail closed).
* ``heads/<ticket>.json`` — the head: the last transition id, the seal of the state file
  mlgate last wrote (a keyed digest of everything mlgate owns in it) and that file's full
  text. Every write mlgate makes to ``workflow-state.md`` updates it first
  (:func:`write_state`). A state file whose seal differs from its head's (an older sealed
  file restored with ``git checkout``, or a file sealed by anyone else who read the key) is
  *behind its head*: Locked, and the tripwire or ``mlgate doctor --repair`` puts the head's
  text back and records a Process Violation. Prose edits keep the seal, so they keep the head.
* ``governed/refs/heads/<branch>`` — an empty marker per governed branch, so that the
  ``reference-transaction`` hook can let every other ref through from the shell, without
  starting Python.

Standard library only: the hooks read this on every call.
"""
from __future__ import annotations

import contextlib
import errno
import json
import os
import time
from pathlib import Path

from mlgate import constants as C
from mlgate import tickets
from mlgate.errors import LockTimeout, StateFileError, WriteFailed
from mlgate.record import record
from mlgate.util import atomic_write, now_iso

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs import time on the hook path
    from collections.abc import Iterator
    from typing import Any

    from mlgate.state.statefile import StateDoc

__all__ = ["Binding", "Head", "Registry", "REGISTRY_FILE", "HEADS_DIR", "GOVERNED_DIR",
           "IN_PROGRESS", "DONE", "FINALIZED", "directory", "load", "bind", "update",
           "read_head", "write_state", "finish_pending", "restore_head", "head_mismatch",
           "os_lock",
           "ticket_lock", "merge_locations", "marker_path", "sync_markers"]

REGISTRY_FILE = "registry.json"
HEADS_DIR = "heads"
GOVERNED_DIR = "governed"
LOCKS_DIR = "locks"
VERSION = 1
IN_PROGRESS, DONE, FINALIZED = "in-progress", "done", "finalized"
STATUSES = (IN_PROGRESS, DONE, FINALIZED)


@record(frozen=True)
class Binding:
    """What the registry knows of one ticket."""

    ticket: str
    status: str  # in-progress | done | finalized
    worktree: str  # the checkout the ticket works in (its real path)
    folder: str  # the ticket folder (absolute)
    branch: str | None = None  # short name ("codex/x"); None when no branch is governed
    own_worktree: bool = True  # the worktree is the ticket's own (branch <prefix><ticket>)
    base: str | None = None  # the commit the ticket started from

    @property
    def governs(self) -> bool:
        """True while the ticket governs its branch and worktree (in progress or archived
        but not merged)."""
        return self.status in (IN_PROGRESS, DONE)

    @property
    def ref(self) -> str | None:
        return f"refs/heads/{self.branch}" if self.branch else None

    @property
    def state_file(self) -> Path:
        return Path(self.folder) / C.STATE_FILE

    def location(self) -> tickets.TicketLocation:
        return tickets.TicketLocation(
            name=self.ticket, folder=Path(self.folder),
            location=C.DONE if self.status == DONE else C.IN_PROGRESS,
            checkout=Path(self.worktree), branch=self.branch, own_worktree=self.own_worktree)

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "worktree": self.worktree, "folder": self.folder,
                "branch": self.branch, "own_worktree": self.own_worktree, "base": self.base}


@record(frozen=True)
class Head:
    """The state file mlgate last wrote for a ticket."""

    ticket: str
    transition: str | None  # the last transition id (T-NNN), None before the first move
    seal: str | None  # the seal of that file
    stage: int | None
    permission: str | None
    path: str  # where it was written
    state: str  # its full text
    written: str  # ISO time
    previous: str | None = None  # while a write is under way: the seal of the file before it


class Registry:
    """The parsed ``registry.json`` (empty when the file does not exist yet)."""

    def __init__(self, path: Path, bindings: dict[str, Binding], exists: bool) -> None:
        self.path = path
        self.bindings = bindings
        self.exists = exists

    def get(self, ticket: str) -> Binding | None:
        return self.bindings.get(ticket)

    def active(self) -> list[Binding]:
        """The bindings that govern something (in progress or done), by ticket name."""
        return [b for _, b in sorted(self.bindings.items()) if b.governs]

    def by_branch(self, branch: str | None) -> Binding | None:
        """The governing binding of branch ``branch`` (short name), if any."""
        if not branch:
            return None
        for b in self.bindings.values():
            if b.governs and b.branch == branch:
                return b
        return None

    def by_ref(self, ref: str) -> Binding | None:
        if not ref.startswith("refs/heads/"):
            return None
        return self.by_branch(ref[len("refs/heads/"):])


# -- paths -------------------------------------------------------------------------------


def directory(root: str | Path) -> Path:
    """The governance folder of the workspace at ``root`` (the seal key's folder)."""
    return tickets.key_dir(root)


def marker_path(gdir: Path, ref: str) -> Path:
    return gdir / GOVERNED_DIR / Path(*ref.split("/"))


def _head_path(gdir: Path, ticket: str) -> Path:
    return gdir / HEADS_DIR / f"{ticket}.json"


def _pending_path(gdir: Path, ticket: str) -> Path:
    return gdir / HEADS_DIR / f"{ticket}.pending"


# -- reading -----------------------------------------------------------------------------


def load(gdir: str | Path) -> Registry:
    """The registry in ``gdir``. A missing file is an empty registry; a damaged one raises
    :class:`StateFileError` (the lock then refuses: it cannot tell what is governed)."""
    path = Path(gdir) / REGISTRY_FILE
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return Registry(path, {}, False)
    except OSError as exc:
        raise StateFileError(str(path), None, f"cannot read the governance registry: "
                                              f"{exc.strerror or exc}") from None
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise StateFileError(str(path), getattr(exc, "lineno", None),
                             f"the governance registry is not valid JSON ({exc}); run "
                             f"`mlgate doctor --repair` to rebuild it") from None
    entries = data.get("tickets") if isinstance(data, dict) else None
    if not isinstance(entries, dict):
        raise StateFileError(str(path), None, "the governance registry has no `tickets` "
                                              "object; run `mlgate doctor --repair` to "
                                              "rebuild it")
    bindings: dict[str, Binding] = {}
    for name, e in entries.items():
        if not (isinstance(e, dict) and e.get("status") in STATUSES
                and isinstance(e.get("worktree"), str) and isinstance(e.get("folder"), str)):
            raise StateFileError(str(path), None, f"the governance registry entry of "
                                                  f"{name!r} is malformed; run `mlgate doctor "
                                                  f"--repair` to rebuild it")
        branch = e.get("branch")
        base = e.get("base")
        bindings[name] = Binding(
            ticket=name, status=e["status"], worktree=_abs(path.parent, e["worktree"]),
            folder=_abs(path.parent, e["folder"]),
            branch=branch if isinstance(branch, str) and branch else None,
            own_worktree=bool(e.get("own_worktree", True)),
            base=base if isinstance(base, str) and base else None)
    return Registry(path, bindings, True)


def read_head(gdir: str | Path, ticket: str) -> Head | None:
    """The head of ``ticket``, or None when mlgate has not written its state since the
    registry existed. A damaged head file raises :class:`StateFileError`."""
    path = _head_path(Path(gdir), ticket)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StateFileError(str(path), None, f"cannot read the head of ticket {ticket!r}: "
                                              f"{exc.strerror or exc}") from None
    try:
        previous = _pending_path(Path(gdir), ticket).read_text(encoding="ascii").strip()
    except FileNotFoundError:
        previous = None
    except (OSError, UnicodeDecodeError):
        previous = "?"  # unreadable: no previous file is accepted
    try:
        d = json.loads(raw)
        return Head(ticket=ticket, transition=d.get("transition"), seal=d.get("seal"),
                    stage=d.get("stage"), permission=d.get("permission"),
                    path=str(d["path"]), state=str(d["state"]), written=str(d.get("written")),
                    previous=previous)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise StateFileError(str(path), None, f"the head of ticket {ticket!r} is damaged "
                                              f"({exc}); run `mlgate doctor {ticket} "
                                              f"--repair`") from None


def head_mismatch(ticket: str, doc: StateDoc, key: bytes | None,
                  head: Head | None) -> str | None:
    """Why ``doc`` is not the state mlgate last wrote (None: it is, or there is no head).

    The same state means the same machine-owned content: the seal on the file equals the
    head's, or (a file whose seal line was taken off) the seal mlgate would compute for it
    does. Prose, notes and the ``Last Updated`` date may differ."""
    if head is None or (doc.seal is not None and doc.seal in (head.seal, head.previous)):
        return None  # (previous: a write was cut off before its rename; the next one ends it)
    if key is not None and head.seal is not None and doc.compute_seal(key) == head.seal:
        return None
    theirs = doc.snapshot.last_transition_id or "no transition"
    ours = head.transition or "no transition yet"
    return (f"ticket {ticket!r}: {C.STATE_FILE} is not the state mlgate last wrote (mlgate's "
            f"head is at {ours}, stage {head.stage}; the file says {theirs}): an older file "
            f"restored, or a file written outside mlgate. The ticket is Locked until mlgate "
            f"puts its own state back: run `mlgate guard` or `mlgate doctor {ticket} "
            f"--repair` (a Process Violation is recorded)")


def merge_locations(found: list[tickets.TicketLocation], registry: Registry
                    ) -> list[tickets.TicketLocation]:
    """The tickets as the lock sees them: those found in the checkouts, with every ticket
    the registry governs put at its registered place (its folder may be gone: the lock then
    reads it as unreadable, i.e. Locked). A finalized ticket is left as it was found."""
    out = {t.name: t for t in found}
    for b in registry.active():
        loc = b.location()
        seen = out.get(b.ticket)
        if seen is not None and not os.path.isdir(b.worktree) and seen.state_file.is_file():
            # its registered worktree is gone and the ticket is found elsewhere (a worktree
            # removed by hand after a hand merge): read it there; its state is still checked
            # against the head, and the registered branch stays governed
            continue
        out[b.ticket] = loc
    return [out[name] for name in sorted(out)]


# -- locking ------------------------------------------------------------------------------


@contextlib.contextmanager
def os_lock(path: str | Path, timeout: float = 60.0) -> Iterator[None]:
    """An exclusive ``flock`` on ``path`` (created if needed), the same lock
    :func:`mlgate.util.file_lock` takes through ``filelock``; standard library only, for the
    hooks. Raises :class:`LockTimeout` after ``timeout`` seconds."""
    import fcntl

    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    raw = os.environ.get("MLGATE_LOCK_TIMEOUT")
    if raw:
        with contextlib.suppress(ValueError):
            timeout = max(0.0, float(raw))
    fd = os.open(p, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    raise
                if time.monotonic() >= deadline:
                    raise LockTimeout(f"another mlgate command holds the lock {p} (waited "
                                      f"{timeout:.0f}s)", path=str(p)) from None
                time.sleep(0.02)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def ticket_lock(gdir: str | Path, ticket: str) -> contextlib.AbstractContextManager[None]:
    """The per-ticket lock every state-file writer holds (``Workspace.lock_path``)."""
    return os_lock(Path(gdir) / LOCKS_DIR / f"{ticket}.lock")


# -- writing ------------------------------------------------------------------------------


def _abs(gdir: Path, stored: str) -> str:
    return stored if os.path.isabs(stored) else os.path.normpath(os.path.join(gdir, stored))


def _rel(gdir: Path, path: str) -> str:
    """Paths are kept relative to the governance folder, so that moving the whole project
    (repository and worktrees together) keeps the registry valid."""
    try:
        return os.path.relpath(path, gdir)
    except ValueError:  # another drive (Windows)
        return path


def _save(reg: Registry) -> None:
    gdir = reg.path.parent
    data = {"version": VERSION, "tickets": {
        name: b.to_dict() | {"worktree": _rel(gdir, b.worktree), "folder": _rel(gdir, b.folder)}
        for name, b in sorted(reg.bindings.items())}}
    reg.path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(reg.path, json.dumps(data, indent=1, sort_keys=True) + "\n")
    sync_markers(reg)


def sync_markers(reg: Registry) -> list[str]:
    """Make ``governed/`` hold exactly one marker per governed branch; returns what was
    fixed (the tripwire reports it)."""
    gdir = reg.path.parent
    base = gdir / GOVERNED_DIR
    want = {b.ref for b in reg.active() if b.ref}
    fixed: list[str] = []
    for ref in sorted(want):  # (type: ignore - refs are str here)
        marker = marker_path(gdir, str(ref))
        if not marker.is_file():
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.write_bytes(b"")
            fixed.append(f"restored the marker of {ref}")
    if base.is_dir():
        for dirpath, _dirs, files in os.walk(base, topdown=False):
            for f in files:
                full = Path(dirpath) / f
                ref = full.relative_to(base).as_posix()
                if ref not in want:
                    full.unlink()
                    fixed.append(f"removed the stale marker of {ref}")
            if Path(dirpath) != base:
                with contextlib.suppress(OSError):
                    os.rmdir(dirpath)
    return fixed


def bind(gdir: str | Path, binding: Binding) -> bool:
    """Record (or replace) the binding of ``binding.ticket``; True when it changed."""
    gdir = Path(gdir)
    with os_lock(gdir / LOCKS_DIR / "registry.lock"):
        reg = load(gdir)
        if reg.bindings.get(binding.ticket) == binding and reg.exists:
            return False
        reg.bindings[binding.ticket] = binding
        _save(reg)
        return True


def update(gdir: str | Path, ticket: str, **changes: Any) -> Binding | None:
    """Change fields of the binding of ``ticket`` (nothing when it is not registered)."""
    gdir = Path(gdir)
    with os_lock(gdir / LOCKS_DIR / "registry.lock"):
        reg = load(gdir)
        old = reg.bindings.get(ticket)
        if old is None:
            return None
        fields = old.to_dict() | changes
        new = Binding(ticket=ticket, status=fields["status"], worktree=fields["worktree"],
                      folder=fields["folder"], branch=fields["branch"],
                      own_worktree=fields["own_worktree"], base=fields["base"])
        if new != old:
            reg.bindings[ticket] = new
            _save(reg)
        return new


def _head_payload(ticket: str, path: str | Path, doc: StateDoc, text: str) -> dict[str, Any]:
    snap = doc.snapshot
    return {"version": VERSION, "ticket": ticket, "transition": snap.last_transition_id,
            "seal": doc.seal, "stage": snap.current_stage, "permission": snap.permission,
            "path": str(path), "written": now_iso(), "state": text}


def write_state(gdir: str | Path, ticket: str, path: str | Path, doc: StateDoc,
                key: bytes, previous: str | None = None) -> None:
    """Seal ``doc`` and write it to ``path``, the head first, so that no moment exists in
    which the file is newer than its head. ``previous``: the seal of the file being replaced
    (None: none, or not sealed). While the write is under way ``heads/<ticket>.pending`` holds
    it, so that a process killed between the two writes leaves a state the lock still
    accepts, and the next writer (:func:`finish_pending`) puts the head back to it (the write
    did not happen); a write that fails puts the old head back. The caller holds the ticket
    lock."""
    gdir = Path(gdir)
    doc.apply_seal(key)
    text = doc.render()
    hp, pp = _head_path(gdir, ticket), _pending_path(gdir, ticket)
    hp.parent.mkdir(parents=True, exist_ok=True)
    try:
        before: bytes | None = hp.read_bytes()
    except FileNotFoundError:
        before = None
    try:
        if previous:  # (a marker, not a record: no fsync; torn, it accepts no previous file)
            fd = os.open(pp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
            try:
                os.write(fd, (previous + "\n").encode("ascii"))
            finally:
                os.close(fd)
        atomic_write(hp, json.dumps(_head_payload(ticket, path, doc, text)))
    except (WriteFailed, OSError) as exc:  # (the file the user knows is the state file)
        with contextlib.suppress(OSError):
            pp.unlink()
        code = exc.data.get("errno") if isinstance(exc, WriteFailed) else exc.errno
        why = os.strerror(code) if code else "see above"
        where = exc.data.get("path") if isinstance(exc, WriteFailed) else exc.filename
        raise WriteFailed(f"could not write {path}: its head {where} must be "
                          f"written first and could not be ({why}); the previous file is "
                          f"unchanged", path=str(path), errno=code) from exc
    try:
        atomic_write(path, text)
    except BaseException:
        if before is None:
            with contextlib.suppress(OSError):
                hp.unlink()
        else:
            atomic_write(hp, before)
        with contextlib.suppress(OSError):
            pp.unlink()
        raise
    with contextlib.suppress(FileNotFoundError):
        pp.unlink()


def finish_pending(gdir: str | Path, ticket: str, path: str | Path, seal: str | None) -> bool:
    """Settle a state write that a killed process left half done (the caller holds the
    ticket lock and read the file's ``seal``). The write never happened, as for any other
    file mlgate writes atomically: when the file is still the previous one, the head is put
    back to it. True when the head was put back."""
    gdir = Path(gdir)
    for tmp in (gdir / HEADS_DIR).glob(f".{ticket}.*.tmp"):  # (a writer killed mid-write)
        with contextlib.suppress(OSError):
            tmp.unlink()
    pp = _pending_path(gdir, ticket)
    if not pp.exists():
        return False
    head = read_head(gdir, ticket)
    settled = False
    if head is not None and seal is not None and seal == head.previous and seal != head.seal:
        from mlgate.state.statefile import StateDoc

        doc = StateDoc.load(path)
        text = Path(path).read_text(encoding="utf-8")
        atomic_write(_head_path(gdir, ticket),
                     json.dumps(_head_payload(ticket, path, doc, text)))
        settled = True
    if head is None or seal in (head.seal, head.previous):
        with contextlib.suppress(FileNotFoundError):
            pp.unlink()
    return settled


def restore_head(gdir: str | Path, ticket: str, head: Head | None) -> None:
    """Put back a head read earlier (``None``: remove it): used to undo a write."""
    hp = _head_path(Path(gdir), ticket)
    with contextlib.suppress(FileNotFoundError):
        _pending_path(Path(gdir), ticket).unlink()
    if head is None:
        with contextlib.suppress(FileNotFoundError):
            hp.unlink()
        return
    atomic_write(hp, json.dumps({"version": VERSION, "ticket": ticket,
                                 "transition": head.transition, "seal": head.seal,
                                 "stage": head.stage, "permission": head.permission,
                                 "path": head.path, "written": head.written,
                                 "state": head.state}))
