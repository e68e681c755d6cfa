"""Stage gates: the exit condition of each stage as a list of named checks.

:func:`evaluate` reads a ticket's artifacts (through :mod:`mlgate.artifacts`), its handler
evidence (:mod:`mlgate.evidence.results`) and git facts handed in by the engine (:class:`GitFacts`;
this package never runs git itself) and returns a :class:`GateReport`. Nothing is written.

Every :class:`Check` has a stable id (``s3.monitoring.placeholder-formula``), a pass/fail,
a reason that names the file, the line and what is missing or wrong, and the number of the
workflow-sources §5 rule it enforces. When several rows fail the same check, the report holds
one failing entry per row (same id, each with its own line); a passing check appears once.

Strictness (``GateContext.profile``, the ``profile`` of a report): ``strict`` (the default;
SPEC §5 plus the rules chosen in ``docs/gates.md``) and ``basic`` (artifact exists, Document
Status is the stage's final value, required sections present and non-empty; stage 0 checks
the bootstrap record; stage 8 always needs ``mlgate verify``). ``strict`` includes every
``basic`` check.

Domain profile (``GateContext.domain``, a :class:`mlgate.profiles.Profile`; ``dl`` by
default): the stage artifacts' names, required sections and fixed rows the built-in checks
read, a replacement gate for a stage where the profile has one, and the profile's own
checks (declared ones and check functions, run by :mod:`~mlgate.gates.extra` after the
stage's gate). A report of a profile other than ``dl`` carries its name as ``domain``.

Layout: :mod:`~mlgate.gates.core` holds the data types, :func:`evaluate` and the checks the
stages share, :mod:`~mlgate.gates.changes` the source-change and handler-evidence checks;
one module a stage holds that stage's own checks (``bootstrap`` 0,
``investigation`` 1, ``requirements`` 2, ``plan`` 3, ``implementation`` 4, ``training`` 5,
``review`` 6, ``docs_sync`` 7, ``handoff`` 8), each exposing ``gate(ctx, g, strict)``.
Stage modules import ``core``; ``core`` imports them only when :func:`evaluate` first needs
one. Everything the single-module ``mlgate.gates`` offered stays importable from here.
"""
from __future__ import annotations

import importlib
from typing import Any

from mlgate import artifacts as A  # noqa: F401 - `mlgate.gates.A/C/E` as before the split
from mlgate import constants as C  # noqa: F401
from mlgate.evidence import results as E  # noqa: F401
from mlgate.gates.bootstrap import (GIT_FILLED_FIELDS, GIT_ONLY_FIELDS, GIT_OPTIONAL_FIELDS,
                                    GIT_REQUIRED_FIELDS)
from mlgate.gates.core import (PROFILES, STAGE5_POLICIES, Check, GateContext, GateReport,
                               GitFacts, Problem, builtin_gate, evaluate)
from mlgate.gates.plan import PLACEHOLDER_FORMULAS, placeholder_formula, valid_source

__all__ = [
    "Check", "GateContext", "GateReport", "GitFacts", "Problem", "evaluate", "builtin_gate",
    "PROFILES", "STAGE5_POLICIES", "PLACEHOLDER_FORMULAS", "placeholder_formula",
    "valid_source", "GIT_ONLY_FIELDS", "GIT_OPTIONAL_FIELDS", "GIT_REQUIRED_FIELDS",
    "GIT_FILLED_FIELDS",
]

_SUBMODULES = ("core", "changes", "bootstrap", "investigation", "requirements", "plan",
               "implementation", "training", "review", "docs_sync", "handoff", "extra")


def __getattr__(name: str) -> Any:
    """The private helpers of the former single module (``gates._load``, ``gates._monitoring``,
    ...) stay reachable as ``mlgate.gates.<name>``, from whichever module now holds them."""
    if name.startswith("_") and not name.startswith("__"):
        for sub in _SUBMODULES:
            module = importlib.import_module(f"{__name__}.{sub}")
            if name in vars(module):
                return vars(module)[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
