"""Statistics over seeds: the mean and its confidence interval, and the test of a criterion.

A success criterion that asks for several seeds (``min_seeds``) is not decided by one run's
number but by the runs of every seed:

* :func:`summarize` gives the mean, the standard deviation and the Student-t confidence
  interval of the mean;
* :func:`compare_seeds` tests ``mean <comparator> threshold``, or, against a baseline with
  per-seed values, ``candidate <comparator> scale * baseline + offset`` with a paired t-test
  (the same seeds on both sides) or Welch's t-test (otherwise);
* :func:`verdict` turns the interval into ``Passed`` (the whole interval on the passing side
  of the threshold), ``Failed`` (the whole interval on the failing side) or ``Inconclusive``
  (the interval crosses the threshold).

The interval is two-sided at ``confidence`` (0.95 by default); the p-value is one-sided, for
the alternative that the criterion holds, so a criterion that passes at 95 % has p < 0.025.
The distributions are scipy's (``scipy.stats``, the ``stats`` extra: ``pip install
'mlgate[stats]'``); nothing here computes a distribution by hand. scipy is imported inside
the functions that need it.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mlgate.errors import MissingExtra

DEFAULT_CONFIDENCE = 0.95
PASSED, FAILED, INCONCLUSIVE = "Passed", "Failed", "Inconclusive"
_ALTERNATIVE = {">=": "greater", ">": "greater", "<=": "less", "<": "less"}


def _scipy_stats() -> Any:
    try:
        from scipy import stats
    except ImportError:
        raise MissingExtra("scipy", "stats", "closing a criterion over several seeds") from None
    return stats


@dataclass
class Summary:
    """The seeds' values of one metric: ``n``, mean, sample standard deviation, and the
    confidence interval of the mean (``lo``, ``hi``; equal to the mean for one value or no
    spread)."""

    n: int
    mean: float
    std: float
    lo: float
    hi: float
    confidence: float = DEFAULT_CONFIDENCE

    @property
    def half_width(self) -> float:
        return (self.hi - self.lo) / 2


def summarize(values: Sequence[float], confidence: float = DEFAULT_CONFIDENCE) -> Summary:
    """Mean, standard deviation and the Student-t interval of the mean of ``values``."""
    vals = [float(v) for v in values]
    if not vals:
        raise ValueError("summarize needs at least one value")
    n = len(vals)
    mean = math.fsum(vals) / n
    if n == 1:
        return Summary(1, mean, 0.0, mean, mean, confidence)
    std = math.sqrt(math.fsum((v - mean) ** 2 for v in vals) / (n - 1))
    if std == 0.0:
        return Summary(n, mean, 0.0, mean, mean, confidence)
    st = _scipy_stats()
    lo, hi = st.t.interval(confidence, n - 1, loc=mean, scale=std / math.sqrt(n))
    return Summary(n, mean, std, float(lo), float(hi), confidence)


@dataclass
class SeedTest:
    """One criterion tested over seeds.

    ``diff`` is the mean of ``candidate - target`` (``target`` = the threshold, or ``scale *
    baseline + offset``), ``lo``/``hi`` its confidence interval, ``p`` the one-sided p-value
    for "the criterion holds" (``None`` for ``==``), ``test`` the test's name.
    """

    comparator: str
    candidate: Summary
    target: float  # the threshold, or the mean of the baseline side
    diff: float
    lo: float
    hi: float
    p: float | None
    test: str  # "one-sample t", "paired t", "Welch t", "exact"
    baseline: Summary | None = None
    paired_seeds: list[Any] = field(default_factory=list)

    @property
    def decision(self) -> str:
        return verdict(self.comparator, self.lo, self.hi)

    @property
    def ci_target(self) -> tuple[float, float]:
        """The interval of the candidate's mean, on the metric's own scale."""
        return self.target + self.lo, self.target + self.hi


def verdict(comparator: str, lo: float, hi: float) -> str:
    """``Passed`` / ``Failed`` / ``Inconclusive`` from the interval ``[lo, hi]`` of
    ``candidate - target``: passed when the whole interval satisfies the comparator against
    0, failed when none of it does, inconclusive when it crosses 0."""
    if comparator == ">=":
        return PASSED if lo >= 0 else (FAILED if hi < 0 else INCONCLUSIVE)
    if comparator == ">":
        return PASSED if lo > 0 else (FAILED if hi <= 0 else INCONCLUSIVE)
    if comparator == "<=":
        return PASSED if hi <= 0 else (FAILED if lo > 0 else INCONCLUSIVE)
    if comparator == "<":
        return PASSED if hi < 0 else (FAILED if lo >= 0 else INCONCLUSIVE)
    if comparator == "==":
        return PASSED if lo == 0 == hi else FAILED
    raise ValueError(f"unknown comparator {comparator!r}")


def _degenerate_p(comparator: str, diff: float) -> float:
    """The p-value when there is no spread: 0 when the criterion holds, else 1."""
    return 0.0 if verdict(comparator, diff, diff) == PASSED else 1.0


def compare_seeds(values: Sequence[float], comparator: str, threshold: float | None = None,
                   *, baseline: Mapping[Any, float] | Sequence[float] | None = None,
                   seeds: Sequence[Any] | None = None, scale: float = 1.0,
                   offset: float = 0.0, confidence: float = DEFAULT_CONFIDENCE) -> SeedTest:
    """Test ``candidate <comparator> target`` over the seeds' ``values``.

    Without ``baseline`` the target is ``threshold`` (a one-sample t-test). With per-seed
    ``baseline`` values the target is ``scale * baseline + offset`` per seed: a *paired*
    t-test when ``baseline`` maps each of ``seeds`` (the candidate's seeds, in the order of
    ``values``) to a value, else Welch's t-test on the two samples.
    """
    vals = [float(v) for v in values]
    cand = summarize(vals, confidence)
    if comparator == "==":  # equality over seeds: every seed must equal the target
        target = threshold if threshold is not None else 0.0
        exact = all(math.isclose(v, target, rel_tol=1e-9, abs_tol=1e-12) for v in vals)
        d = cand.mean - target
        return SeedTest(comparator, cand, target, d, 0.0 if exact else d, 0.0 if exact else d,
                    None, "exact")
    alt = _ALTERNATIVE[comparator]
    if baseline is None:
        if threshold is None:
            raise ValueError("compare_seeds needs a threshold or baseline values")
        d = cand.mean - threshold
        if cand.n < 2 or cand.std == 0.0:
            return SeedTest(comparator, cand, threshold, d, d, d, _degenerate_p(comparator, d),
                        "one-sample t")
        st = _scipy_stats()
        two = st.ttest_1samp(vals, threshold)
        ci = two.confidence_interval(confidence)
        p = float(st.ttest_1samp(vals, threshold, alternative=alt).pvalue)
        return SeedTest(comparator, cand, threshold, d, float(ci.low) - threshold,
                    float(ci.high) - threshold, p, "one-sample t")
    paired = isinstance(baseline, Mapping) and seeds is not None and len(seeds) == len(vals) \
        and all(s in baseline for s in seeds)
    if paired:
        assert isinstance(baseline, Mapping) and seeds is not None
        base_vals = [float(baseline[s]) for s in seeds]
    else:
        base_vals = [float(v) for v in (baseline.values() if isinstance(baseline, Mapping)
                                        else baseline)]
    if not base_vals:
        raise ValueError("baseline has no values")
    target_vals = [scale * b + offset for b in base_vals]
    base = summarize(base_vals, confidence)
    target = math.fsum(target_vals) / len(target_vals)
    if paired:
        diffs = [c - t for c, t in zip(vals, target_vals)]
        dsum = summarize(diffs, confidence)
        if dsum.n < 2 or dsum.std == 0.0:
            return SeedTest(comparator, cand, target, dsum.mean, dsum.mean, dsum.mean,
                        _degenerate_p(comparator, dsum.mean), "paired t", base, list(seeds or []))
        st = _scipy_stats()
        ci = st.ttest_rel(vals, target_vals).confidence_interval(confidence)
        p = float(st.ttest_rel(vals, target_vals, alternative=alt).pvalue)
        return SeedTest(comparator, cand, target, dsum.mean, float(ci.low), float(ci.high), p,
                    "paired t", base, list(seeds or []))
    d = cand.mean - target
    spread = cand.std > 0 or (len(target_vals) > 1 and summarize(target_vals).std > 0)
    if cand.n < 2 or len(target_vals) < 2 or not spread:
        if len(target_vals) < 2:  # a single baseline value: a one-sample test against it
            return compare_seeds(vals, comparator, target, confidence=confidence)
        return SeedTest(comparator, cand, target, d, d, d, _degenerate_p(comparator, d), "Welch t",
                    base)
    st = _scipy_stats()
    ci = st.ttest_ind(vals, target_vals, equal_var=False).confidence_interval(confidence)
    p = float(st.ttest_ind(vals, target_vals, equal_var=False, alternative=alt).pvalue)
    return SeedTest(comparator, cand, target, d, float(ci.low), float(ci.high), p, "Welch t", base)


# -- text --------------------------------------------------------------------------------


def num(value: float) -> str:
    """A statistic for people: 4 significant digits (``0.9123``, ``-0.0012``, ``1.2e-05``)."""
    if value == 0:
        return "0"
    return f"{value:.4g}"


def signed(value: float) -> str:
    text = num(value)
    return text if text.startswith("-") else f"+{text}"


def p_text(p: float | None) -> str:
    if p is None:
        return "no p-value"
    if p < 1e-4:
        return "p < 0.0001"
    return f"p = {p:.2g}" if p < 0.01 else f"p = {p:.3f}".rstrip("0").rstrip(".")


def summary_text(s: Summary) -> str:
    """``0.9123 ± 0.0041 (95% CI 0.9082 to 0.9164, 3 seeds)``."""
    pct = f"{s.confidence * 100:g}%"
    return (f"{num(s.mean)} ± {num(s.half_width)} ({pct} CI {num(s.lo)} to {num(s.hi)}, "
            f"{s.n} seed{'s' if s.n != 1 else ''})")
