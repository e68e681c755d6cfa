"""Stage-5 evidence from training runs: success-criteria closure and the report rows.

Three steps, each a plain function:

1. :func:`read_success_criteria` reads ``requirements.md``'s ``## Success Criteria`` table;
   :func:`load_runs` reads ``runs/RUN-NNN/`` (``meta.json``, ``summary.json``,
   ``metrics.jsonl``, ``viz/``).
2. :func:`evaluate` closes each criterion against the completed runs, and
   :func:`suggest_decision` proposes the stage-5 gate decision.
3. :func:`write_report_rows` writes ``training-validation-report.md``'s Run Registry, Metric
   Summary, Success Criteria Closure and Reproducibility Record, and suggests the Gate
   Decision, keeping everything people wrote.

**Evidence run.** A criterion is evaluated on the *best completed run for its metric*: the
run with the highest value for ``>``/``>=``, the lowest for ``<``/``<=``, the closest to the
threshold for ``==`` (ties: the newest run). Its id is the Evidence Run and the Notes say how
many completed runs logged the metric, so a cherry-picked result is visible.

**Metric value.** ``val/acc`` uses the run's *last* logged value (``summary.json`` ``last``);
``max:val/acc`` / ``min:val/loss`` use the highest / lowest value over the run
(``summary.json`` ``best``, recomputed from ``metrics.jsonl`` when the summary's direction for
the key differs); ``best:`` uses ``best`` as recorded; ``last:`` is the default spelled out.

**Ownership of report rows.** mlgate owns a row when its first cell names a run in ``runs/``
(Run Registry), a run plus a metric that run logged (Metric Summary) or a criterion of
``requirements.md`` (Closure). Owned rows are rewritten in place, never duplicated; any other
row is a person's and is kept byte-identical. In owned rows mlgate keeps what people write in
``Purpose`` and ``Notes``: mlgate's own note text is the ``(mlgate: ...)`` part of a Notes cell,
replaced on every write; the rest of the cell is left alone. A closure row a person set to
``Waived`` stays ``Waived``. The template's example rows are dropped once real rows exist.

The baseline is duck-typed (:class:`BaselineLike`, e.g. :class:`mlgate.runs.baselines.Baselines`)
and run folders are read here directly, so this module does not depend on the launcher.
"""
from __future__ import annotations

import json
import math
import re
import shlex
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from mlgate import artifacts as A
from mlgate.runs import criteria as criteria_mod
from mlgate.runs.baselines import fmt_number, heuristic_direction
from mlgate.runs.stats import DEFAULT_CONFIDENCE
from mlgate.constants import COMPARATORS, FAILURE_CLASSES, NA, RUNS_DIR
from mlgate.errors import StateFileError
from mlgate.state.mdparse import (PLACEHOLDER_MARKERS, Document, Row, Section, Table, canonical_id,
                            normalize_value, render_field_line)
from mlgate.util import atomic_write

REPORT_FILE = "training-validation-report.md"
REQUIREMENTS_FILE = "requirements.md"
PLAN_FILE = "experiment-plan.md"
RUN_RE = re.compile(r"^RUN-(\d{3,})$")
IGNORED_KEYS = A.IGNORED_METRIC_KEYS  # step/time/epoch: not metrics (as the gate reads them)
CHECKPOINT_SUFFIXES = (".pt", ".pth", ".ckpt", ".safetensors")
NOTE_RE = re.compile(r"\s*\(mlgate: [^()]*\)")
SUGGESTION_RE = re.compile(
    r"\s*\(mlgate suggestion: (?P<decision>[A-Za-z]+), (?P<cls>[^()]+?) — [^()]*\)")
PASSING = ("Passed", "Waived")
EQ_REL_TOL = 1e-9
EQ_ABS_TOL = 1e-12


# -- numbers ---------------------------------------------------------------------------


def _number(value: Any) -> float | None:
    """A float for an int/float (not bool) value, else ``None`` (non-finite kept)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def compare(value: float, comparator: str, threshold: float) -> bool:
    """``value <comparator> threshold``; ``==`` allows a relative error of 1e-9."""
    if comparator == ">=":
        return value >= threshold
    if comparator == "<=":
        return value <= threshold
    if comparator == ">":
        return value > threshold
    if comparator == "<":
        return value < threshold
    if comparator == "==":
        return math.isclose(value, threshold, rel_tol=EQ_REL_TOL, abs_tol=EQ_ABS_TOL)
    raise ValueError(f"unknown comparator {comparator!r}")


# -- success criteria --------------------------------------------------------------------


_PREFIX_RE = re.compile(r"^(max|min|best|last)\s*:\s*(.+)$", re.IGNORECASE)


@dataclass
class Criterion:
    """One row of requirements.md's Success Criteria table."""

    id: str  # canonical, e.g. SC-001
    requirement_id: str | None  # canonical R-001 when it parses, else as written
    metric: str | None  # as written, e.g. "val/acc" or "max:val/acc"
    comparator: str | None
    threshold: float | None
    split: str | None
    line: int
    threshold_raw: str | None = None
    min_seeds: int | None = None  # the row's Min Seeds (else stats.min_seeds of the config)
    relative: tuple[float, float] | None = None  # (scale, offset): scale * baseline + offset
    rubric: bool = False  # Comparator `rubric`: a person records the result
    combine: str | None = None  # "all" / "any": the criterion is its ``parts``
    parts: list["Criterion"] = field(default_factory=list)

    @property
    def mode(self) -> str:
        """``"last"``, ``"max"``/``"min"`` (``max:val/acc``) or ``"best"`` (``best:val/acc``:
        the summary's best in the metric's recorded direction)."""
        m = _PREFIX_RE.match(self.metric or "")
        return m.group(1).lower() if m else "last"

    @property
    def key(self) -> str | None:
        """The logged metric key (the metric without its prefix)."""
        if not self.metric:
            return None
        m = _PREFIX_RE.match(self.metric)
        return m.group(2).strip() if m else self.metric

    @property
    def expected(self) -> str:
        return self.describe()

    def describe(self, min_seeds: int | None = None) -> str:
        """The Expected Outcome cell: ``val/acc >= 0.9 on val``, with ``, mean of >= 3
        seeds``, ``all of: ...`` or ``rubric ...`` where they apply."""
        seeds = self.min_seeds or min_seeds or 1
        if self.parts:
            text = f"{self.combine or 'all'} of: " + "; ".join(
                p._core(p.min_seeds or min_seeds or 1) for p in self.parts)
        else:
            text = self._core(seeds)
        return text + (f" on {self.split}" if self.split else "")

    def _core(self, seeds: int) -> str:
        if self.rubric:
            return f"rubric {self.metric or '?'}: {self.threshold_raw or '?'} (judged by a person)"
        text = f"{self.metric or '?'} {self.comparator or '?'} {self.threshold_raw or '?'}"
        return text + (f" (mean of >= {seeds} seeds)" if seeds > 1 else "")


