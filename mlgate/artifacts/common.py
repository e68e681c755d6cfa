"""Shared helpers of the artifact views: text/id/enum/number/path parsing and tables.

Standard library only, on top of :mod:`mlgate.state.mdparse`. The value helpers read one cell or
one line of free text (``norm_id``, ``enum_value``, ``numbers_in``, ``paths_in_cell`` …);
:class:`TableView` wraps an :class:`mlgate.state.mdparse.Table` with its rows as
:class:`TableRow` objects, keeping the template's example rows apart (see
:func:`row_is_placeholder`).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import TypeVar

from mlgate.artifacts.names import ID_PREFIXES, TEMPLATE_DEFAULTS
from mlgate.state.mdparse import (
    Row,
    Section,
    Table,
    canonical_id,
    normalize_value,
    parse_id,
    strip_ticks,
)

_ANY_ID_RE = re.compile(r"^(?:%s)-?\d+$" % "|".join(ID_PREFIXES))
_DATE_RE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")
_LINK_RE = re.compile(r"\[[^\]]*\]\(([^)\s]+)(?:\s[^)]*)?\)")  # linear on long cells
_NUMBER_RE = re.compile(
    r"(?<![\w.])(?P<num>[-+−]?(?:\d+(?:,\d{3})*(?:\.\d+)?|\.\d+)(?:[eE][-+]?\d+)?)"
    r"(?P<pct>\s?%)?(?!\.?\w)")
_SHA_RE = re.compile(r"\b[0-9a-f]{7,40}\b")


# --- small value helpers ---------------------------------------------------------------


def norm_text(text: str | None) -> str:
    """Lowercase, backticks and ``*`` removed, whitespace collapsed (for label matching)."""
    if not text:
        return ""
    return " ".join(text.replace("`", "").replace("*", "").lower().split())


def norm_id(text: str | None, prefix: str) -> str | None:
    """``R1`` / ``R-001`` / ```R-001``` -> ``R-001``; ``None`` when not an id of ``prefix``."""
    if not text:
        return None
    return canonical_id(strip_ticks(text).strip("*").strip(), prefix)


def is_id(text: str | None, prefix: str | None = None) -> bool:
    """Whether ``text`` is an id (of ``prefix``, or of any known prefix)."""
    if not text:
        return False
    t = strip_ticks(text).strip("*").strip()
    if prefix is not None:
        return parse_id(t, prefix) is not None
    return bool(_ANY_ID_RE.match(t))


def find_ids(text: str | None, prefix: str) -> list[str]:
    """Every id of ``prefix`` mentioned in free text, canonical, in order, without repeats.

    ``"RUN-001, RUN2"`` -> ``["RUN-001", "RUN-002"]``. ``SC-001`` is not a ``C`` id."""
    if not text:
        return []
    out: list[str] = []
    for m in re.finditer(r"(?<![A-Za-z0-9_-])%s-?(\d+)(?![A-Za-z0-9_])" % re.escape(prefix),
                         text):
        cid = f"{prefix}-{int(m.group(1)):03d}"
        if cid not in out:
            out.append(cid)
    return out


def enum_value(value: str | None, allowed: tuple[str, ...] | list[str]) -> str | None:
    """The canonical spelling of ``value`` among ``allowed`` (case-insensitive; a value such
    as ``Pass (all green)`` counts as ``Pass``), else ``None``."""
    if value is None:
        return None
    v = norm_text(value).strip(".")
    for a in sorted(allowed, key=len, reverse=True):
        al = a.lower()
        if v == al:
            return a
        if v.startswith(al) and not (v[len(al)].isalnum() or v[len(al)] in "-_/"):
            return a
    return None


def _canon(value: str | None, allowed: tuple[str, ...]) -> str | None:
    """``value`` in its canonical spelling among ``allowed`` when recognised, else as is."""
    return enum_value(value, allowed) or value


def is_na(value: str | None) -> bool:
    return value is not None and norm_text(value).strip(".") in ("n/a", "na", "not applicable")


def is_affirmative(value: str | None) -> bool:
    """``Yes`` / ``Pass`` / ``Done`` / ``True`` / ``✅`` (optionally followed by a comment)."""
    if value is None:
        return False
    if value.strip().startswith(("✅", "✔", "[x]", "[X]")):
        return True
    return enum_value(value, ("Yes", "Pass", "Done", "True", "Y")) is not None


def has_date(value: str | None) -> bool:
    return bool(value and _DATE_RE.search(value))


def parse_number(text: str | None) -> float | None:
    """A plain number (``0.97``, ``-1e-3``, ``+0.02``, ``1,024``); ``None`` otherwise.
    A trailing ``%`` is not accepted here (see :func:`numbers_in`)."""
    if text is None:
        return None
    t = strip_ticks(text).strip().replace("−", "-").replace("_", "")
    if re.fullmatch(r"[-+]?(?:\d{1,3}(?:,\d{3})+)(?:\.\d+)?", t):
        t = t.replace(",", "")
    try:
        value = float(t)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def decimals(text: str) -> int:
    """Digits written after the decimal point (``0.9712`` -> 4; ``1e-3`` -> 3)."""
    t = strip_ticks(text).strip().lower()
    mant, _, exp = t.partition("e")
    d = len(mant.split(".", 1)[1]) if "." in mant else 0
    try:
        d -= int(exp) if exp else 0
    except ValueError:
        pass
    return max(d, 0)


@dataclass(frozen=True)
class Number:
    value: float
    text: str
    percent: bool


def numbers_in(text: str | None) -> list[Number]:
    """Numbers quoted in free text. Ids (``RUN-002``), dates, versions and numbers glued to
    words (``top5``, ``v2``, ``resnet18``) are skipped; ``97.1%`` is a percentage."""
    if not text:
        return []
    t = _DATE_RE.sub(" ", text)
    t = re.sub(r"\b[A-Za-z]+-\d+\b", " ", t)  # ids such as RUN-002, SC-001
    t = re.sub(r"\b\d+(?:\.\d+){2,}\b", " ", t)  # versions such as 2.13.0
    out = []
    for m in _NUMBER_RE.finditer(t):
        raw = m.group("num").replace("−", "-")
        value = parse_number(raw)
        if value is None:
            continue
        out.append(Number(value, raw, bool(m.group("pct"))))
    return out


def paths_in_cell(text: str | None) -> list[str]:
    """The file paths listed in a ``Files / Configs / Scripts`` (or ``Path``) cell.

    Backticked items win (```src/a.py`, `cfg/b.yaml` (new)`` -> both paths); otherwise the
    cell is split at ``,`` ``;`` ``<br>`` and the first word of each part is taken.
    Markdown links give their target. ``./`` prefixes are dropped."""
    if not text:
        return []
    t = _LINK_RE.sub(lambda m: f" `{m.group(1)}` ", text)
    ticked = re.findall(r"`([^`]+)`", t)
    parts = ticked if ticked else re.split(r"[,;]|<br\s*/?>|(?<!\s)\s+and\s+", t)
    out: list[str] = []
    for part in parts:
        words = part.strip().split()
        if not words:
            continue
        p = words[0].strip("*\"'()[]").rstrip(".:,")
        while p.startswith("./"):
            p = p[2:]
        if p and p not in out and not is_na(p):
            out.append(p)
    return out


def path_covers(listed: str, changed: str) -> bool:
    """Whether an inventory entry ``listed`` covers the changed file ``changed``: the same
    path, a directory prefix of it (``configs/`` or ``configs``), or a glob matching it."""
    import fnmatch

    a = listed.strip().lstrip("/")
    b = changed.strip().lstrip("/")
    while a.startswith("./"):
        a = a[2:]
    if not a:
        return False
    if a == b:
        return True
    if any(ch in a for ch in "*?["):
        return fnmatch.fnmatchcase(b, a) or fnmatch.fnmatchcase(b, a.rstrip("/") + "/*")
    return b.startswith(a.rstrip("/") + "/")


def shas_in(text: str | None) -> list[str]:
    """Hex strings of 7–40 characters (commit ids) in ``text``."""
    return _SHA_RE.findall(text or "")


# --- tables -----------------------------------------------------------------------------


@dataclass
class TableRow:
    """One row of a table, with its cells by column key (see :meth:`get`)."""

    line: int
    keys: list[str]
    cells: list[str]  # raw cell text
    placeholder: bool = False

    @property
    def values(self) -> list[str | None]:
        return [normalize_value(c) for c in self.cells]

    @property
    def first(self) -> str | None:
        return normalize_value(self.cells[0]) if self.cells else None

    def get(self, *names: str) -> str | None:
        """The normalised value of the first column whose key matches one of ``names``
        (case-insensitive, backticks ignored; a name ending in ``*`` matches a prefix)."""
        idx = _column_index(self.keys, names)
        if idx is None or idx >= len(self.cells):
            return None
        return normalize_value(self.cells[idx])

    @property
    def text(self) -> str:
        return " | ".join(self.cells)


def _column_index(keys: list[str], names: tuple[str, ...] | list[str]) -> int | None:
    normed = [norm_text(k) for k in keys]
    for name in names:
        prefix = name.rstrip().endswith("*")
        want = norm_text(name.rstrip().rstrip("*"))
        for i, k in enumerate(normed):
            if k == want or (prefix and k.startswith(want)):
                return i
    return None


def row_is_placeholder(row: Row) -> bool:
    """The template's example row, not an entry: a ``YYYY-MM-DD`` marker or a cell that is
    only ``...``/``…``, or nothing but ids and template defaults after the first cell.

    Unlike :attr:`mdparse.Row.is_placeholder`, an ellipsis *inside* a cell's text
    (``configs/cnn.yaml (sha256 9a1c…)``) does not turn a real row into an example."""
    if row.is_empty:
        return True
    if any("YYYY-MM-DD" in c or (normalize_value(c) or "") in ("...", "…") for c in row.cells):
        return True
    for cell in row.cells[1:]:
        v = normalize_value(cell)
        if v is None:
            continue
        if is_id(v) or v.lower() in TEMPLATE_DEFAULTS:
            continue
        return False
    return True


@dataclass
class TableView:
    """A table of a section: real rows, placeholder rows kept apart."""

    section: Section
    table: Table
    rows: list[TableRow]  # real entries
    placeholders: list[TableRow]  # template examples (not fully empty rows)

    @property
    def line(self) -> int:
        return self.table.line

    @property
    def keys(self) -> list[str]:
        return self.table.keys

    @property
    def all_rows(self) -> list[TableRow]:
        """Real and placeholder rows in file order (fully empty rows excluded)."""
        return sorted(self.rows + self.placeholders, key=lambda r: r.line)

    def has_column(self, *names: str) -> bool:
        return _column_index(self.keys, names) is not None

    def missing_columns(self, required: list[str] | tuple[str, ...]) -> list[str]:
        return [c for c in required if _column_index(self.keys, (c,)) is None]

    def placeholder_note(self, first: str | None = None, prefix: str | None = None) -> str:
        """``row EXP-001 on line 58 is still the template's empty example`` (for the
        placeholder whose first cell is ``first``, or all of them); ``""`` if none."""
        rows = self.placeholders
        if first is not None:
            rows = [r for r in rows if _same_first(r.first, first, prefix)]
        if not rows:
            return ""
        parts = [f"row {r.first or '(blank id)'} on line {r.line}" for r in rows]
        verb = "is" if len(rows) == 1 else "are"
        return f"{', '.join(parts)} {verb} still the template's empty example"


def _cells(row: TableRow, spec: dict[str, tuple[str, ...]]) -> dict[str, str | None]:
    """``{field: row.get(*columns)}`` for each entry of ``spec`` (a table-driven accessor)."""
    return {name: row.get(*columns) for name, columns in spec.items()}


def _same_first(a: str | None, b: str | None, prefix: str | None = None) -> bool:
    if a is None or b is None:
        return False
    if prefix:
        ca, cb = norm_id(a, prefix), norm_id(b, prefix)
        if ca and cb:
            return ca == cb
    ka, kb = norm_text(a), norm_text(b)
    if ka == kb:
        return True
    for p in ID_PREFIXES:
        ca, cb = norm_id(a, p), norm_id(b, p)
        if ca and ca == cb:
            return True
    return False


def make_view(section: Section, table: Table) -> TableView:
    keys = table.keys
    rows, holders = [], []
    for r in table.rows:
        if r.is_empty:
            continue
        tr = TableRow(line=r.line, keys=keys, cells=list(r.cells))
        if row_is_placeholder(r):
            tr.placeholder = True
            holders.append(tr)
        else:
            rows.append(tr)
    return TableView(section=section, table=table, rows=rows, placeholders=holders)


# --- lookups ---------------------------------------------------------------------------


_T = TypeVar("_T")


def lookup_label(rows: dict[str, _T], label: str) -> _T | None:
    """A fixed row by label, matched case-, backtick- and space-insensitively."""
    want = norm_text(label)
    for k, v in rows.items():
        if norm_text(k) == want:
            return v
    return None
