"""The stage engine: every move of a ticket, on a ``transitions`` state machine.

The machine is transient: it is rebuilt for each command from the parsed state file (the file
is the source of truth), with ``auto_transitions=False`` so there is no back door to jump
stages. Its edges are the workflow's legal moves (forward progression, the re-entry matrix,
block/unblock, verify/archive/reopen); a trigger the machine does not have becomes
:class:`TransitionNotAllowed` with what *is* allowed. Gates are evaluated before ``advance``
fires and their report is kept, so a refusal says exactly which checks failed.

The engine edits the :class:`StateDoc` in memory and returns an :class:`Outcome`; the caller
(:mod:`mlgate.workspace`) holds the ticket lock, writes the file atomically and seals it.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlgate import constants as C
from mlgate.errors import TransitionNotAllowed
from mlgate.state.statefile import StateDoc, TransitionRow

if TYPE_CHECKING:  # the gates (and evidence) are imported where a move evaluates them:
    # `mlgate status` lists the allowed moves of every ticket without loading them
    from mlgate.gates import GateContext, GateReport
from mlgate.util import today

VERIFY_PREFIX = "User verification received from "
ARCHIVE_REASON = "Archived to tickets/done"
REOPEN_REASON = "Reopened: moved back to tickets/in-progress"


def allowed_moves(name: str, doc: StateDoc, archived: bool) -> list[str]:
    """The moves a ticket has from where its state file stands, in words. It depends only on
    the stage, the gates and the re-entry path of the file, so no machine is built for it
    (``status`` asks it of every ticket)."""
    if archived:
        return [f"mlgate reopen {name}"]
    s = doc.snapshot.current_stage
    if s is None:
        return []
    out = []
    if s < C.LAST_STAGE:
        nxt = next_on_path(s, doc)
        out.append(f"mlgate advance {name} (to stage {nxt}, once the stage-{s} gate "
                   f"passes: `mlgate check {name}`)")
    if s in C.REENTRY_MATRIX:
        classes = " | ".join(f'"{c}"' for c in C.REENTRY_MATRIX[s])
        out.append(f"mlgate reenter {{{classes}}} {name} --reason TEXT")
    if s in C.BLOCKABLE:
        g = doc.gates[s].status
        out.append(f"mlgate unblock {name}" if g == "Blocked"
                   else f"mlgate block {name} --reason TEXT")
    if s == C.LAST_STAGE:
        out.append(f"mlgate verify {name} --by NAME")
        out.append(f"mlgate archive {name}")
    return out


def sync_pre_edit(doc: StateDoc) -> None:
    """Rewrite the Pre-Edit Checklist of ``doc`` from its snapshot and gates (rule 36)."""
    snap = doc.snapshot
    at4 = snap.current_stage == C.UNLOCK_STAGE
    unlocked = snap.permission == "Unlocked"
    s3 = doc.gates[3].status == "Pass"
    upstream = all(doc.gates[n].status == "Pass" for n in range(C.UNLOCK_STAGE))
    answers = [at4, unlocked, s3, upstream]
    yes = ["Yes" if a else "No" for a in answers]
    result = "Pass" if all(answers) else "Fail"
    doc.set_pre_edit(dict(zip(list(doc.pre_edit), [*yes, result])))


@dataclass
class Outcome:
    """What a move did (or why it was refused)."""

    action: str
    ticket: str
    ok: bool
    from_stage: int | None
    to_stage: int | None
    permission: str | None
    transition_id: str | None = None
    message: str = ""
    report: GateReport | None = None
    scaffold: list[int] = field(default_factory=list)  # stages whose artifact to scaffold

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "action": self.action, "ticket": self.ticket, "ok": self.ok,
            "from_stage": self.from_stage, "to_stage": self.to_stage, "stage": self.to_stage,
            "permission": self.permission, "transition": self.transition_id,
            "message": self.message,
        }
        if self.report is not None:
            out["checks"] = [c.to_dict() for c in self.report.checks]
        return out


class _Model:
    """The model the transitions machine drives; ``state`` mirrors the ticket's stage."""

    state: str

    def __init__(self) -> None:
        self.state = "S0"


