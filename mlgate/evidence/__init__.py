"""The evidence domain: what handlers produce and what gates are allowed to count.

* :mod:`~mlgate.evidence.results` — the handler interface (:class:`HandlerResult`,
  :class:`CheckResult`, :class:`HandlerContext`, the :class:`StageHandler` protocol) and the
  ``evidence/<stage>-<handler>-<n>.json`` files: save, load, freshness against a commit.

May import: ``errors``, ``constants``, ``util``, ``state``. The handler interface is
re-exported here for handler authors (``from mlgate.evidence import HandlerResult``).
"""
from __future__ import annotations

from mlgate.evidence.results import CheckResult, HandlerContext, HandlerResult, StageHandler

__all__ = ["CheckResult", "HandlerContext", "HandlerResult", "StageHandler"]
