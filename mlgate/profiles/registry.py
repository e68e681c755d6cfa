"""Where profiles come from: the built-ins and the ``mlgate.profiles`` entry points.

:func:`get` finds a profile by name: ``dl`` (built from :mod:`mlgate.constants`, no file is
read), ``llm-finetune`` (``mlgate/profiles/llm-finetune/profile.yaml``), or a third-party
profile registered as an entry point::

    [project.entry-points."mlgate.profiles"]
    my-domain = "my_pkg.profile:PROFILE"

An entry point may name a :class:`~mlgate.profiles.model.Profile`, a path (``str`` or
``Path``) to a profile folder or its ``profile.yaml``, or a callable returning either. It is
imported when the profile is first asked for, so a broken plug-in fails for its own name
only. ``strict`` and ``basic`` (the older spelling of ``profile:``) are ``dl``.
"""
from __future__ import annotations

import importlib.metadata
import threading
from pathlib import Path
from typing import Any

from mlgate import constants as C
from mlgate.errors import ProfileError
from mlgate.profiles.model import DL, Profile

_HERE = Path(__file__).resolve().parent
_BUILTIN_DIRS = {"llm-finetune": _HERE / "llm-finetune"}
_cache: dict[str, Profile] = {}
_lock = threading.RLock()


def entry_points() -> dict[str, importlib.metadata.EntryPoint]:
    """The ``mlgate.profiles`` entry points by name (not imported)."""
    return {ep.name: ep for ep in importlib.metadata.entry_points(
        group=C.PROFILE_ENTRY_POINT_GROUP)}


def names() -> list[str]:
    """Every profile name that :func:`get` knows: the built-ins, then the entry points."""
    out = list(C.BUILTIN_PROFILES)
    out += sorted(n for n in entry_points() if n not in out)
    return out


def domain_of(value: str | None) -> str:
    """The profile name a ``profile:`` value selects (``strict``/``basic``/None -> ``dl``)."""
    if value is None or value in C.STRICTNESS:
        return C.DEFAULT_PROFILE
    return value


def get(name: str) -> Profile:
    """The profile ``name`` (``strict`` and ``basic`` give ``dl``). Raises
    :class:`~mlgate.errors.ProfileError` for an unknown name or a broken definition."""
    name = domain_of(name)
    if name == DL.name:
        return DL
    with _lock:
        if name in _cache:
            return _cache[name]
        profile = _load(name)
        _cache[name] = profile
        return profile


def clear_cache() -> None:
    """Forget loaded profiles (a test that edits a profile file calls this)."""
    with _lock:
        _cache.clear()


def load_file(path: str | Path) -> Profile:
    """The profile defined by ``path``: a folder holding a ``profile.yaml`` (and the
    profile's ``stages/`` and ``shared/`` templates), or that file. For a package's entry
    point: ``def profile(): return load_file(Path(__file__).parent / "my-profile")``."""
    from mlgate.profiles.loader import parse_file

    return parse_file(path, resolve=get)


def _load(name: str) -> Profile:
    if name in _BUILTIN_DIRS:
        return load_file(_BUILTIN_DIRS[name])
    eps = entry_points()
    ep = eps.get(name)
    if ep is None:
        import difflib

        known = names()
        close = difflib.get_close_matches(name, known, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ProfileError("mlgate.profiles", f"profile {name!r} is not known{hint}; known "
                                          f"profiles: {', '.join(known)}\nhint: a third-party "
                                          f"profile is installed as a package that declares an "
                                          f"entry point in the group "
                                          f"{C.PROFILE_ENTRY_POINT_GROUP!r}")
    where = f"entry point {ep.name} = {ep.value}"
    try:
        obj: Any = ep.load()
    except Exception as exc:  # noqa: BLE001 - a broken plug-in fails for its own name
        raise ProfileError(where, f"cannot be imported: {type(exc).__name__}: {exc}") from None
    return _coerce(obj, name, where)


def _coerce(obj: Any, name: str, where: str) -> Profile:
    if callable(obj) and not isinstance(obj, (Profile, type)):
        try:
            obj = obj()
        except Exception as exc:  # noqa: BLE001
            raise ProfileError(where, f"raised {type(exc).__name__}: {exc}") from None
    if isinstance(obj, (str, Path)):
        obj = load_file(obj)
    if not isinstance(obj, Profile):
        raise ProfileError(where, f"gave {type(obj).__name__}, not a profile\nhint: an "
                                  f"entry point names a mlgate.profiles.Profile, a path to a "
                                  f"profile folder, or a function returning one of these")
    if obj.name != name:
        raise ProfileError(where, f"is registered as {name!r} but the profile is named "
                                  f"{obj.name!r}; use the same name in both places")
    return obj
