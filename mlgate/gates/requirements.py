"""Stage 2 gate: ``requirements.md`` (workflow-sources §5.7).

Rules checked: 44 (Last Updated is a date), 51 (status ``Plan-ready`` or ``Refined``), 52
(the minimum sections, filled), 53 (unique requirement and success-criterion ids; each
criterion names a defined requirement), 54 (each criterion has a metric, comparator,
threshold and split, and the pass / fail / inconclusive conditions are written) and 55 (the
dataset, evaluation and resource assumptions).
"""
from __future__ import annotations

from mlgate import artifacts as A
from mlgate import constants as C
from mlgate.gates.core import (GateContext, _base, _fields, _Gate, _has_rows, _ids, _q,
                               _what)


def gate(ctx: GateContext, g: _Gate, strict: bool) -> None:
    art = _base(ctx, g, strict, ("Goal / Problem Statement", "In-Scope Task Definition",
                                 "Baseline Or Comparison Target", "Assumptions",
                                 "Risks And Open Questions"))
    if art is None:
        return

    req_ids = A.requirements_ids(art)
    _has_rows(g, "requirements.ids", art, "Requirements", art.table("Requirements"), req_ids,
              "no requirement ids found; give each requirement a row `| R-001 | ... |` in "
              "## Requirements (or a bullet `- **R1 ...:**`)", f"{len(req_ids)} requirement(s)",
              53)
    seen: dict[str, int] = {}
    dups = []
    for rid, line in req_ids:
        if rid in seen:
            dups.append((line, f"requirement id {rid} is used twice (first on line "
                               f"{seen[rid]}); ids must be unique and stable"))
        else:
            seen[rid] = line
    g.add("requirements.unique", dups, "requirement ids unique", 53)
    known_reqs = set(seen)

    view = art.table("Success Criteria", ("Success Criteria ID",))
    if art.section("Success Criteria") is None:
        return
    if view is None:
        g.add("sc.table", [(art.line_of("Success Criteria"),
                            "## Success Criteria has no table; use the template's table "
                            "| Success Criteria ID | Requirement ID | Metric | Comparator | "
                            "Threshold | Split | Notes |")], "", 54)
        return
    missing_cols = view.missing_columns(A.SC_COLUMNS[:6])
    if missing_cols:
        g.add("sc.table", [(view.line, f"the Success Criteria table lacks the column(s) "
                                       f"{', '.join(missing_cols)}; mlgate cannot evaluate "
                                       f"the criteria without them")], "", 54)
        return
    g.add("sc.table", [], "Success Criteria table has the required columns", 54)
    scs = A.success_criteria(art)
    if not _has_rows(g, "sc.rows", art, "Success Criteria", view, scs,
                     "the Success Criteria table has no criteria", f"{len(scs)} success criteria",
                     54):
        return
    p_id = _criterion_ids(scs)
    p_req, p_metric, p_comp, p_thr, p_split, p_seeds = [], [], [], [], [], []
    for sc in scs:
        label = sc.id or sc.raw_id or "(no id)"
        if sc.requirement_id is None:
            what = "is empty" if not sc.raw_requirement else f"{_q(sc.raw_requirement)} is " \
                                                             f"not a requirement id"
            p_req.append((sc.line, f"{label}: Requirement ID {what}; name the R-NNN it serves"))
        elif sc.requirement_id not in known_reqs:
            p_req.append((sc.line, f"{label}: requirement {sc.requirement_id} is not defined "
                                   f"in ## Requirements"))
        if sc.metric is None:
            p_metric.append((sc.line, f"{label}: Metric is empty; name the logged metric key, "
                                      f"e.g. val/acc (or max:val/acc for the best value)"
                                      + ("; for a rubric, name what is judged"
                                         if sc.rubric else "")))
        if sc.comparator not in C.COMPARATORS and not sc.rubric:
            p_comp.append((sc.line, f"{label}: Comparator {_what(sc.comparator)}; use one of "
                                    f"{' '.join(C.COMPARATORS)}, or {A.RUBRIC} for a "
                                    f"criterion a person judges"))
        if sc.rubric:
            if not sc.raw_threshold:
                p_thr.append((sc.line, f"{label}: Threshold is empty; for a rubric write the "
                                       f"bar a person checks, e.g. '4 of 5 samples rated >= 4'"))
        elif sc.threshold is None and sc.relative is None:
            what = "is empty" if not sc.raw_threshold else f"{_q(sc.raw_threshold)} is not a " \
                                                           f"number"
            p_thr.append((sc.line, f"{label}: Threshold {what}; write a plain number such as "
                                   f"0.95, or a target relative to the baseline such as "
                                   f"'baseline + 0.01' or '0.95 * baseline'"))
        if sc.raw_min_seeds is not None and sc.min_seeds is None:
            p_seeds.append((sc.line, f"{label}: Min Seeds {_q(sc.raw_min_seeds)} is not a "
                                     f"whole number >= 1 (leave it empty for the "
                                     f"configured stats.min_seeds)"))
        if sc.split is None:
            p_split.append((sc.line, f"{label}: Split is empty; name the data split, e.g. val "
                                     f"or test"))
    g.add("sc.id", p_id, "success-criterion ids valid and unique", 53)
    g.add("sc.requirement", p_req, "every criterion names a known requirement", 53)
    g.add("sc.metric", p_metric, "every criterion names a metric", 54)
    g.add("sc.comparator", p_comp, "every comparator valid", 54)
    g.add("sc.threshold", p_thr, "every threshold numeric", 54)
    g.add("sc.split", p_split, "every criterion names a split", 54)
    if p_seeds:
        g.add("sc.min-seeds", p_seeds, "", 54)
    if art.section("Closure Conditions") is not None:
        _fields(g, "closure.conditions", art, "Closure Conditions",
                ("Pass condition", "Fail condition", "Inconclusive condition"), 54,
                "; state when the criteria pass, fail and stay inconclusive")
    _fields(g, "dl-content.data", art, "Dataset And Evaluation Assumptions",
            ("Dataset or split assumptions", "Evaluation protocol assumptions"), 55)
    _fields(g, "dl-content.resources", art, "Constraints And Dependencies",
            ("Accelerator availability", "Runtime budget", "Memory limits",
             "Storage constraints"), 55)



