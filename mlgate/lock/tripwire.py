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
from mlgate.util import Started, now_iso, today

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
        theirs = doc.snapshot.last_transition_id or "no transition"
        ours = head.transition or "no transition yet"
        why = (f"it is at {theirs} while mlgate last wrote {ours} (an older file restored?)"
               if theirs != ours else
               f"its stage, permission or logs differ from what mlgate last wrote at {ours}, "
               f"under a seal mlgate did not write (a file sealed outside mlgate)")
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


# -- the worktrees ----------------------------------------------------------------------------

_IGNORED_PARTS = ("__pycache__",)
_IGNORED_SUFFIXES = (".pyc", ".pyo")


def _not_compared(rel: str) -> bool:
    """Paths the tripwire leaves alone: Python's byte-code caches (never source; see the
    docs for what that leaves open) and the agent config files (checked as controls, so that
    a person's permission rules there are not taken away)."""
    from mlgate.lock.controls import AGENT_FILES

    if rel in AGENT_FILES or rel.endswith(_IGNORED_SUFFIXES):
        return True
    return any(part in _IGNORED_PARTS for part in rel.split("/"))


def _kind(xy: str, m_head: str, m_work: str) -> str:
    if m_head == "000000":
        return "created"
    if "D" in xy or m_work == "000000":
        return "deleted"
    if m_head[:3] != m_work[:3]:
        return "type"  # file <-> symlink (or a submodule)
    if m_head != m_work:
        return "mode"
    return "modified" if xy[1] != "." else "staged"


def changes(view: LockView, g: Governed, early: Started | None = None
            ) -> list[quarantine.Change]:
    """What differs from HEAD in the checkout of ``g`` outside what its stage allows (one
    ``git status``, see :data:`quarantine.STATUS_ARGS`; untracked folders are listed whole
    unless something in them is not allowed). ``early``: that ``git status``, started
    before (the PostToolUse hook starts it first thing, so that it runs while Python loads
    the rest)."""
    co = g.checkout
    if early is not None:
        try:
            raw = quarantine.checked(early.wait())
        except UnicodeDecodeError:
            raw = quarantine.status(co)  # (the error message comes from there)
    else:
        raw = quarantine.status(co)
    fields = raw.split("\0")
    out: list[quarantine.Change] = []
    expand: list[str] = []
    for item in fields:
        if not item:
            continue
        tag = item[0]
        if tag == "1":
            parts = item.split(" ", 8)
            if len(parts) < 9:
                continue
            xy, m_head, m_work, rel = parts[1], parts[3], parts[5], parts[8]
            c = quarantine.Change(rel, _kind(xy, m_head, m_work), in_head=m_head != "000000",
                                  in_index=xy[0] != ".")
        elif tag == "u":
            parts = item.split(" ", 10)
            if len(parts) < 11:
                continue
            c = quarantine.Change(parts[10], "modified", in_head=True, in_index=True)
        elif tag == "?":
            rel = item[2:]
            if rel.endswith("/"):
                folder = rel.rstrip("/")
                if not view.allows(g, folder) and not _not_compared(folder):
                    expand.append(rel)
                continue
            c = quarantine.Change(rel, "created", in_head=False, in_index=False)
        else:
            continue
        if not _not_compared(c.path) and not view.allows(g, c.path):
            out.append(c)
    if expand:
        listed = quarantine.run_git(co, "ls-files", "--others", "--exclude-standard", "-z",
                                    "--", *expand)
        for rel in listed.split("\0"):
            if rel and not _not_compared(rel.rstrip("/")) and \
                    not view.allows(g, rel.rstrip("/")):
                out.append(quarantine.Change(rel.rstrip("/"), "created", in_head=False,
                                             in_index=False))
    return out


