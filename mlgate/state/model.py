"""The public, typed model of a ticket's state (pydantic), built from the parser's result.

The parser (:mod:`mlgate.state.statefile`) is standard-library only so the hooks stay fast; this
model is what the Python API hands to agent tooling: ``ticket.state``.
"""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from mlgate import constants as C
from mlgate.state.statefile import StateDoc
from mlgate.state.seal import effective_permission

GateStatus = Literal["Not Started", "In Progress", "Pass", "Fail", "Blocked"]
Permission = Literal["Locked", "Unlocked"]
SealStatus = Literal["valid", "missing", "broken"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class Gate(_Frozen):
    stage: int
    name: str
    status: GateStatus | None
    evidence: str


class Transition(_Frozen):
    id: str
    date: str
    from_stage: int | None
    to_stage: int | None
    reason: str
    classification: str | None
    permission_after: str | None
    evidence_updated: str


class Violation(_Frozen):
    id: str
    date: str
    violation: str
    stage: int | None
    action: str
    cleared: bool | None


class ReEntryDeclaration(_Frozen):
    trigger_stage: int | None
    classification: str | None
    return_path: list[int] | None
    upstream_artifacts: str | None
    resume_condition: str | None


class WorkflowState(_Frozen):
    ticket: str | None
    stage: int | None
    stage_name: str | None
    next_stage: int | None
    permission: Permission | None
    active_reentry: bool
    classification: str | None
    last_transition_id: str | None
    last_updated: str | None
    bootstrap: dict[str, str | None]
    gates: list[Gate]
    pre_edit: dict[str, str | None]
    reentry: ReEntryDeclaration
    transitions: list[Transition]
    violations: list[Violation]
    seal: SealStatus = "missing"

    @property
    def effective_permission(self) -> Permission:
        """What the lock honours: ``Unlocked`` only at stage 4 with a valid seal."""
        return effective_permission(self.permission, self.stage, self.seal)  # type: ignore[return-value]

    def gate(self, stage: int) -> Gate:
        return self.gates[stage]

    @classmethod
    def from_doc(cls, doc: StateDoc, seal: SealStatus = "missing",
                 stages: tuple[C.Stage, ...] = C.STAGES) -> "WorkflowState":
        """The model of a parsed state file. The parser has already checked every value
        the model constrains (gate statuses, permission, stage numbers), so the models are
        built without re-validation (``model_construct``): ``mlgate status`` builds one per
        ticket. Use :meth:`validated` for a model checked by pydantic."""
        snap = doc.snapshot
        gate = Gate.model_construct
        trans = Transition.model_construct
        viol = Violation.model_construct
        return cls.model_construct(
            ticket=snap.ticket,
            stage=snap.current_stage,
            stage_name=None if snap.current_stage is None else stages[snap.current_stage].name,
            next_stage=snap.next_stage,
            permission=snap.permission,
            active_reentry=snap.active_reentry,
            classification=snap.classification,
            last_transition_id=snap.last_transition_id,
            last_updated=snap.last_updated,
            bootstrap=dict(doc.bootstrap),
            gates=[gate(stage=g.stage, name=stages[g.stage].name, status=g.status,
                        evidence=g.evidence) for _, g in sorted(doc.gates.items())],
            pre_edit=dict(doc.pre_edit),
            reentry=ReEntryDeclaration.model_construct(
                trigger_stage=doc.reentry.trigger_stage,
                classification=doc.reentry.classification,
                return_path=list(doc.reentry.return_path) if doc.reentry.return_path else None,
                upstream_artifacts=doc.reentry.upstream_artifacts,
                resume_condition=doc.reentry.resume_condition),
            transitions=[trans(id=t.id, date=t.date, from_stage=t.from_stage,
                               to_stage=t.to_stage, reason=t.reason,
                               classification=t.classification,
                               permission_after=t.permission_after,
                               evidence_updated=t.evidence_updated)
                         for t in doc.transitions],
            violations=[viol(id=v.id, date=v.date, violation=v.violation, stage=v.stage,
                             action=v.action, cleared=v.cleared) for v in doc.violations],
            seal=seal,
        )

    def validated(self) -> "WorkflowState":
        """This state checked field by field by pydantic (raises ``ValidationError``)."""
        return type(self).model_validate(self.model_dump())
