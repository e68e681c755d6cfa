"""Stage 5 gate: ``training-validation-report.md``, the runs and their records
(workflow-sources §5.10, with rules 104 and 108 of §5.14 applied to the run folders).

Rules checked: 44 (Last Updated is a date), 75 (sections present and filled), 76 (Run
Registry rows: ids, provenance cells; every ``runs/RUN-NNN`` folder registered), 77 (no run
``Queued`` or ``Running``), 78 (each Code Basis is a commit on the ticket branch, and cited
runs ran the stage-4 code), 79 (Metric Summary rows name known runs; Delta = Result −
Baseline), 80 and 81 (Success Criteria Closure: one row per criterion, decisions, evidence
runs, reasons for Inconclusive and Waived), 82 (Reproducibility Record), 83 (Best Current
Result), 84 (Gate Decision, Next action), 86 (the ``stage5_policy`` on criterion decisions),
87 (status ``Current``), 104 (every completed run has a plot), 108 (each completed run logged
exactly the Monitoring keys), and the configured stage-5 handlers' fresh Pass evidence.

The numbers are mlgate's (:mod:`mlgate.gates.computed`): only runs mlgate launched and
collected count (``runs.registered``); each Run Registry row's code basis, seed and status are
the run's (``runs.provenance``); each Metric Summary Result is the run's last logged value and
each Baseline the value of baselines.yaml (``metrics.computed``); a ``Passed`` criterion holds
on every run it cites and the observed numbers are the computed ones (``closure.computed``);
no registered run does better than the Best run (``best.computed``). Prose stays the
author's.

A ``Refuted`` decision (an honest negative result) passes the gate instead of ``Pass`` when
the evidence decides every criterion, at least one is ``Failed``, and each ``Failed`` row
gives its number on completed runs (and agrees with mlgate's own closure where it can be
computed). Rubric-defined criteria are closed only with a person's recorded result.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from mlgate import artifacts as A
from mlgate import constants as C
from mlgate.gates import computed as K
from mlgate.gates.changes import _handlers, _registered
from mlgate.gates.core import (GateContext, Problem, _base, _decision, _fields, _Gate,
                               _has_rows, _ids, _load, _placeholder_suffix, _q, _what,
                               _workspace_root)

if TYPE_CHECKING:
    from mlgate.state.mdparse import Field


def _tolerance(*texts: str) -> float:
    vals = [abs(A.parse_number(t) or 0.0) for t in texts]
    tol = 1e-6 * max([1.0, *vals])
    for t in texts:
        tol += 0.5 * 10 ** (-A.decimals(t))
    return tol


def _strip_pct(*texts: str) -> list[str] | None:
    if all(t.strip().endswith("%") for t in texts):
        return [t.strip()[:-1] for t in texts]
    if any(t.strip().endswith("%") for t in texts):
        return None
    return list(texts)


def gate(ctx: GateContext, g: _Gate, strict: bool) -> None:
    art = _base(ctx, g, strict, ("Artifact Basis", "Failure Analysis"))
    if art is None:
        return
    req, req_err = _load(ctx, A.REQUIREMENTS)
    plan, _ = _load(ctx, g.domain.plan)

    runs = A.run_registry(art)
    view = art.table("Run Registry")
    by_id: dict[str, A.RunRow] = {}
    if art.section("Run Registry") is not None:
        _has_rows(g, "runs.rows", art, "Run Registry", view, runs,
                  "the Run Registry has no runs; run `mlgate run train`", f"{len(runs)} run(s)",
                  76)
        ids, by_id = _ids(runs, "run", "RUN-001", "; a new run gets a new id")
        fields, statuses = [], []
        for r in runs:
            label = r.id or r.raw_id or "(no id)"
            for col, v in (("Purpose", r.purpose), ("Code Basis", r.code_basis),
                           ("Config", r.config), ("Seed", r.seed),
                           (g.domain.label("Data / Split Version"), r.data_version),
                           ("Hardware / Environment", r.hardware)):
                if v is None:
                    fields.append((r.line, f"{label}: '{col}' is empty"))
            if r.status not in C.RUN_STATUSES:
                statuses.append((r.line, f"{label}: Status {_what(r.status)}; allowed: "
                                         f"{', '.join(C.RUN_STATUSES)}"))
            elif r.status in ("Queued", "Running"):
                statuses.append((r.line, f"{label} is still {r.status}; wait for it to end "
                                         f"(`mlgate watch {label}`) before closing stage 5"))
        if runs:
            g.add("runs.id", ids, "run ids valid and unique", 76)
            g.add("runs.fields", fields, "every run records its provenance", 76)
            g.add("runs.status", statuses, "every run Completed or Failed", 77)

    closure = A.sc_closure(art)
    best_f = art.field("Best Current Result", "Best run")
    best_ids = A.find_ids(best_f.value if best_f else None, "RUN")
    cited = {rid for c in closure for rid in c.evidence_runs} | set(best_ids[:1])
    if runs and ctx.git is not None:
        _code_basis(ctx, g, runs, cited)

    # metric summary
    mview = art.table("Metric Summary")
    if art.section("Metric Summary") is not None:
        metrics = A.metric_summary(art)
        if _has_rows(g, "metrics.rows", art, "Metric Summary", mview, metrics,
                     "the Metric Summary has no rows; record each run's metrics with baseline "
                     "and delta", f"{len(metrics)} metric row(s)", 79, note=False):
            unknown, empty, delta = [], [], []
            for m in metrics:
                if m.run_id is None or m.run_id not in by_id:
                    unknown.append((m.line, f"Metric Summary row names run "
                                            f"{_q(m.raw_run or '')}, which is not in the Run "
                                            f"Registry"))
                for col, v in ((g.domain.label("Metric"), m.metric), ("Result", m.result),
                               ("Baseline", m.baseline), ("Delta", m.delta)):
                    if v is None:
                        empty.append((m.line, f"{m.run_id or m.raw_run} {m.metric or ''}: "
                                              f"'{col}' is empty (write N/A when there is no "
                                              f"baseline)"))
                if m.result and m.baseline and m.delta:
                    parts = _strip_pct(m.result, m.baseline, m.delta)
                    if parts is not None:
                        r_, b_, d_ = (A.parse_number(p) for p in parts)
                        if r_ is not None and b_ is not None and d_ is not None:
                            want = r_ - b_
                            if abs(d_ - want) > _tolerance(*parts):
                                delta.append((m.line, f"{m.run_id} {m.metric}: Delta {m.delta} "
                                                      f"is not Result - Baseline ({m.result} - "
                                                      f"{m.baseline} = {want:.6g})"))
            g.add("metrics.run", unknown, "metric rows name known runs", 79)
            g.add("metrics.fields", empty, "metric rows have result, baseline and delta", 79)
            g.add("metrics.delta", delta, "every numeric delta equals result - baseline", 79)

    # success criteria closure
    if art.section("Success Criteria Closure") is not None:
        _closure(ctx, g, art, req, req_err, closure, by_id)

    _fields(g, "repro.fields", art, "Reproducibility Record",
            tuple(g.domain.label(k) for k in (
                "Exact command(s)", "Config file(s)", "Seed(s)", "Dataset or split version",
                "Checkpoint(s)", "Environment details")), 82)
    bs = art.section("Best Current Result")
    if bs is not None:
        line = best_f.line if best_f else bs.line
        if not best_ids:
            what = "is empty" if not (best_f and best_f.value) else \
                f"is {_q(best_f.value)}, which names no RUN-NNN"
            g.add("best.run", [(line, f"Best run {what}; name the best run id")], "", 83)
        elif best_ids[0] not in by_id:
            g.add("best.run", [(line, f"Best run {best_ids[0]} is not in the Run Registry")],
                  "", 83)
        else:
            g.add("best.run", [], f"best run {best_ids[0]}", 83)
        _fields(g, "best.confidence", art, "Best Current Result", ("Confidence in the result",),
                83)

    if art.section("Gate Decision") is not None:
        f_dec = art.field("Gate Decision", "Stage 5 Decision")
        if A.enum_value(f_dec.value if f_dec else None, A.STAGE5_DECISIONS) == "Refuted":
            dec = "Refuted"
            _refuted(ctx, g, closure, by_id, f_dec.line if f_dec else art.line_of(
                "Gate Decision"))
        else:
            dec = _decision(g, art, "Gate Decision", "Stage 5 Decision", A.STAGE5_DECISIONS,
                            84, "For a failure run `mlgate reenter \"<Classification>\" "
                            "--reason ...`; for a blocked environment run `mlgate block "
                            "--reason ...`; when sound evidence refuted the hypothesis, the "
                            "decision is `Refuted`")
        _fields(g, "decision.next-action", art, "Gate Decision", ("Next action",), 84)
        if dec == "Pass":
            allowed = ("Passed", "Waived") if ctx.stage5_policy == "strict" else \
                ("Passed", "Waived", "Inconclusive")
            problems = [(c.line, f"Stage 5 Decision is Pass but {c.sc_id or c.raw_id} is "
                                 f"{c.decision or 'undecided'}; with stage5_policy "
                                 f"'{ctx.stage5_policy}' every criterion must be "
                                 f"{' or '.join(allowed)}")
                        for c in closure if c.decision not in allowed]
            g.add("decision.sc-policy", problems, f"all criteria {'/'.join(allowed)}", 86)

    _handlers(ctx, g, 5)
    _registered(ctx, g, 5, runs=False)  # the run records: runs.registered
    _run_folders(ctx, g, art, runs, plan)
    _computed(ctx, g, art, runs, closure, best_f, best_ids)


# --- the numbers are mlgate's ------------------------------------------------------------


def _computed(ctx: GateContext, g: _Gate, art: A.Artifact, runs: list[A.RunRow],
              closure_rows: list[A.ClosureRow], best_f: "Field | None",
              best_ids: list[str]) -> None:
    """The report's numbers against the registered runs' records (rules 76, 79, 80, 83):
    only runs mlgate launched and collected count; their provenance, the Metric Summary
    (result, baseline), the closure rows and the best run must be what mlgate computes."""
    counted = K.counted_runs(ctx)
    reg_line = art.line_of("Run Registry")
    problems: list[Problem] = []
    rows = {r.id: r for r in runs if r.id}
    for rid, why in sorted(counted.excluded.items()):
        row = rows.get(rid)
        problems.append((row.line if row else reg_line, why))
    for rid, row in rows.items():
        if rid not in counted.runs and rid not in counted.excluded and \
                row.status in ("Completed", "Failed"):
            problems.append((row.line, f"{rid} is {row.status} in the Run Registry but there "
                                       f"is no run folder runs/{rid}: a run mlgate did not "
                                       "make counts for nothing; run `mlgate run train`"))
    ok = ("every run was launched and collected by mlgate (registered records)"
          if counted.checked else "not checked: no evidence registry here (the runs' records "
                                  "are read as they are)")
    g.add("runs.registered", problems, ok, 76)
    _provenance(g, runs, counted)
    base, base_err = K.baseline(ctx)
    _metric_numbers(ctx, g, art, counted, base, base_err)
    crit = K.criteria(ctx)
    _closure_numbers(ctx, g, closure_rows, counted, crit, base)
    _best_run(g, art, counted, crit, best_f, best_ids, base)


def _provenance(g: _Gate, runs: list[A.RunRow], counted: K.Counted) -> None:
    """Run Registry rows say what the run's registered meta.json says: its commit (the code
    basis cannot be relabelled without re-running), seed and status."""
    problems: list[Problem] = []
    for r in runs:
        rec = counted.runs.get(r.id or "")
        if rec is None:
            continue
        meta = rec.meta
        commit = str(meta.get("commit") or "")
        if commit and r.code_basis is not None:
            shas = A.shas_in(r.code_basis)
            if shas and not commit.startswith(shas[0]):
                problems.append((r.line, f"{r.id}: Code Basis {shas[0]} is not the commit the "
                                         f"run was launched from ({commit[:12]}, "
                                         f"runs/{r.id}/meta.json); a new code basis needs a new "
                                         "run (`mlgate run train`)"))
        seed = meta.get("seed")
        if isinstance(seed, int) and r.seed is not None:
            n = A.parse_number(r.seed)
            if n is not None and n != seed:
                problems.append((r.line, f"{r.id}: Seed {r.seed} is not the run's seed {seed} "
                                         f"(runs/{r.id}/meta.json)"))
        if r.status in ("Completed", "Failed") and r.status != rec.status:
            problems.append((r.line, f"{r.id}: Status {r.status} but the run's records say "
                                     f"{rec.status} (runs/{r.id}/meta.json)"))
    g.add("runs.provenance", problems, "Run Registry rows match the runs' records", 76)


def _metric_numbers(ctx: GateContext, g: _Gate, art: A.Artifact, counted: K.Counted,
                    base: object, base_err: str | None) -> None:
    if art.section("Metric Summary") is None:
        return
    problems: list[Problem] = []
    for m in A.metric_summary(art):
        rec = counted.runs.get(m.run_id or "")
        if rec is None or not m.metric:
            continue  # unknown or uncounted runs are reported by metrics.run / runs.registered
        last = rec.value(m.metric, "last")
        where = f"runs/{rec.run}/{'summary.json' if rec.last else 'metrics.jsonl'}"
        claim = K.first_number(m.result)
        if last is None:
            problems.append((m.line, f"{m.run_id} {m.metric}: {rec.run} never logged "
                                     f"{m.metric} ({where}); report only logged metrics"))
            continue
        if claim is not None and not K.matches(claim, last):
            problems.append((m.line, f"{m.run_id} {m.metric}: Result {m.result} differs from "
                                     f"the value mlgate computes, {K.shown(last)} (last logged "
                                     f"value, {where}); write {K.shown(last)}"))
        if not ctx.check_baseline:
            continue
        if base_err is not None:
            problems.append((m.line, f"{m.run_id} {m.metric}: the baseline cannot be read: "
                                     f"{base_err}"))
            continue
        want = base.value(m.metric) if base is not None else None  # type: ignore[attr-defined]
        bclaim = K.first_number(m.baseline)
        if want is None and bclaim is not None:
            problems.append((m.line, f"{m.run_id} {m.metric}: Baseline {m.baseline}, but "
                                     f"{ctx.baseline_file} has no value for {m.metric}; write "
                                     "N/A"))
        elif want is not None and bclaim is None:
            problems.append((m.line, f"{m.run_id} {m.metric}: Baseline "
                                     f"{_what(m.baseline)} but {ctx.baseline_file} holds "
                                     f"{K.shown(want)}; write {K.shown(want)}"))
        elif want is not None and bclaim is not None and not K.matches(bclaim, want):
            problems.append((m.line, f"{m.run_id} {m.metric}: Baseline {m.baseline} differs "
                                     f"from {ctx.baseline_file} ({K.shown(want)}); write "
                                     f"{K.shown(want)}"))
    g.add("metrics.computed", problems, "Metric Summary results and baselines equal the "
                                        "registered runs and baselines.yaml", 79)
    if ctx.registry is not None and ctx.check_baseline and ctx.check_baseline_file:
        from mlgate.runs.baselines import written_by_mlgate

        root = ctx.workspace_root or _workspace_root(ctx)
        ok, why = written_by_mlgate(root / ctx.baseline_file, ctx.registry.key_dir,
                                    ctx.registry.key)
        if ok is False:
            g.add("metrics.baseline-file", [(None, f"{ctx.baseline_file}: {why}; the "
                                                   "baseline is a person's decision: they "
                                                   "set it with `mlgate baseline set` (or "
                                                   "roll it back)")], "", 79,
                  file=ctx.baseline_file)
        else:
            g.add("metrics.baseline-file", [], f"{ctx.baseline_file}: {why}", 79,
                  file=ctx.baseline_file)


def _closure_numbers(ctx: GateContext, g: _Gate, rows: list[A.ClosureRow],
                     counted: K.Counted, crit: list[K.closure.Criterion],
                     base: "K.Baselines | None") -> None:
    by_sc = {c.id: c for c in crit}
    problems: list[Problem] = []
    decided: dict[str, str] | None = None
    for row in rows:
        c = by_sc.get(row.sc_id or "")
        if c is None or row.decision == "Waived":
            continue
        if not K.per_run(c):
            # a mean over seeds, several metrics or a rubric: mlgate's own closure decides
            if row.decision == "Passed" and ctx.closure_decisions is not None:
                decided = ctx.closure_decisions() if decided is None else decided
                mine = decided.get(c.id)
                if mine is not None and mine != "Passed":
                    problems.append((row.line, f"{row.sc_id} is Passed, but mlgate closes "
                                               f"{c.describe()} as {mine} from the registered "
                                               "runs; write that, or re-enter and fix"))
            continue
        if not c.key:
            continue
        cited = [counted.runs[r] for r in row.evidence_runs if r in counted.runs]
        values = [(r, K.run_value(r, c)) for r in cited]
        if row.decision == "Passed":
            for r, v in values:
                holds = K.criterion_holds(r, c, base)
                if holds is False:
                    problems.append((row.line, f"{row.sc_id} is Passed, but {c.metric} of "
                                               f"{r.run} is {K.shown(v)}, which misses "
                                               f"{K.describe(c)} (computed from runs/{r.run}); "
                                               "write Failed, or re-enter and fix"))
                elif holds is None:
                    problems.append((row.line, f"{row.sc_id} is Passed, but {c.metric} cannot "
                                               f"be evaluated on {r.run} ({K.shown(v)}); it is "
                                               "at most Inconclusive"))
        finite = [(r, v) for r, v in values if v is not None]
        for n in A.numbers_in(row.observed):
            if finite and not any(K.matches(n, v) for _, v in finite):
                got = ", ".join(f"{r.run} {K.shown(v)}" for r, v in finite)
                problems.append((row.line, f"{row.sc_id}: Observed Result quotes {n.text}"
                                           f"{'%' if n.percent else ''}, which is not what "
                                           f"mlgate computes for {c.metric} ({got})"))
    g.add("closure.computed", problems, "closure rows agree with the registered runs", 80)


def _best_run(g: _Gate, art: A.Artifact, counted: K.Counted, crit: list[K.closure.Criterion],
              best_f: "Field | None", best_ids: list[str],
              base: "K.Baselines | None" = None) -> None:
    if art.section("Best Current Result") is None or not best_ids:
        return
    line = best_f.line if best_f else art.line_of("Best Current Result")
    best = best_ids[0]
    completed = {rid: r for rid, r in counted.runs.items() if r.completed}
    if best not in completed:
        why = "is not a completed run mlgate collected" if best not in counted.runs else \
            "did not complete"
        if best in counted.excluded or best in counted.runs or not completed:
            g.add("best.computed", [(line, f"Best run {best} {why}")], "", 83)
        else:
            g.add("best.computed", [(line, f"Best run {best} {why}; completed runs: "
                                           f"{', '.join(completed)}")], "", 83)
        return
    if not crit:
        g.add("best.computed", [], f"best run {best} is a completed registered run", 83)
        return
    mine = K.score(completed[best], crit, base)
    better = [(rid, K.score(r, crit, base)) for rid, r in completed.items()
              if rid != best and K.score(r, crit, base) > mine]
    if better:
        rid, sc = max(better, key=lambda t: t[1])
        g.add("best.computed", [(line, f"Best run {best} is not the best run: {rid} meets "
                                       f"{sc[0]} of {len(crit)} criteria ({best}: {mine[0]})"
                                       + ("" if sc[0] != mine[0] else
                                          f" and does better on {crit[0].metric}")
                                       + f"; name {rid}")], "", 83)
        return
    g.add("best.computed", [], f"best run {best}: no registered run does better", 83)


def _code_basis(ctx: GateContext, g: _Gate, runs: list[A.RunRow], cited: set[str]) -> None:
    assert ctx.git is not None
    git = ctx.git
    head = git.head()
    entry5 = ctx.stage_entry_commits.get(5)
    problems = []
    for r in runs:
        if r.code_basis is None:
            continue  # reported by runs.fields
        label = r.id or r.raw_id
        shas = A.shas_in(r.code_basis)
        if not shas:
            problems.append((r.line, f"{label}: Code Basis {_q(r.code_basis)} names no commit; "
                                     f"record the commit the run was launched from"))
            continue
        sha = shas[0]
        if not git.commit_exists(sha):
            problems.append((r.line, f"{label}: Code Basis commit {sha} does not exist in this "
                                     f"repository"))
            continue
        if head and not git.is_ancestor(sha, head):
            problems.append((r.line, f"{label}: Code Basis commit {sha} is not on the ticket "
                                     f"branch (not an ancestor of HEAD {head[:12]})"))
            continue
        if r.id in cited and r.status == "Completed" and entry5 and \
                not git.is_ancestor(entry5, sha):
            problems.append((r.line, f"{label}: Code Basis commit {sha} predates the stage-4 "
                                     f"changes (stage 5 was entered at {entry5[:12]}); cite a "
                                     f"run of the current code"))
    g.add("runs.code-basis", problems, "every code basis is a commit on the ticket branch", 78)


def _closure(ctx: GateContext, g: _Gate, art: A.Artifact, req: A.Artifact | None,
             req_err: str | None, closure: list[A.ClosureRow],
             by_id: dict[str, A.RunRow]) -> None:
    view = art.table("Success Criteria Closure")
    sec_line = view.line if view else art.line_of("Success Criteria Closure")
    if req is None:
        g.add("closure.missing", [(None, f"requirements.md {req_err or 'does not exist'}; the "
                                         f"criteria to close are unknown")], "", 80)
        return
    req_scs = {sc.id: sc for sc in A.success_criteria(req) if sc.id}
    rows_by: dict[str, A.ClosureRow] = {}
    unknown, dup = [], []
    for c in closure:
        if c.sc_id is None or c.sc_id not in req_scs:
            unknown.append((c.line, f"closure row {_q(c.sc_id or c.raw_id or '')} is not a "
                                    f"success criterion of requirements.md "
                                    f"(known: {', '.join(req_scs) or 'none'})"))
        elif c.sc_id in rows_by:
            dup.append((c.line, f"{c.sc_id} is closed twice (first on line "
                                f"{rows_by[c.sc_id].line}); keep one row per criterion"))
        else:
            rows_by[c.sc_id] = c
    missing = [(sec_line, f"no closure row for {sc} (requirements.md:{req_scs[sc].line})"
                          + _placeholder_suffix(view, sc, "SC"))
               for sc in req_scs if sc not in rows_by]
    g.add("closure.missing", missing, "one closure row per success criterion", 80)
    g.add("closure.unknown", unknown, "no unknown criteria", 80)
    g.add("closure.duplicate", dup, "no criterion closed twice", 80)
    reqp, runp, decp, incp, waip = [], [], [], [], []
    for c in rows_by.values():
        want = req_scs[c.sc_id].requirement_id if c.sc_id else None
        if c.requirement_id is None:
            reqp.append((c.line, f"{c.sc_id}: Requirement ID is empty; it serves {want}"))
        elif want and c.requirement_id != want:
            reqp.append((c.line, f"{c.sc_id}: Requirement ID is {c.requirement_id} but "
                                 f"requirements.md maps it to {want}"))
        if c.decision not in C.SC_DECISIONS:
            decp.append((c.line, f"{c.sc_id}: Decision {_what(c.decision)}; allowed: "
                                 f"{', '.join(C.SC_DECISIONS)}"))
        if c.decision != "Waived":
            if not c.evidence_runs:
                runp.append((c.line, f"{c.sc_id}: Evidence Run(s) names no RUN-NNN"))
            for rid in c.evidence_runs:
                run = by_id.get(rid)
                if run is None:
                    runp.append((c.line, f"{c.sc_id}: evidence run {rid} is not in the Run "
                                         f"Registry"))
                elif run.status != "Completed":
                    runp.append((c.line, f"{c.sc_id}: evidence run {rid} is "
                                         f"{run.status or 'without status'}, not Completed"))
        if c.decision == "Inconclusive" and c.notes is None:
            incp.append((c.line, f"{c.sc_id} is Inconclusive without a reason; explain in "
                                 f"Notes why the evidence does not decide it"))
        if c.decision == "Waived" and c.notes is None:
            waip.append((c.line, f"{c.sc_id} is Waived without a recorded user waiver; cite who "
                                 f"waived it and when in Notes"))
    _rubric_rows(ctx, g, req, rows_by)
    g.add("closure.requirement", reqp, "closure rows name the right requirement", 80)
    g.add("closure.decision", decp, "every decision valid", 80)
    g.add("closure.runs", runp, "every decision cites completed runs", 80)
    g.add("closure.inconclusive-notes", incp, "inconclusive criteria explained", 81)
    g.add("closure.waiver", waip, "waivers recorded", 81)


def _refuted(ctx: GateContext, g: _Gate, closure: list[A.ClosureRow],
             by_id: dict[str, A.RunRow], line: int | None) -> None:
    """``Refuted``: an honest negative result. The evidence must decide every criterion (none
    ``Inconclusive``), at least one is ``Failed``, and each ``Failed`` row gives its observed
    number and cites completed runs; where mlgate can compute the closure, each ``Failed``
    row is one that mlgate closes as ``Failed`` too."""
    problems = []
    failed = [c for c in closure if c.decision == "Failed"]
    if not closure:
        problems.append((line, "Stage 5 Decision is Refuted, but no criterion is closed"))
    elif not failed:
        problems.append((line, "Stage 5 Decision is Refuted, but no criterion is Failed: "
                               "nothing was refuted (with every criterion Passed or Waived "
                               "the decision is Pass)"))
    for c in closure:
        label = c.sc_id or c.raw_id
        if c.decision in ("Inconclusive", None):
            problems.append((c.line, f"{label} is {c.decision or 'undecided'}: a refutation "
                                     f"needs evidence that decides every criterion (more "
                                     f"seeds or runs, or a Waived criterion recorded with the "
                                     f"user)"))
        if c.decision != "Failed":
            continue
        if not A.numbers_in(c.observed):
            problems.append((c.line, f"{label} is Failed without its number: write the "
                                     f"observed value in Observed Result"))
        bad = [r for r in c.evidence_runs if r not in by_id or
               by_id[r].status != "Completed"]
        if not c.evidence_runs or bad:
            problems.append((c.line, f"{label} is Failed on "
                                     f"{', '.join(bad) if bad else 'no run'}: a refutation "
                                     f"rests on completed runs"))
    if failed and ctx.closure_decisions is not None:
        computed = ctx.closure_decisions()
        for c in failed:
            want = computed.get(c.sc_id or "")
            if want is not None and want != "Failed":
                problems.append((c.line, f"{c.sc_id} is Failed in the report, but mlgate "
                                         f"closes it as {want} from the runs; `mlgate run "
                                         f"train --collect` rewrites the closure rows"))
    g.add("decision.refuted", problems, f"Refuted: {len(failed)} criterion(s) Failed on "
                                        f"complete evidence", 84)


def _rubric_rows(ctx: GateContext, g: _Gate, req: A.Artifact,
                 rows_by: dict[str, A.ClosureRow]) -> None:
    """A rubric-defined criterion is decided by a person (``mlgate rubric``): a Passed or
    Failed closure row needs the recorded result, and a rubric-only criterion the same
    decision as the record."""
    kinds: dict[str, list[bool]] = {}
    for sc in A.success_criteria(req):
        if sc.id:
            kinds.setdefault(sc.id, []).append(sc.rubric)
    recorded = ctx.rubrics or {}
    problems = []
    for sc_id, flags in kinds.items():
        row = rows_by.get(sc_id)
        if not any(flags) or row is None or row.decision not in ("Passed", "Failed"):
            continue
        result = recorded.get(sc_id)
        if result is None:
            problems.append((row.line, f"{sc_id} is rubric-defined and closed as {row.decision}"
                                       f", but no person recorded its result; a person runs "
                                       f"`mlgate rubric {sc_id} --result Passed|Failed --by "
                                       f"NAME`"))
        elif all(flags) and result != row.decision:
            problems.append((row.line, f"{sc_id} is closed as {row.decision}, but the rubric "
                                       f"result recorded with `mlgate rubric` is {result}"))
    if any(any(f) for f in kinds.values()):
        g.add("closure.rubric", problems, "rubric criteria closed with the recorded results",
              80)


def _run_folders(ctx: GateContext, g: _Gate, art: A.Artifact, runs: list[A.RunRow],
                 plan: A.Artifact | None) -> None:
    runs_root = Path(ctx.folder) / C.RUNS_DIR
    if not runs_root.is_dir():
        return
    registered = {r.id for r in runs if r.id}
    on_disk = sorted(p.name for p in runs_root.iterdir()
                     if p.is_dir() and A.norm_id(p.name, "RUN") == p.name)
    line = art.line_of("Run Registry")
    g.add("runs.unregistered",
          [(line, f"runs/{d} exists but the Run Registry has no row for it; every run is "
                  f"reported, including failed ones") for d in on_disk if d not in registered],
          "every run folder is in the Run Registry", 76)
    completed = [r for r in runs if r.id and r.status == "Completed"]
    table: set[str] | None = None
    if plan is not None:
        table = {m.key for m in A.monitoring(plan)
                 if m.key and not (m.source and re.match(r"^\s*`?wandb\b", m.source, re.I))}
    rec, keys, viz = [], [], []
    for r in completed:
        d = A.run_dir(ctx.folder, r.id or "")
        lk = A.logged_keys(d)
        if lk is None:
            rec.append((r.line, f"{r.id} is Completed but runs/{r.id}/metrics.jsonl does not "
                                f"exist"))
        elif table is None:
            keys.append((r.line, f"{r.id}: {g.domain.plan} has no Monitoring table to "
                                 f"compare the logged keys with"))
        else:
            extra = sorted(lk.keys - table)
            missing = sorted(table - lk.keys)
            if extra:
                keys.append((r.line, f"{r.id} logged key(s) not in the plan's Monitoring "
                                     f"table: {', '.join(extra)}; add rows for them or stop "
                                     f"logging them"))
            if missing:
                keys.append((r.line, f"{r.id} never logged the Monitoring key(s): "
                                     f"{', '.join(missing)} (runs/{r.id}/metrics.jsonl)"))
        if not A.run_images(d):
            viz.append((r.line, f"{r.id} has no plot in runs/{r.id}/viz/; a run is not done "
                                f"without at least one image (run.finish() writes them)"))
    g.add("runs.record", rec, "every completed run has its metrics.jsonl", 108)
    g.add("runs.logged-keys", keys, "logged keys equal the Monitoring keys", 108)
    g.add("runs.viz", viz, "every completed run has a plot", 104)

