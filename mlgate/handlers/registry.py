"""Where stage handlers come from: the ``mlgate.handlers`` entry points and explicit registration.

A handler is found by name. Two sources feed a :class:`Registry`:

* the entry point group ``mlgate.handlers`` (the built-ins ``torch-smoke`` and ``train`` are
  declared there exactly like a third-party plug-in), read once by :meth:`Registry.discover`;
  an entry point is only *imported* when its handler is first asked for, so a plug-in that is
  broken (import error, wrong object) fails for its own name and never for the others;
* :meth:`Registry.register` from the Python API, which overrides an entry point of the same
  name.

An entry point (or a registered object) may be a class (instantiated with no arguments), an
instance, or a factory function returning a handler. A handler is anything with ``name``,
``stages`` and ``run(ctx) -> HandlerResult`` (:class:`mlgate.evidence.results.StageHandler`).
"""
from __future__ import annotations

import difflib
import importlib.metadata
import threading
import traceback
from collections.abc import Callable, Iterable
from typing import Any, TypeVar, overload

from mlgate.constants import ENTRY_POINT_GROUP
from mlgate.errors import HandlerError
from mlgate.evidence.results import StageHandler

__all__ = ["Registry", "default_registry", "register_handler", "get_handler", "as_handler"]

T = TypeVar("T")


def _describe(obj: Any) -> str:
    if isinstance(obj, type):
        return f"class {obj.__module__}.{obj.__qualname__}"
    qual = getattr(obj, "__qualname__", None)
    if qual is not None:
        return f"{getattr(obj, '__module__', '?')}.{qual}"
    return f"{type(obj).__module__}.{type(obj).__qualname__} instance"


def _is_handler(obj: Any) -> bool:
    return (not isinstance(obj, type) and callable(getattr(obj, "run", None))
            and isinstance(getattr(obj, "name", None), str)
            and getattr(obj, "stages", None) is not None)


def as_handler(obj: Any, label: str = "") -> StageHandler:
    """Turn a class, an instance or a factory function into a handler instance.

    Raises :class:`HandlerError` when ``obj`` is none of these (``label`` names where it came
    from, e.g. the entry point).
    """
    where = label or _describe(obj)
    if _is_handler(obj):
        return obj
    if isinstance(obj, type) or callable(obj):
        made = obj()
        if _is_handler(made):
            return made
        raise HandlerError(
            f"{where} produced {_describe(made)}, which is not a stage handler\n"
            "hint: a handler has a `name` (str), `stages` (tuple of ints) and "
            "`run(ctx) -> HandlerResult`", source=where)
    raise HandlerError(
        f"{where} is {_describe(obj)}, not a stage handler, a handler class or a factory\n"
        "hint: a handler has a `name` (str), `stages` (tuple of ints) and "
        "`run(ctx) -> HandlerResult`", source=where)


