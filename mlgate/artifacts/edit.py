"""Line-exact edits of a stage artifact: :func:`set_field` and :func:`set_table_row`.

Each rewrites exactly one line of the file (or appends one table row) and keeps every
other byte as it was; the write is atomic (:func:`mlgate.util.atomic_write`).
"""
from __future__ import annotations

from pathlib import Path

from mlgate.artifacts.common import _column_index, _same_first
from mlgate.artifacts.document import Artifact, find_field
from mlgate.errors import StateFileError, UsageError
from mlgate.state.mdparse import (
    Document,
    Row,
    Section,
    normalize_value,
    render_field_line,
    render_row,
)
from mlgate.util import atomic_write


def _load_for_edit(path: Path | str) -> Document:
    p = Path(path)
    try:
        return Document(p.read_bytes().decode("utf-8"), p)
    except FileNotFoundError:
        raise StateFileError(str(p), None, "file not found") from None
    except UnicodeDecodeError:
        raise StateFileError(str(p), None, "not valid UTF-8 text; it was left unchanged") from None


def _edit_section(doc: Document, section: str) -> Section:
    art = Artifact(doc, doc.path)
    s = art.section(section)
    if s is None:
        raise StateFileError(doc.path, None,
                             f"no '## {section}' section to update\nhint: restore the heading "
                             f"from the stage template")
    return s


def set_field(path: Path | str, section: str, key: str, value: str | None) -> int:
    """Set ``- key: value`` in ``## section`` of the file at ``path``; only that line is
    rewritten (its label, indentation and line ending are kept). Returns the line number.

    Raises :class:`StateFileError` when the section or the field does not exist."""
    doc = _load_for_edit(path)
    s = _edit_section(doc, section)
    f = find_field(s, key)
    if f is None:
        raise StateFileError(doc.path, s.line,
                             f"section '## {s.title}' has no '- {key}:' field\nhint: restore "
                             f"the field from the stage template")
    original = doc.lines[f.line - 1]
    new = render_field_line(f, value, original)
    if new != original:
        doc.lines[f.line - 1] = new
        atomic_write(path, "".join(doc.lines))
    return f.line


def set_table_row(path: Path | str, section: str, first_cell: str,
                  cells: list[str] | tuple[str, ...] | dict[str, str]) -> int:
    """Write the row whose first cell is ``first_cell`` in the first table of ``## section``.

    ``cells`` is either a mapping ``{column key: value}`` (only those columns change, e.g.
    ``{"Result": "Pass", "Evidence": "evidence/4-torch-smoke-1.json"}``), or a list with the
    cells after the first one (or the whole row, first cell included). Ids match in any
    spelling (``RUN-001`` finds ``RUN1``); labels match case-insensitively. When no row
    matches, the row replaces the first fully blank row, or the template's example row with
    the same id, or is appended after the table. Returns the line number written. Every
    other line of the file is kept byte for byte."""
    doc = _load_for_edit(path)
    s = _edit_section(doc, section)
    if not s.tables:
        raise StateFileError(doc.path, s.line, f"section '## {s.title}' has no table to update")
    table = s.tables[0]
    n = len(table.header)
    keys = table.keys
    target: Row | None = None
    for r in table.rows:
        if r.cells and _same_first(normalize_value(r.cells[0]), first_cell):
            target = r
            break
    if target is not None:
        current = list(target.cells) + [""] * (n - len(target.cells))
    else:
        current = [first_cell] + [""] * (n - 1)
    if isinstance(cells, dict):
        for name, value in cells.items():
            idx = _column_index(keys, (name,))
            if idx is None:
                raise UsageError(f"{doc.path}: table in '## {s.title}' has no column "
                                 f"{name!r} (columns: {', '.join(keys)})",
                                 path=doc.path, column=name)
            current[idx] = value
    else:
        given = list(cells)
        if len(given) == n and _same_first(normalize_value(given[0]) or "", first_cell):
            current = given
        elif len(given) <= n - 1:
            current = [current[0]] + given + [""] * (n - 1 - len(given))
        else:
            raise UsageError(f"{doc.path}: {len(given)} cells given for a {n}-column table in "
                             f"'## {s.title}'", path=doc.path)
    nl = doc.newline()
    if target is None:
        blank = next((r for r in table.rows if r.is_empty), None)
        if blank is not None:
            target = blank
    if target is not None:
        original = doc.lines[target.line - 1]
        ending = original[len(original.rstrip("\r\n")):] or ""
        doc.lines[target.line - 1] = render_row(current, ending)
        lineno = target.line
    else:
        last = table.end_line
        if not doc.lines[last - 1].endswith(("\n", "\r")):
            doc.lines[last - 1] += nl
        doc.lines.insert(last, render_row(current, nl))
        lineno = last + 1
    atomic_write(path, "".join(doc.lines))
    return lineno
