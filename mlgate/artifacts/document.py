"""The :class:`Artifact`: one parsed stage artifact and its sections, fields and tables.

:func:`load` reads ``<ticket folder>/<artifact name>`` into an :class:`Artifact` wrapping
an :class:`mlgate.state.mdparse.Document`; sections are found by title or accepted alias
(:data:`~mlgate.artifacts.names.SECTION_ALIASES`), and ``Document Status`` is read even
from hand-written files that have only a ``Status:`` line above the first section.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from mlgate import constants as C
from mlgate.artifacts.common import (
    TableRow,
    TableView,
    enum_value,
    make_view,
    norm_id,
    norm_text,
    row_is_placeholder,
)
from mlgate.artifacts.names import SECTION_ALIASES
from mlgate.errors import StateFileError
from mlgate.state.mdparse import (
    Document,
    Field,
    Section,
    label_key,
    normalize_value,
)

_ALL_STATUSES = tuple(dict.fromkeys(s for st in C.STAGES for s in st.statuses))
_NUMBERING_RE = re.compile(r"^\d+(?:\.\d+)*\.?\s+")
_STATUS_LINE_RE = re.compile(r"^\s*(?:[-*+]\s+)?(?:\*\*|__)?(?:Current\s+)?Status(?:\*\*|__)?"
                             r"\s*:\s*(?:\*\*|__)?\s*(?P<value>.+?)\s*$", re.IGNORECASE)


def _title_key(title: str) -> str:
    return norm_text(_NUMBERING_RE.sub("", title.strip()))


class Artifact:
    """A stage artifact: a parsed markdown document plus helpers that gates need."""

    def __init__(self, doc: Document, path: Path | str, name: str | None = None) -> None:
        self.doc = doc
        self.path = Path(path)
        self.name = name or self.path.name

    @classmethod
    def parse(cls, text: str, name: str = "<artifact>") -> "Artifact":
        return cls(Document(text, name), name, Path(name).name)

    # -- locations --------------------------------------------------------------------

    def ref(self, line: int | None = None) -> str:
        """``experiment-plan.md:57`` (or just the name)."""
        return f"{self.name}:{line}" if line else self.name

    # -- sections ---------------------------------------------------------------------

    def section(self, name: str) -> Section | None:
        """A ``##`` section by title: exact (case/space-insensitive, ``7.`` numbering
        ignored), then the accepted aliases of :data:`SECTION_ALIASES`."""
        want = _title_key(name)
        for s in self.doc.sections:
            if _title_key(s.title) == want:
                return s
        for canon, aliases in SECTION_ALIASES.items():
            if _title_key(canon) == want:
                keys = {_title_key(a) for a in aliases}
                for s in self.doc.sections:
                    if _title_key(s.title) in keys:
                        return s
        return None

    def has_section(self, name: str) -> bool:
        return self.section(name) is not None

    def missing_sections(self, required: list[str] | tuple[str, ...]) -> list[str]:
        return [name for name in required if self.section(name) is None]

    def section_is_empty(self, name: str) -> bool:
        """True when the section is missing or holds nothing but unset fields, template
        rows, fixed first cells, headings of tables and blank bullets."""
        s = self.section(name)
        if s is None:
            return True
        if any(f.value for f in s.fields):
            return False
        if any(not row_is_placeholder(r) for t in s.tables for r in t.rows):
            return False
        table_lines = {ln for t in s.tables for ln in range(t.line, t.end_line + 1)}
        field_lines = {f.line for f in s.fields}
        for offset, text in enumerate(s.body):
            lineno = s.line + 1 + offset
            if lineno in table_lines or lineno in field_lines:
                continue
            stripped = text.strip()
            if not stripped or stripped.startswith("<!--") or stripped.startswith("|"):
                continue
            if re.fullmatch(r"[-*+]\s*", stripped) or stripped.startswith("#"):
                continue
            return False
        return True

    def line_of(self, section: str, key: str | None = None) -> int | None:
        s = self.section(section)
        if s is None:
            return None
        if key is not None:
            f = self.field(section, key)
            if f is not None:
                return f.line
        return s.line

    # -- fields -----------------------------------------------------------------------

    def field(self, section: str, key: str) -> Field | None:
        """A bullet field of ``section`` by label (backticks, case and enums in parentheses
        ignored; a key ending in ``*`` matches a label prefix)."""
        s = self.section(section)
        return None if s is None else find_field(s, key)

    def value(self, section: str, key: str) -> str | None:
        f = self.field(section, key)
        return None if f is None else f.value

    # -- tables -----------------------------------------------------------------------

    def table(self, section: str, columns: tuple[str, ...] | list[str] = ()) -> TableView | None:
        """The first table of ``section`` that has all ``columns`` (or the first table)."""
        s = self.section(section)
        if s is None or not s.tables:
            return None
        for t in s.tables:
            view = make_view(s, t)
            if not columns or not view.missing_columns(columns):
                return view
        return make_view(s, s.tables[0])

    # -- Document Status --------------------------------------------------------------

    def _status_field(self) -> tuple[str | None, int | None]:
        s = self.section("Document Status")
        if s is not None:
            f = find_field(s, "Current Status") or find_field(s, "Status")
            if f is not None:
                return f.value, f.line
            for offset, text in enumerate(s.body):
                t = text.strip().lstrip("-*+ ").strip()
                if t:
                    return normalize_value(t), s.line + 1 + offset
            return None, s.line
        first_section = self.doc.sections[0].line if self.doc.sections else len(self.doc.lines) + 1
        for i in range(min(first_section - 1, len(self.doc.lines))):
            m = _STATUS_LINE_RE.match(self.doc.lines[i].rstrip("\r\n"))
            if m:
                return normalize_value(m.group("value").strip("*_ ")), i + 1
        return None, None

    @property
    def status_raw(self) -> str | None:
        return self._status_field()[0]

    @property
    def status(self) -> str | None:
        """``Current Status`` normalised to a known status (``current`` -> ``Current``,
        ``Current (after RUN-002)`` -> ``Current``); an unknown value is returned as
        written; ``None`` when unset (empty, or still the template's alternatives)."""
        raw = self.status_raw
        if raw is None:
            return None
        return enum_value(raw, _ALL_STATUSES) or raw

    @property
    def status_line(self) -> int | None:
        return self._status_field()[1]

    @property
    def last_updated(self) -> str | None:
        return self.value("Document Status", "Last Updated")

    @property
    def last_updated_line(self) -> int | None:
        return self.line_of("Document Status", "Last Updated")


def find_field(section: Section, key: str) -> Field | None:
    prefix = key.rstrip().endswith("*")
    want = norm_text(label_key(key.rstrip().rstrip("*")))
    for f in section.fields:
        k = norm_text(f.key)
        if k == want or (prefix and k.startswith(want)):
            return f
    return None


def load(folder: Path | str, filename: str) -> Artifact | None:
    """The artifact ``filename`` of the ticket ``folder``, or ``None`` if it does not exist.
    An unreadable file raises :class:`StateFileError` naming it."""
    path = Path(folder) / filename
    if not path.is_file():
        return None
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise StateFileError(str(path), None, f"not valid UTF-8 text ({exc.reason})") from None
    except OSError as exc:
        raise StateFileError(str(path), None, f"cannot read: {exc.strerror or exc}") from None
    return Artifact(Document(text, path), path, filename)


# --- typed rows --------------------------------------------------------------------------


def _rows(art: Artifact, section: str, columns: tuple[str, ...] = ()) -> list[TableRow]:
    """The real rows of the table of ``section`` (placeholders excluded)."""
    view = art.table(section, columns)
    return [] if view is None else view.rows


def _fixed_rows(art: Artifact, section: str) -> list[TableRow]:
    """Every row of a fixed-first-column table, placeholders included, in file order."""
    view = art.table(section)
    return [] if view is None else view.all_rows


_T = TypeVar("_T")


def _id_rows(art: Artifact, section: str, id_column: str, prefix: str,
             make: Callable[[TableRow, str | None, str | None], _T]) -> list[_T]:
    """``make(row, canonical id, id as written)`` for each real row of ``section``'s table,
    the id read from ``id_column`` (a ``prefix`` id such as ``RUN-001``)."""
    out = []
    for r in _rows(art, section):
        raw = r.get(id_column)
        out.append(make(r, norm_id(raw, prefix), raw))
    return out
