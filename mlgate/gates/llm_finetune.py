"""Check functions of the ``llm-finetune`` profile (``mlgate/profiles/llm-finetune``).

The profile's declared checks (``profile.yaml``) cover the fields and tables it adds; what
needs more than "this is filled" lives here:

* :func:`plan`, the stage-3 gate of ``implementation-plan.md``: the built-in plan checks
  that still apply (requirements basis, hypothesis, planned runs, work items, validation
  coverage, monitoring, the Stage 4 Entry Checklist) on the LLM plan's headings, with its
  own reproducibility fields;
* :func:`report`, added to the stage-5 gate: every qualitative review row names a run of
  the Run Registry, and a ``Pass`` decision is not taken over a ``Bad`` behavioural verdict
  on the best run.
"""
from __future__ import annotations

from mlgate import artifacts as A
from mlgate.gates.core import GateContext, _base, _fields, _Gate, _load
from mlgate.gates.plan import _basis, _checklist, _handoff, _matrix, _monitoring, _validation

PLAN_FILLED = ("Problem Framing", "Baseline And Comparison Target", "Training Recipe",
               "Objective-Specific Notes", "Risks And Open Questions")
REPRO_FIELDS = ("Config source of truth", "Seed strategy", "Environment capture",
                "Dataset manifest versioning", "Template and tokenizer versioning",
                "Generation-setting versioning", "Artifact output locations",
                "Checkpoint naming", "Metric and sample-output logging plan")
QUALITATIVE = "Qualitative Or Behavioral Review"
BEHAVIOUR_DECISIONS = ("Good", "Bad", "Mixed")


def plan(ctx: GateContext, g: _Gate, strict: bool) -> None:
    """The gate of stage 3 (Implementation Plan)."""
    art = _base(ctx, g, strict, PLAN_FILLED)
    if art is None:
        return
    req, _ = _load(ctx, A.REQUIREMENTS)
    _basis(g, art, req)
    _fields(g, "framing.hypothesis", art, "Problem Framing", ("Main hypothesis",), 59)
    view = art.table("Run Matrix")
    if art.section("Run Matrix") is not None:
        _matrix(g, art, view, A.planned_runs(art), section="Run Matrix", noun="planned run",
                example="RUN-001",
                empty="the Run Matrix has no planned runs; add RUN-001 with its purpose, "
                      "changed variables, fixed controls and expected outcome")
    _handoff(g, art)
    _fields(g, "repro.fields", art, "Reproducibility Plan", REPRO_FIELDS, 62)
    _validation(g, art, req, view, section="Evaluation And Validation Plan",
                noun="a planned run", example="RUN-001")
    _monitoring(ctx, g, art, req)
    _checklist(g, art)


def report(ctx: GateContext, g: _Gate, strict: bool) -> None:
    """Added to the stage-5 gate (strict only)."""
    if not strict:
        return
    art, _ = _load(ctx, A.REPORT)
    if art is None or art.section(QUALITATIVE) is None:
        return
    known = {r.id: r for r in A.run_registry(art) if r.id}
    view = art.table(QUALITATIVE)
    rows = view.rows if view is not None else []
    unknown = []
    verdicts: dict[str, list[tuple[int, str]]] = {}
    for row in rows:
        raw = row.get("Run ID")
        rid = A.norm_id(raw, "RUN")
        if rid is None or rid not in known:
            unknown.append((row.line, f"the behavioural review row names run {raw or '(none)'!r}"
                                      f", which is not in the Run Registry"))
            continue
        decision = A.enum_value(row.get("Decision"), BEHAVIOUR_DECISIONS)
        if decision is not None:
            verdicts.setdefault(rid, []).append((row.line, decision))
    g.add("qualitative.runs", unknown, "behavioural review rows name registered runs", 84)

    dec_f = art.field("Gate Decision", "Stage 5 Decision")
    decision = A.enum_value(dec_f.value if dec_f else None, A.STAGE5_DECISIONS)
    best_f = art.field("Best Current Result", "Best run")
    best = A.find_ids(best_f.value if best_f else None, "RUN")
    problems = []
    if decision == "Pass" and best:
        reviewed = verdicts.get(best[0], [])
        if not reviewed:
            line = view.line if view is not None else art.line_of(QUALITATIVE)
            problems.append((line, f"Stage 5 Decision is Pass but the best run {best[0]} has "
                                   f"no behavioural review row; review sampled outputs of "
                                   f"{best[0]} before closing stage 5"))
        for line, verdict in reviewed:
            if verdict == "Bad":
                problems.append((line, f"Stage 5 Decision is Pass but the behavioural review "
                                       f"of the best run {best[0]} is Bad; a metric that "
                                       f"passes over bad outputs is not a pass (re-enter, or "
                                       f"decide Fail)"))
    g.add("qualitative.best-run", problems, "the best run's behaviour was reviewed and is not "
                                            "Bad", 84)
