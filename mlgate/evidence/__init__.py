"""The evidence domain: what handlers produce and what gates are allowed to count.

* :mod:`~mlgate.evidence.results` — the handler interface (:class:`HandlerResult`,
  :class:`CheckResult`, :class:`HandlerContext`, the :class:`StageHandler` protocol) and the
  ``evidence/<stage>-<handler>-<n>.json`` files: save, load, freshness against a commit.
* :mod:`~mlgate.evidence.registry` — the evidence registry in the git common dir: path,
  digest, commit, handler and options hash of every evidence file and run record mlgate
  wrote; gates count nothing else (standard library only: the tripwire calls
  :func:`~mlgate.evidence.registry.verify`).
* :mod:`~mlgate.evidence.audit` — ``mlgate audit``: replays a ticket branch's history (its own
  layer, above the gates; GitPython imported lazily).

May import: ``errors``, ``constants``, ``util``, ``state`` (``audit``: everything below the
engine). The handler interface is re-exported here for handler authors
(``from mlgate.evidence import HandlerResult``), loaded at first use so that importing the
registry stays light.
"""
from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs import time on the hook path
    from typing import Any

    from mlgate.evidence.results import (CheckResult, HandlerContext, HandlerResult,
                                         StageHandler)

__all__ = ["CheckResult", "HandlerContext", "HandlerResult", "StageHandler"]


def __getattr__(name: str) -> "Any":
    if name in __all__:
        from mlgate.evidence import results

        return getattr(results, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
