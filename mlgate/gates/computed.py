"""The numbers mlgate computes itself (SPEC §16): stage 5 and stage 7 compare what a report or
a doc quotes with what the registered runs' records say.

* :func:`counted_runs` — the runs whose records mlgate launched, collected and registered,
  unchanged (every run when no registry is at hand: a CI clone), and why the others do not
  count;
* :func:`baseline` — ``baselines.yaml`` at the workspace root;
* :func:`matches` — a number as written (``0.9806``, ``98.06%``) equals a computed value to
  the precision it was written with;
* :func:`run_value` / :func:`criterion_holds` — a success criterion on one run, through
  :mod:`mlgate.runs.closure` (``max:``/``min:``/``best:``/``last:`` prefixes);
* :func:`result_values` — every number a result may be quoted as (each counted run's last
  and best values, the baseline, the deltas), for the docs-sync check.

Prose stays the author's: only the cells and fields that hold mlgate's numbers are compared.
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from mlgate import artifacts as A
from mlgate import constants as C
from mlgate.errors import MlgateError
from mlgate.gates.core import GateContext, _workspace_root
from mlgate.runs import closure
from mlgate.runs.baselines import Baselines, fmt_number
from mlgate.runs.baselines import load as load_baselines

RUN_RECORDS = ("meta.json", "summary.json", "metrics.jsonl")


@dataclass
class Counted:
    """The runs that count, and why the others do not."""

    runs: dict[str, closure.RunRecord] = field(default_factory=dict)
    excluded: dict[str, str] = field(default_factory=dict)  # run id -> reason
    checked: bool = True  # False: no registry at hand, every run counted unchecked


def counted_runs(ctx: GateContext) -> Counted:
    """Every ``runs/RUN-NNN`` folder whose records count as evidence."""
    out = Counted(checked=ctx.registry is not None)
    for rec in closure.load_runs(ctx.folder):
        if ctx.registry is None:
            out.runs[rec.run] = rec
            continue
        reason = _not_counted(ctx, rec.run)
        if reason is None:
            out.runs[rec.run] = rec
        else:
            out.excluded[rec.run] = reason
    return out


def _not_counted(ctx: GateContext, run: str) -> str | None:
    reg = ctx.registry
    folder = Path(ctx.folder)
    base = f"{C.RUNS_DIR}/{run}"
    if reg.file(f"{base}/meta.json") is None:
        if reg.launched(run) is not None:
            return (f"{run} was started by mlgate but its records were not collected; run "
                    f"`mlgate run train --collect` once it has ended")
        return (f"{base} is not a run mlgate launched (no registered meta.json): an invented "
                f"run counts for nothing; delete it, run `mlgate run train`")
    for rec in RUN_RECORDS:
        if not (folder / base / rec).is_file() and reg.file(f"{base}/{rec}") is None:
            continue  # a crashed run may have no summary; never registered, never expected
        finding = reg.check(folder, f"{base}/{rec}")
        if finding is not None:
            return finding.message
    return None


def baseline(ctx: GateContext) -> tuple[Baselines | None, str | None]:
    """The workspace's baselines (``None`` with the reason when the file is broken)."""
    root = ctx.workspace_root or _workspace_root(ctx)
    try:
        return load_baselines(root, ctx.baseline_file), None
    except MlgateError as exc:
        return None, exc.message


def tolerance(text: str, value: float) -> float:
    """How far a number written as ``text`` may be from ``value``: half a unit of its last
    written digit (``0.9806`` -> 5e-5), plus a relative 1e-9."""
    return 0.5 * 10 ** (-A.decimals(text)) + 1e-9 * max(1.0, abs(value))


def matches(claim: A.Number, value: float | None) -> bool:
    """``claim`` (as written, maybe a percentage) is ``value`` to its written precision; a
    percentage also matches a fraction (``98.06%`` is ``0.9806``)."""
    if value is None or not math.isfinite(value):
        return False
    if abs(claim.value - value) <= tolerance(claim.text, value):
        return True
    if claim.percent:
        return abs(claim.value - 100.0 * value) <= tolerance(claim.text, 100.0 * value)
    return False


def shown(value: float | None) -> str:
    return "not logged" if value is None else fmt_number(value)


def criteria(ctx: GateContext) -> list[closure.Criterion]:
    try:
        return closure.read_success_criteria(Path(ctx.folder) / A.REQUIREMENTS)
    except MlgateError:
        return []