def state_name(stage: int | None, archived: bool) -> str:
    if archived:
        return "done"
    return f"S{stage}"


def next_on_path(stage: int, doc: StateDoc) -> int | None:
    """The stage ``advance`` goes to from ``stage`` (the re-entry path first, else +1)."""
    r = doc.reentry
    if doc.snapshot.active_reentry and r.return_path and stage in r.return_path:
        i = r.return_path.index(stage)
        if i + 1 < len(r.return_path):
            return r.return_path[i + 1]
    return stage + 1 if stage < C.LAST_STAGE else None


def build_machine(model: _Model, initial: str, graph: bool = False) -> Any:
    """All legal moves of the workflow as a transitions machine."""
    if graph:
        from transitions.extensions import GraphMachine as MachineCls
        kwargs: dict[str, Any] = {"graph_engine": "mermaid", "show_conditions": False}
    else:
        from transitions import Machine as MachineCls
        kwargs = {}
    states = [f"S{n}" for n in C.STAGE_NUMBERS] + ["done"]
    m = MachineCls(model=model, states=states, initial=initial, auto_transitions=False,
                   send_event=True, ignore_invalid_triggers=False, **kwargs)
    dest_is = lambda d: (lambda e: e.kwargs.get("dest") == d)  # noqa: E731
    for s in range(C.LAST_STAGE):
        m.add_transition("advance", f"S{s}", f"S{s + 1}", conditions=[dest_is(s + 1)])
    skips = set()
    for paths in C.REENTRY_MATRIX.values():
        for path in paths.values():
            if path:
                skips.update((a, b) for a, b in zip(path, path[1:]) if b != a + 1)
    for a, b in sorted(skips):
        m.add_transition("advance", f"S{a}", f"S{b}", conditions=[dest_is(b)])
    for trig, paths in C.REENTRY_MATRIX.items():
        for cls, path in paths.items():
            cond = (lambda c: (lambda e: e.kwargs.get("classification") == c))(cls)
            dest = None if path is None else f"S{path[0]}"
            m.add_transition("reenter", f"S{trig}", dest, conditions=[cond])
    blockable = [f"S{n}" for n in C.BLOCKABLE]
    m.add_transition("block", blockable, None)
    m.add_transition("unblock", blockable, None)
    m.add_transition("unlock", "S4", None)
    m.add_transition("verify", "S8", None)
    m.add_transition("archive", "S8", "done")
    m.add_transition("reopen", "done", "S8")
    return m


def mermaid(doc: StateDoc, archived: bool,
            stages: tuple[C.Stage, ...] = C.STAGES) -> str:
    """A mermaid ``stateDiagram-v2`` of the ticket: the nine stages (and ``done``), the
    forward path, every move the Transition Log records (labelled with its transition ids,
    and the classification of a re-entry), the stages visited so far and the current one
    marked. Only the classes used are defined; no label repeats. ``stages``: the domain
    profile's stage names."""
    current = "done" if archived else f"S{doc.snapshot.current_stage or 0}"
    labels = {f"S{s.number}": f"{s.number} {s.name}" for s in stages}
    labels["done"] = "done (archived)"
    chain = [f"S{s.number}" for s in C.STAGES] + ["done"]
    edges: dict[tuple[str, str], list[str]] = {(a, b): [] for a, b in zip(chain, chain[1:])}
    visited: set[str] = set()
    for row in doc.transitions:
        if row.from_stage is None or row.to_stage is None:
            continue
        a, b = f"S{row.from_stage}", f"S{row.to_stage}"
        if a == b:
            continue
        visited.update((a, b))
        label = row.id
        if row.classification and row.classification != C.NA:
            label += f" {row.classification}"
        if label not in edges.setdefault((a, b), []):
            edges[(a, b)].append(label)
    if archived:
        visited.update(("S8", "done"))
        edges[("S8", "done")].append("archived")
    title = doc.snapshot.ticket or "ticket"
    out = ["---", f"title: 'mlgate: {title}'", "---", "stateDiagram-v2", "  direction LR"]
    visited.discard(current)
    styles = {"current": "fill:#fef3c7,stroke:#d97706,stroke-width:3px,font-weight:bold",
              "visited": "fill:#dcfce7,stroke:#16a34a"}
    used = {"current": [current], "visited": sorted(visited, key=chain.index)}
    out += [f"  classDef {name} {styles[name]}" for name in styles if used[name]]
    out += [f'  state "{labels[s]}" as {s}' for s in chain]
    out.append("  [*] --> S0")
    for (a, b), names in edges.items():
        out.append(f"  {a} --> {b}" + (f": {', '.join(names)}" if names else ""))
    out += [f"  class {','.join(states)} {name}" for name, states in used.items() if states]
    return "\n".join(out) + "\n"