def read_success_criteria(requirements_path: str | Path) -> list[Criterion]:
    """The criteria of ``requirements.md`` (``SC1`` and ``SC-001`` both become ``SC-001``).

    Rows whose first cell is not an SC id, and template rows with ``...``/``YYYY-MM-DD``,
    are skipped; the first row of a duplicated id wins. A row whose threshold is not a
    number keeps ``threshold=None`` (it closes as ``Inconclusive``). Raises
    :class:`StateFileError` when the file or its Success Criteria table is missing.
    """
    path = Path(requirements_path)
    art = A.load(path.parent, path.name)
    if art is None:
        raise StateFileError(str(path), None, "not found; the success criteria live in "
                             "requirements.md (stage 2)")
    section = art.section("Success Criteria")
    if section is None or section.table is None:
        line = section.line if section is not None else None
        raise StateFileError(str(path), line, "has no `## Success Criteria` table\nhint: "
                             "restore the table from the stage-2 template and fill one row "
                             "per criterion")
    out: list[Criterion] = []
    by_id: dict[str, Criterion] = {}
    for sc in A.success_criteria(art):
        if sc.id is None:
            continue
        c = Criterion(
            id=sc.id, requirement_id=sc.requirement_id or sc.raw_requirement,
            metric=sc.metric, comparator=sc.comparator, threshold=sc.threshold,
            split=sc.split, line=sc.line, threshold_raw=sc.raw_threshold,
            min_seeds=sc.min_seeds, relative=sc.relative, rubric=sc.rubric,
            combine=sc.combine if sc.combine in A.COMBINE else None)
        first = by_id.get(sc.id)
        if first is None:
            by_id[sc.id] = c
            out.append(c)
        elif c.combine and first.combine == c.combine:
            # a multi-metric criterion: its rows are the parts (the stage-2 gate checks
            # that every row of the id says the same Combine)
            if not first.parts:
                first.parts = [Criterion(**{f: getattr(first, f) for f in _PART_FIELDS})]
            first.parts.append(c)
            first.metric = f"{first.combine} of " + ", ".join(p.metric or "?"
                                                             for p in first.parts)
            first.comparator = first.threshold_raw = None
            first.threshold = None
        # else: a duplicated id without Combine; the first row wins (stage 2 reports it)
    return out


_PART_FIELDS = ("id", "requirement_id", "metric", "comparator", "threshold", "split", "line",
                "threshold_raw", "min_seeds", "relative", "rubric", "combine")


def read_monitoring_keys(plan_path: str | Path) -> list[str] | None:
    """The ``W&B key`` column of experiment-plan.md's Monitoring table, as the stage-5 gate
    reads it (rows whose Source is wandb itself are not logged keys); ``None`` when the file
    or table is missing."""
    path = Path(plan_path)
    try:
        art = A.load(path.parent, path.name)
    except StateFileError:
        return None
    if art is None or art.table("Monitoring") is None:
        return None
    keys: list[str] = []
    for m in A.monitoring(art):
        if not m.key or (m.source and re.match(r"^\s*`?wandb\b", m.source, re.I)):
            continue
        if m.key not in keys:
            keys.append(m.key)
    return keys


# -- runs ------------------------------------------------------------------------------


@dataclass
class RunRecord:
    """What the report needs of one ``runs/RUN-NNN/`` folder."""

    run: str
    path: Path
    meta: dict[str, Any] = field(default_factory=dict)
    last: dict[str, Any] = field(default_factory=dict)
    best: dict[str, Any] = field(default_factory=dict)
    direction: dict[str, str] = field(default_factory=dict)
    steps: int | None = None
    plots: list[str] = field(default_factory=list)
    _series: dict[str, list[float]] | None = field(default=None, repr=False, compare=False)

    @property
    def number(self) -> int:
        m = RUN_RE.match(self.run)
        return int(m.group(1)) if m else 0

    @property
    def failure_class(self) -> str | None:
        fc = self.meta.get("failure_class")
        return str(fc) if fc else None

    @property
    def status(self) -> str:
        """The report's Status value: ``Completed``, ``Failed`` or ``Running``."""
        st = str(self.meta.get("status") or "").lower()
        fc = (self.failure_class or "").lower()
        if fc == "completed" or st == "completed":
            return "Completed"
        if fc in FAILURE_CLASSES or st in ("failed", "crashed", "killed", "error") \
                or st in FAILURE_CLASSES:
            return "Failed"
        if self.meta.get("finished") or self.meta.get("exit_code") is not None:
            return "Failed"
        return "Running"

    @property
    def completed(self) -> bool:
        return self.status == "Completed"

    def metric_keys(self) -> list[str]:
        """Numeric keys logged by the run (``_``-internal keys excluded), in logged order."""
        return [k for k, v in self.last.items()
                if not k.startswith("_") and k not in IGNORED_KEYS and _number(v) is not None]

    def series(self, key: str) -> list[float]:
        """Every logged value of ``key`` from ``metrics.jsonl`` (read once)."""
        if self._series is None:
            self._series = _read_series(self.path / "metrics.jsonl")
        return self._series.get(key, [])

    def value(self, key: str, mode: str = "last") -> float | None:
        """The run's value of ``key``: its last value, or its max/min over the run."""
        if mode == "last":
            return _number(self.last.get(key))
        if mode == "best":
            best = _number(self.best.get(key))
            return best if best is not None else _number(self.last.get(key))
        if self.direction.get(key) == mode and _number(self.best.get(key)) is not None:
            return _number(self.best[key])
        values = [v for v in self.series(key) if not math.isnan(v)]
        if values:
            return max(values) if mode == "max" else min(values)
        if _number(self.best.get(key)) is not None and not self.direction.get(key):
            return _number(self.best[key])
        last = _number(self.last.get(key))
        return last