def _criterion_ids(scs: list[A.SuccessCriterion]) -> list[tuple[int | None, str]]:
    """Id problems: ids that are not SC ids, ids used twice, and the rows of a multi-metric
    criterion (rows sharing an id) that do not all say the same ``Combine`` (``all`` /
    ``any``) and requirement."""
    problems, _ = _ids(scs, "success-criterion", "SC-001 (or SC1)")
    rows: dict[str, list[A.SuccessCriterion]] = {}
    for sc in scs:
        if sc.id is not None:
            rows.setdefault(sc.id, []).append(sc)
    multi = {i for i, rs in rows.items() if len(rs) > 1 and all(
        r.combine in A.COMBINE and r.combine == rs[0].combine for r in rs)}
    out = [p for p in problems if not any(f"id {i} is used twice" in p[1] for i in multi)]
    for i, rs in rows.items():
        if i in multi:
            reqs = {r.requirement_id for r in rs}
            if len(reqs) > 1:
                out.append((rs[1].line, f"{i}: the rows of this multi-metric criterion name "
                                        f"different requirements ({', '.join(sorted(map(str, reqs)))})"))
        elif len(rs) > 1:
            out = [(ln, m + ("; to combine several metrics in one criterion, set Combine to "
                             "'all' or 'any' on each of its rows" if f"id {i} is used twice"
                             in m else "")) for ln, m in out]
    for sc in scs:
        if sc.combine is not None and sc.combine not in A.COMBINE:
            out.append((sc.line, f"{sc.id or sc.raw_id}: Combine {_q(sc.combine)} is not one "
                                 f"of {', '.join(A.COMBINE)}"))
    return out
