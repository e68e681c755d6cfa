"""Run a stage handler safely and keep its evidence (SPEC §9).

:func:`run_handler` times a handler, stamps the result with what the context knows (commit,
dirty flag, start/finish, environment), turns an exception into a ``Fail`` result carrying the
traceback's last lines, saves it as ``evidence/<stage>-<handler>-<n>.json`` and then calls the
handler's optional ``after_save(ctx, result)`` hook (which may fill artifact rows with the
evidence path). A handler whose optional dependency is missing raises
:class:`mlgate.errors.MissingExtra` instead (exit 4, naming ``pip install 'mlgate[...]'``).

This module never touches ``workflow-state.md``: the caller updates the Stage Gates evidence
column from the returned results.
"""
from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from mlgate.evidence import results as evidence
from mlgate.errors import HandlerError, MissingExtra
from mlgate.evidence.results import CheckResult, HandlerContext, HandlerResult, StageHandler
from mlgate.util import now_iso

__all__ = ["EXTRAS", "TRACEBACK_LINES", "CRASH_CHECK", "missing_extra", "run_handler",
           "run_stage", "crashed", "exit_code"]

#: Top-level package -> the mlgate extra that installs it.
EXTRAS: dict[str, str] = {
    "torch": "torch",
    "wandb": "wandb",
    "matplotlib": "wandb",
    "submitit": "slurm",
    "transformers": "llm",
    "tokenizers": "llm",
}
TRACEBACK_LINES = 20
CRASH_CHECK = "crash"


def missing_extra(exc: BaseException | None, what: str = "") -> MissingExtra | None:
    """The :class:`MissingExtra` that ``exc`` (or its cause chain) stands for, else ``None``.

    ``ModuleNotFoundError`` for ``torch``/``wandb``/``matplotlib``/``submitit`` (or one of
    their submodules) counts; so does an ``ImportError`` of such a package that is not a
    ``cannot import name`` error (a broken install, e.g. a missing shared library).
    """
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, ImportError):
            name = exc.name or ""
            top = name.split(".")[0]
            is_missing = isinstance(exc, ModuleNotFoundError) or (
                not str(exc).startswith("cannot import name"))
            if top in EXTRAS and is_missing:
                return MissingExtra(top, EXTRAS[top], what=what)
        exc = exc.__cause__ or exc.__context__
    return None


def _tail(exc: BaseException, lines: int = TRACEBACK_LINES) -> str:
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return "\n".join(text.rstrip().splitlines()[-lines:])


def _name_of(handler: Any) -> str:
    name = getattr(handler, "name", None)
    return name if isinstance(name, str) and name else type(handler).__name__


def crashed(result: HandlerResult) -> bool:
    """True when the handler raised instead of returning a result (exit 4 for ``mlgate run``)."""
    return any(c.id == CRASH_CHECK for c in result.checks)


def exit_code(results: Iterable[HandlerResult]) -> int:
    """SPEC §12.1: 0 when every handler passed, 4 when one crashed, else 1."""
    results = list(results)
    if any(crashed(r) for r in results):
        return 4
    return 0 if all(r.passed for r in results) else 1


def _crash_result(name: str, ctx: HandlerContext, exc: BaseException, seconds: float,
                  what: str = "raised") -> HandlerResult:
    summary = "".join(traceback.format_exception_only(type(exc), exc)).strip().splitlines()
    first = summary[-1] if summary else type(exc).__name__
    return HandlerResult(
        handler=name, stage=ctx.stage, status="Fail",
        checks=[CheckResult(CRASH_CHECK, "fail", f"handler {name!r} {what}: {first}",
                            round(seconds, 4))],
        error=_tail(exc))


