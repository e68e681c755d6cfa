"""torch-smoke vocabulary: the check ids, the options with their defaults and their validation.

Also :class:`_Skip`, which a check raises to mark itself skipped with a reason.
"""
from __future__ import annotations

from typing import Any

from mlgate.constants import SMOKE_CHECK_IDS

NAME = "torch-smoke"
CHECK_IDS = SMOKE_CHECK_IDS
#: Options under ``torch-smoke:`` in mlgate.yaml, with their defaults.
DEFAULTS: dict[str, Any] = {
    "factory": None,        # "package.module:function" (required)
    "overfit_steps": 50,    # optimizer steps allowed to overfit one batch
    "overfit_ratio": 0.1,   # the loss must reach <= ratio x its first value
    "leakage_cap": 10000,   # samples hashed (and label-checked) per loader at most
    "seed": 0,              # set before every check
    "device": "auto",       # auto (cuda when available) | cpu | cuda
    "frozen": [],           # fnmatch patterns of parameters meant to be frozen
    "ignore_index": -100,   # a label value that is not a class (CrossEntropyLoss default)
    "skip": [],             # check ids not to run (forward and loss cannot be skipped)
}
SPLITS = ("train", "val", "test")
DETERMINISM_STEPS = 3
CUDA_RTOL = 1e-5
_DEPENDS = {
    "loss": ("forward",),
    "gradients": ("loss",),
    "overfit": ("loss",),
    "determinism": ("loss",),
    "anomaly": ("loss",),
    "eval_mode": ("forward",),
    "checkpoint": ("forward",),
}
_UNSKIPPABLE = ("forward", "loss")


class _Skip(Exception):
    """Raised inside a check to mark it skipped with a reason."""


def _options(raw: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    opts = dict(DEFAULTS)
    problems: list[str] = []
    for key, value in raw.items():
        if key not in DEFAULTS:
            problems.append(f"unknown option torch-smoke.{key} (known: {', '.join(DEFAULTS)})")
            continue
        opts[key] = value

    def _int(key: str, low: int) -> None:
        v = opts[key]
        if isinstance(v, bool) or not isinstance(v, int) or v < low:
            problems.append(f"torch-smoke.{key} must be an integer >= {low}, got {v!r}")

    _int("overfit_steps", 1)
    _int("leakage_cap", 0)
    _int("seed", 0)
    r = opts["overfit_ratio"]
    if isinstance(r, bool) or not isinstance(r, (int, float)) or not 0 < r <= 1:
        problems.append(f"torch-smoke.overfit_ratio must be a number in (0, 1], got {r!r}")
    if opts["device"] not in ("auto", "cpu", "cuda"):
        problems.append(f"torch-smoke.device must be auto, cpu or cuda, got {opts['device']!r}")
    ii = opts["ignore_index"]
    if ii is not None and (isinstance(ii, bool) or not isinstance(ii, int)):
        problems.append(f"torch-smoke.ignore_index must be an integer or null, got {ii!r}")
    for key in ("frozen", "skip"):
        v = opts[key]
        if isinstance(v, str):
            opts[key] = v = [v]
        if not isinstance(v, (list, tuple)) or not all(isinstance(x, str) for x in v):
            problems.append(f"torch-smoke.{key} must be a list of strings, got {v!r}")
    if isinstance(opts["skip"], (list, tuple)):
        for cid in opts["skip"]:
            if cid not in CHECK_IDS:
                problems.append(f"torch-smoke.skip: unknown check {cid!r} "
                                f"(checks: {', '.join(CHECK_IDS)})")
            elif cid in _UNSKIPPABLE:
                problems.append(f"torch-smoke.skip: the {cid!r} check cannot be skipped")
    return opts, problems
