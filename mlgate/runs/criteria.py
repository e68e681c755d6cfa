"""Closing the richer success criteria: over seeds, against the baseline, several metrics at
once (the pieces :func:`mlgate.runs.closure.evaluate` calls for them).

**Seeds.** A criterion with ``min_seeds: N`` (its row's ``Min Seeds`` cell, else
``stats.min_seeds`` of ``mlgate.yaml``) is closed on the runs of at least N seeds of the same
code and configuration, never on one lucky run. :func:`seed_sets` groups the completed runs
by commit, data version and config (the seed, batch size and gradient accumulation left out:
an OOM retry keeps its set) and keeps each seed's newest run. :func:`close_over_seeds` then
tests the criterion on the seeds' values (:mod:`mlgate.runs.stats`): the mean with its
confidence interval, ``Passed`` when the interval lies on the passing side of the threshold,
``Failed`` when it lies on the failing side, ``Inconclusive`` when it crosses it. With fewer
seeds than asked the criterion is ``Inconclusive`` and the notes name the missing count.

**Relative thresholds** (``baseline + 0.01``, ``0.95 * baseline``) read the baseline's value
of the same metric from ``baselines.yaml``: the target is ``scale * baseline + offset``. When
the baseline holds per-seed values (``seeds:`` of its entry), the seeds are compared with a
paired t-test (the candidate's seeds are all in the baseline) or Welch's t-test (otherwise).

**Several metrics** (rows sharing an SC id, each with ``Combine`` ``all`` or ``any``):
:func:`combine` joins the parts' decisions: ``all`` passes when every part passes and fails
when one fails; ``any`` passes when one passes and fails when every part fails; anything
else is ``Inconclusive``.

Runs and the baseline are duck-typed (a :class:`mlgate.runs.closure.RunRecord` and a
:class:`mlgate.runs.baselines.Baselines`), so this module does not read run folders.
"""
from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from mlgate.runs import stats as S
from mlgate.runs.baselines import fmt_number

#: Config keys that may differ between the runs of one seed set.
SEED_FREE_KEYS = ("seed", "seeds", "batch_size", "grad_accum")
_RANK = {S.PASSED: 2, S.INCONCLUSIVE: 1, S.FAILED: 0}


class RunLike(Protocol):
    run: str
    meta: dict[str, Any]

    @property
    def number(self) -> int: ...

    def value(self, key: str, mode: str = "last") -> float | None: ...


class PartLike(Protocol):
    """What is read of a criterion (or one metric row of a multi-metric criterion)."""

    key: str | None
    mode: str
    comparator: str | None
    threshold: float | None
    threshold_raw: str | None
    relative: tuple[float, float] | None


@dataclass
class Outcome:
    """How one criterion (or part) closed, before it becomes a report row."""

    decision: str
    observed: str
    notes: str
    runs: list[str]
    value: float | None = None
    stats: dict[str, Any] | None = None


@dataclass
class SeedSet:
    """The completed runs of one code + config, one run (the newest) per seed."""

    key: str
    commit: str | None
    seeds: list[Any] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    runs: list[str] = field(default_factory=list)
    newest: int = 0

    @property
    def n(self) -> int:
        return len(self.values)


def seed_group_key(meta: Mapping[str, Any]) -> str:
    """Runs with the same key are seeds of one experiment: same commit, data version and
    config, apart from :data:`SEED_FREE_KEYS` of ``config.train``."""
    config = meta.get("config")
    if isinstance(config, dict):
        config = dict(config)
        train = config.get("train")
        if isinstance(train, dict):
            config["train"] = {k: v for k, v in train.items() if k not in SEED_FREE_KEYS}
    return json.dumps([meta.get("commit"), meta.get("data_version"), config],
                      sort_keys=True, default=str)


def seed_sets(runs: Sequence[RunLike], key: str, mode: str = "last") -> list[SeedSet]:
    """The completed ``runs`` that logged a finite ``key``, grouped into seed sets (oldest
    set first). A seed run twice counts once, with its newest run."""
    groups: dict[str, dict[Any, tuple[RunLike, float]]] = {}
    for r in sorted(runs, key=lambda r: r.number):
        v = r.value(key, mode)
        if v is None or not math.isfinite(v):
            continue
        seed = r.meta.get("seed")
        groups.setdefault(seed_group_key(r.meta), {})[seed if seed is not None else r.run] = \
            (r, v)
    out = []
    for gkey, by_seed in groups.items():
        items = sorted(by_seed.items(), key=lambda kv: kv[1][0].number)
        s = SeedSet(gkey, items[0][1][0].meta.get("commit") if items else None)
        for seed, (r, v) in items:
            s.seeds.append(seed)
            s.values.append(v)
            s.runs.append(r.run)
            s.newest = max(s.newest, r.number)
        out.append(s)
    out.sort(key=lambda s: s.newest)
    return out


