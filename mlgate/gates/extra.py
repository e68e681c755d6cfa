"""The checks a domain profile adds to a stage's gate: its declared
:class:`~mlgate.profiles.ExtraCheck` s, then its check functions.

A declared check reports under ``s<stage>.<id>`` like the built-in ones: one passing entry,
or one failing entry per problem, each naming the file and the line (the field, the row,
the table or the section). Declared checks run under ``strictness: strict``, and under
``basic`` too when they say ``basic: true``. A check function is called as
``function(ctx, gate, strict)``, exactly like a built-in stage gate, and adds its entries
with ``gate.add(...)``.
"""
from __future__ import annotations

from mlgate import artifacts as A
from mlgate.gates.core import (GateContext, Problem, _Gate, _load, _q, _what, field_problems,
                               resolve_function, section_empty, section_missing)
from mlgate.profiles.model import ExtraCheck
from mlgate.state.mdparse import Section


def run_extra(ctx: GateContext, g: _Gate, strict: bool) -> None:
    domain = g.domain
    for check in domain.checks_for(g.stage):
        if strict or check.basic:
            _run(ctx, g, check)
    for spec in domain.functions.get(g.stage, ()):
        resolve_function(spec, domain)(ctx, g, strict)


def _run(ctx: GateContext, g: _Gate, c: ExtraCheck) -> None:
    own = g.domain.artifact(g.stage)
    name = c.artifact or own or ""
    art, err = _load(ctx, name)
    if art is None:
        if name != own:  # the stage's own artifact is reported by artifact.exists
            g.add(c.id, [(None, f"{err or 'does not exist'}; {c.id} cannot be checked")], "",
                  c.rule, file=name)
        return
    problems, ok = _KINDS[c.kind](g, art, c)
    if c.hint:
        problems = [(line, f"{msg}; {c.hint}") for line, msg in problems]
    g.add(c.id, problems, ok, c.rule, file=name)


def _section(g: _Gate, art: A.Artifact, c: ExtraCheck,
             problems: list[Problem]) -> Section | None:
    """The check's section, or ``None`` with a problem (unless ``sections.present``
    already reports it missing)."""
    s = art.section(c.section or "")
    if s is None and c.section not in g.domain.required_sections(art.name):
        problems.append(section_missing(art, c.section or ""))
    return s


def _sections(g: _Gate, art: A.Artifact, c: ExtraCheck) -> tuple[list[Problem], str]:
    problems: list[Problem] = []
    for name in c.sections:
        s = art.section(name)
        if s is None:
            if name not in g.domain.required_sections(art.name):
                problems.append(section_missing(art, name))
        elif art.section_is_empty(name):
            problems.append(section_empty(s))
    return problems, f"{', '.join(c.sections)} filled"


def _fields(g: _Gate, art: A.Artifact, c: ExtraCheck) -> tuple[list[Problem], str]:
    problems: list[Problem] = []
    s = _section(g, art, c, problems)
    if s is not None:
        problems += field_problems(s, c.fields)
    return problems, f"## {c.section}: {', '.join(c.fields)} filled"


def _value(g: _Gate, art: A.Artifact, c: ExtraCheck) -> tuple[list[Problem], str]:
    problems: list[Problem] = []
    s = _section(g, art, c, problems)
    key = c.fields[0]
    if s is None:
        return problems, ""
    f = A.find_field(s, key)
    if f is None:
        return field_problems(s, [key]), ""
    value = f.value
    allowed = c.allowed or c.require
    v = A.enum_value(value, allowed) if allowed else value
    if v is None:
        choices = f"; allowed: {', '.join(allowed)}" if allowed else ""
        problems.append((f.line, f"'{key}' {_what(value, 'is not set')}{choices}"))
    elif c.require and v not in c.require:
        problems.append((f.line, f"'{key}' is {_q(v)}; the stage-{g.stage} gate needs "
                                 f"{' or '.join(repr(r) for r in c.require)}"))
    return problems, f"{key}: {v}"


def _columns(g: _Gate, art: A.Artifact, c: ExtraCheck) -> tuple[list[Problem], str]:
    problems: list[Problem] = []
    s = _section(g, art, c, problems)
    if s is not None:
        view = art.table(c.section or "", c.columns)
        if view is None:
            problems.append((s.line, f"## {s.title} has no table; it needs the columns "
                                     f"{' | '.join(c.columns)}"))
        else:
            missing = view.missing_columns(c.columns)
            if missing:
                problems.append((view.line, f"the ## {s.title} table lacks the column(s) "
                                            f"{', '.join(missing)}; restore them from the "
                                            f"template"))
    return problems, f"## {c.section} has the columns {', '.join(c.columns)}"


def _cell_problems(row: A.TableRow, label: str, c: ExtraCheck,
                   columns: tuple[str, ...]) -> list[Problem]:
    problems: list[Problem] = []
    for col in columns:
        v = row.get(col)
        if v is None:
            problems.append((row.line, f"{label}: '{col}' is empty"))
        elif c.allowed and A.enum_value(v, c.allowed) is None:
            problems.append((row.line, f"{label}: '{col}' is {_q(v)}; allowed: "
                                       f"{', '.join(c.allowed)}"))
        elif c.require and A.enum_value(v, c.require) is None:
            problems.append((row.line, f"{label}: '{col}' is {_q(v)}; the stage-"
                                       f"{c.stage} gate needs "
                                       f"{' or '.join(repr(r) for r in c.require)}"))
    return problems


def _cells(g: _Gate, art: A.Artifact, c: ExtraCheck) -> tuple[list[Problem], str]:
    problems: list[Problem] = []
    s = _section(g, art, c, problems)
    if s is None:
        return problems, ""
    view = art.table(c.section or "", c.columns)
    rows = view.rows if view is not None else []
    if len(rows) < c.min_rows:
        line = view.line if view is not None else s.line
        problems.append((line, f"## {s.title} has {len(rows)} row(s); it needs at least "
                               f"{c.min_rows}"))
    checked = 0
    for row in rows:
        if c.where is not None:
            col, values = c.where
            if A.enum_value(row.get(col), values) is None:
                continue
        checked += 1
        problems += _cell_problems(row, row.first or f"row on line {row.line}", c, c.columns)
    what = f"{', '.join(c.columns)} filled in {checked} row(s)"
    return problems, what


def _rows(g: _Gate, art: A.Artifact, c: ExtraCheck) -> tuple[list[Problem], str]:
    problems: list[Problem] = []
    s = _section(g, art, c, problems)
    if s is None:
        return problems, ""
    view = art.table(c.section or "")
    by_label = {r.first or "": r for r in (view.all_rows if view is not None else [])}
    for label in c.rows:
        row = A.lookup_label(by_label, label)
        if row is None:
            problems.append((view.line if view is not None else s.line,
                             f"the row '{label}' of ## {s.title} is missing; restore it from "
                             f"the template"))
            continue
        problems += _cell_problems(row, f"'{label}'", c, c.columns)
    return problems, f"all {len(c.rows)} rows of ## {c.section} answered"


_KINDS = {"sections": _sections, "fields": _fields, "value": _value, "columns": _columns,
          "cells": _cells, "rows": _rows}
