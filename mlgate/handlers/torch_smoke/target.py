"""The user's torch-smoke factory: :class:`SmokeTarget`, resolving and calling the factory with
the ticket's worktree first on ``sys.path``, and validating what it returned.

torch is imported only inside functions.
"""
from __future__ import annotations

import contextlib
import copy
import importlib
import os
import re
import sys
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from mlgate.handlers.torch_smoke.options import SPLITS
from mlgate.handlers.torch_smoke.tensors import _iter_batches

_FACTORY_RE = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")
_TARGET_KEYS = ("model", "batch", "loss_fn", "optimizer", "num_classes", "loaders")


@dataclass
class SmokeTarget:
    """What a torch-smoke factory returns (SPEC §12.1).

    * ``model``: a ``torch.nn.Module``;
    * ``batch``: ``(inputs, targets)``; ``inputs`` is a tensor (called ``model(x)``), a tuple
      or list (``model(*x)``) or a dict (``model(**x)``); ``None`` takes the first batch of
      ``loaders["train"]``;
    * ``loss_fn``: ``loss_fn(outputs, targets) -> scalar tensor``;
    * ``optimizer``: a callable taking the parameters and returning an optimizer (default
      ``torch.optim.Adam(params, lr=1e-2)``);
    * ``num_classes``: enables the ``labels`` check;
    * ``loaders``: a dict with any of ``train``, ``val``, ``test``: a ``DataLoader`` or any
      iterable of ``(inputs, targets)`` batches, or a map-style ``Dataset`` of single samples.
    """

    model: Any
    batch: Any
    loss_fn: Callable[..., Any]
    optimizer: Callable[..., Any] | None = None
    num_classes: int | None = None
    loaders: dict[str, Any] | None = None