def seed_set_of(runs: Sequence[RunLike], run_id: str) -> list[RunLike]:
    """The completed runs that are seeds of the same experiment as ``run_id`` (same code
    and config), the newest run of each seed, oldest first; ``run_id``'s own run stands for
    its seed. Empty when ``run_id`` is not among ``runs``."""
    mine = next((r for r in runs if r.run == run_id), None)
    if mine is None:
        return []
    key = seed_group_key(mine.meta)
    by_seed: dict[Any, RunLike] = {}
    for r in sorted(runs, key=lambda r: r.number):
        if seed_group_key(r.meta) == key and getattr(r, "completed", True):
            by_seed[r.meta.get("seed", r.run)] = r
    by_seed[mine.meta.get("seed", mine.run)] = mine
    return sorted(by_seed.values(), key=lambda r: r.number)


def _seed_list(s: SeedSet) -> str:
    pairs = ", ".join(f"{run} seed {seed}" for run, seed in zip(s.runs, s.seeds))
    commit = f" at {str(s.commit)[:12]}" if s.commit else ""
    return f"{pairs}{commit}"


def _baseline_side(baseline: Any, key: str) -> tuple[float | None, dict[Any, float]]:
    current = getattr(baseline, "current", None) if baseline is not None else None
    if current is None:
        return None, {}
    value = (getattr(current, "metrics", {}) or {}).get(key)
    seeds = (getattr(current, "seeds", {}) or {}).get(key) or {}
    return (float(value) if value is not None else None), dict(seeds)


def _target_text(part: PartLike, base_value: float | None) -> str:
    if part.relative is None:
        return str(part.threshold_raw or fmt_number(part.threshold))
    scale, offset = part.relative
    target = scale * base_value + offset if base_value is not None else None
    return f"{part.threshold_raw} = {S.num(target)}" if target is not None else \
        str(part.threshold_raw)


def close_over_seeds(part: PartLike, runs: Sequence[RunLike], need: int, baseline: Any,
                     confidence: float = S.DEFAULT_CONFIDENCE) -> Outcome:
    """Close one metric criterion over at least ``need`` seeds (see the module docs)."""
    assert part.key is not None and part.comparator is not None
    sets = seed_sets(runs, part.key, part.mode)
    if not sets:
        return Outcome(S.INCONCLUSIVE, "N/A", f"metric {part.key} was not logged (finite) by "
                       f"any completed run", [])
    enough = [s for s in sets if s.n >= need]
    if not enough:
        best = max(sets, key=lambda s: (s.n, s.newest))
        return Outcome(S.INCONCLUSIVE, f"{best.n} of {need} seeds",
                       f"{best.n} of the {need} seeds this criterion needs have completed "
                       f"runs ({_seed_list(best)}); run the missing seeds (train.seed) with "
                       f"the same code and config", list(best.runs))
    base_value, base_seeds = _baseline_side(baseline, part.key)
    tested: list[tuple[SeedSet, S.SeedTest]] = []
    for s in enough:
        if part.relative is not None:
            scale, offset = part.relative
            if base_seeds:
                t = S.compare_seeds(s.values, part.comparator, baseline=base_seeds,
                                    seeds=s.seeds, scale=scale, offset=offset,
                                    confidence=confidence)
            elif base_value is not None:
                t = S.compare_seeds(s.values, part.comparator, scale * base_value + offset,
                                    confidence=confidence)
            else:
                return Outcome(S.INCONCLUSIVE, "N/A", f"the threshold {part.threshold_raw} "
                               f"needs the baseline's {part.key}, and baselines.yaml has none "
                               f"(mlgate baseline show)", list(s.runs))
        else:
            assert part.threshold is not None
            t = S.compare_seeds(s.values, part.comparator, part.threshold,
                                confidence=confidence)
        tested.append((s, t))
    sign = -1.0 if part.comparator in ("<", "<=") else 1.0
    chosen, t = max(tested, key=lambda st: (_RANK[st[1].decision], sign * st[1].diff,
                                            st[0].newest))
    return _seed_outcome(part, chosen, t, len(enough), base_value, confidence)