class Engine:
    """Moves one ticket. ``ctx_factory(doc)`` builds the gate context for the current doc."""

    def __init__(self, name: str, doc: StateDoc, folder: Path, archived: bool,
                 ctx_factory: Callable[[StateDoc], GateContext],
                 head: Callable[[], str | None] = lambda: None,
                 handlers: dict[int, list[str]] | None = None,
                 stages: tuple[C.Stage, ...] = C.STAGES) -> None:
        self.name = name
        self.stages = stages  # the domain profile's stage names and artifacts
        self.doc = doc
        self.folder = folder
        self.archived = archived
        self.ctx_factory = ctx_factory
        self.head = head
        self.handlers = handlers or {}
        self.model = _Model()
        self.machine = build_machine(self.model, state_name(self.stage, archived))

    # -- helpers -------------------------------------------------------------------

    @property
    def stage(self) -> int:
        s = self.doc.snapshot.current_stage
        if s is None:
            from mlgate.errors import StateFileError
            raise StateFileError(self.doc.path, self.doc.line_of("Current Snapshot",
                                                                 "Current Stage"),
                                 "Current Stage is not set")
        return s

    def _refuse(self, action: str, reason: str) -> TransitionNotAllowed:
        return TransitionNotAllowed(action, None if self.archived else self.stage, reason,
                                    allowed=self.allowed(), ticket=self.name)

    def _fire(self, trigger: str, **kwargs: Any) -> None:
        from transitions.core import MachineError

        try:
            fired = self.model.trigger(trigger, **kwargs)  # type: ignore[attr-defined]
        except MachineError:
            fired = False
        if not fired:
            raise self._refuse(trigger, self._why_not(trigger, kwargs))

    def _why_not(self, trigger: str, kwargs: dict[str, Any]) -> str:
        if self.archived:
            return f"the ticket is archived in tickets/done; run `mlgate reopen {self.name}` first"
        s = self.stage
        if trigger == "reenter":
            cls = kwargs.get("classification")
            if s not in C.REENTRY_MATRIX:
                return f"re-entry is only declared from stages 4-7; stage {s} has no re-entry"
            valid = ", ".join(C.REENTRY_MATRIX[s])
            return f"{cls!r} is not a re-entry of stage {s} in the transition matrix " \
                   f"(valid: {valid})"
        if trigger in ("block", "unblock"):
            return f"stage {s} cannot be blocked; only stages " \
                   f"{', '.join(map(str, C.BLOCKABLE))} can"
        if trigger == "advance" and s == C.LAST_STAGE:
            return (f"stage 8 is the last stage; record the user's verification with "
                    f"`mlgate verify {self.name} --by NAME`, then `mlgate archive {self.name}`")
        if trigger in ("verify", "archive"):
            return f"{trigger} happens in stage 8 (the ticket is in stage {s})"
        if trigger == "reopen":
            return "only an archived ticket can be reopened"
        if trigger == "unlock":
            return f"code edits can only be unlocked in stage 4 (the ticket is in stage {s})"
        return f"no {trigger} move from stage {s}"

    def allowed(self) -> list[str]:
        """The moves the machine has from here, in words."""
        return allowed_moves(self.name, self.doc, self.archived)

    def verified_by(self) -> str | None:
        """Who verified the ticket (a Transition Log row written by ``mlgate verify``), after
        the last reopen."""
        who = None
        for row in self.doc.transitions:
            if row.reason.startswith(VERIFY_PREFIX):
                who = row.reason[len(VERIFY_PREFIX):].strip()
            elif row.reason.startswith("Reopened"):
                who = None
        return who

    def check(self, stage: int | None = None) -> GateReport:
        ctx = self.ctx_factory(self.doc)
        from mlgate.gates import evaluate

        return evaluate(ctx, self.stage if stage is None else stage)

    def _log(self, frm: int, to: int, reason: str, classification: str | None,
             permission: str, evidence: str) -> str:
        tid = self.doc.next_transition_id()
        self.doc.append_transition(TransitionRow(
            id=tid, date=today(), from_stage=frm, to_stage=to, reason=reason.replace("\n", " "),
            classification=classification, permission_after=permission,
            evidence_updated=evidence))
        return tid

    def _sync_snapshot(self, stage: int, permission: str, tid: str | None) -> None:
        snap = self.doc.snapshot
        values: dict[str, Any] = {
            "ticket": self.name,
            "current_stage": stage,
            "next_stage": next_on_path(stage, self.doc),
            "permission": permission,
            "active_reentry": snap.active_reentry,
            "classification": snap.classification,
            "last_updated": today(),
        }
        if tid:
            values["last_transition_id"] = tid
        self.doc.set_snapshot(**values)
        self._sync_pre_edit()

    def _sync_pre_edit(self) -> None:
        sync_pre_edit(self.doc)

    def _evidence_for(self, stage: int) -> str:
        st = self.stages[stage]
        items = []
        if stage == 0:
            items = ["requirements.md", "workflow-state.md"]
        elif st.artifact:
            items = [st.artifact]
        for name in self.handlers.get(stage, []):
            from mlgate.evidence import results as ev

            res = ev.latest(self.folder, stage, name)
            if res is not None and res.evidence:
                items.append(res.evidence)
        return ", ".join(items)

    # -- moves ---------------------------------------------------------------------

    def advance(self, reason: str | None = None) -> Outcome:
        if self.archived:
            raise self._refuse("advance", self._why_not("advance", {}))
        s = self.stage
        if s == C.LAST_STAGE:
            raise self._refuse("advance", self._why_not("advance", {}))
        gate = self.doc.gates[s]
        if gate.status == "Blocked":
            raise self._refuse("advance", f"stage {s} is Blocked; run `mlgate unblock "
                                          f"{self.name}` when the blocker is gone")
        open_v = [v.id for v in self.doc.violations if v.cleared is False]
        if open_v:
            raise self._refuse("advance", f"uncleared process violation(s) {', '.join(open_v)} "
                                          "block every forward move; clear them with "
                                          f"`mlgate doctor {self.name} --repair` after fixing")
        report = self.check(s)
        dest = next_on_path(s, self.doc)
        assert dest is not None
        if not report.ok:
            self.doc.set_gate(s, status="Fail")
            return Outcome("advance", self.name, False, s, s, self.doc.snapshot.permission,
                           message=f"stage {s} gate not met", report=report)
        self._fire("advance", dest=dest)
        snap = self.doc.snapshot
        finishing_reentry = snap.active_reentry and (
            not self.doc.reentry.return_path or s == self.doc.reentry.return_path[-1])
        on_path = snap.active_reentry and not finishing_reentry
        self.doc.set_gate(s, status="Pass", evidence=self._evidence_for(s))
        permission = "Locked"
        if dest == C.UNLOCK_STAGE and self.doc.gates[3].status == "Pass":
            permission = "Unlocked"
        if finishing_reentry:
            self.doc.set_reentry(None, None, None, None, None)
            self.doc.set_snapshot(active_reentry=False, classification=None)
        if self.doc.gates[dest].status in (None, "Not Started", "Fail", "Pass"):
            self.doc.set_gate(dest, status="In Progress")
        if not reason:
            reason = f"Stage {s} gate passed, moving to {self.stages[dest].label}"
            if on_path:
                reason += f" (re-entry path {self.doc.reentry.path_text})"
            elif finishing_reentry:
                reason += " (re-entry path complete)"
        art = self.stages[dest].artifact
        evidence = ", ".join(x for x in (self.stages[s].artifact, "workflow-state.md") if x)
        tid = self._log(s, dest, reason, None, permission, evidence)
        self._sync_snapshot(dest, permission, tid)
        return Outcome("advance", self.name, True, s, dest, permission, tid,
                       message=f"{self.name}: stage {s} -> {dest} ({self.stages[dest].name}); "
                               f"code edits {permission}",
                       report=report, scaffold=[dest] if art else [])

    def reenter(self, classification: str, reason: str) -> Outcome:
        if not reason or not reason.strip():
            raise self._refuse("reenter", "a re-entry needs --reason (what failed and why)")
        cls = next((c for c in C.CLASSIFICATIONS if c.lower() == classification.strip().lower()),
                   classification)
        if self.archived:
            raise self._refuse("reenter", self._why_not("reenter", {}))
        s = self.stage
        self._fire("reenter", classification=cls)
        path = C.REENTRY_MATRIX[s][cls]
        # Lock first (rule 38), then move.
        permission = "Locked"
        if path is None:  # stage-4 Local Fix: stay in 4, edits stay as they were
            permission = self.doc.snapshot.permission or "Locked"
            dest = s
            path_text = "stay in 4"
        else:
            dest = path[0]
            path_text = C.format_path(path)
            if self.doc.snapshot.permission == "Unlocked":
                self.doc.set_snapshot(permission="Locked")
            if dest == C.UNLOCK_STAGE and self.doc.gates[3].status == "Pass":
                permission = "Unlocked"
        upstream = [self.stages[n].artifact for n in (path or (4,))
                    if n < s and self.stages[n].artifact]
        upstream_txt = ", ".join(dict.fromkeys(a for a in upstream if a)) or "implementation.md"
        resume = (f"each stage on the path passes its gate again up to stage {s}"
                  if path else "stage 4 gate passes with the fix in place")
        self.doc.set_reentry(s, cls, path_text, upstream_txt, resume)
        self.doc.set_gate(s, status="Fail")
        for n in (path or ()):
            if n != s:
                self.doc.set_gate(n, status="Not Started")
        if dest != s:
            self.doc.set_gate(dest, status="In Progress")
        else:
            self.doc.set_gate(s, status="In Progress")
        self.doc.set_snapshot(active_reentry=True, classification=cls)
        tid = self._log(s, dest, reason, cls, permission,
                        ", ".join(x for x in (self.stages[s].artifact, "workflow-state.md") if x))
        self._sync_snapshot(dest, permission, tid)
        return Outcome("reenter", self.name, True, s, dest, permission, tid,
                       message=f"{self.name}: re-entry {cls} from stage {s}, path {path_text}; "
                               f"now in stage {dest}; code edits {permission}",
                       scaffold=[dest] if self.stages[dest].artifact else [])

    def block(self, reason: str) -> Outcome:
        if not reason or not reason.strip():
            raise self._refuse("block", "blocking needs --reason (what blocks the stage)")
        if self.archived:
            raise self._refuse("block", self._why_not("block", {}))
        s = self.stage
        self._fire("block")
        if self.doc.gates[s].status == "Blocked":
            raise self._refuse("block", f"stage {s} is already Blocked")
        self.doc.set_gate(s, status="Blocked")
        perm = self.doc.snapshot.permission or "Locked"
        tid = self._log(s, s, f"Blocked: {reason}", None, perm, "workflow-state.md")
        self._sync_snapshot(s, perm, tid)
        return Outcome("block", self.name, True, s, s, perm, tid,
                       message=f"{self.name}: stage {s} Blocked ({reason})")

    def unblock(self, reason: str | None = None) -> Outcome:
        if self.archived:
            raise self._refuse("unblock", self._why_not("unblock", {}))
        s = self.stage
        self._fire("unblock")
        if self.doc.gates[s].status != "Blocked":
            raise self._refuse("unblock", f"stage {s} is not Blocked")
        self.doc.set_gate(s, status="In Progress")
        perm = self.doc.snapshot.permission or "Locked"
        tid = self._log(s, s, f"Unblocked{': ' + reason if reason else ''}", None, perm,
                        "workflow-state.md")
        self._sync_snapshot(s, perm, tid)
        return Outcome("unblock", self.name, True, s, s, perm, tid,
                       message=f"{self.name}: stage {s} unblocked")

    def unlock(self) -> Outcome:
        if self.archived:
            raise self._refuse("unlock", self._why_not("unlock", {}))
        s = self.stage
        self._fire("unlock")
        report = self.check(3)
        if not report.ok:
            return Outcome("unlock", self.name, False, s, s, "Locked",
                           message="the stage-3 gate no longer holds", report=report)
        self.doc.set_gate(3, status="Pass")
        tid = self._log(4, 4, "Code edits unlocked (stage-3 gate re-checked)", None,
                        "Unlocked", f"{self.stages[3].artifact}, workflow-state.md")
        self._sync_snapshot(4, "Unlocked", tid)
        return Outcome("unlock", self.name, True, s, s, "Unlocked", tid,
                       message=f"{self.name}: code edits Unlocked in stage 4", report=report)

    def verify(self, by: str) -> Outcome:
        by = (by or "").strip()
        if not by:
            raise self._refuse("verify", "verification needs --by NAME (the person who verified)")
        if self.archived:
            raise self._refuse("verify", self._why_not("verify", {}))
        s = self.stage
        self._fire("verify")
        perm = self.doc.snapshot.permission or "Locked"
        tid = self._log(8, 8, f"{VERIFY_PREFIX}{by}", None, perm,
                        "handoff-summary.md, workflow-state.md")
        self.doc.set_gate(8, status="In Progress")
        self._sync_snapshot(s, perm, tid)
        return Outcome("verify", self.name, True, s, s, perm, tid,
                       message=f"{self.name}: user verification recorded (by {by})")

    def archive(self) -> Outcome:
        """Checks the stage-8 gate (everything but the move itself) and logs the archive.
        The caller moves the folder."""
        if self.archived:
            raise self._refuse("archive", "the ticket is already archived")
        s = self.stage
        if s != C.LAST_STAGE:
            raise self._refuse("archive", self._why_not("archive", {}))
        if not self.verified_by():
            raise self._refuse("archive", "no user verification is recorded; the user runs "
                                          f"`mlgate verify {self.name} --by NAME` first")
        report = self.check(8)
        if not report.ok:
            self.doc.set_gate(8, status="In Progress")
            return Outcome("archive", self.name, False, s, s, "Locked",
                           message="stage 8 gate not met", report=report)
        self._fire("archive")
        self.doc.set_gate(8, status="Pass", evidence=self._evidence_for(8))
        tid = self._log(8, 8, ARCHIVE_REASON, None, "Locked",
                        "handoff-summary.md, workflow-state.md")
        self._sync_snapshot(8, "Locked", tid)
        return Outcome("archive", self.name, True, s, s, "Locked", tid,
                       message=f"{self.name}: archived to tickets/done/{self.name}",
                       report=report)

    def reopen(self) -> Outcome:
        if not self.archived:
            raise self._refuse("reopen", "only an archived ticket can be reopened")
        self._fire("reopen")
        self.archived = False
        self.doc.set_gate(8, status="In Progress")
        tid = self._log(8, 8, REOPEN_REASON, None, "Locked", "workflow-state.md")
        self._sync_snapshot(8, "Locked", tid)
        return Outcome("reopen", self.name, True, 8, 8, "Locked", tid,
                       message=f"{self.name}: reopened in tickets/in-progress")
