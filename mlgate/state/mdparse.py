"""Line-level markdown primitives shared by the state file and every stage artifact.

Standard library only (the hook path uses it). The model is deliberately small:

* a document is a list of lines (line endings kept, so a render is byte-identical);
* ``##`` headings split it into sections;
* inside a section: bullet fields (``- Label: value``) and pipe tables.

Values are normalised with :func:`normalize_value`: surrounding backticks are removed, and a
value that still shows its alternatives (`` `Locked` / `Unlocked` ``) or is empty counts as
*unset* (``None``). Line numbers are 1-based everywhere.
"""
from __future__ import annotations

import re
from mlgate.record import field, record
from pathlib import Path

_ALTERNATIVES_RE = re.compile(r"^`[^`]*`(?:\s*/\s*`[^`]*`)+$")
# `(`A` / `B`)`, and (in label_key) the white space before it. The pattern starts at the "(":
# a leading `\s*` made every scan over a long run of spaces quadratic.
_PAREN_ENUM_RE = re.compile(r"\((?:`[^`]*`\s*(?:/\s*)?)+\)")
_FENCE_RE = re.compile(r"^[ \t]*(```|~~~)")
_SEPARATOR_CELL_RE = re.compile(r"^:?-{3,}:?$")
PLACEHOLDER_MARKERS = ("YYYY-MM-DD", "...", "…")
_ID_RE = re.compile(r"^(?P<prefix>[A-Z]+)-?(?P<num>\d+)$")
_ROW_ID_RE = re.compile(r"^[A-Z]{1,4}-?\d+$")
# Values the templates pre-fill in their example rows (`| C-001 |  |  |  | Planned |`).
TEMPLATE_DEFAULTS = frozenset({"Planned", "Queued", "High", "Medium", "Low", "Not Started"})


def strip_ticks(text: str) -> str:
    """Remove one layer of surrounding backticks (and whitespace)."""
    text = text.strip()
    if not text.startswith("`"):  # fast path: nothing to strip
        return text
    if len(text) >= 2 and text.endswith("`") and text.count("`") == 2:
        return text[1:-1].strip()
    return text


def normalize_value(raw: str | None) -> str | None:
    """The value of a field or cell, or ``None`` when it is unset.

    Unset: empty, or still showing the template's alternatives (`` `A` / `B` ``).
    """
    if raw is None:
        return None
    text = raw.strip()
    if not text:
        return None
    if text[0] != "`":  # fast path: neither alternatives nor backticks to strip
        return text
    if _ALTERNATIVES_RE.match(text):
        return None
    return strip_ticks(text)


def label_key(label: str) -> str:
    """A field label or column header without its enum in parentheses and backticks.

    ``Re-Entry Classification (`Local Fix` / ...)`` -> ``Re-Entry Classification``;
    ``Status (`Planned` / `Done`)`` -> ``Status``.
    """
    if "(`" not in label:
        return label.strip()
    kept: list[str] = []
    last = 0
    for m in _PAREN_ENUM_RE.finditer(label):
        kept.append(label[last:m.start()].rstrip())
        last = m.end()
    kept.append(label[last:])
    return "".join(kept).strip()


def split_label(body: str) -> tuple[str, str] | None:
    """Split a bullet body into (label, raw value) at the first ``:`` outside backticks
    that is followed by whitespace or the end of the line. ``None`` if there is none."""
    if "`" not in body:  # fast path (most lines): the first ": " or a trailing ":"
        i = body.find(":")
        while i != -1 and i + 1 < len(body) and body[i + 1] not in " \t":
            i = body.find(":", i + 1)
        if i == -1:
            return None
        label = body[:i].strip()
        return (label, body[i + 1:].strip()) if label else None
    in_tick = False
    for i, ch in enumerate(body):
        if ch == "`":
            in_tick = not in_tick
        elif ch == ":" and not in_tick:
            if i + 1 == len(body) or body[i + 1] in " \t":
                label = body[:i].strip()
                if not label:
                    return None
                return label, body[i + 1:].strip()
    return None