def _read_series(path: Path) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    try:
        fh = path.open(encoding="utf-8")
    except OSError:
        return out
    with fh:
        for line in fh:
            line = line.strip()
            if not line:
                continue
            try:
                rec = json.loads(line)
            except ValueError:
                continue  # a line cut short by a crash
            if not isinstance(rec, dict):
                continue
            for k, v in rec.items():
                num = _number(v)
                if num is not None and not k.startswith("_") and k not in IGNORED_KEYS:
                    out.setdefault(k, []).append(num)
    return out


def _load_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def load_run(run_dir: str | Path) -> RunRecord:
    """Read one run folder. Missing files give empty fields (a crashed run may have no
    summary: then ``last``/``best`` come from ``metrics.jsonl``)."""
    run_dir = Path(run_dir)
    meta = _load_json(run_dir / "meta.json")
    summary = _load_json(run_dir / "summary.json")
    rec = RunRecord(run=str(meta.get("run") or summary.get("run") or run_dir.name),
                    path=run_dir, meta=meta)
    if summary:
        rec.last = dict(summary.get("last") or {})
        rec.best = dict(summary.get("best") or {})
        rec.direction = {k: v for k, v in (summary.get("direction") or {}).items()
                         if v in ("min", "max")}
        steps = summary.get("steps")
        rec.steps = steps if isinstance(steps, int) and not isinstance(steps, bool) else None
    else:
        series = _read_series(run_dir / "metrics.jsonl")
        rec._series = series
        rec.last = {k: v[-1] for k, v in series.items() if v}
    rec.plots = [p.relative_to(run_dir / "viz").as_posix() for p in A.run_images(run_dir)]
    return rec


def load_runs(folder: str | Path) -> list[RunRecord]:
    """Every ``<folder>/runs/RUN-NNN`` run, oldest first."""
    root = Path(folder) / RUNS_DIR
    if not root.is_dir():
        return []
    out = [load_run(p) for p in root.iterdir() if p.is_dir() and RUN_RE.match(p.name)]
    out.sort(key=lambda r: (r.number, r.run))
    return out


# -- closure ---------------------------------------------------------------------------


@dataclass
class Closure:
    sc_id: str
    requirement_id: str | None
    expected: str
    evidence_runs: list[str]
    observed: str
    decision: str  # Passed | Failed | Inconclusive | Waived
    notes: str
    metric: str | None = None
    value: float | None = None
    stats: dict[str, Any] | None = None  # seeds: mean, CI, test, p-value (criteria.Outcome)

    def to_dict(self) -> dict[str, Any]:
        out = {"sc_id": self.sc_id, "requirement_id": self.requirement_id,
               "expected": self.expected, "evidence_runs": list(self.evidence_runs),
               "observed": self.observed, "decision": self.decision, "notes": self.notes}
        if self.stats is not None:
            out["stats"] = self.stats
        return out


def _pick(c: Criterion, candidates: list[tuple[RunRecord, float]],
          threshold: float | None = None) -> tuple[RunRecord, float]:
    threshold = c.threshold if threshold is None else threshold
    assert c.comparator is not None and threshold is not None

    def score(item: tuple[RunRecord, float]) -> tuple[float, int]:
        run, v = item
        if c.comparator in (">", ">="):
            s = v
        elif c.comparator in ("<", "<="):
            s = -v
        else:
            s = -abs(v - threshold)
        return (s, run.number)

    return max(candidates, key=score)


def evaluate(criteria: Iterable[Criterion], runs: Sequence[RunRecord],
             baseline: BaselineLike | None = None, *, min_seeds: int = 1,
             confidence: float = DEFAULT_CONFIDENCE, rubrics: Any = None) -> list[Closure]:
    """Close each criterion: ``Passed``/``Failed`` on the best completed run for its metric
    (see the module docs), ``Inconclusive`` when the criterion cannot be evaluated (no
    metric, comparator or numeric threshold), no completed run logged the metric, or its
    values are not finite. Notes always say why.

    A criterion that needs several seeds (its ``Min Seeds``, else ``min_seeds``) is closed
    on the seeds' mean and confidence interval (:mod:`mlgate.runs.criteria`); a relative
    threshold reads ``baseline``; a multi-metric criterion joins its parts; a rubric
    criterion takes the person's result from ``rubrics`` (:class:`mlgate.runs.rubric.Rubrics`).
    """
    completed = [r for r in runs if r.completed]
    out: list[Closure] = []
    for c in criteria:
        expected = c.describe(min_seeds)
        if c.parts:
            parts = [(p.metric or "?", _close_part(p, completed, runs, baseline, min_seeds,
                                                    confidence, rubrics, c.id))
                     for p in c.parts]
            o = criteria_mod.combine(c.combine or "all", parts)
        else:
            o = _close_part(c, completed, runs, baseline, min_seeds, confidence, rubrics, c.id)
        out.append(Closure(c.id, c.requirement_id, expected, o.runs, o.observed, o.decision,
                           o.notes, metric=c.metric, value=o.value, stats=o.stats))
    return out


