"""Stage 7 gate: ``docs-sync.md`` (workflow-sources §5.12).

Rules checked: 44 (Last Updated is a date), 92 (sections present and filled, status
``Current``, ``Docs impacted`` answered; with Yes every Updated Documents path exists and
changed on the ticket branch, with No a rationale; ``Stage 7 Decision: Pass``) and 93 (the
numbers quoted as the best current result are numbers of the stage-5 report's best run).
"""
from __future__ import annotations

from pathlib import Path

from mlgate import artifacts as A
from mlgate import constants as C
from mlgate.gates.core import (GateContext, _base, _decision, _Gate, _has_rows, _load, _q,
                               _workspace_root)


def gate(ctx: GateContext, g: _Gate, strict: bool) -> None:
    art = _base(ctx, g, strict, ("Synced Facts",))
    if art is None:
        return
    f = art.field("Documentation Impact Summary", "Docs impacted")
    impact = A.enum_value(f.value if f else None, C.YES_NO)
    if art.section("Documentation Impact Summary") is not None:
        line = f.line if f else art.line_of("Documentation Impact Summary")
        if impact is None:
            what = "is not set" if not (f and f.value) else f"is {_q(f.value)}"
            g.add("impact.value", [(line, f"Docs impacted {what}; answer Yes or No")], "", 92)
        else:
            g.add("impact.value", [], f"Docs impacted: {impact}", 92)
    if impact == "Yes":
        _updated_docs(ctx, g, art)
    elif impact == "No":
        s = art.section("No-Impact Rationale")
        if s is not None:
            ok = not art.section_is_empty("No-Impact Rationale")
            g.add("no-impact.rationale", [] if ok else
                  [(s.line, "Docs impacted is No but the No-Impact Rationale is empty; explain "
                            "why no durable documentation is affected")], "rationale given", 92)
    if art.section("Decision") is not None:
        _decision(g, art, "Decision", "Stage 7 Decision", A.STAGE7_DECISIONS, 92,
                  "When the docs cannot be made truthful run `mlgate reenter "
                  "\"<Classification>\" --reason ...`; for an external blocker `mlgate block`")
    _best_result_numbers(ctx, g, art)


def _updated_docs(ctx: GateContext, g: _Gate, art: A.Artifact) -> None:
    view = art.table("Updated Documents")
    docs = A.updated_documents(art)
    if not _has_rows(g, "docs.rows", art, "Updated Documents", view, docs,
                     "Docs impacted is Yes but Updated Documents has no rows; add one per "
                     "changed document", f"{len(docs)} updated document(s)", 92, note=False):
        return
    root = _workspace_root(ctx)
    exists, changed = [], []
    since = None
    if ctx.git is not None:
        if ctx.base_ref:
            since = ctx.git.merge_base(ctx.base_ref, "HEAD") or ctx.base_ref
        else:
            since = ctx.stage_entry_commits.get(7)
    branch_changes = set(ctx.git.changed_files(since)) if ctx.git is not None and since else None
    dirty = set(ctx.git.dirty_files()) if ctx.git is not None else set()
    for d in docs:
        if d.path is None:
            exists.append((d.line, "Updated Documents row has no path"))
            continue
        p = Path(d.path)
        full = p if p.is_absolute() else root / p
        if not full.exists():
            exists.append((d.line, f"updated document {d.path} does not exist (looked in "
                                   f"{root})"))
            continue
        if branch_changes is None:
            continue
        rel = d.path[2:] if d.path.startswith("./") else d.path
        try:
            rel = full.resolve().relative_to(Path(ctx.git.repo_root).resolve()).as_posix()  # type: ignore[union-attr]
        except (ValueError, OSError):
            pass
        hit = rel in branch_changes or any(c.startswith(rel.rstrip("/") + "/")
                                           for c in branch_changes)
        if not hit:
            extra = "; it has uncommitted changes: commit them" if rel in dirty else ""
            changed.append((d.line, f"updated document {d.path} was not changed on the ticket "
                                    f"branch (since {since[:12] if since else '?'}){extra}"))
    g.add("docs.exists", exists, "every updated document exists", 92)
    if ctx.git is not None:
        if since is None:
            g.add("docs.changed", [], "not checked: no base ref known", 92)
        else:
            g.add("docs.changed", changed, "every updated document changed on the branch", 92)


def _best_result_numbers(ctx: GateContext, g: _Gate, art: A.Artifact) -> None:
    f = art.field("Synced Facts", "Best current result")
    if f is None or f.value is None:
        if art.section("Synced Facts") is not None:
            g.add("facts.best-result", [], "no best-result numbers quoted", 93)
        return
    claimed = A.numbers_in(f.value)
    if not claimed:
        g.add("facts.best-result", [], "no numbers quoted in Best current result", 93)
        return
    report, err = _load(ctx, A.REPORT)
    if report is None:
        g.add("facts.best-result", [(f.line, f"training-validation-report.md "
                                             f"{err or 'does not exist'}; the quoted numbers "
                                             f"cannot be checked")], "", 93)
        return
    bf = report.field("Best Current Result", "Best run")
    ids = A.find_ids(bf.value if bf else None, "RUN")
    if not ids:
        g.add("facts.best-result", [(f.line, "the stage-5 report names no Best run, so the "
                                             "quoted numbers cannot be checked")], "", 93)
        return
    best = ids[0]
    supported: list[A.Number] = []
    for m in A.metric_summary(report):
        if m.run_id == best:
            for cell in (m.result, m.baseline, m.delta):
                supported += A.numbers_in(cell)
    problems = []
    for n in claimed:
        if not any(_same_number(n, s) for s in supported):
            shown = ", ".join(s.text + ("%" if s.percent else "") for s in supported) or "none"
            problems.append((f.line, f"Best current result quotes {n.text}"
                                     f"{'%' if n.percent else ''}, which is not a number of "
                                     f"{best} in the report's Metric Summary ({shown}); copy the "
                                     f"numbers exactly"))
    g.add("facts.best-result", problems, f"quoted numbers match {best} in the report", 93)


def _same_number(claim: A.Number, source: A.Number) -> bool:
    def eq(a: float, b: float) -> bool:
        return abs(a - b) <= 1e-9 * max(1.0, abs(a), abs(b))

    if claim.percent == source.percent:
        return eq(claim.value, source.value)
    if claim.percent:
        return eq(claim.value / 100.0, source.value)
    return eq(claim.value, source.value / 100.0)