def parse_id(text: str | None, prefix: str) -> int | None:
    """The number of an id such as ``R-001``/``R1`` for ``prefix='R'``, else ``None``."""
    if not text:
        return None
    m = _ID_RE.match(strip_ticks(text).strip("*").strip())
    if not m or m.group("prefix") != prefix:
        return None
    return int(m.group("num"))


def canonical_id(text: str, prefix: str) -> str | None:
    """``R1`` / ``R-001`` -> ``R-001`` (three digits at least)."""
    num = parse_id(text, prefix)
    return None if num is None else f"{prefix}-{num:03d}"


@record
class Field:
    label: str  # the label as written, e.g. "Re-Entry Classification (`Local Fix` / ...)"
    key: str  # label_key(label)
    raw: str  # raw value text after the colon
    line: int  # 1-based
    indent: str = ""

    @property
    def value(self) -> str | None:
        raw = self.raw
        cached = self.__dict__.get("_value")  # (read many times per parse)
        if cached is None or cached[0] is not raw:
            cached = (raw, normalize_value(raw))
            self.__dict__["_value"] = cached
        return cached[1]


@record
class Row:
    cells: list[str]  # raw cell text, stripped
    line: int

    @property
    def values(self) -> list[str | None]:
        return [normalize_value(c) for c in self.cells]

    @property
    def is_placeholder(self) -> bool:
        """An example row of a template: holds ``YYYY-MM-DD``/``...``, or its first cell is an
        id and every other filled cell is an id or a template default (``Planned``,
        ``Queued``, ``High``…), e.g. ``| EXP-001 |  |  |  |  | High |``."""
        joined = "\x00".join(self.cells)  # (no marker holds a NUL: none spans two cells)
        known = _PLACEHOLDER_ROWS.get(joined)  # rows repeat across files: decided once
        if known is not None:
            return known
        if any(marker in joined for marker in PLACEHOLDER_MARKERS):
            answer = True
        elif not self.cells or not _ROW_ID_RE.match(strip_ticks(self.cells[0])):
            answer = False
        else:
            rest = (strip_ticks(c) for c in self.cells[1:] if c.strip())
            answer = all(_ROW_ID_RE.match(c) or c in TEMPLATE_DEFAULTS for c in rest)
        if len(joined) <= 1000:
            if len(_PLACEHOLDER_ROWS) >= _LINE_KINDS_MAX:
                _PLACEHOLDER_ROWS.clear()
            _PLACEHOLDER_ROWS[joined] = answer
        return answer

    @property
    def is_empty(self) -> bool:
        return all(not c.strip() for c in self.cells)


_TITLE_KEYS: dict[str, str] = {}  # section titles, lowercased and whitespace-normalised


def _title_key(title: str) -> str:
    norm = _TITLE_KEYS.get(title)
    if norm is None:
        norm = " ".join(title.lower().split())
        if len(_TITLE_KEYS) < 10_000:
            _TITLE_KEYS[title] = norm
    return norm


# Table header -> (header, column keys, {lowercased key: first index}); shared read-only.
_HEADER_KEYS: dict[tuple[str, ...], tuple[list[str], list[str], dict[str, int]]] = {}


@record
class Table:
    header: list[str]  # raw header cells
    line: int  # header line
    rows: list[Row] = field(default_factory=list)
    end_line: int = 0  # last line of the table (1-based)

    def _key_index(self) -> tuple[list[str], dict[str, int]]:
        """The column keys and {lowercased key: first index}, computed once per header."""
        cached = self.__dict__.get("_keys")
        if cached is None or cached[0] != self.header:
            header = tuple(self.header)
            cached = _HEADER_KEYS.get(header)  # headers repeat across files: computed once
            if cached is None:
                keys = [label_key(strip_ticks(h)) for h in header]
                index: dict[str, int] = {}
                for i, key in enumerate(keys):
                    index.setdefault(key.lower(), i)
                cached = (list(header), keys, index)
                if len(_HEADER_KEYS) >= 1000:
                    _HEADER_KEYS.clear()
                _HEADER_KEYS[header] = cached
            self.__dict__["_keys"] = cached
        return cached[1], cached[2]

    @property
    def keys(self) -> list[str]:
        return list(self._key_index()[0])

    def column(self, name: str) -> int | None:
        """Index of a column by its key (case-insensitive), or ``None``."""
        return self._key_index()[1].get(name.lower())

    @property
    def data_rows(self) -> list[Row]:
        return [r for r in self.rows if not r.is_placeholder and not r.is_empty]

    def cell(self, row: Row, name: str) -> str | None:
        idx = self.column(name)
        if idx is None or idx >= len(row.cells):
            return None
        return normalize_value(row.cells[idx])

    def as_dicts(self, include_placeholders: bool = False) -> list[dict[str, str | None]]:
        rows = self.rows if include_placeholders else self.data_rows
        return [{k: (r.values[i] if i < len(r.cells) else None) for i, k in enumerate(self.keys)}
                for r in rows]


