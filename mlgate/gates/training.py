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
"""
from __future__ import annotations

import re
from pathlib import Path

from mlgate import artifacts as A
from mlgate import constants as C
from mlgate.gates.changes import _handlers
from mlgate.gates.core import (GateContext, _base, _decision, _fields, _Gate, _has_rows, _ids,
                               _load, _placeholder_suffix, _q, _what)


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
        dec = _decision(g, art, "Gate Decision", "Stage 5 Decision", A.STAGE5_DECISIONS, 84,
                        "For a failure run `mlgate reenter \"<Classification>\" --reason ...`; "
                        "for a blocked environment run `mlgate block --reason ...`")
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
    _run_folders(ctx, g, art, runs, plan)


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
    g.add("closure.requirement", reqp, "closure rows name the right requirement", 80)
    g.add("closure.decision", decp, "every decision valid", 80)
    g.add("closure.runs", runp, "every decision cites completed runs", 80)
    g.add("closure.inconclusive-notes", incp, "inconclusive criteria explained", 81)
    g.add("closure.waiver", waip, "waivers recorded", 81)


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