def _close_part(c: Criterion, completed: list[RunRecord], runs: Sequence[RunRecord],
                baseline: BaselineLike | None, min_seeds: int, confidence: float,
                rubrics: Any, sc_id: str) -> criteria_mod.Outcome:
    """One criterion, or one metric row of a multi-metric criterion."""
    def inconclusive(notes: str, ids: Sequence[str] = ()) -> criteria_mod.Outcome:
        return criteria_mod.Outcome("Inconclusive", NA, notes, list(ids))

    if c.rubric:
        return _close_rubric(c, completed, rubrics, sc_id)
    if not c.key:
        return inconclusive(f"requirements.md line {c.line} gives no metric for {c.id}")
    if c.comparator not in COMPARATORS:
        return inconclusive(f"requirements.md line {c.line}: comparator {c.comparator!r} is "
                            f"not one of {' '.join(COMPARATORS)} (or rubric)")
    if c.threshold is None and c.relative is None:
        return inconclusive(f"requirements.md line {c.line}: threshold {c.threshold_raw!r} "
                            f"is neither a number nor relative to the baseline (e.g. "
                            f"baseline + 0.01)")
    if not completed:
        failed = ", ".join(f"{r.run} {r.failure_class or r.status.lower()}" for r in runs)
        return inconclusive("no completed run yet" + (f" ({failed})" if failed else ""))
    need = c.min_seeds or min_seeds or 1
    if need > 1:
        return criteria_mod.close_over_seeds(c, completed, need, baseline, confidence)
    threshold = c.threshold
    target_note = ""
    if c.relative is not None:
        base = baseline.value(c.key) if baseline is not None and \
            getattr(baseline, "current", None) is not None else None
        if base is None:
            return inconclusive(f"the threshold {c.threshold_raw} needs the baseline's "
                                f"{c.key}, and baselines.yaml has none (mlgate baseline show)",
                                [completed[-1].run])
        scale, offset = c.relative
        threshold = scale * base + offset
        target_note = f"; threshold {c.threshold_raw} = {fmt_number(threshold)} with the " \
                      f"baseline at {fmt_number(base)}"
    assert threshold is not None
    logged = [(r, v) for r in completed if (v := r.value(c.key, c.mode)) is not None]
    if not logged:
        names = ", ".join(r.run for r in completed)
        return inconclusive(f"metric {c.key} was not logged by any completed run ({names})",
                            [completed[-1].run])
    finite = [(r, v) for r, v in logged if math.isfinite(v)]
    if not finite:
        return inconclusive(f"metric {c.key} is not finite in "
                            f"{', '.join(r.run for r, _ in logged)}", [r.run for r, _ in logged])
    run, value = _pick(c, finite, threshold)
    ok = compare(value, c.comparator, threshold)
    how = {"last": "last", "max": "max over the run of", "min": "min over the run of",
           "best": "best over the run of"}
    notes = f"{how[c.mode]} {c.key} of {run.run}"
    if len(logged) > 1:
        notes += f", best of {len(logged)} completed runs that logged it"
    if len(finite) < len(logged):
        notes += f"; {len(logged) - len(finite)} run(s) with a non-finite value ignored"
    notes += target_note
    return criteria_mod.Outcome("Passed" if ok else "Failed", fmt_number(value), notes,
                                [run.run], value)


def _close_rubric(c: Criterion, completed: list[RunRecord], rubrics: Any,
                  sc_id: str) -> criteria_mod.Outcome:
    rec = rubrics.get(sc_id) if rubrics is not None else None
    if rec is None:
        runs = [completed[-1].run] if completed else []
        return criteria_mod.Outcome(
            "Inconclusive", NA, f"rubric-defined: a person judges it and records the result "
            f"with `mlgate rubric {sc_id} --result Passed|Failed --by NAME`", runs)
    note = f": {rec.note}" if rec.note else ""
    runs = list(rec.runs) or ([completed[-1].run] if completed else [])
    return criteria_mod.Outcome(rec.result, f"{rec.result} by {rec.by} ({rec.date[:10]})",
                                f"rubric result recorded by {rec.by} with mlgate rubric{note}",
                                runs)


def suggest_decision(closures: Sequence[Closure], policy: str = "strict") -> tuple[str, str, str]:
    """``(stage 5 decision, classification, next action)`` to suggest for the report.

    ``Pass`` (classification ``N/A``) when every criterion is ``Passed`` or ``Waived`` (with
    ``policy="permissive"`` also ``Inconclusive``). Otherwise ``Fail`` with ``Local Fix``:
    a failing or unmeasured criterion most often means the implementation (or what it
    logs) needs a bounded fix (``4 -> 5``). A report with no criteria suggests
    ``Requirement Gap``. These are suggestions; people may change them.
    """
    ok = PASSING + (("Inconclusive",) if policy == "permissive" else ())
    if not closures:
        return ("Fail", "Requirement Gap",
                "requirements.md has no success criteria to close; add them with "
                "`mlgate reenter \"Requirement Gap\" --reason ...`")
    bad = [c for c in closures if c.decision not in ok]
    if not bad:
        summary = ", ".join(f"{c.sc_id} {c.decision}" for c in closures)
        return ("Pass", NA, f"all success criteria closed ({summary}); fill Best Current "
                "Result, set Current Status to Current, then mlgate check and mlgate advance")
    parts = []
    for c in bad:
        if c.decision == "Failed":
            parts.append(f"{c.sc_id} Failed: {c.observed} observed, expected {c.expected}")
        else:
            parts.append(f"{c.sc_id} {c.decision}")
    seeds = [c for c in bad if c.decision == "Inconclusive" and " seeds this criterion needs"
             in c.notes]
    if seeds and len(seeds) == len(bad):
        return ("Fail", "Local Fix", "; ".join(parts) + ". Run the missing seeds (`mlgate run "
                "train` with each train.seed), then `mlgate run train --collect`")
    refutable = all(c.decision in ("Passed", "Failed", "Waived") for c in closures)
    return ("Fail", "Local Fix", "; ".join(parts) + ". Fix and re-run with "
            "`mlgate reenter \"Local Fix\" --reason ...`, or change the classification "
            "if the cause is not in the implementation" + (
                "; if the runs are sound and the hypothesis itself failed, set the Stage 5 "
                "Decision to `Refuted` (an honest negative result)" if refutable else ""))