def run_handler(handler: StageHandler, ctx: HandlerContext) -> HandlerResult:
    """Run ``handler`` on ``ctx``, save the evidence and return the (saved) result.

    The result's ``stage`` is ``ctx.stage``; ``commit``/``dirty`` come from ``ctx``;
    ``started``/``finished`` are set here; the saved file is registered in
    ``ctx.evidence_registry`` (with the commit, the dirty files and a hash of the handler's
    options) before ``after_save`` runs; ``environment`` is the interpreter/platform record
    updated with whatever the handler put there; ``metrics["seconds"]`` is the wall time.
    Exceptions become a ``Fail`` with a ``crash`` check row and ``error`` = the traceback's
    last lines, except a missing optional dependency, which raises :class:`MissingExtra`.
    ``KeyboardInterrupt``/``SystemExit`` are not caught.
    """
    name = _name_of(handler)
    started = now_iso()
    t0 = time.perf_counter()
    try:
        result = handler.run(ctx)
        if not isinstance(result, HandlerResult):
            raise HandlerError(f"handler {name!r} returned {type(result).__name__}, "
                               "not a HandlerResult", handler=name)
    except Exception as exc:  # noqa: BLE001 - any failure of a handler is evidence
        extra = missing_extra(exc, what=f"handler {name!r}")
        if extra is not None:
            raise extra from exc
        result = _crash_result(name, ctx, exc, time.perf_counter() - t0)
    seconds = time.perf_counter() - t0

    result.handler = result.handler or name
    result.stage = ctx.stage
    if result.status not in evidence.RESULT_STATUSES:
        result.checks.append(CheckResult("status", "fail",
                                         f"handler returned status {result.status!r}; expected "
                                         f"one of {', '.join(evidence.RESULT_STATUSES)}"))
        result.status = "Fail"
    failing = [c.id for c in result.checks if c.status == "fail"]
    if result.status == "Pass" and failing:
        # Evidence can never claim a pass its own rows contradict.
        result.status = "Fail"
    result.commit = ctx.commit
    result.dirty = bool(ctx.dirty)
    result.dirty_files = sorted(set(ctx.dirty_files or []))
    result.started = started
    result.finished = now_iso()
    env = evidence.environment()
    env.update(result.environment or {})
    result.environment = env
    result.metrics.setdefault("seconds", round(seconds, 4))

    register = None
    if ctx.evidence_registry is not None:
        from mlgate.evidence.registry import options_hash

        def register(rel: str, data: bytes) -> None:
            ctx.evidence_registry.register_data(
                rel, data, kind="evidence", handler=result.handler, stage=ctx.stage,
                commit=ctx.commit, options=options_hash(ctx.options), dirty=result.dirty_files)

    evidence.save(ctx.folder, result, before_write=register)
    hook = getattr(handler, "after_save", None)
    if callable(hook):
        try:
            hook(ctx, result)
        except Exception as exc:  # noqa: BLE001 - the evidence is saved; only report
            msg = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            ctx.logger.warning("handler %s: after_save failed: %s", name, msg)
            ctx.report(f"warning: {name}: could not update the artifacts after saving "
                       f"{result.evidence}: {msg}")
    return result


def run_stage(registry: Any, names: Sequence[str],
              make_ctx: Callable[[str], HandlerContext]) -> list[HandlerResult]:
    """Run the handlers ``names`` (in order) and return their saved results.

    ``registry`` is a :class:`mlgate.handlers.registry.Registry` (anything with
    ``get(name)``); ``make_ctx(name)`` builds the context of each handler (its options differ).
    Every name is resolved before anything runs, so an unknown or broken handler raises
    :class:`HandlerError` (or :class:`MissingExtra`) without leaving partial evidence.
    """
    handlers: list[tuple[str, StageHandler]] = []
    for name in names:
        try:
            handlers.append((name, registry.get(name)))
        except HandlerError as exc:
            extra = missing_extra(exc.__cause__, what=f"handler {name!r}")
            if extra is not None:
                raise extra from exc
            raise
    return [run_handler(handler, make_ctx(name)) for name, handler in handlers]