@record
class Section:
    title: str
    level: int
    line: int  # heading line (1-based)
    end: int  # last line of the section body (1-based, inclusive)
    fields: list[Field] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    body: list[str] = field(default_factory=list)  # body lines without line endings

    def field(self, key: str) -> Field | None:
        """A bullet field by label key (case-insensitive), the first match."""
        want = key.lower()
        fields = self.fields
        index = self.__dict__.get("_index")
        if index is None or index[0] != len(fields):
            by_key: dict[str, tuple[int, Field, str]] = {}
            for i, f in enumerate(fields):
                known = f.__dict__.get("_lkey")  # (key, lowered key) from the parse
                lkey = known[1] if known is not None and known[0] is f.key else f.key.lower()
                by_key.setdefault(lkey, (i, f, f.key))
            index = (len(fields), by_key)
            self.__dict__["_index"] = index
        hit = index[1].get(want)
        if hit is not None:
            i, f, k = hit
            if fields[i] is f and f.key is k:  # (unchanged since the index was built)
                return f
        for f in fields:  # the list was changed in place: look it up the slow way
            if f.key.lower() == want:
                return f
        return None

    def value(self, key: str) -> str | None:
        f = self.field(key)
        return None if f is None else f.value

    @property
    def table(self) -> Table | None:
        return self.tables[0] if self.tables else None

    @property
    def text(self) -> str:
        return "\n".join(self.body).strip()

    @property
    def is_empty(self) -> bool:
        """True when the section holds no content beyond unset fields, empty/placeholder
        table rows, headers and blank lines."""
        if any(f.value for f in self.fields):
            return False
        if any(t.data_rows for t in self.tables):
            return False
        table_lines = {ln for t in self.tables for ln in range(t.line, t.end_line + 1)}
        field_lines = {f.line for f in self.fields}
        for offset, text in enumerate(self.body):
            lineno = self.line + 1 + offset
            if lineno in table_lines or lineno in field_lines:
                continue
            stripped = text.strip()
            if stripped and stripped not in ("-", "*") and not stripped.startswith("<!--"):
                return False
        return True


def split_row(line: str) -> list[str] | None:
    """Cells of a pipe-table line, or ``None`` if the line is not a table row.
    Backslash-escaped pipes and pipes inside backticks do not split."""
    s = line.strip()
    if not s.startswith("|"):
        return None
    parts = s[1:].split("|")
    if "`" not in s and "\\" not in s:  # fast path: every pipe splits
        cells = [p.strip() for p in parts[:-1]]
    else:  # rejoin the pieces split at an escaped pipe or a pipe inside backticks
        cells = []
        buf, ticks = [parts[0]], parts[0].count("`")  # pieces of the current cell
        for part in parts[1:]:
            if buf[-1].endswith("\\"):
                buf[-1] = buf[-1][:-1]
                buf.append("|" + part)
            elif ticks % 2:
                buf.append("|" + part)
            else:
                cells.append("".join(buf).strip())
                buf, ticks = [part], 0
            ticks += part.count("`")
        parts = ["".join(buf)]
    tail = parts[-1].strip()
    if tail:
        cells.append(tail)
    return cells


def is_separator(cells: list[str]) -> bool:
    if not cells or cells[0][:1] not in (":", "-"):  # cells are stripped
        return False
    return all(_SEPARATOR_CELL_RE.match(c.replace(" ", "")) for c in cells)