# -- report writing --------------------------------------------------------------------


class BaselineLike(Protocol):
    """What the report writer needs of a baseline (:class:`mlgate.runs.baselines.Baselines`)."""

    current: Any

    def direction(self, key: str) -> str: ...

    def value(self, key: str) -> float | None: ...


@dataclass
class ReportUpdate:
    """What :func:`write_report_rows` did."""

    path: Path
    changed: bool
    closures: list[Closure]  # after the waivers people recorded
    suggestion: tuple[str, str, str] | None  # (decision, classification, next action)
    gate_written: bool  # the Gate Decision holds mlgate's suggestion (False: a person's)


def merge_note(existing: str | None, auto: str | None) -> str:
    """A Notes cell: the person's text as it was, then mlgate's ``(mlgate: ...)`` part."""
    person = NOTE_RE.sub("", existing or "").strip()
    person = person.rstrip(";").strip() if person.endswith(";") else person
    auto_part = f"(mlgate: {_clean(auto, parens=True)})" if auto else ""
    return " ".join(p for p in (person, auto_part) if p)


def _clean(text: str, parens: bool = False) -> str:
    text = " ".join(str(text).split())
    if parens:
        text = text.replace("(", "[").replace(")", "]")
    return text


def _render_row(cells: list[str], ending: str) -> str:
    out = [_clean(c).replace("\\|", "|").replace("|", "\\|") for c in cells]
    return "| " + " | ".join(out) + " |" + ending


@dataclass
class _Table:
    """One owned table: how to build, match and merge its rows."""

    title: str
    rows: list[tuple[Any, dict[str, str]]]  # (key, cells by column key), in output order
    owned: Callable[[Table, Row], Any]  # key of an existing owned row, else None
    placeholder: Callable[[Table, Row], bool]
    merge: Callable[[Table, Row | None, dict[str, str]], dict[str, str]]  # row None: new


def _section(doc: Document, title: str) -> Section | None:
    """A section by title, accepting the same aliases as the gates."""
    return A.Artifact(doc, doc.path).section(title)


def _is_blank(table: Table, row: Row, id_columns: tuple[str, ...]) -> bool:
    """A template example row: nothing but ids/enum defaults, blanks and ``...`` markers.
    (Stricter than ``Row.is_placeholder``, so a person's row with ``...`` in a note stays.)"""
    ids = {i for i in (table.column(c) for c in id_columns) if i is not None}
    for i, cell in enumerate(row.cells):
        if i in ids:
            continue
        value = normalize_value(cell)
        if value is not None and value not in PLACEHOLDER_MARKERS:
            return False
    return True


def _table_edit(doc: Document, spec: _Table) -> tuple[int, int, list[str]] | None:
    """``(first line, last line, new lines)`` replacing the table's data rows."""
    section = _section(doc, spec.title)
    if section is None or section.table is None:
        raise StateFileError(doc.path, section.line if section else None,
                             f"has no `## {spec.title}` table; mlgate cannot write the "
                             f"stage-5 evidence rows\nhint: restore the section from "
                             f"stages/05-training-validation/training-validation-template.md")
    table = section.table
    ending = doc.newline()
    wanted = dict(spec.rows)
    out: list[str] = []
    emitted: set[Any] = set()
    for row in table.rows:
        original = doc.lines[row.line - 1]
        key = spec.owned(table, row)
        if key is not None:
            if key in emitted or key not in wanted:
                continue  # a duplicate of an owned row, or an owned row no longer produced
            cells = spec.merge(table, row, wanted[key])
            out.append(_render_row(_ordered(table, cells, row), ending))
            emitted.add(key)
        elif spec.rows and spec.placeholder(table, row):
            continue
        else:
            out.append(original)
    for key, cells in spec.rows:
        if key not in emitted:
            out.append(_render_row(_ordered(table, spec.merge(table, None, cells), None),
                                   ending))
            emitted.add(key)
    for i, line in enumerate(out[:-1]):
        if not line.endswith(("\n", "\r")):  # the file's last line, no longer last
            out[i] = line + ending
    first = table.line + 2  # the line after the separator
    last = table.end_line
    if last >= first and out == doc.lines[first - 1:last]:
        return None
    if last < first and not out:
        return None
    return first, last, out


def _ordered(table: Table, cells: dict[str, str], row: Row | None) -> list[str]:
    """Cells in the table's column order; unknown columns keep their old text."""
    out = []
    for i, key in enumerate(table.keys):
        value = None
        for name, v in cells.items():
            if name.lower() == key.lower():
                value = v
                break
        if value is None:
            value = row.cells[i] if row is not None and i < len(row.cells) else ""
        out.append(value)
    return out


def _run_id(text: str | None) -> str | None:
    return canonical_id(text or "", "RUN")


