"""Is a new baseline worse than the one before it? (``mlgate baseline check``)

Each metric both baselines have is compared in its direction (declared in ``baselines.yaml``,
else by name): ``delta = new - old``. Without per-seed values any move in the worse direction
is a regression (no tolerance, as in the sources). When both baselines hold per-seed values
the seeds decide (:mod:`mlgate.runs.stats`: a paired t-test on common seeds, else Welch's):
``regression`` when the confidence interval of the difference lies wholly on the worse side,
``better`` when it lies wholly on the better side, ``no significant change`` otherwise.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from mlgate.runs import stats as S
from mlgate.runs.baselines import BaselineEntry, Baselines, fmt_number


@dataclass
class Row:
    metric: str
    direction: str  # min | max
    old: float
    new: float
    delta: float
    verdict: str  # better | worse | equal | regression | no significant change
    regression: bool
    test: str | None = None
    p: float | None = None
    ci: list[float] | None = None
    seeds: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


def compare(b: Baselines, old: BaselineEntry, new: BaselineEntry,
            confidence: float = S.DEFAULT_CONFIDENCE) -> list[Row]:
    """One row per metric that both entries have, in ``new``'s order."""
    rows = []
    for key, new_value in new.metrics.items():
        if key not in old.metrics:
            continue
        direction = new.direction.get(key) or old.direction.get(key) or b.direction(key)
        old_value = old.metrics[key]
        delta = new_value - old_value
        old_seeds, new_seeds = old.seed_values(key), new.seed_values(key)
        if len(old_seeds) >= 2 and len(new_seeds) >= 2:
            comparator = "<=" if direction == "min" else ">="
            seeds = list(new_seeds)
            # "not worse": new <comparator> old, tested over the seeds
            t = S.compare_seeds([new_seeds[s] for s in seeds], comparator,
                                baseline=old_seeds, seeds=seeds, confidence=confidence)
            lo, hi = t.lo, t.hi
            worse = hi < 0 if direction == "max" else lo > 0
            better = lo > 0 if direction == "max" else hi < 0
            verdict = "regression" if worse else ("better" if better else
                                                  "no significant change")
            rows.append(Row(key, direction, old_value, new_value, delta, verdict, worse,
                            t.test, t.p, [lo, hi], len(seeds)))
            continue
        if delta == 0:
            verdict = "equal"
        elif (delta < 0) == (direction == "min"):
            verdict = "better"
        else:
            verdict = "worse"
        rows.append(Row(key, direction, old_value, new_value, delta, verdict,
                        verdict == "worse"))
    return rows


def table_text(rows: list[Row], old: BaselineEntry, new: BaselineEntry) -> str:
    """The regression table for people."""
    lines = [f"baseline {new.id} against baseline {old.id}:",
             f"  {'metric':<20} {'old':>12} {'new':>12} {'delta':>12}  verdict"]
    for r in rows:
        delta = fmt_number(float(f"{r.delta:.10g}"))
        extra = ""
        if r.test:
            extra = (f" ({r.seeds} seeds, {r.test} {S.p_text(r.p)}, "
                     f"{S.signed(r.ci[0]) if r.ci else ''} to "
                     f"{S.signed(r.ci[1]) if r.ci else ''})")
        word = "lower" if r.direction == "min" else "higher"
        lines.append(f"  {r.metric:<20} {fmt_number(r.old):>12} {fmt_number(r.new):>12} "
                     f"{delta:>12}  {r.verdict.upper() if r.regression else r.verdict}"
                     f" ({word} is better){extra}")
    if not rows:
        lines.append("  (no metric in common)")
    return "\n".join(lines)