# What each line is, by its text (without the line ending). Documents share most lines
# (templates, tables), so the answers are kept: parsing many files costs little per line.
_LINE_KINDS: dict[str, tuple[str, tuple]] = {}  # raw line -> (line without ending, kind)
_LINE_KINDS_MAX = 50_000
_PLACEHOLDER_ROWS: dict[str, bool] = {}  # Row.is_placeholder by the row's cells


def heading(line: str) -> tuple[int, str] | None:
    """(level, title) of an ATX heading line (1-6 ``#``, then a space or tab), the title
    without a closing ``#`` run; else None. (String operations: what ``^(#{1,6})[ \\t]+(.*)$``
    matches, without compiling a regex at import: the hooks import this module.)"""
    n = len(line) - len(line.lstrip("#"))
    if not 1 <= n <= 6 or line[n:n + 1] not in (" ", "\t"):
        return None
    return n, line[n:].lstrip(" \t").rstrip(" \t#").strip()


def bullet(line: str) -> tuple[str, str] | None:
    """(indent, body) of a list item line (``-``, ``*`` or ``+`` after spaces or tabs, then a
    space or tab); else None."""
    body = line.lstrip(" \t")
    if body[:1] not in ("-", "*", "+") or body[1:2] not in (" ", "\t"):
        return None
    return line[:len(line) - len(body)], body[1:].lstrip(" \t")


def _classify(line: str) -> tuple:
    """``("f",)`` fence, ``("h", level, title)`` heading of level 1-2, ``("r", cells,
    is_separator)`` table row, ``("b", label, key, raw, indent)`` bullet field, ``("o",)``
    anything else. Each regex runs only when its cheap necessary condition holds."""
    kind: tuple
    if ("```" in line or "~~~" in line) and _FENCE_RE.match(line):
        kind = ("f",)
    else:
        h = heading(line) if line.startswith("#") else None
        if h is not None and h[0] <= 2:
            kind = ("h", h[0], h[1])
        else:
            cells = split_row(line) if "|" in line else None
            if cells is not None:
                kind = ("r", tuple(cells), is_separator(cells))
            else:
                kind = ("o",)
                bm = bullet(line)
                if bm is not None:
                    parts = split_label(bm[1])
                    if parts is not None:
                        label, value = parts
                        key = label_key(strip_ticks(label))
                        # (the normalised value and lowercased key ride along: both are
                        # read for nearly every field of every parsed file)
                        kind = ("b", label, key, value, bm[0],
                                normalize_value(value), key.lower())
    return kind


# str.splitlines() also breaks at \v, \f, \x1c-\x1e, \x85, \u2028 and \u2029; markdown (and
# every editor's line numbers) break only at \n, \r\n and \r.
_OTHER_BREAKS = "\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
_LINE_RE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+")


def split_lines(text: str) -> list[str]:
    """The lines of ``text`` with their endings (``\n``, ``\r\n`` or ``\r``), as markdown
    and editors count them; ``"".join(split_lines(t)) == t``."""
    # Eight substring scans (memchr-fast) beat one regex character class over the text.
    if not any(c in text for c in _OTHER_BREAKS):
        return text.splitlines(keepends=True)
    return _LINE_RE.findall(text)