def _hardware(meta: dict[str, Any]) -> str:
    parts = []
    cpu = meta.get("cpu")
    if cpu:
        parts.append(str(cpu))
    gpu = meta.get("gpu")
    if isinstance(gpu, (list, tuple)):
        names: dict[str, int] = {}
        for g in gpu:
            names[str(g)] = names.get(str(g), 0) + 1
        parts.append(", ".join(f"{n}× {g}" if n > 1 else g for g, n in names.items())
                     or "no GPU")
    else:
        parts.append(str(gpu) if gpu else "no GPU")
    torch = meta.get("torch")
    text = f"torch {torch}" if torch else "torch not recorded"
    if meta.get("cuda"):
        text += f" (CUDA {meta['cuda']})"
    parts.append(text)
    if meta.get("python"):
        parts.append(f"python {meta['python']}")
    return "; ".join(parts)


def _config_cell(meta: dict[str, Any]) -> str:
    h = str(meta.get("config_hash") or "")[:12] or "no config hash"
    bits = [str(meta.get("launcher") or "local")]
    nproc = meta.get("nproc")
    if isinstance(nproc, int) and nproc > 1:
        bits[0] += f" ×{nproc}"
    if meta.get("batch_size") is not None:
        bits.append(f"batch_size {meta['batch_size']}")
    if meta.get("grad_accum") not in (None, 1):
        bits.append(f"grad_accum {meta['grad_accum']}")
    return f"{h} ({', '.join(bits)})"


def _command_text(meta: dict[str, Any]) -> str:
    cmd = meta.get("command")
    if isinstance(cmd, (list, tuple)):
        return shlex.join(str(c) for c in cmd)
    return str(cmd) if cmd else "not recorded"


def _registry_note(r: RunRecord) -> str:
    m = r.meta
    notes = []
    if r.status == "Failed":
        fc = r.failure_class or "failed"
        notes.append(fc + (f", exit code {m['exit_code']}" if m.get("exit_code") is not None
                           else ""))
    elif r.status == "Running":
        notes.append(f"running; follow it with mlgate watch {r.run}")
    if m.get("parent_run"):
        notes.append(f"attempt {m.get('attempt') or '?'}, retry of {m['parent_run']}")
    if m.get("dirty"):
        notes.append("uncommitted changes at launch")
    if r.status == "Completed" and not r.plots:
        notes.append("no plot in viz/")
    return "; ".join(notes)


def _default_purpose(r: RunRecord) -> str:
    m = r.meta
    if m.get("parent_run"):
        return (f"OOM retry of {m['parent_run']} with batch_size {m.get('batch_size')}"
                if m.get("batch_size") is not None else f"retry of {m['parent_run']}")
    return ""


def _registry_table(runs: Sequence[RunRecord], purposes: dict[str, str]) -> _Table:
    known = {r.run: r for r in runs}
    rows: list[tuple[Any, dict[str, str]]] = []
    for r in runs:
        m = r.meta
        rows.append((r.run, {
            "Run ID": r.run,
            "Purpose": purposes.get(r.run) or _default_purpose(r),
            "Code Basis": str(m.get("commit") or "N/A (not a git repository)"),
            "Config": _config_cell(m),
            "Seed": str(m["seed"]) if m.get("seed") is not None else "not set",
            "Data / Split Version": str(m.get("data_version") or
                                        "N/A (no train.data configured)"),
            "Hardware / Environment": _hardware(m),
            "Status": r.status,
            "Notes": _registry_note(r),
        }))

    def owned(table: Table, row: Row) -> Any:
        rid = _run_id(row.cells[0] if row.cells else None)
        return rid if rid in known else None

    def merge(table: Table, row: Row | None, cells: dict[str, str]) -> dict[str, str]:
        cells = dict(cells)
        if row is not None and table.cell(row, "Purpose"):
            cells["Purpose"] = _cell_raw(table, row, "Purpose")
        cells["Notes"] = merge_note(_cell_raw(table, row, "Notes"), cells["Notes"])
        return cells

    def placeholder(table: Table, row: Row) -> bool:
        return _is_blank(table, row, ("Run ID", "Status"))

    return _Table("Run Registry", rows, owned, placeholder, merge)


def _cell_raw(table: Table, row: Row | None, name: str) -> str:
    idx = table.column(name)
    if row is None or idx is None or idx >= len(row.cells):
        return ""
    return row.cells[idx]


def _metric_table(runs: Sequence[RunRecord], baseline: BaselineLike | None,
                  monitoring_keys: Sequence[str] | None, metric_column: str = "Metric"
                  ) -> _Table:
    base_metrics: dict[str, Any] = {}
    if baseline is not None and getattr(baseline, "current", None) is not None:
        base_metrics = dict(getattr(baseline.current, "metrics", {}) or {})
    order = {k: i for i, k in enumerate(monitoring_keys or [])}
    rows: list[tuple[Any, dict[str, str]]] = []
    logged: dict[str, set[str]] = {}
    for r in runs:
        keys = r.metric_keys()
        logged[r.run] = set(keys)
        if not r.completed:
            continue
        chosen = [k for k in keys if k in base_metrics] or list(keys)
        chosen.sort(key=lambda k: (order.get(k, len(order)), keys.index(k)))
        for key in chosen:
            rows.append(((r.run, key), _metric_cells(r, key, baseline, base_metrics,
                                                     monitoring_keys)))

    def owned(table: Table, row: Row) -> Any:
        rid = _run_id(row.cells[0] if row.cells else None)
        metric = table.cell(row, metric_column)
        if rid in logged and metric in logged[rid]:
            return (rid, metric)
        return None

    def merge(table: Table, row: Row | None, cells: dict[str, str]) -> dict[str, str]:
        cells = dict(cells)
        cells["Notes"] = merge_note(_cell_raw(table, row, "Notes"), cells["Notes"])
        return cells

    def placeholder(table: Table, row: Row) -> bool:
        return _is_blank(table, row, ("Run ID",))

    return _Table("Metric Summary", rows, owned, placeholder, merge)