class Registry:
    """Handlers by name. Entry points are listed once and imported lazily, each at most once."""

    def __init__(self, group: str = ENTRY_POINT_GROUP,
                 entry_points: Iterable[importlib.metadata.EntryPoint] | None = None) -> None:
        self.group = group
        self._given_eps = list(entry_points) if entry_points is not None else None
        self._eps: dict[str, importlib.metadata.EntryPoint] = {}
        self._discovered = False
        self._registered: dict[str, Any] = {}  # name -> class / instance / factory
        self._loaded: dict[str, StageHandler] = {}  # name -> resolved instance
        self._errors: dict[str, str] = {}  # name -> why it could not be loaded
        self._causes: dict[str, BaseException] = {}
        self._lock = threading.RLock()

    # -- sources ------------------------------------------------------------------------

    def discover(self) -> "Registry":
        """Read the ``mlgate.handlers`` entry points (once). Nothing is imported yet.

        Returns the registry, so ``Registry().discover().get("torch-smoke")`` works.
        """
        with self._lock:
            if self._discovered:
                return self
            eps = self._given_eps
            if eps is None:
                eps = list(importlib.metadata.entry_points(group=self.group))
            for ep in eps:
                # The first distribution on sys.path wins a duplicated name, as for imports.
                self._eps.setdefault(ep.name, ep)
            self._discovered = True
            return self

    @overload
    def register(self, handler_or_factory: T, name: str | None = None) -> T: ...

    @overload
    def register(self, handler_or_factory: None = None,
                 name: str | None = None) -> Callable[[T], T]: ...

    def register(self, handler_or_factory: Any = None, name: str | None = None) -> Any:
        """Register a handler class, instance or factory under ``name`` (default: its
        ``name`` attribute). Overrides an entry point or an earlier registration of the same
        name. Returns the object, so it also works as a decorator (``@registry.register`` or
        ``@registry.register(name="x")``)."""
        if handler_or_factory is None:
            return lambda obj: self.register(obj, name=name)
        obj = handler_or_factory
        key = name if name is not None else getattr(obj, "name", None)
        if not isinstance(key, str):
            # A bare factory function: build it now to learn the name.
            made = as_handler(obj)
            key, obj = made.name, made
        if not key:
            raise HandlerError("a handler needs a non-empty name\n"
                               "hint: pass name=... to register()", source=_describe(obj))
        with self._lock:
            self._registered[key] = obj
            self._loaded.pop(key, None)
            self._errors.pop(key, None)
            self._causes.pop(key, None)
        return handler_or_factory

    def unregister(self, name: str) -> None:
        """Drop an explicit registration (the entry point of that name, if any, is back)."""
        with self._lock:
            self._registered.pop(name, None)
            self._loaded.pop(name, None)
            self._errors.pop(name, None)
            self._causes.pop(name, None)

    # -- queries ------------------------------------------------------------------------

    def names(self) -> list[str]:
        """Every known handler name (entry points and registrations), sorted; a broken entry
        point is still listed (see :meth:`errors`)."""
        self.discover()
        with self._lock:
            return sorted(set(self._eps) | set(self._registered))

    def entry_point(self, name: str) -> importlib.metadata.EntryPoint | None:
        self.discover()
        return self._eps.get(name)

    def errors(self) -> dict[str, str]:
        """``name -> reason`` for each handler that failed to load so far."""
        with self._lock:
            return dict(self._errors)

    def load_all(self) -> dict[str, str]:
        """Load every handler (for ``doctor``-style listings); returns :meth:`errors`."""
        for n in self.names():
            try:
                self.get(n)
            except HandlerError:
                pass
        return self.errors()

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self.names()

    def get(self, name: str) -> StageHandler:
        """The handler called ``name``, loaded on first use.

        Raises :class:`HandlerError` (exit 4) for an unknown name (listing the known ones) or
        for an entry point that cannot be loaded (naming it and the cause; the original
        exception is chained as ``__cause__``).
        """
        self.discover()
        with self._lock:
            if name in self._loaded:
                return self._loaded[name]
            if name in self._registered:
                label = f"handler {name!r} (registered {_describe(self._registered[name])})"
                source: Any = self._registered[name]
                ep = None
            elif name in self._eps:
                ep = self._eps[name]
                label = f"entry point {name} = {ep.value!r} (group {self.group})"
                source = None
            else:
                known = self.names()
                close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
                raise HandlerError(
                    f"unknown handler {name!r}"
                    + (f" (did you mean {close[0]!r}?)" if close else "")
                    + f"; known handlers: {', '.join(known) if known else '(none)'}\n"
                    "hint: check the `handlers:` section of mlgate.yaml, install the package "
                    f"that provides it (entry point group {self.group!r}), or register it "
                    "with mlgate.handlers.register_handler()",
                    name=name, known=known, suggestion=close[0] if close else None)
            try:
                if ep is not None:
                    source = ep.load()
                handler = as_handler(source, label)
            except HandlerError as exc:
                self._errors[name] = exc.message
                self._causes[name] = exc
                raise
            except Exception as exc:  # noqa: BLE001 - a broken plug-in must not break others
                tail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
                self._errors[name] = f"{label} failed to load: {tail}"
                self._causes[name] = exc
                raise HandlerError(
                    f"{label} failed to load: {tail}\n"
                    "hint: fix or reinstall the package that provides it; the other handlers "
                    "are unaffected", name=name, cause=tail) from exc
            self._loaded[name] = handler
            self._errors.pop(name, None)
            return handler


_DEFAULT: Registry | None = None
_DEFAULT_LOCK = threading.Lock()


def default_registry() -> Registry:
    """The process-wide registry (entry points discovered on first use)."""
    global _DEFAULT
    with _DEFAULT_LOCK:
        if _DEFAULT is None:
            _DEFAULT = Registry()
        return _DEFAULT


def register_handler(handler_or_factory: Any = None, name: str | None = None) -> Any:
    """Register a handler in the default registry; usable as a decorator."""
    return default_registry().register(handler_or_factory, name=name)


def get_handler(name: str) -> StageHandler:
    return default_registry().get(name)
