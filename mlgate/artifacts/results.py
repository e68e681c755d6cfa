"""Typed rows of the result artifacts: implementation, training/validation report, code
review and docs sync.

Same conventions as :mod:`mlgate.artifacts.planning`: each accessor takes an
:class:`~mlgate.artifacts.document.Artifact`, returns dataclasses with their 1-based line,
and leaves template example rows out, except in the fixed-row check tables
(``Readiness Checks Before Stage 5``, ``Mandatory Checks``), read row by row by label.
Enum-like cells (status, result, severity, decision) are canonical when recognised and
kept as written otherwise.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from mlgate import constants as C
from mlgate.artifacts.common import (
    TableRow,
    _canon,
    _cells,
    enum_value,
    find_ids,
    norm_id,
    paths_in_cell,
)
from mlgate.artifacts.document import Artifact, _fixed_rows, _id_rows, _rows
from mlgate.artifacts.names import (
    CHANGE_STATUSES,
    CHANGE_TYPES,
    READINESS_RESULTS,
    REVIEW_RESULTS,
    SEVERITIES,
)


@dataclass
class ChangeRow:
    id: str | None
    raw_id: str | None
    files: list[str]
    files_text: str | None
    action: str | None
    purpose: str | None
    status: str | None  # canonical when recognised
    line: int
    text: str = ""


@dataclass
class CheckRow:
    label: str  # as written
    result: str | None  # canonical when recognised
    evidence: str | None
    line: int


@dataclass
class RunRow:
    id: str | None
    raw_id: str | None
    purpose: str | None
    code_basis: str | None
    config: str | None
    seed: str | None
    data_version: str | None
    hardware: str | None
    status: str | None  # canonical when recognised
    notes: str | None
    line: int


@dataclass
class MetricRow:
    run_id: str | None
    raw_run: str | None
    metric: str | None
    result: str | None
    baseline: str | None
    delta: str | None
    notes: str | None
    line: int


@dataclass
class ClosureRow:
    sc_id: str | None
    raw_id: str | None
    requirement_id: str | None
    expected: str | None
    evidence_runs: list[str]
    evidence_text: str | None
    observed: str | None
    decision: str | None  # canonical when recognised
    notes: str | None
    line: int


@dataclass
class Finding:
    id: str | None
    raw_id: str | None
    severity: str | None
    area: str | None
    summary: str | None
    action: str | None
    line: int

    @property
    def open(self) -> bool:
        """Open unless Required Action says ``Done``/``Resolved``/``Fixed``/``N/A``."""
        return enum_value(self.action, ("Done", "Resolved", "Fixed", "N/A", "Closed")) is None


@dataclass
class DocRow:
    path: str | None
    raw_path: str | None
    summary: str | None
    why: str | None
    line: int


@dataclass
class ProgressEntry:
    date: str
    text: str
    line: int


# --- accessors ---------------------------------------------------------------------------


# --- accessors ---------------------------------------------------------------------------

# field -> the column names it is read from (the first column found wins).
_RUN_CELLS = {
    "purpose": ("Purpose",),
    "code_basis": ("Code Basis",),
    "config": ("Config",),
    "seed": ("Seed",),
    "data_version": ("Data / Split Version", "Data Version*", "Dataset Manifest / Split"),
    "hardware": ("Hardware / Environment", "Hardware*"),
    "notes": ("Notes",),
}
_METRIC_CELLS = {"metric": ("Metric", "Metric Or Rubric"), "result": ("Result",), "baseline": ("Baseline",),
                 "delta": ("Delta",), "notes": ("Notes",)}
_CLOSURE_CELLS = {"expected": ("Expected Outcome",), "observed": ("Observed Result",),
                  "notes": ("Notes",)}
_FINDING_CELLS = {"area": ("Area",), "summary": ("Summary",), "action": ("Required Action",)}
_DOC_CELLS = {"summary": ("Change Summary",), "why": ("Why Needed",)}


def changes(art: Artifact) -> list[ChangeRow]:
    def make(r: TableRow, cid: str | None, raw: str | None) -> ChangeRow:
        files = r.get("Files / Configs / Scripts", "Files*")
        return ChangeRow(id=cid, raw_id=raw, files=paths_in_cell(files), files_text=files,
                         action=_canon(r.get("Action"), CHANGE_TYPES), purpose=r.get("Purpose"),
                         status=_canon(r.get("Status"), CHANGE_STATUSES), line=r.line,
                         text=r.text)

    return _id_rows(art, "Change Inventory", "Change ID", "C", make)


def _check_rows(art: Artifact, section: str, allowed: tuple[str, ...]) -> dict[str, CheckRow]:
    out: dict[str, CheckRow] = {}
    for r in _fixed_rows(art, section):
        label = r.first or ""
        out[label] = CheckRow(label=label, result=_canon(r.get("Result"), allowed),
                              evidence=r.get("Evidence"), line=r.line)
    return out


def readiness_checks(art: Artifact) -> dict[str, CheckRow]:
    """``Readiness Checks Before Stage 5`` rows by check label (as written)."""
    return _check_rows(art, "Readiness Checks Before Stage 5", READINESS_RESULTS)


def mandatory_checks(art: Artifact) -> dict[str, CheckRow]:
    """``Mandatory Checks`` rows of the code review by check label (as written)."""
    return _check_rows(art, "Mandatory Checks", REVIEW_RESULTS)


def progress_entries(art: Artifact) -> list[ProgressEntry]:
    """Dated bullets ``- YYYY-MM-DD: ...`` of the ``Progress Log`` (the template's
    literal ``YYYY-MM-DD`` example is not an entry)."""
    s = art.section("Progress Log")
    if s is None:
        return []
    out = []
    for offset, text in enumerate(s.body):
        m = re.match(r"^\s*[-*+]\s+(?:\*\*)?(\d{4}-\d{2}-\d{2})(?:\*\*)?\s*[:\-–—]?\s*(.*)$", text)
        if m:
            out.append(ProgressEntry(date=m.group(1), text=m.group(2).strip(),
                                     line=s.line + 1 + offset))
    return out


def run_registry(art: Artifact) -> list[RunRow]:
    return _id_rows(art, "Run Registry", "Run ID", "RUN", lambda r, cid, raw: RunRow(
        id=cid, raw_id=raw, status=_canon(r.get("Status"), C.RUN_STATUSES), line=r.line,
        **_cells(r, _RUN_CELLS)))


def metric_summary(art: Artifact) -> list[MetricRow]:
    return _id_rows(art, "Metric Summary", "Run ID", "RUN", lambda r, cid, raw: MetricRow(
        run_id=cid, raw_run=raw, line=r.line, **_cells(r, _METRIC_CELLS)))


def sc_closure(art: Artifact) -> list[ClosureRow]:
    def make(r: TableRow, cid: str | None, raw: str | None) -> ClosureRow:
        ev = r.get("Evidence Run(s)", "Evidence Runs", "Evidence Run*")
        return ClosureRow(sc_id=cid, raw_id=raw,
                          requirement_id=norm_id(r.get("Requirement ID"), "R"),
                          evidence_runs=find_ids(ev, "RUN"), evidence_text=ev,
                          decision=_canon(r.get("Decision"), C.SC_DECISIONS), line=r.line,
                          **_cells(r, _CLOSURE_CELLS))

    return _id_rows(art, "Success Criteria Closure", "Success Criteria ID", "SC", make)


def findings(art: Artifact) -> list[Finding]:
    return _id_rows(art, "Review Findings", "Finding ID", "F", lambda r, cid, raw: Finding(
        id=cid, raw_id=raw, severity=_canon(r.get("Severity"), SEVERITIES), line=r.line,
        **_cells(r, _FINDING_CELLS)))


def updated_documents(art: Artifact) -> list[DocRow]:
    out = []
    for r in _rows(art, "Updated Documents"):
        raw = r.get("Path")
        paths = paths_in_cell(raw)
        out.append(DocRow(path=paths[0] if paths else None, raw_path=raw, line=r.line,
                          **_cells(r, _DOC_CELLS)))
    return out