def _metric_cells(r: RunRecord, key: str, baseline: BaselineLike | None,
                  base_metrics: dict[str, Any], monitoring_keys: Sequence[str] | None
                  ) -> dict[str, str]:
    value = _number(r.last.get(key))
    assert value is not None
    result = fmt_number(value)
    notes = []
    direction = baseline.direction(key) if baseline is not None else \
        r.direction.get(key) or heuristic_direction(key)
    word = "lower" if direction == "min" else "higher"
    base = _number(base_metrics.get(key))
    if base is None:
        base_text, delta_text = NA, NA
        notes.append(f"{word} is better; no baseline value")
    elif not math.isfinite(value):
        base_text, delta_text = fmt_number(base), NA
        notes.append("result is not finite")
    else:
        base_text = fmt_number(base)
        # Delta from the numbers as written, so Result - Baseline == Delta when re-read.
        delta = float(result) - float(base_text)
        delta_text = fmt_number(delta)
        if delta == 0:
            verdict = "equal to the baseline"
        elif (delta < 0) == (direction == "min"):
            verdict = "better than the baseline"
        else:
            verdict = "worse than the baseline"
        notes.append(f"{word} is better; {verdict}")
    if monitoring_keys is not None and key not in monitoring_keys:
        notes.append("not in the plan's Monitoring table")
    return {"Run ID": r.run, "Metric": key, "Result": result, "Baseline": base_text,
            "Delta": delta_text, "Notes": "; ".join(notes)}


def _closure_table(closures: Sequence[Closure], waived: dict[str, str]) -> _Table:
    known = {c.sc_id for c in closures}
    rows: list[tuple[Any, dict[str, str]]] = []
    for c in closures:
        rows.append((c.sc_id, {
            "Success Criteria ID": c.sc_id,
            "Requirement ID": c.requirement_id or "",
            "Expected Outcome": c.expected,
            "Evidence Run(s)": ", ".join(c.evidence_runs) or NA,
            "Observed Result": c.observed,
            "Decision": c.decision,
            "Notes": c.notes,
        }))

    def owned(table: Table, row: Row) -> Any:
        sc = canonical_id(row.cells[0], "SC") if row.cells else None
        return sc if sc in known else None

    def merge(table: Table, row: Row | None, cells: dict[str, str]) -> dict[str, str]:
        cells = dict(cells)
        if row is not None and cells["Success Criteria ID"] in waived:
            cells["Decision"] = _cell_raw(table, row, "Decision")
        cells["Notes"] = merge_note(_cell_raw(table, row, "Notes"), cells["Notes"])
        return cells

    def placeholder(table: Table, row: Row) -> bool:
        return _is_blank(table, row, ("Success Criteria ID", "Requirement ID",
                                      "Evidence Run(s)"))

    return _Table("Success Criteria Closure", rows, owned, placeholder, merge)


def _existing_waivers(doc: Document) -> dict[str, str]:
    """SC id -> Notes of closure rows whose Decision a person set to ``Waived``."""
    section = _section(doc, "Success Criteria Closure")
    out: dict[str, str] = {}
    if section is None or section.table is None:
        return out
    table = section.table
    for row in table.rows:
        sc = canonical_id(row.cells[0], "SC") if row.cells else None
        if sc and table.cell(row, "Decision") == "Waived" and sc not in out:
            out[sc] = table.cell(row, "Notes") or ""
    return out


def _group(runs: Sequence[RunRecord], value: Callable[[RunRecord], str]) -> str:
    groups: dict[str, list[str]] = {}
    for r in runs:
        groups.setdefault(value(r), []).append(r.run)
    return "; ".join(f"{v} ({', '.join(ids)})" for v, ids in groups.items())


def _checkpoints(runs: Sequence[RunRecord]) -> str:
    found: list[str] = []
    for r in runs:
        if not r.path.is_dir():
            continue
        for p in sorted(r.path.rglob("*")):
            if "wandb" in p.relative_to(r.path).parts:
                continue
            if p.is_file() and p.suffix.lower() in CHECKPOINT_SUFFIXES:
                found.append(f"{RUNS_DIR}/{r.run}/{p.relative_to(r.path).as_posix()}")
        # written outside the run folder (a framework's own folder in the worktree), as
        # recorded when the run ended (mlgate.runs.sources.checkpoints_outside)
        found += [f"{c} ({r.run})" for c in r.meta.get("checkpoints") or []
                  if isinstance(c, str)]
    if not found:
        return f"none saved under {RUNS_DIR}/ ({', '.join(r.run for r in runs)})"
    more = f" and {len(found) - 10} more" if len(found) > 10 else ""
    return ", ".join(found[:10]) + more


def _environment(r: RunRecord) -> str:
    m = r.meta
    devices = _hardware({"cpu": m.get("cpu"), "gpu": m.get("gpu")}).rsplit("; torch", 1)[0]
    bits = [f"python {m.get('python') or '?'}", f"torch {m.get('torch') or '?'}",
            f"CUDA {m['cuda']}" if m.get("cuda") else "no CUDA", *devices.split("; ")]
    launcher = str(m.get("launcher") or "local")
    if isinstance(m.get("nproc"), int) and m["nproc"] > 1:
        launcher += f" ×{m['nproc']}"
    bits.append(f"launcher {launcher}")
    return ", ".join(bits)


def _reproducibility(runs: Sequence[RunRecord]) -> dict[str, str]:
    chosen = [r for r in runs if r.completed] or list(runs)
    return {
        "Exact command(s)": "; ".join(f"{r.run}: `{_command_text(r.meta)}`" for r in chosen),
        "Config file(s)": "; ".join(
            f"{RUNS_DIR}/{r.run}/meta.json (config hash "
            f"{str(r.meta.get('config_hash') or '?')[:12]})" for r in chosen),
        "Seed(s)": _group(chosen, lambda r: str(r.meta["seed"]) if r.meta.get("seed")
                          is not None else "not set"),
        "Dataset or split version": _group(chosen, lambda r: str(
            r.meta.get("data_version") or "N/A (no train.data configured)")),
        "Checkpoint(s)": _checkpoints(chosen),
        "Environment details": _group(chosen, _environment),
    }


