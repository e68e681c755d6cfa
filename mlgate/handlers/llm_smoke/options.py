"""llm-smoke vocabulary: the check ids, the options with their defaults and their validation."""
from __future__ import annotations

import re
from typing import Any

NAME = "llm-smoke"
CHECK_IDS = ("tokenizer", "special_tokens", "chat_template", "masking", "truncation",
             "packing", "loss")
#: Options under ``llm-smoke:`` in mlgate.yaml, with their defaults.
DEFAULTS: dict[str, Any] = {
    "factory": None,        # "package.module:function" returning an LlmSmokeTarget (required)
    "max_length": None,     # overrides the target's max_length
    "max_samples": 32,      # samples checked at most
    "seed": 0,              # set before every check
    "lr": 1e-3,             # learning rate of the one-step check's default optimizer (AdamW)
    "atol": None,           # packed vs unpacked logits tolerance (null: 1e-4 CPU, 1e-2 CUDA)
    "device": "auto",       # auto (cuda when available) | cpu | cuda
    "skip": [],             # check ids not to run (tokenizer and chat_template cannot be skipped)
}
IGNORE_INDEX = -100
_UNSKIPPABLE = ("tokenizer", "chat_template")
_DEPENDS = {
    "masking": ("chat_template",),
    "truncation": ("chat_template",),
    "special_tokens": ("tokenizer",),
}
_FACTORY_RE = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")


class Skip(Exception):
    """Raised inside a check to mark it skipped with a reason."""


def options(raw: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The options with defaults applied, and every problem found (as text)."""
    opts = dict(DEFAULTS)
    problems: list[str] = []
    for key, value in raw.items():
        if key not in DEFAULTS:
            problems.append(f"unknown option {NAME}.{key} (known: {', '.join(DEFAULTS)})")
            continue
        opts[key] = value
    f = opts["factory"]
    if f is not None and (not isinstance(f, str) or not _FACTORY_RE.match(f.strip())):
        problems.append(f"{NAME}.factory = {f!r} is not of the form 'package.module:function'")
    for key, low in (("max_samples", 1), ("seed", 0)):
        v = opts[key]
        if isinstance(v, bool) or not isinstance(v, int) or v < low:
            problems.append(f"{NAME}.{key} must be an integer >= {low}, got {v!r}")
    ml = opts["max_length"]
    if ml is not None and (isinstance(ml, bool) or not isinstance(ml, int) or ml < 2):
        problems.append(f"{NAME}.max_length must be an integer >= 2 or null, got {ml!r}")
    for key in ("lr", "atol"):
        v = opts[key]
        if key == "atol" and v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0:
            problems.append(f"{NAME}.{key} must be a positive number, got {v!r}")
    if opts["device"] not in ("auto", "cpu", "cuda"):
        problems.append(f"{NAME}.device must be auto, cpu or cuda, got {opts['device']!r}")
    skip = opts["skip"]
    if isinstance(skip, str):
        opts["skip"] = skip = [skip]
    if not isinstance(skip, (list, tuple)) or not all(isinstance(s, str) for s in skip):
        problems.append(f"{NAME}.skip must be a list of check ids, got {skip!r}")
    else:
        for cid in skip:
            if cid not in CHECK_IDS:
                problems.append(f"{NAME}.skip: unknown check {cid!r} (checks: "
                                f"{', '.join(CHECK_IDS)})")
            elif cid in _UNSKIPPABLE:
                problems.append(f"{NAME}.skip: the {cid!r} check cannot be skipped")
    return opts, problems