class Document:
    """A parsed markdown file. ``lines`` keep their line endings; ``render()`` joins them."""

    def __init__(self, text: str, path: str | Path = "<string>") -> None:
        self.path = str(path)
        self.text = text
        self.lines: list[str] = split_lines(text)
        self.title: str | None = None
        self.title_line: int | None = None
        self.sections: list[Section] = []
        self.preamble_end = 0
        self._parse()

    @classmethod
    def load(cls, path: str | Path) -> "Document":
        p = Path(path)
        return cls(p.read_text(encoding="utf-8"), p)

    def render(self) -> str:
        return "".join(self.lines)

    # -- parsing ---------------------------------------------------------------------

    def _parse(self) -> None:
        in_fence = False
        current: Section | None = None
        table: Table | None = None
        pending_header: tuple[list[str], int] | None = None
        cache = _LINE_KINDS
        for lineno, raw in enumerate(self.lines, 1):
            known = cache.get(raw)
            if known is None:
                line = raw.rstrip("\r\n")
                kind = _classify(line)
                if len(raw) <= 1000:  # (bounded memory: long lines are not kept)
                    if len(cache) >= _LINE_KINDS_MAX:
                        cache.clear()
                    cache[raw] = (line, kind)
            else:
                line, kind = known
            k = kind[0]
            if k == "f":  # a code fence opens or closes
                in_fence = not in_fence
                if current is not None:
                    current.body.append(line)
                table = None
                pending_header = None
                continue
            if in_fence:
                if current is not None:
                    current.body.append(line)
                continue
            if k == "h":  # a `#` or `##` heading
                level, title = kind[1], kind[2]
                if current is not None:
                    current.end = lineno - 1
                table = None
                pending_header = None
                if level == 1:
                    if self.title is None:
                        self.title = title
                        self.title_line = lineno
                    current = None
                    continue
                current = Section(title=title, level=level, line=lineno, end=lineno)
                self.sections.append(current)
                continue
            if current is None:
                continue
            current.body.append(line)
            if k == "r":  # a pipe-table row: (cells, is_separator)
                cells = list(kind[1])
                if table is not None:
                    if not kind[2]:
                        table.rows.append(Row(cells, lineno))
                    table.end_line = lineno
                elif pending_header is not None and kind[2]:
                    header, hline = pending_header
                    table = Table(header=header, line=hline, end_line=lineno)
                    current.tables.append(table)
                    pending_header = None
                else:
                    pending_header = (cells, lineno)
                continue
            table = None
            pending_header = None
            if k == "b":  # a bullet field: (label, key, raw, indent, value, lowered key)
                f = Field(kind[1], kind[2], kind[3], lineno, kind[4])
                d = f.__dict__
                d["_value"] = (kind[3], kind[5])
                d["_lkey"] = (kind[2], kind[6])
                current.fields.append(f)
        if current is not None:
            current.end = len(self.lines)

    # -- queries ---------------------------------------------------------------------

    def section(self, title: str) -> Section | None:
        """A ``##`` section by title (case-insensitive, whitespace-normalised)."""
        want = _title_key(title)
        sections = self.sections
        index = self.__dict__.get("_index")
        if index is None or index[0] != len(sections):
            by_title: dict[str, tuple[int, Section, str]] = {}
            for i, s in enumerate(sections):
                by_title.setdefault(_title_key(s.title), (i, s, s.title))
            index = (len(sections), by_title)
            self.__dict__["_index"] = index
        hit = index[1].get(want)
        if hit is not None:
            i, s, t = hit
            if sections[i] is s and s.title is t:  # (unchanged since the index was built)
                return s
        for s in sections:  # the list was changed in place: look it up the slow way
            if _title_key(s.title) == want:
                return s
        return None

    def section_titles(self) -> list[str]:
        return [s.title for s in self.sections]

    def status(self) -> Field | None:
        """The ``Current Status`` field of ``## Document Status``."""
        s = self.section("Document Status")
        return None if s is None else s.field("Current Status")

    def line_text(self, lineno: int) -> str:
        return self.lines[lineno - 1].rstrip("\r\n")

    def newline(self) -> str:
        for ln in self.lines:
            if ln.endswith("\r\n"):
                return "\r\n"
            if ln.endswith("\n"):
                return "\n"
        return "\n"


# -- editing helpers (pure: they return new line text) ------------------------------


def render_field_line(f: Field, value: str | None, original: str) -> str:
    """The line of field ``f`` with its value replaced; the label and any line ending are
    kept exactly as written."""
    ending = original[len(original.rstrip("\r\n")):]
    body = f"{f.indent}- {f.label}:"
    if value:
        body += f" {value}"
    return body + ending


def render_row(cells: list[str], ending: str = "\n") -> str:
    escaped = [c.replace("|", "\\|") if "`" not in c else c for c in cells]
    return "| " + " | ".join(escaped) + " |" + ending