class FactoryError(Exception):
    """The factory could not be resolved, called, or returned the wrong thing."""

    def __init__(self, detail: str, tail: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.tail = tail



def _protected(top: str) -> bool:
    """Modules we must never drop from ``sys.modules``: stdlib, mlgate, installed packages."""
    if top in sys.stdlib_module_names or top in ("mlgate", "torch", "numpy", "__main__"):
        return True
    mod = sys.modules.get(top)
    file = getattr(mod, "__file__", None)
    if not file:
        return False
    prefixes = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    real = os.path.realpath(file)
    return any(real.startswith(p + os.sep) for p in prefixes)


def _forget(top: str) -> None:
    """Drop the cached modules of the user's package so a second run sees new code."""
    if _protected(top):
        return
    for key in [k for k in sys.modules if k == top or k.startswith(top + ".")]:
        del sys.modules[key]


@contextlib.contextmanager
def worktree_on_path(worktree: Path, module: str) -> Iterator[None]:
    """``worktree`` first on ``sys.path`` (and the package's stale modules forgotten) for
    the duration; ``sys.path`` is restored afterwards.

    Byte code goes to a fresh folder (``sys.pycache_prefix``) meanwhile: the check never
    writes ``__pycache__`` into the user's worktree, and never runs a stale ``.pyc`` of a
    module edited within the same second (a ``.pyc`` is matched by mtime and size only)."""
    import shutil
    import tempfile

    saved = list(sys.path)
    saved_prefix = sys.pycache_prefix
    cache = tempfile.mkdtemp(prefix="mlgate-smoke-pyc-")
    sys.pycache_prefix = cache
    sys.path.insert(0, str(Path(worktree).resolve()))
    _forget(module.split(".")[0])
    importlib.invalidate_caches()
    try:
        yield
    finally:
        sys.path[:] = saved
        sys.pycache_prefix = saved_prefix
        shutil.rmtree(cache, ignore_errors=True)


def _exc_line(exc: BaseException) -> str:
    lines = "".join(traceback.format_exception_only(type(exc), exc)).strip().splitlines()
    return lines[-1] if lines else type(exc).__name__


def _tb_tail(exc: BaseException, lines: int = 15) -> str:
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return "\n".join(text.rstrip().splitlines()[-lines:])


def resolve_factory(spec: Any) -> Callable[[], Any]:
    """Import ``package.module:function`` (the caller puts the worktree on ``sys.path``)."""
    if not isinstance(spec, str) or not _FACTORY_RE.match(spec.strip()):
        raise FactoryError(
            f"torch-smoke.factory = {spec!r} is not of the form 'package.module:function'; "
            "set it in mlgate.yaml (e.g. factory: \"mypkg.smoke:make\")")
    mod_name, _, attr = spec.strip().partition(":")
    try:
        obj: Any = importlib.import_module(mod_name)
    except ModuleNotFoundError as exc:
        if exc.name and (mod_name == exc.name or mod_name.startswith(exc.name + ".")):
            raise FactoryError(
                f"factory {spec!r}: cannot import module {mod_name!r} ({_exc_line(exc)}); "
                "it is imported with the ticket's worktree first on sys.path: is the package "
                "committed there, with an __init__.py?", _tb_tail(exc)) from exc
        raise FactoryError(f"factory {spec!r}: importing {mod_name!r} failed: "
                           f"{_exc_line(exc)}", _tb_tail(exc)) from exc
    except Exception as exc:  # noqa: BLE001 - the user's module failed at import time
        raise FactoryError(f"factory {spec!r}: importing {mod_name!r} failed: "
                           f"{_exc_line(exc)}", _tb_tail(exc)) from exc
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise FactoryError(f"factory {spec!r}: {mod_name!r} has no attribute "
                               f"{attr!r}") from None
    if not callable(obj):
        raise FactoryError(f"factory {spec!r} is a {type(obj).__name__}, not a function")
    return obj


def coerce_target(value: Any, spec: str = "factory") -> SmokeTarget:
    """A :class:`SmokeTarget` from what the factory returned (a SmokeTarget or a dict)."""
    expected = ("expected mlgate.SmokeTarget or a dict with the keys model, batch, loss_fn "
                "(optional: optimizer, num_classes, loaders)")
    if isinstance(value, SmokeTarget):
        target = value
    elif isinstance(value, dict):
        unknown = sorted(set(value) - set(_TARGET_KEYS))
        if unknown:
            raise FactoryError(f"factory {spec!r} returned a dict with unknown key(s) "
                               f"{', '.join(map(repr, unknown))}; {expected}")
        missing = [k for k in ("model", "loss_fn") if value.get(k) is None]
        if missing:
            raise FactoryError(f"factory {spec!r} returned a dict without "
                               f"{', '.join(map(repr, missing))}; {expected}")
        target = SmokeTarget(**{"batch": None, **value})
    elif all(hasattr(value, k) for k in ("model", "batch", "loss_fn")):
        target = SmokeTarget(**{f.name: getattr(value, f.name, None) for f in fields(SmokeTarget)})
    else:
        raise FactoryError(f"factory {spec!r} returned {type(value).__name__}; {expected}")
    return _validate_target(target, spec)


def _validate_target(target: SmokeTarget, spec: str) -> SmokeTarget:
    import torch

    if not isinstance(target.model, torch.nn.Module):
        raise FactoryError(f"factory {spec!r}: model is {type(target.model).__name__}, "
                           "not a torch.nn.Module")
    if not callable(target.loss_fn):
        raise FactoryError(f"factory {spec!r}: loss_fn is {type(target.loss_fn).__name__}, "
                           "not callable")
    if target.optimizer is not None and not callable(target.optimizer):
        raise FactoryError(f"factory {spec!r}: optimizer must be a callable taking the "
                           f"parameters, got {type(target.optimizer).__name__}")
    if target.num_classes is not None and (isinstance(target.num_classes, bool) or
                                           not isinstance(target.num_classes, int) or
                                           target.num_classes < 1):
        raise FactoryError(f"factory {spec!r}: num_classes must be a positive int, got "
                           f"{target.num_classes!r}")
    if target.loaders is not None:
        if not isinstance(target.loaders, dict):
            raise FactoryError(f"factory {spec!r}: loaders must be a dict with any of "
                               f"train, val, test; got {type(target.loaders).__name__}")
        unknown = sorted(set(target.loaders) - set(SPLITS))
        if unknown:
            raise FactoryError(f"factory {spec!r}: loaders has unknown split(s) "
                               f"{', '.join(map(repr, unknown))}; use train, val, test")
    if target.batch is None:
        train = (target.loaders or {}).get("train")
        if train is None:
            raise FactoryError(f"factory {spec!r}: no batch; give batch=(inputs, targets) or "
                               "loaders={'train': ...}")
        try:
            first = next(iter(_iter_batches(train)))
        except StopIteration:
            raise FactoryError(f"factory {spec!r}: no batch given and the train loader "
                               "is empty") from None
        except Exception as exc:  # noqa: BLE001 - the user's loader raised
            raise FactoryError(f"factory {spec!r}: no batch given, and reading the first "
                               f"batch of the train loader raised {_exc_line(exc)}",
                               _tb_tail(exc)) from exc
        target = copy.copy(target)
        target.batch = first
    if not isinstance(target.batch, (tuple, list)) or len(target.batch) != 2:
        raise FactoryError(f"factory {spec!r}: batch must be a pair (inputs, targets), got "
                           f"{type(target.batch).__name__}"
                           + (f" of length {len(target.batch)}"
                              if isinstance(target.batch, (tuple, list)) else ""))
    return target


def load_target(spec: Any, worktree: Path) -> SmokeTarget:
    """Resolve and call the factory with ``worktree`` on ``sys.path``; validate the result.
    Raises :class:`FactoryError`. (The modules stay imported; ``sys.path`` is restored.)"""
    module = spec.partition(":")[0] if isinstance(spec, str) else ""
    with worktree_on_path(worktree, module or "_"):
        return _call_factory(spec)


def _call_factory(spec: Any) -> SmokeTarget:
    factory = resolve_factory(spec)
    try:
        value = factory()
    except Exception as exc:  # noqa: BLE001 - the user's factory raised
        raise FactoryError(f"factory {spec!r} raised {_exc_line(exc)}", _tb_tail(exc)) from exc
    return coerce_target(value, spec)
