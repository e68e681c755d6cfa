"""Stage 7 gate: ``docs-sync.md`` (workflow-sources §5.12).

Rules checked: 44 (Last Updated is a date), 92 (sections present and filled, status
``Current``, ``Docs impacted`` answered; with Yes every Updated Documents path exists and
changed on the ticket branch, with No a rationale; ``Stage 7 Decision: Pass``) and 93 (the
numbers quoted as the best current result are numbers of the stage-5 report's best run, and
every result number quoted in the changed docs is one of the registered results:
:func:`result_numbers` says what counts as a quoted result).
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from mlgate import artifacts as A
from mlgate import constants as C
from mlgate.gates.core import (Check, GateContext, _base, _decision, _Gate, _has_rows, _load,
                               _q, _workspace_root)


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
    if strict:
        _docs_numbers(ctx, g, art)


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



# --- the numbers quoted in the changed docs -------------------------------------------------

#: Words that make a number on the same line a claimed result (beside the metric names the
#: runs logged, and their last path part: ``val/acc`` and ``acc``).
METRIC_WORDS = frozenset("""accuracy acc loss f1 precision recall auc roc error err perplexity
ppl mse mae rmse bleu rouge iou miou map top1 top5 score wer cer dice psnr ssim""".split())
RESULT_WORDS = ("baseline", "improv", "better", "worse", "gain", "drop", "reduc", "increas",
                "decreas", "reach", "achiev", "result", "best", "outperform", "beat", "delta",
                "metric")
#: A number right after one of these is a version, a position or a setting, not a result.
NOT_RESULT_BEFORE = frozenset("""python py torch pytorch cuda cudnn version versions release v
numpy node ubuntu macos mlgate wandb jax tensorflow tf gcc pip line lines l page pages section
step steps epoch epochs seed seeds batch lr issue pr""".split())
_FENCE = re.compile(r"^\s*(```|~~~)")
_CODE_SPAN = re.compile(r"`[^`]*`")
_URL = re.compile(r"https?://\S+|\]\([^)]*\)")
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9_/\-]*")
_POINTS = re.compile(r"^\s*(?:percentage\s+)?(?:points?|pp)\b", re.I)


def result_numbers(text: str, metric_names: Iterable[str] = ()
                   ) -> list[tuple[int, A.Number]]:
    """``(line, number)`` for every number a doc quotes as a result: a percentage, or a
    number with a fractional part, on a line that names a metric or speaks of a result.
    Not counted: code blocks and inline code, links, dates, versions (``2.13.0``, ``python
    3.11``), ids (``RUN-002``), line numbers (``line 42``, ``model.py:42``), settings
    (``lr 0.003``, ``epoch 3``) and plain integers (counts: ``20 epochs``)."""
    names = {n.lower() for n in metric_names}
    names |= {n.rsplit("/", 1)[-1] for n in names}
    out: list[tuple[int, A.Number]] = []
    in_fence = False
    for no, raw in enumerate(text.splitlines(), 1):
        if _FENCE.match(raw):
            in_fence = not in_fence
            continue
        if in_fence:
            continue
        words = {w.lower().strip("-/") for w in _WORD.findall(raw)}
        lowered = raw.lower()
        metric = bool(words & (METRIC_WORDS | names)) or any(
            n in lowered for n in names if "/" in n)
        result = metric or any(w in lowered for w in RESULT_WORDS)
        if not result:
            continue
        line = _URL.sub(" ", _CODE_SPAN.sub(" ", raw))
        line = re.sub(r"[\w./-]+:\d+", " ", line)  # file.py:42
        for n in A.numbers_in(line):
            is_fraction = "." in n.text or "e" in n.text.lower()
            at = line.find(n.text)
            before = _WORD.findall(line[:at])[-1:] if at >= 0 else []
            if before and before[0].lower() in NOT_RESULT_BEFORE:
                continue
            percent = n.percent or bool(at >= 0 and _POINTS.match(line[at + len(n.text):]))
            if not (percent or (is_fraction and metric)):
                continue
            out.append((no, A.Number(n.value, n.text, percent)))
    return out


def _changed_docs(ctx: GateContext, art: A.Artifact) -> list[str]:
    """The docs the ticket changed: files changed on the branch (and uncommitted) that match
    the configured doc globs or are a README, outside the ticket folders; without git, the
    Updated Documents and the README."""
    from mlgate.config.raw import glob_match

    root = _workspace_root(ctx)
    if ctx.git is not None:
        since = ctx.git.merge_base(ctx.base_ref, "HEAD") if ctx.base_ref else None
        since = since or ctx.stage_entry_commits.get(7)
        files = list(ctx.git.changed_files(since)) if since else []
        files += list(ctx.git.dirty_files())
    else:
        files = [d.path for d in A.updated_documents(art) if d.path] + ["README.md"]
    out = []
    for f in dict.fromkeys(p.strip().lstrip("./") if p.startswith("./") else p.strip()
                           for p in files):
        if not f or f.startswith(f"{C.TICKETS_DIR}/") or not (root / f).is_file():
            continue
        readme = f.rsplit("/", 1)[-1].lower().startswith("readme")
        if (readme or glob_match(f, list(ctx.docs_globs))) and \
                f.lower().endswith((".md", ".rst", ".txt", ".markdown")):
            out.append(f)
    return out


def _docs_numbers(ctx: GateContext, g: _Gate, art: A.Artifact) -> None:
    """``docs.numbers`` (rule 93, extended to the docs themselves): every result number the
    changed docs quote is one mlgate can account for: a registered run's value (last, max or
    min), a baseline value, a delta from the baseline, or a success-criterion threshold."""
    from mlgate.gates import computed as K

    docs = _changed_docs(ctx, art)
    if not docs:
        g.add("docs.numbers", [], "no changed doc quotes a result", 93)
        return
    counted = K.counted_runs(ctx)
    values = K.result_values(ctx, counted)
    values += [(c.threshold, f"threshold of {c.id}") for c in K.criteria(ctx)
               if c.threshold is not None]
    names = {k for r in counted.runs.values() for k in r.metric_keys()}
    root = _workspace_root(ctx)
    problems = []
    for rel in docs:
        try:
            text = (root / rel).read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        for line, n in result_numbers(text, names):
            if any(K.matches(n, v) for v, _ in values):
                continue
            shown = n.text + ("%" if n.percent and not n.text.endswith("%") else "")
            problems.append((rel, line, f"{rel}:{line}: {shown} is quoted as a result but "
                                        f"matches no registered result (the nearest: "
                                        f"{K.nearest(values, n)}); quote the numbers of "
                                        "`mlgate runs` and the report exactly, or remove it"))
    if problems:
        for rel, line, msg in problems:
            g.checks.append(Check(f"s{g.stage}.docs.numbers", False, msg, rel, line, 93))
    else:
        g.add("docs.numbers", [], f"the result numbers in {', '.join(docs)} match registered "
                                  "results", 93)
