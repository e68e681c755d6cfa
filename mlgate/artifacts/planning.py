"""Typed rows of the planning artifacts: investigation notes, requirements, experiment plan.

Each accessor takes an :class:`~mlgate.artifacts.document.Artifact` and returns small
dataclasses that carry the 1-based line they came from; template example rows are left
out (see :func:`~mlgate.artifacts.common.row_is_placeholder`), except in the fixed-row
``Current Code And Pipeline Findings`` table, which is read row by row.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from mlgate.artifacts.common import (
    TableRow,
    _canon,
    _cells,
    norm_id,
    parse_number,
    paths_in_cell,
)
from mlgate.artifacts.document import Artifact, _fixed_rows, _id_rows, _rows
from mlgate.artifacts.names import CHANGE_TYPES

_BOLD_REQ_RE = re.compile(r"^\s*[-*+]\s+(?:\*\*|__)?\s*(R-?\d+)\b")

@dataclass
class SuccessCriterion:
    id: str | None  # canonical SC-NNN, None when the cell is not an SC id
    requirement_id: str | None  # canonical R-NNN, None when missing or malformed
    metric: str | None
    comparator: str | None  # normalised: one of constants.COMPARATORS when recognised
    threshold: float | None
    split: str | None
    notes: str | None
    line: int
    raw_id: str | None = None
    raw_requirement: str | None = None
    raw_threshold: str | None = None
    combine: str | None = None  # "all" / "any" (lowercased as written; None when empty)
    min_seeds: int | None = None  # the optional Min Seeds column, when a whole number >= 1
    raw_min_seeds: str | None = None

    @property
    def relative(self) -> tuple[float, float] | None:
        """``(scale, offset)`` when the threshold is relative to the baseline
        (``baseline + 0.01`` -> ``(1, 0.01)``, ``0.95 * baseline`` -> ``(0.95, 0)``)."""
        return relative_threshold(self.raw_threshold)

    @property
    def rubric(self) -> bool:
        """A rubric-defined criterion (Comparator ``rubric``): a person records its result."""
        return self.comparator == RUBRIC

    @property
    def metric_key(self) -> str | None:
        """The logged key: ``max:val/acc`` -> ``val/acc``."""
        if self.metric is None:
            return None
        m = re.match(r"^(max|min|best|last)\s*:\s*(.+)$", self.metric, re.IGNORECASE)
        return m.group(2).strip() if m else self.metric

    @property
    def reduction(self) -> str:
        """``max`` / ``min`` (best value of the run) or ``last``."""
        m = re.match(r"^(max|min|last)\s*:", self.metric or "", re.IGNORECASE)
        return m.group(1).lower() if m else "last"


@dataclass
class MonitoringRow:
    key: str | None
    measures: str | None
    formula: str | None
    source: str | None
    line: int


@dataclass
class ExperimentRow:
    id: str | None
    raw_id: str | None
    purpose: str | None
    variables: str | None
    controls: str | None
    expected: str | None
    priority: str | None
    line: int


@dataclass
class WorkItem:
    id: str | None
    raw_id: str | None
    files: list[str]
    files_text: str | None
    change_type: str | None
    why: str | None
    dependency: str | None
    line: int


@dataclass
class SourceRow:
    source_type: str | None
    location: str | None
    learned: str | None
    why: str | None
    line: int


@dataclass
class AreaRow:
    area: str
    findings: str | None
    evidence: str | None
    questions: str | None
    line: int


# --- accessors ---------------------------------------------------------------------------

SC_COLUMNS = ("Success Criteria ID", "Requirement ID", "Metric", "Comparator", "Threshold",
              "Split", "Notes")
#: Optional columns of the Success Criteria table (tickets without them keep working).
SC_OPTIONAL_COLUMNS = ("Combine", "Min Seeds")
RUBRIC = "rubric"
COMBINE = ("all", "any")
_NUM = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_RELATIVE_RE = re.compile(
    rf"^\s*(?:(?P<pre>{_NUM})\s*[*×x]\s*)?baseline(?:\s*[*×]\s*(?P<post>{_NUM}))?"
    rf"(?:\s*(?P<sign>[-+−])\s*(?P<off>{_NUM}))?\s*$", re.IGNORECASE)


def relative_threshold(text: str | None) -> tuple[float, float] | None:
    """``(scale, offset)`` of a threshold written against the baseline, else ``None``.

    Accepted: ``baseline``, ``baseline + 0.01``, ``baseline - 0.02``, ``0.95 * baseline``,
    ``baseline * 0.95``, ``1.02 * baseline + 0.001`` (``×`` for ``*`` too); the target is
    ``scale * (the baseline's value of the same metric) + offset``.
    """
    if not text:
        return None
    m = _RELATIVE_RE.match(text.replace("`", ""))
    if m is None or (m.group("pre") and m.group("post")):
        return None
    scale = float(m.group("pre") or m.group("post") or 1.0)
    offset = float(m.group("off") or 0.0)
    if m.group("sign") in ("-", "−"):
        offset = -offset
    return scale, offset
MONITORING_COLUMNS = ("W&B key", "What it measures", "How it's calculated", "Source")
_COMPARATOR_ALIASES = {"≥": ">=", "≤": "<=", "=": "==", "=>": ">=", "=<": "<="}

# field -> the column names it is read from (the first column found wins).
_SC_CELLS = {"metric": ("Metric",), "split": ("Split",), "notes": ("Notes",),
             "raw_min_seeds": ("Min Seeds", "Min seeds", "Seeds")}
_MONITORING_CELLS = {
    "key": ("W&B key", "Key", "Metric key"),
    "measures": ("What it measures",),
    "formula": ("How it's calculated", "How it’s calculated", "How it is calculated"),
    "source": ("Source",),
}
_EXPERIMENT_CELLS = {
    "purpose": ("Purpose",),
    "variables": ("Variable(s) Changed", "Variables Changed"),
    "controls": ("Fixed Controls",),
    "expected": ("Expected Outcome",),
    "priority": ("Priority",),
}
_WORK_ITEM_CELLS = {"why": ("Why Needed",), "dependency": ("Validation Dependency",)}
_SOURCE_CELLS = {
    "source_type": ("Source Type",),
    "location": ("Path / URL / Command",),
    "learned": ("What Was Learned",),
    "why": ("Why It Matters",),
}
_AREA_CELLS = {"findings": ("Findings",), "evidence": ("Evidence",),
               "questions": ("Open Questions",)}


def requirements_ids(art: Artifact) -> list[tuple[str, int]]:
    """``(R-NNN, line)`` for each requirement: rows of the ``## Requirements`` table and bold
    bullet labels such as ``- **R1 Behavior preservation:** ...`` anywhere in the file.
    Duplicates are kept (a gate reports them)."""
    out: list[tuple[str, int]] = []
    view = art.table("Requirements")
    if view is not None:
        for r in view.rows:
            cid = norm_id(r.first, "R")
            if cid:
                out.append((cid, r.line))
    table_lines = set()
    if view is not None:
        table_lines = set(range(view.table.line, view.table.end_line + 1))
    in_fence = False
    for i, raw in enumerate(art.doc.lines):
        line = raw.rstrip("\r\n")
        if line.lstrip().startswith(("```", "~~~")):
            in_fence = not in_fence
            continue
        if in_fence or (i + 1) in table_lines:
            continue
        m = _BOLD_REQ_RE.match(line)
        if m:
            cid = norm_id(m.group(1), "R")
            if cid:
                out.append((cid, i + 1))
    return out


def success_criteria(art: Artifact) -> list[SuccessCriterion]:
    """Rows of the ``## Success Criteria`` table (placeholders excluded)."""
    out = []
    for r in _rows(art, "Success Criteria", ("Success Criteria ID",)):
        raw_id = r.get("Success Criteria ID", "SC ID", "Criterion ID")
        raw_req = r.get("Requirement ID", "Requirement")
        comp = r.get("Comparator")
        if comp is not None:
            comp = _COMPARATOR_ALIASES.get(comp.strip(), comp.strip())
        if comp is not None and comp.lower() == RUBRIC:
            comp = RUBRIC
        raw_thr = r.get("Threshold")
        combine = r.get("Combine")
        cells = _cells(r, _SC_CELLS)
        seeds = cells["raw_min_seeds"]
        min_seeds = None
        if seeds is not None and re.fullmatch(r"\s*\d+\s*", seeds) and int(seeds) >= 1:
            min_seeds = int(seeds)
        out.append(SuccessCriterion(
            id=norm_id(raw_id, "SC"), requirement_id=norm_id(raw_req, "R"), comparator=comp,
            threshold=parse_number(raw_thr), line=r.line, raw_id=raw_id,
            raw_requirement=raw_req, raw_threshold=raw_thr,
            combine=combine.strip().lower() if combine else None, min_seeds=min_seeds,
            **cells))
    return out


def success_criteria_ids(art: Artifact) -> list[str]:
    return [sc.id for sc in success_criteria(art) if sc.id]


def monitoring(art: Artifact) -> list[MonitoringRow]:
    """Rows of the experiment plan's ``## Monitoring`` table."""
    return [MonitoringRow(line=r.line, **_cells(r, _MONITORING_CELLS))
            for r in _rows(art, "Monitoring", ("W&B key",))]


def monitoring_keys(art: Artifact) -> list[str]:
    return [m.key for m in monitoring(art) if m.key]


def experiments(art: Artifact) -> list[ExperimentRow]:
    return _id_rows(art, "Experiment Matrix", "Experiment ID", "EXP", lambda r, cid, raw:
                    ExperimentRow(id=cid, raw_id=raw, line=r.line,
                                  **_cells(r, _EXPERIMENT_CELLS)))


def planned_runs(art: Artifact) -> list[ExperimentRow]:
    """The ``## Run Matrix`` of an LLM fine-tuning implementation plan: planned runs
    (``RUN-001`` ...) with the columns of an experiment matrix."""
    return _id_rows(art, "Run Matrix", "Run ID", "RUN", lambda r, cid, raw:
                    ExperimentRow(id=cid, raw_id=raw, line=r.line,
                                  **_cells(r, _EXPERIMENT_CELLS)))


def work_items(art: Artifact) -> list[WorkItem]:
    def make(r: TableRow, cid: str | None, raw: str | None) -> WorkItem:
        files = r.get("Files / Configs / Scripts", "Files*")
        return WorkItem(id=cid, raw_id=raw, files=paths_in_cell(files), files_text=files,
                        change_type=_canon(r.get("Change Type"), CHANGE_TYPES), line=r.line,
                        **_cells(r, _WORK_ITEM_CELLS))

    return _id_rows(art, "Implementation Handoff", "Work Item ID", "W", make)


def sources(art: Artifact) -> list[SourceRow]:
    return [SourceRow(line=r.line, **_cells(r, _SOURCE_CELLS))
            for r in _rows(art, "Sources Consulted")]


def pipeline_areas(art: Artifact) -> dict[str, AreaRow]:
    """The ``Current Code And Pipeline Findings`` rows by area (as written)."""
    out: dict[str, AreaRow] = {}
    for r in _fixed_rows(art, "Current Code And Pipeline Findings"):
        area = r.first or ""
        out[area] = AreaRow(area=area, line=r.line, **_cells(r, _AREA_CELLS))
    return out