def run_value(run: closure.RunRecord, c: closure.Criterion) -> float | None:
    if not c.key:
        return None
    return run.value(c.key, c.mode)


def per_run(c: closure.Criterion) -> bool:
    """The criterion is judged on one run at a time (not a mean over seeds, not several
    metrics joined, not a person's rubric)."""
    return not c.parts and not c.rubric and (c.min_seeds or 1) <= 1


def threshold(c: closure.Criterion, base: Baselines | None = None) -> float | None:
    """The criterion's threshold: its number, or a relative one (``baseline + 0.02``)
    resolved against the baseline; ``None`` where neither is known."""
    if c.threshold is not None:
        return c.threshold
    if c.relative is None or base is None or base.current is None or not c.key:
        return None
    b = base.value(c.key)
    if b is None:
        return None
    scale, offset = c.relative
    return scale * b + offset


def criterion_holds(run: closure.RunRecord, c: closure.Criterion,
                    base: Baselines | None = None) -> bool | None:
    """``None`` when the criterion cannot be evaluated on the run."""
    t = threshold(c, base)
    if c.comparator not in C.COMPARATORS or t is None:
        return None
    v = run_value(run, c)
    if v is None or not math.isfinite(v):
        return None
    return closure.compare(v, c.comparator, t)


def score(run: closure.RunRecord, crit: list[closure.Criterion],
          base: Baselines | None = None) -> tuple[int, float]:
    """How good a run is: the criteria it meets, then its value of the first criterion that
    it logged (higher for ``>``/``>=``, lower for ``<``/``<=``, closer for ``==``)."""
    passed = sum(1 for c in crit if criterion_holds(run, c, base))
    tie = -math.inf
    for c in crit:
        v = run_value(run, c)
        t = threshold(c, base)
        if v is None or not math.isfinite(v) or c.comparator not in C.COMPARATORS or t is None:
            continue
        tie = v if c.comparator in (">", ">=") else (
            -v if c.comparator in ("<", "<=") else -abs(v - t))
        break
    return passed, tie


def result_values(ctx: GateContext, counted: Counted | None = None
                  ) -> list[tuple[float, str]]:
    """``(value, where it comes from)`` for every number a result may be quoted as."""
    counted = counted or counted_runs(ctx)
    base, _ = baseline(ctx)
    out: list[tuple[float, str]] = []
    for rid, run in counted.runs.items():
        if not run.completed:
            continue
        for key in run.metric_keys():
            last = run.value(key, "last")
            if last is not None:
                out.append((last, f"{key} {fmt_number(last)} ({rid})"))
            for mode in ("max", "min"):
                v = run.value(key, mode)
                if v is not None and v != last:
                    out.append((v, f"{mode}:{key} {fmt_number(v)} ({rid})"))
            b = base.value(key) if base is not None else None
            if b is not None and last is not None and math.isfinite(last):
                out.append((last - b, f"{key} delta {fmt_number(last - b)} ({rid} - baseline)"))
    if base is not None and base.current is not None:
        for key, v in (base.current.metrics or {}).items():
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                out.append((float(v), f"baseline {key} {fmt_number(v)}"))
    return [(v, w) for v, w in out if math.isfinite(v)]


def first_number(cell: str | None) -> A.Number | None:
    nums = A.numbers_in(cell)
    return nums[0] if nums else None


def nearest(values: Iterable[tuple[float, str]], claim: A.Number, limit: int = 3) -> str:
    """The registered results closest to ``claim`` (a percentage also against fractions)."""
    def dist(v: float) -> float:
        d = abs(claim.value - v)
        if claim.percent:
            d = min(d, abs(claim.value - 100.0 * v))
        return d

    items = sorted(values, key=lambda t: dist(t[0]))
    return ", ".join(w for _, w in items[:limit]) or "none"


def listing(values: Iterable[tuple[float, str]], limit: int = 6) -> str:
    items = [w for _, w in values]
    more = f" and {len(items) - limit} more" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more if items else "none"


def describe(c: closure.Criterion) -> str:
    return f"{c.metric} {c.comparator} {c.threshold_raw}"


__all__ = ["Counted", "counted_runs", "baseline", "matches", "tolerance", "criteria",
           "run_value", "criterion_holds", "score", "result_values", "first_number",
           "listing", "nearest", "shown", "describe"]