def write_report_rows(report_path: str | Path, runs: Sequence[RunRecord],
                      closures: Sequence[Closure], baseline: BaselineLike | None,
                      monitoring_keys: Sequence[str] | None = None, *,
                      policy: str = "strict",
                      purposes: dict[str, str] | None = None,
                      renames: dict[str, str] | None = None) -> ReportUpdate:
    """Write the stage-5 evidence rows into ``training-validation-report.md``.

    Rewrites the owned rows of Run Registry (every run), Metric Summary (every completed
    run's metrics that the baseline has, else all its numeric metrics with Baseline
    ``N/A``), Success Criteria Closure (one row per criterion) and the Reproducibility
    Record fields (from the completed runs, else all runs), and suggests the Gate
    Decision while it is unset or still mlgate's earlier suggestion. ``purposes`` fills an
    empty Purpose cell. ``renames`` maps a column or field label to the one the report's
    domain profile writes (``Metric`` -> ``Metric Or Rubric``). Every other line stays
    byte-identical; the write is atomic and
    skipped when nothing changed. Raises :class:`StateFileError` when a section is missing
    (nothing is written then).
    """
    path = Path(report_path)
    try:
        with path.open(encoding="utf-8", newline="") as fh:  # keep CRLF line endings
            doc = Document(fh.read(), path)
    except FileNotFoundError:
        raise StateFileError(str(path), None, "not found\nhint: mlgate scaffolds it on "
                             "entering stage 5; copy training-validation-template.md") from None
    waived = _existing_waivers(doc)
    merged = [Closure(c.sc_id, c.requirement_id, c.expected, list(c.evidence_runs),
                      c.observed, "Waived" if c.sc_id in waived else c.decision, c.notes,
                      c.metric, c.value) for c in closures]
    renames = renames or {}
    specs = []
    if runs:
        specs.append(_registry_table(runs, purposes or {}))
        specs.append(_metric_table(runs, baseline, monitoring_keys,
                                   renames.get("Metric", "Metric")))
    if merged:
        specs.append(_closure_table(merged, waived))
    for spec in specs:
        spec.rows = [(key, {renames.get(k, k): v for k, v in cells.items()})
                     for key, cells in spec.rows]
    edits: list[tuple[int, int, list[str]]] = []
    for spec in specs:
        edit = _table_edit(doc, spec)
        if edit is not None:
            edits.append(edit)
    if runs:
        edits += _field_edits(doc, "Reproducibility Record",
                              {renames.get(k, k): v for k, v in _reproducibility(runs).items()})
    suggestion = suggest_decision(merged, policy) if runs and \
        not any(r.status == "Running" for r in runs) else None
    gate_written = False
    if suggestion is not None:
        gate_edits = _gate_edits(doc, suggestion)
        gate_written = gate_edits is not None
        edits += gate_edits or []
    lines = list(doc.lines)
    for first, last, new in sorted(edits, key=lambda e: e[0], reverse=True):
        lines[first - 1:last] = new
    text = "".join(lines)
    changed = text != doc.text
    if changed:
        atomic_write(path, text)
    return ReportUpdate(path, changed, merged, suggestion, gate_written)


def _field_edits(doc: Document, title: str, values: dict[str, str]
                 ) -> list[tuple[int, int, list[str]]]:
    section = _section(doc, title)
    if section is None:
        raise StateFileError(doc.path, None, f"has no `## {title}` section\nhint: restore it "
                             f"from stages/05-training-validation/"
                             f"training-validation-template.md")
    edits = []
    for key, value in values.items():
        f = section.field(key)
        if f is None:
            continue
        original = doc.lines[f.line - 1]
        new = render_field_line(f, _clean(value), original)
        if new != original:
            edits.append((f.line, f.line, [new]))
    return edits


def _gate_edits(doc: Document, suggestion: tuple[str, str, str]
                ) -> list[tuple[int, int, list[str]]] | None:
    """Write the suggestion into Gate Decision unless a person made the decision: the
    decision is mlgate's to change while it is unset or equals the suggestion recorded in
    ``Next action`` (``(mlgate suggestion: ...)``). ``None`` when it is not mlgate's to
    write (a person decided, or the fields are missing)."""
    section = _section(doc, "Gate Decision")
    if section is None:
        return None
    f_dec = section.field("Stage 5 Decision")
    f_cls = next((f for f in section.fields if f.key.lower().startswith(
        "recommended classification")), None)
    f_next = section.field("Next action")
    if f_dec is None or f_next is None:
        return None
    marker = SUGGESTION_RE.search(f_next.raw)
    prev_dec = marker.group("decision") if marker else None
    prev_cls = marker.group("cls").strip() if marker else None
    if f_dec.value is not None and f_dec.value != prev_dec:
        return None  # a person's decision
    decision, classification, action = suggestion
    edits = []

    def put(f: Any, value: str) -> None:
        original = doc.lines[f.line - 1]
        new = render_field_line(f, value, original)
        if new != original:
            edits.append((f.line, f.line, [new]))

    put(f_dec, f"`{decision}`")
    if f_cls is not None and (f_cls.value is None or f_cls.value == prev_cls):
        put(f_cls, f"`{classification}`")
    person = SUGGESTION_RE.sub("", f_next.raw).strip()
    note = (f"(mlgate suggestion: {decision}, {classification} — "
            f"{_clean(action, parens=True)})")
    put(f_next, " ".join(p for p in (person, note) if p))
    return edits
