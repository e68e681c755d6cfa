"""What torch-smoke writes besides the checks: the ``environment`` of the evidence, and the
``Smoke test or dry run passes`` row of ``implementation.md``'s readiness table.
"""
from __future__ import annotations

import platform
from pathlib import Path
from typing import Any

from mlgate.evidence.results import HandlerResult
from mlgate.state.mdparse import Document, normalize_value, render_row
from mlgate.util import atomic_write

ARTIFACT = "implementation.md"
READINESS_SECTION = "Readiness Checks Before Stage 5"
SMOKE_ROW = "Smoke test or dry run passes"


def _environment(torch: Any, device: Any) -> dict[str, Any]:
    env: dict[str, Any] = {
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cuda_available": bool(torch.cuda.is_available()),
        "device": device.type,
        "threads": torch.get_num_threads(),
    }
    if device.type == "cuda":
        env["device_name"] = torch.cuda.get_device_name(device)
    else:
        env["device_name"] = platform.processor() or platform.machine()
    return env


def fill_readiness_row(folder: Path, result: HandlerResult) -> Path | None:
    """Write ``Pass``/``Fail`` and the evidence path into the ``Smoke test or dry run
    passes`` row of ``<folder>/implementation.md``. Only that line changes (a missing row is
    added at the end of the table). Returns the file, or ``None`` when there is no such
    file, section or table (nothing is written then)."""
    path = Path(folder) / ARTIFACT
    if not path.is_file():
        return None
    text = path.read_bytes().decode("utf-8")
    doc = Document(text, path)
    section = doc.section(READINESS_SECTION)
    table = section.table if section is not None else None
    if table is None:
        return None
    check_col = table.column("Check")
    result_col = table.column("Result")
    evidence_col = table.column("Evidence")
    if check_col is None or result_col is None or evidence_col is None:
        return None
    value = "Pass" if result.status == "Pass" else "Fail"
    where = result.evidence or ""
    lines = list(doc.lines)
    for row in table.rows:
        label = normalize_value(row.cells[check_col]) if check_col < len(row.cells) else None
        if label is None or label.strip().lower() != SMOKE_ROW.lower():
            continue
        cells = list(row.cells) + [""] * (len(table.header) - len(row.cells))
        cells[result_col] = value
        cells[evidence_col] = where
        old = lines[row.line - 1]
        body = old.rstrip("\r\n")
        ending = old[len(body):]
        indent = body[:len(body) - len(body.lstrip())]
        new = indent + render_row(cells, ending)
        if new == old:
            return path
        lines[row.line - 1] = new
        break
    else:
        cells = [""] * len(table.header)
        cells[check_col] = SMOKE_ROW
        cells[result_col] = value
        cells[evidence_col] = where
        last = lines[table.end_line - 1]
        if not last.endswith(("\n", "\r")):
            lines[table.end_line - 1] = last + doc.newline()
        lines.insert(table.end_line, render_row(cells, doc.newline()))
    atomic_write(path, "".join(lines))
    return path
