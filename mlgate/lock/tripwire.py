"""The tripwire (SPEC §16, "after"): what no hook saw coming is caught after the tool call.

:func:`guard` runs after every tool call of an agent (the Claude Code and Codex PostToolUse
hooks, ``mlgate hook claude-post|codex-post``) and from ``mlgate guard`` for any other agent
or a loop. For every checkout that a Locked ticket governs it compares the files with the
baseline, by content: HEAD (the checkout must still be on the ticket's branch), plus the
paths the stage allows (the ticket folder; run outputs in stage 5; docs in stage 7), plus the
state mlgate last wrote (the head, :mod:`mlgate.lock.governance`). Every difference outside
the allowed paths (created, modified, deleted, renamed, mode, symlink, untracked file, an edit
made through a hard link) is

1. saved in ``<ticket folder>/quarantine/Q-NNN/`` (:mod:`mlgate.lock.quarantine`: a binary
   patch plus the new files themselves: nothing is lost),
2. undone (the checkout is put back to HEAD for those paths),
3. recorded as a Process Violation in the state file (under the ticket lock, sealed, head
   updated), and
4. reported, so that the agent is told why (in each client's own output shape).

It also checks the lock's own controls (:mod:`mlgate.lock.controls`). Standard library only,
and no ``subprocess``: it runs inside the agent's PostToolUse hook.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

from mlgate import constants as C
from mlgate import tickets
from mlgate.errors import MlgateError, StateFileError, WorkspaceNotFound
from mlgate.lock import governance, quarantine
from mlgate.record import field, record
from mlgate.state.seal import load_key
from mlgate.state.statefile import StateDoc, ViolationRow
from mlgate.util import atomic_write, now_iso, today

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from mlgate.lock.policy import Governed, LockView

__all__ = ["Finding", "GuardReport", "guard", "restore_state", "record_violation"]


@record
class Finding:
    """One thing the tripwire caught (and, where it could, undid)."""

    kind: str  # worktree | head | state | control
    message: str  # what was found and what was done, in words
    ticket: str | None = None
    paths: list[str] = field(default_factory=list)
    quarantine: str | None = None  # the quarantine folder
    violation: str | None = None  # the Process Violation id recorded
    restored: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "ticket": self.ticket, "message": self.message,
                "paths": self.paths, "quarantine": self.quarantine,
                "violation": self.violation, "restored": self.restored}


@record
class GuardReport:
    root: str | None
    checked: list[str] = field(default_factory=list)  # the Locked checkouts compared
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # worth saying, not a violation
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.findings

    def reason(self) -> str:
        """The text the agent is shown when something was caught."""
        lines = ["mlgate: the edit lock's tripwire caught changes that this tool call made "
                 "where the lock does not allow them:"]
        for f in self.findings:
            lines.append(f"- {f.message}")
        lines.append("Nothing is lost: a person can re-apply a quarantined change with "
                     "`mlgate quarantine apply Q-NNN` once the ticket is back in stage 4 "
                     "(`mlgate reenter ...`). Do not work around the lock; follow the workflow "
                     "or ask the user.")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "root": self.root, "checked": self.checked,
                "findings": [f.to_dict() for f in self.findings], "notes": self.notes,
                "seconds": round(self.seconds, 4)}


# -- the state file against its head ------------------------------------------------------


def _one_line(text: str) -> str:
    return " ".join(text.replace("|", "/").split())


def record_violation(gdir: Path, t: tickets.TicketLocation, key: bytes, violation: str,
                     action: str) -> str | None:
    """Append a Process Violation to the ticket's state file (the caller holds the ticket
    lock): sealed, head updated. Returns its id; None when the file cannot be read."""
    path = t.folder / C.STATE_FILE
    try:
        doc = StateDoc.load(path)
    except StateFileError:
        return None
    vid = doc.next_violation_id()
    doc.append_violation(ViolationRow(date=today(), id=vid, violation=_one_line(violation),
                                      stage=doc.snapshot.current_stage,
                                      action=_one_line(action), cleared=False))
    previous = doc.seal
    governance.write_state(gdir, t.name, path, doc, key, previous)
    return vid


def restore_state(gdir: Path, t: tickets.TicketLocation, key: bytes, why: str,
                  head: governance.Head) -> tuple[str | None, str | None]:
    """Put the state mlgate last wrote back into the ticket folder (the caller holds the
    ticket lock), keeping the file found there in ``quarantine/``, and record a Process
    Violation. Returns (quarantine id, violation id)."""
    path = t.folder / C.STATE_FILE
    qid = qdir = None
    if os.path.lexists(path):
        qid, qdir = quarantine.new_entry_dir(t.folder)
        kept = qdir / quarantine.FILES / C.STATE_FILE
        kept.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, kept)
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = StateDoc.parse(head.state, path)
    vid = doc.next_violation_id()
    where = f"; the file found is kept in quarantine/{qid}" if qid else ""
    at = head.transition or "before the first transition"
    doc.append_violation(ViolationRow(
        date=today(), id=vid,
        violation=_one_line(f"{C.STATE_FILE} was not the state mlgate last wrote: {why}"),
        stage=doc.snapshot.current_stage,
        action=_one_line(f"restored mlgate's own state ({at}){where}"), cleared=False))
    governance.write_state(gdir, t.name, path, doc, key, None)
    if qdir is not None:
        quarantine.write_meta(qdir, {
            "id": qid, "ticket": t.name, "stage": head.stage, "created": now_iso(),
            "reason": why, "violation": vid, "commit": None, "checkout": str(t.checkout),
            "changes": [], "files": [], "state_file": f"{quarantine.FILES}/{C.STATE_FILE}",
            "patch": None})
    return qid, vid


def check_state(view: LockView, t: tickets.TicketLocation, key: bytes | None,
                repair: bool) -> Finding | None:
    """The state file of a registered ticket against its head; with ``repair`` the head's
    state is put back and a violation recorded."""
    gdir = view.gdir
    assert gdir is not None
    b = view.registry.get(t.name)
    if b is None or not b.governs:
        return None
    head = governance.read_head(gdir, t.name)
    if head is None:
        return None
    path = t.folder / C.STATE_FILE
    try:
        doc: StateDoc | None = StateDoc.load(path)
    except StateFileError as exc:
        doc = None
        if os.path.lexists(path):
            why = f"it cannot be read ({exc.detail})"
        else:
            why = "it is gone (moved or deleted)"
    if doc is not None:
        mismatch = governance.head_mismatch(t.name, doc, key, head)
        if mismatch is None:
            return None
        why = (f"it says {doc.snapshot.last_transition_id or 'no transition'} where mlgate's "
               f"head is at {head.transition or 'no transition yet'} (an older file restored, "
               f"or a file written outside mlgate)")
    msg = f"ticket {t.name!r}: {C.STATE_FILE} at {path}: {why}"
    if not repair or key is None:
        return Finding("state", msg + ("" if key is None else "; run `mlgate guard` to put "
                                       "mlgate's state back"), t.name, [str(path)])
    with governance.ticket_lock(gdir, t.name):
        qid, vid = restore_state(gdir, t, key, why, head)
    q = f" (the file found is in quarantine/{qid})" if qid else ""
    return Finding("state", f"{msg}; mlgate's own state was put back{q} and Process "
                            f"Violation {vid} recorded", t.name, [str(path)],
                   str(t.folder / quarantine.QUARANTINE_DIR / qid) if qid else None, vid, True)


# -- entry point ----------------------------------------------------------------------------


def guard(start: str | Path, repair: bool = True) -> GuardReport:
    """Check the workspace holding ``start``; with ``repair`` (the default) undo and record
    what is found. Never raises for a start outside any workspace (nothing to guard)."""
    t0 = time.perf_counter()
    try:
        root, _ = tickets.discover(start)
    except WorkspaceNotFound:
        return GuardReport(None, notes=[f"{start} is not in an mlgate workspace"])
    from mlgate.lock.policy import lock_view

    view = lock_view(root)
    rep = GuardReport(str(root))
    gdir = view.gdir
    assert gdir is not None
    key = load_key(gdir)
    for t in view.tickets:
        f = check_state(view, t, key, repair)
        if f is not None:
            rep.findings.append(f)
    if any(f.kind == "state" and f.restored for f in rep.findings):
        view = lock_view(root)  # the states changed: judge the checkouts on the new ones
    rep.seconds = time.perf_counter() - t0
    return rep