def _head_ref(checkout: Path) -> str | None:
    """What HEAD of ``checkout`` says (``ref: refs/heads/x`` gives ``refs/heads/x``, a
    detached HEAD its commit), read from git's files; None when it cannot be read."""
    dotgit = checkout / ".git"
    try:
        if dotgit.is_dir():
            text = (dotgit / "HEAD").read_text(encoding="utf-8")
        else:
            admin = dotgit.read_text(encoding="utf-8").strip()
            if not admin.startswith("gitdir: "):
                return None
            gd = Path(admin[8:])
            if not gd.is_absolute():
                gd = checkout / gd
            text = (gd / "HEAD").read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    text = text.strip()
    return text[5:].strip() if text.startswith("ref: ") else text


def _describe(cs: list[quarantine.Change], limit: int = 8) -> str:
    shown = ", ".join(f"{c.path} ({c.kind})" for c in cs[:limit])
    return shown + (f" and {len(cs) - limit} more" if len(cs) > limit else "")


def check_worktree(view: LockView, g: Governed, key: bytes | None,
                   repair: bool, early: Started | None = None) -> Finding | None:
    """Compare one Locked checkout with its baseline; with ``repair`` quarantine, restore
    and record what differs."""
    t = g.ticket
    label = C.stage_title(g.stage) if g.stage is not None else "unknown"
    moved = None
    if g.branch:
        ref = _head_ref(g.checkout)
        if ref != f"refs/heads/{g.branch}":
            moved = ref or "unreadable"
    found = changes(view, g, early)
    if not found and moved is None:
        return None
    what = []
    if moved is not None:
        what.append(f"HEAD left the ticket's branch {g.branch} (now {moved})")
    if found:
        what.append(f"changes outside what stage {label} allows: {_describe(found)}")
    msg = f"ticket {t.name!r}, {g.checkout}: " + "; ".join(what)
    if not repair:
        return Finding("worktree", msg, t.name, [c.path for c in found])
    gdir = view.gdir
    assert gdir is not None
    branch_ref = f"refs/heads/{g.branch}" if g.branch else None
    if moved is not None and branch_ref and not _resolves(g.checkout, branch_ref):
        return Finding("worktree", msg + f"; the branch {g.branch} itself is gone, so nothing "
                                         f"was undone (a person restores it)", t.name,
                       [c.path for c in found])
    t.folder.mkdir(parents=True, exist_ok=True)
    with governance.ticket_lock(gdir, t.name):
        qid, qdir = quarantine.new_entry_dir(t.folder)
        keep_ref = None
        if moved is not None and branch_ref:
            before = _rev(g.checkout, "HEAD")
            if before:
                keep_ref = f"refs/mlgate/quarantine/{t.name}/{qid}"
                quarantine.run_git(g.checkout, "update-ref", keep_ref, before)
            quarantine.run_git(g.checkout, "symbolic-ref", "HEAD", branch_ref)
            found = changes(view, g)  # now against the ticket's branch
        commit = _rev(g.checkout, "HEAD")
        info = quarantine.capture(g.checkout, qdir, found, commit, gdir / "tmp")
        quarantine.restore(g.checkout, found)
        where = f"{t.folder.name}/{quarantine.QUARANTINE_DIR}/{qid}"
        action = (f"kept in {where} (patch and new files), the worktree restored"
                  + (f", HEAD put back on {g.branch} (the commit it was on kept as "
                     f"{keep_ref})" if moved is not None else ""))
        vid = record_violation(gdir, t, key, f"the tripwire found {'; '.join(what)} in "
                               f"{g.checkout}", action) if key is not None else None
        quarantine.write_meta(qdir, {
            "id": qid, "ticket": t.name, "stage": g.stage, "created": now_iso(),
            "reason": "; ".join(what), "violation": vid, "commit": commit,
            "checkout": str(g.checkout), "changes": [c.to_dict() for c in found],
            "head_was": moved, "kept_ref": keep_ref, **info})
    return Finding("worktree", f"{msg}. Kept in {qdir} and undone; Process Violation "
                               f"{vid or '(not recorded: no seal key)'} recorded. Why: "
                               f"{g.reason}",
                   t.name, [c.path for c in found], str(qdir), vid, True)


def _rev(checkout: Path, what: str) -> str | None:
    out = quarantine.run_git(checkout, "rev-parse", "--verify", "--quiet", what, ok=(0, 1))
    return out.strip() or None


