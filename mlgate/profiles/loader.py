"""Reading a profile definition (``profile.yaml``) into a :class:`~mlgate.profiles.model.Profile`.

The file sits in the profile's folder, next to its ``stages/`` and ``shared/`` templates. Every
key but ``name`` is optional; what a profile leaves out it takes from the profile it
``extends`` (``dl`` by default). A mistake is a :class:`~mlgate.errors.ProfileError` that
names the file, the line and what is allowed. The format is documented in
``docs/profiles.md``.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlgate import constants as C
from mlgate.constants import Stage
from mlgate.errors import ProfileError
from mlgate.profiles.model import CHECK_KINDS, ROW_LISTS, ExtraCheck, Profile, _frozen

PROFILE_FILE = "profile.yaml"
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
FUNCTION_RE = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*$")
ID_RE = re.compile(r"^[a-z0-9][a-z0-9.-]*$")
_TOP_KEYS = ("name", "title", "description", "extends", "smoke_handler", "stages", "sections",
             "rows", "renames", "gates", "functions", "checks")
_STAGE_KEYS = ("name", "folder", "artifact", "template", "statuses", "final")
_CHECK_KEYS = ("id", "stage", "kind", "artifact", "section", "fields", "columns", "rows",
               "sections", "allowed", "require", "where", "min_rows", "basic", "rule", "hint")

Lines = dict[tuple[Any, ...], int]


def _key_lines(text: str) -> Lines:
    """Key path -> 1-based line (``("checks", 2, "kind")``)."""
    import yaml

    lines: Lines = {}
    try:
        node = yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError:
        return lines

    def walk(n: Any, prefix: tuple[Any, ...]) -> None:
        if isinstance(n, yaml.MappingNode):
            for k, v in n.value:
                if isinstance(k, yaml.ScalarNode):
                    key: Any = int(k.value) if k.value.isdigit() else k.value
                    lines[prefix + (key,)] = k.start_mark.line + 1
                    walk(v, prefix + (key,))
        elif isinstance(n, yaml.SequenceNode):
            for i, item in enumerate(n.value):
                lines[prefix + (i,)] = item.start_mark.line + 1
                walk(item, prefix + (i,))

    walk(node, ())
    return lines


class _Reader:
    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.lines = _key_lines(text)

    def fail(self, where: tuple[Any, ...], message: str) -> ProfileError:
        line = None
        for n in range(len(where), 0, -1):
            if where[:n] in self.lines:
                line = self.lines[where[:n]]
                break
        dotted = ".".join(str(p) for p in where)
        return ProfileError(str(self.path), f"{dotted}: {message}" if dotted else message, line)

    def mapping(self, value: Any, where: tuple[Any, ...]) -> dict[Any, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.fail(where, f"must be a mapping, not {_kind(value)}")
        return value

    def text(self, value: Any, where: tuple[Any, ...], empty: bool = False) -> str:
        if not isinstance(value, str) or (not empty and not value.strip()):
            raise self.fail(where, f"must be a non-empty text, not {value!r}")
        return value.strip()

    def texts(self, value: Any, where: tuple[Any, ...]) -> tuple[str, ...]:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip()
                                                  for v in value):
            raise self.fail(where, f"must be a list of texts, not {value!r}")
        return tuple(v.strip() for v in value)

    def stage_no(self, value: Any, where: tuple[Any, ...]) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value not in C.STAGE_NUMBERS:
            raise self.fail(where, f"{value!r} is not a stage; stages are 0 to {C.LAST_STAGE}")
        return value

    def unknown(self, data: dict[Any, Any], known: tuple[str, ...],
                where: tuple[Any, ...]) -> None:
        for key in data:
            if key not in known:
                raise self.fail(where + (key,), f"unknown key; known keys: {', '.join(known)}")


def _kind(value: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "a text", type(None): "empty"}.get(
        type(value), type(value).__name__)


def parse_file(path: str | Path, resolve: Callable[[str], Profile]) -> Profile:
    """The profile defined by ``path`` (a ``profile.yaml``, or the folder holding one);
    ``resolve`` finds the profile it ``extends`` (:func:`mlgate.profiles.get`)."""
    from mlgate.config.raw import parse_yaml
    from mlgate.errors import ConfigError

    p = Path(path)
    if p.is_dir():
        p = p / PROFILE_FILE
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ProfileError(str(p), f"cannot read the profile definition: "
                                   f"{exc.strerror or exc}\nhint: a profile is a folder with "
                                   f"a {PROFILE_FILE} (see docs/profiles.md)") from None
    try:
        data = parse_yaml(text, str(p))
    except ConfigError as exc:
        raise ProfileError(str(p), str(exc.message).split(": ", 1)[-1], exc.line) from None
    r = _Reader(p, text)
    data = r.mapping(data, ())
    r.unknown(data, _TOP_KEYS, ())
    if "name" not in data:
        raise r.fail((), "the profile has no `name:`")
    name = r.text(data["name"], ("name",))
    if not NAME_RE.match(name) or name in C.STRICTNESS:
        raise r.fail(("name",), f"{name!r} is not a profile name: lowercase letters, digits, "
                                f"'.', '_' and '-' (and not 'strict' or 'basic')")
    parent_name = data.get("extends", C.DEFAULT_PROFILE)
    parent_name = r.text(parent_name, ("extends",))
    if parent_name == name:
        raise r.fail(("extends",), "a profile cannot extend itself")
    try:
        parent = resolve(parent_name)
    except ProfileError as exc:
        raise r.fail(("extends",), exc.detail) from None
    return Profile(
        name=name,
        title=r.text(data.get("title", name), ("title",)),
        description=r.text(data.get("description", ""), ("description",), empty=True),
        stages=_stages(r, data.get("stages"), parent),
        sections=_sections(r, data.get("sections"), parent),
        rows=_rows(r, data.get("rows"), parent),
        renames=_frozen({**parent.renames, **_renames(r, data.get("renames"))}),
        checks=parent.checks + _checks(r, data.get("checks")),
        gates=_frozen({**parent.gates, **_gates(r, data.get("gates"))}),
        functions=_frozen(_functions(r, data.get("functions"), parent)),
        smoke_handler=r.text(data.get("smoke_handler", parent.smoke_handler),
                             ("smoke_handler",)),
        dirs=(p.parent.resolve(),) + parent.dirs,
        extends=parent.name,
        source=str(p),
    )


def _stages(r: _Reader, value: Any, parent: Profile) -> tuple[Stage, ...]:
    stages = list(parent.stages)
    for key, spec in r.mapping(value, ("stages",)).items():
        n = r.stage_no(key, ("stages", key))
        where = ("stages", n)
        spec = r.mapping(spec, where)
        r.unknown(spec, _STAGE_KEYS, where)
        old = stages[n]
        statuses = r.texts(spec["statuses"], where + ("statuses",)) if "statuses" in spec \
            else old.statuses
        final = r.texts(spec["final"], where + ("final",)) if "final" in spec \
            else old.final_statuses
        bad = [s for s in final if s not in statuses]
        if bad:
            raise r.fail(where + ("final",), f"{bad[0]!r} is not one of the statuses "
                                             f"({', '.join(statuses)})")
        folder = r.text(spec.get("folder", old.slug), where + ("folder",))
        if "/" in folder or folder.startswith("."):
            raise r.fail(where + ("folder",), f"{folder!r} must be a folder name under "
                                              f"stages/, like '03-implementation-plan'")
        for k in ("artifact", "template"):
            if k in spec:
                v = r.text(spec[k], where + (k,))
                if "/" in v or not v.endswith(".md"):
                    raise r.fail(where + (k,), f"{v!r} must be a markdown file name (no '/')")
        stages[n] = Stage(n, r.text(spec.get("name", old.name), where + ("name",)), folder,
                          spec.get("artifact", old.artifact), spec.get("template", old.template),
                          statuses, final)
    return tuple(stages)


def _sections(r: _Reader, value: Any, parent: Profile) -> Any:
    out = dict(parent.sections)
    for key, names in r.mapping(value, ("sections",)).items():
        out[r.text(key, ("sections", key))] = r.texts(names, ("sections", key))
    return _frozen(out)


def _rows(r: _Reader, value: Any, parent: Profile) -> Any:
    out = dict(parent.rows)
    for key, names in r.mapping(value, ("rows",)).items():
        if key not in ROW_LISTS:
            raise r.fail(("rows", key), f"unknown row list; known: {', '.join(ROW_LISTS)}")
        out[key] = r.texts(names, ("rows", key))
    return _frozen(out)


def _renames(r: _Reader, value: Any) -> dict[str, str]:
    return {r.text(k, ("renames", k)): r.text(v, ("renames", k))
            for k, v in r.mapping(value, ("renames",)).items()}


def _function(r: _Reader, value: Any, where: tuple[Any, ...]) -> str:
    text = r.text(value, where)
    if not FUNCTION_RE.match(text):
        raise r.fail(where, f"{text!r} is not of the form 'package.module:function'")
    return text


def _gates(r: _Reader, value: Any) -> dict[int, str]:
    return {r.stage_no(k, ("gates", k)): _function(r, v, ("gates", k))
            for k, v in r.mapping(value, ("gates",)).items()}


def _functions(r: _Reader, value: Any, parent: Profile) -> dict[int, tuple[str, ...]]:
    out = {k: tuple(v) for k, v in parent.functions.items()}
    for k, v in r.mapping(value, ("functions",)).items():
        n = r.stage_no(k, ("functions", k))
        items = [v] if isinstance(v, str) else v
        if not isinstance(items, list):
            raise r.fail(("functions", k), "must be a function or a list of functions")
        out[n] = out.get(n, ()) + tuple(_function(r, f, ("functions", k, i))
                                        for i, f in enumerate(items))
    return out


def _checks(r: _Reader, value: Any) -> tuple[ExtraCheck, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise r.fail(("checks",), f"must be a list of checks, not {_kind(value)}")
    out: list[ExtraCheck] = []
    seen: dict[str, int] = {}
    for i, spec in enumerate(value):
        where = ("checks", i)
        spec = r.mapping(spec, where)
        r.unknown(spec, _CHECK_KEYS, where)
        for k in ("id", "stage", "kind"):
            if k not in spec:
                raise r.fail(where, f"a check needs `{k}:`")
        cid = r.text(spec["id"], where + ("id",))
        if not ID_RE.match(cid):
            raise r.fail(where + ("id",), f"{cid!r} is not a check id: lowercase letters, "
                                          f"digits, '.' and '-' (it is reported as "
                                          f"s<stage>.<id>)")
        stage = r.stage_no(spec["stage"], where + ("stage",))
        kind = spec["kind"]
        if kind not in CHECK_KINDS:
            raise r.fail(where + ("kind",), f"{kind!r} is not a check kind; use one of "
                                            f"{', '.join(CHECK_KINDS)}")
        full = f"s{stage}.{cid}"
        if full in seen:
            raise r.fail(where + ("id",), f"{full} is declared twice (first at check "
                                          f"{seen[full]})")
        seen[full] = i
        t = {k: r.texts(spec[k], where + (k,)) if k in spec else ()
             for k in ("fields", "columns", "rows", "sections", "allowed", "require")}
        needs = {"sections": ("sections",), "fields": ("section", "fields"),
                 "value": ("section", "fields"), "columns": ("section", "columns"),
                 "cells": ("section", "columns"), "rows": ("section", "rows", "columns")}[kind]
        for k in needs:
            if not (t.get(k) if k in t else spec.get(k)):
                raise r.fail(where, f"a `{kind}` check needs `{k}:`")
        where_spec = None
        if "where" in spec:
            w = r.mapping(spec["where"], where + ("where",))
            if len(w) != 1:
                raise r.fail(where + ("where",), "write one column and its values, "
                                                 "e.g. `where: {Status: [Completed]}`")
            (col, vals), = w.items()
            where_spec = (r.text(col, where + ("where", col)),
                          r.texts(vals, where + ("where", col)))
        min_rows = spec.get("min_rows", 0)
        if isinstance(min_rows, bool) or not isinstance(min_rows, int) or min_rows < 0:
            raise r.fail(where + ("min_rows",), f"must be a whole number >= 0, not {min_rows!r}")
        rule = spec.get("rule")
        if rule is not None and (isinstance(rule, bool) or not isinstance(rule, int)):
            raise r.fail(where + ("rule",), f"must be a rule number, not {rule!r}")
        basic = spec.get("basic", False)
        if not isinstance(basic, bool):
            raise r.fail(where + ("basic",), f"must be true or false, not {basic!r}")
        out.append(ExtraCheck(
            id=cid, stage=stage, kind=kind,
            section=r.text(spec["section"], where + ("section",)) if "section" in spec
            else None,
            artifact=r.text(spec["artifact"], where + ("artifact",)) if "artifact" in spec
            else None,
            where=where_spec, min_rows=min_rows, basic=basic, rule=rule,
            hint=r.text(spec.get("hint", ""), where + ("hint",), empty=True),
            line=r.lines.get(where), **t))
    return tuple(out)