def _seed_outcome(part: PartLike, s: SeedSet, t: S.SeedTest, n_sets: int,
                  base_value: float | None, confidence: float) -> Outcome:
    pct = f"{confidence * 100:g}%"
    observed = f"mean {S.summary_text(t.candidate)}"
    if t.baseline is not None:
        observed += (f"; vs baseline {S.num(t.baseline.mean)} ({t.baseline.n} seed"
                     f"{'s' if t.baseline.n != 1 else ''}): difference to "
                     f"{_target_text(part, t.baseline.mean)}: {S.signed(t.diff)} ({pct} CI "
                     f"{S.signed(t.lo)} to {S.signed(t.hi)}), {t.test} {S.p_text(t.p)}")
    elif part.comparator != "==":
        observed += f"; {t.test} against {_target_text(part, base_value)}: {S.p_text(t.p)}"
    target = _target_text(part, t.baseline.mean if t.baseline is not None else base_value)
    decision = t.decision
    lo, hi = t.ci_target
    if part.comparator == "==":
        why = ("every seed equals " if decision == S.PASSED else "not every seed equals ") \
            + target
    elif t.baseline is not None:
        where = {S.PASSED: "lies on the passing side of 0", S.FAILED: "lies on the failing "
                 "side of 0", S.INCONCLUSIVE: "crosses 0: inconclusive; more seeds or a larger "
                 "effect would settle it"}[decision]
        why = (f"the {pct} interval of the difference to {target} ({S.signed(t.lo)} to "
               f"{S.signed(t.hi)}, {t.test} {S.p_text(t.p)}) {where}")
    elif decision == S.INCONCLUSIVE:
        why = (f"the {pct} interval {S.num(lo)} to {S.num(hi)} crosses the threshold "
               f"{target}: inconclusive; more seeds or a larger effect would settle it")
    else:
        side = "meets" if decision == S.PASSED else "misses"
        why = f"the whole {pct} interval {S.num(lo)} to {S.num(hi)} {side} {part.comparator} " \
              f"{target}"
    how = {"last": "last", "max": "max over the run of", "min": "min over the run of",
           "best": "best over the run of"}[part.mode]
    notes = f"{why}; {how} {part.key} of {_seed_list(s)}"
    if n_sets > 1:
        notes += f"; best of {n_sets} configurations with enough seeds"
    stats = {"n": t.candidate.n, "mean": t.candidate.mean, "std": t.candidate.std,
             "ci": [t.candidate.lo, t.candidate.hi], "confidence": confidence,
             "diff": t.diff, "diff_ci": [t.lo, t.hi], "p": t.p, "test": t.test,
             "seeds": list(s.seeds), "runs": list(s.runs),
             "baseline_mean": t.baseline.mean if t.baseline is not None else None,
             "paired_seeds": list(t.paired_seeds)}
    return Outcome(decision, observed, notes, list(s.runs), t.candidate.mean, stats)


def combine(how: str, parts: Sequence[tuple[str, Outcome]]) -> Outcome:
    """Join the outcomes of a multi-metric criterion (``how``: ``all`` or ``any``);
    ``parts`` are ``(metric text, outcome)``."""
    decisions = [o.decision for _, o in parts]
    if how == "any":
        decision = S.PASSED if S.PASSED in decisions else (
            S.FAILED if all(d == S.FAILED for d in decisions) else S.INCONCLUSIVE)
    else:
        decision = S.FAILED if S.FAILED in decisions else (
            S.PASSED if all(d == S.PASSED for d in decisions) else S.INCONCLUSIVE)
    observed = "; ".join(f"{m}: {o.observed} ({o.decision})" for m, o in parts)
    word = "every one" if how != "any" else "at least one"
    notes = f"{how} of {len(parts)} metrics ({word} must pass): " + "; ".join(
        f"{m} {o.decision}" + (f" — {o.notes}" if o.notes else "") for m, o in parts)
    runs: list[str] = []
    for _, o in parts:
        runs += [r for r in o.runs if r not in runs]
    return Outcome(decision, observed, notes, runs, None,
                   {"combine": how, "parts": [{"metric": m, "decision": o.decision,
                                               "stats": o.stats} for m, o in parts]})