def _resolves(checkout: Path, ref: str) -> bool:
    return _rev(checkout, ref) is not None


# -- entry point ----------------------------------------------------------------------------


def guard(start: str | Path, repair: bool = True,
          early: dict[str, Started] | None = None) -> GuardReport:
    """Check the workspace holding ``start``; with ``repair`` (the default) undo and record
    what is found. Never raises for a start outside any workspace (nothing to guard).
    ``early``: ``git status`` of checkouts (by real path) started before, used when nothing
    was put back before the comparison; the rest are stopped."""
    t0 = time.perf_counter()
    early = dict(early or {})
    try:
        try:
            root, _ = tickets.discover(start)
        except WorkspaceNotFound:
            return GuardReport(None, notes=[f"{start} is not in an mlgate workspace"])
        gdir = tickets.key_dir(root)
        if not repair:
            return _guard(root, gdir, repair, t0, early)
        # Claude Code runs the PostToolUse hooks of parallel tool calls at the same time: one
        # tripwire at a time, so that a change is quarantined once (the next finds it done).
        with governance.os_lock(gdir / governance.LOCKS_DIR / "tripwire.lock"):
            return _guard(root, gdir, repair, t0, early)
    finally:
        for started in early.values():
            started.kill()


def _guard(root: Path, gdir: Path, repair: bool, t0: float,
           early: dict[str, Started]) -> GuardReport:
    from mlgate.lock import controls
    from mlgate.lock.policy import lock_view

    view = lock_view(root)
    rep = GuardReport(str(root))
    key = load_key(gdir)
    # 1. the state files against their heads (puts mlgate's state back first, so that the
    #    checkouts are judged on it)
    for t in view.tickets:
        f = check_state(view, t, key, repair)
        if f is not None:
            rep.findings.append(f)
    # 2. the controls (hooks, git config, registry, agent config files)
    problems = controls.check(view, repair)
    if any(p.repaired for p in problems) or any(f.restored for f in rep.findings):
        view = lock_view(root)  # judge the checkouts on what is now in place
        for started in early.values():  # (and compare them as they are now)
            started.kill()
        early.clear()
    fresh = controls.new_problems(gdir, problems, persist=repair)
    if fresh:
        _record_controls(view, key, fresh, repair)
    for p in fresh:
        rep.findings.append(Finding("control", p.message, restored=p.repaired))
    for p in problems:
        if p not in fresh:
            rep.notes.append(f"still: {p.message}")
    # 3. every Locked checkout against its baseline
    if tickets.is_git(root):
        for g in view.governed:
            if not g.locked:
                continue
            rep.checked.append(str(g.checkout))
            try:
                f = check_worktree(view, g, key, repair, early.pop(str(g.checkout), None))
            except MlgateError as exc:
                f = Finding("worktree", f"ticket {g.ticket.name!r}, {g.checkout}: the tripwire "
                                        f"could not compare or restore it ({exc})",
                            g.ticket.name)
            if f is not None:
                rep.findings.append(f)
    else:
        rep.notes.append("not a git repository: the tripwire checks the state files and the "
                         "controls, not the files (there is no HEAD to compare with)")
    rep.seconds = time.perf_counter() - t0
    return rep


def _record_controls(view: LockView, key: bytes | None, fresh: list[Any],
                     repair: bool) -> None:
    """A control problem is recorded in every ticket in progress that the registry knows
    (the controls protect them all)."""
    if key is None or not repair:
        return
    gdir = view.gdir
    assert gdir is not None
    text = "; ".join(p.message for p in fresh)
    action = "put back by the tripwire" if all(p.repaired for p in fresh) else \
        "reported by the tripwire; a person must put it back"
    for b in view.registry.active():
        if b.status != governance.IN_PROGRESS:
            continue
        loc = b.location()
        if not (loc.folder / C.STATE_FILE).is_file():
            continue
        with governance.ticket_lock(gdir, b.ticket):
            record_violation(gdir, loc, key, f"the lock's controls were changed: {text}",
                             action)
