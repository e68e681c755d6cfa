"""Typed views over the stage artifacts of a ticket, and line-exact edits of them.

Standard library only, built on :mod:`mlgate.mdparse`. Every stage artifact
(``investigation-notes.md`` … ``handoff-summary.md``) is loaded into an :class:`Artifact`
that wraps an :class:`mlgate.mdparse.Document`; the accessors below turn its sections and
tables into small dataclasses (success criteria, monitoring rows, runs, closure rows, …),
always with the 1-based line they came from, so a gate can say ``file:line: what is wrong``.

Placeholder rows: a template's example row (``| EXP-001 |  |  |  |  | High |``,
``| RUN-001 | … | Queued | |``) is not an entry. A row is a placeholder when
:attr:`mdparse.Row.is_placeholder` holds (``YYYY-MM-DD``/``...``) or when every cell after
the first is empty, an id (``R-001``, ``RUN-001``…) or a template default
(:data:`TEMPLATE_DEFAULTS`). :class:`TableView` keeps such rows apart
(``.placeholders``) so that gates can treat them as absent and still mention them.

Editing: :func:`set_field` and :func:`set_table_row` rewrite exactly one line of a file
(or append one row) and keep every other byte as it was; the write is atomic.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from mlgate import constants as C
from mlgate.errors import StateFileError, UsageError
from mlgate.mdparse import (
    Document,
    Field,
    Row,
    Section,
    Table,
    canonical_id,
    label_key,
    normalize_value,
    parse_id,
    render_field_line,
    render_row,
    strip_ticks,
)
from mlgate.util import atomic_write

# --- file names and required sections ---------------------------------------------------

INVESTIGATION = "investigation-notes.md"
REQUIREMENTS = "requirements.md"
PLAN = "experiment-plan.md"
IMPLEMENTATION = "implementation.md"
REPORT = "training-validation-report.md"
REVIEW = "code-review.md"
DOCS_SYNC = "docs-sync.md"
HANDOFF = "handoff-summary.md"

#: The H2 sections each artifact must have (the template's headings, workflow-sources §1.4
#: and rules 45, 52, 57, 66, 75, 88, 92, 94). The experiment plan also needs ``Monitoring``.
REQUIRED_SECTIONS: dict[str, tuple[str, ...]] = {
    INVESTIGATION: ("Document Status", "Task Framing", "Scope Triage", "Sources Consulted",
                    "Current Code And Pipeline Findings", "Baseline Understanding",
                    "Constraints And Risks", "Planning Implications", "Open Questions"),
    REQUIREMENTS: ("Document Status", "Goal / Problem Statement", "In-Scope Task Definition",
                   "Requirements", "Baseline Or Comparison Target", "Success Criteria",
                   "Closure Conditions", "Dataset And Evaluation Assumptions",
                   "Constraints And Dependencies", "Assumptions", "Risks And Open Questions"),
    PLAN: ("Document Status", "Artifact Basis", "Problem Framing",
           "Baseline And Comparison Target", "Approach Summary",
           "Planned Model / Algorithm Changes", "Data And Evaluation Assumptions",
           "Experiment Matrix", "Reproducibility Plan", "Implementation Handoff",
           "Validation Plan", "Monitoring", "Risks And Open Questions",
           "Stage 4 Entry Checklist"),
    IMPLEMENTATION: ("Upstream Artifacts", "Document Status", "Stage 4 Entry Checklist",
                     "Execution Plan", "Change Inventory", "Config, Logging, And Artifact Paths",
                     "Readiness Checks Before Stage 5", "Stage 5 Handoff", "Progress Log"),
    REPORT: ("Document Status", "Artifact Basis", "Run Registry", "Metric Summary",
             "Success Criteria Closure", "Best Current Result", "Failure Analysis",
             "Reproducibility Record", "Gate Decision"),
    REVIEW: ("Document Status", "Review Scope", "Review Findings", "Mandatory Checks",
             "Decision"),
    DOCS_SYNC: ("Document Status", "Documentation Impact Summary", "Updated Documents",
                "Synced Facts", "No-Impact Rationale", "Decision"),
    HANDOFF: ("Outcome Summary", "Best Current Evidence", "Artifacts", "Outstanding Risks",
              "Recommended Next Steps", "Finalization Status"),
}

#: Other headings accepted for a required section (hand-written ``requirements.md`` files
#: follow no template; workflow-sources §1.4 stage 2 shows ``## Goal``, ``## Required
#: behavior``). Matching is case-insensitive and ignores a leading ``7.`` numbering.
SECTION_ALIASES: dict[str, tuple[str, ...]] = {
    "Document Status": ("Status",),
    "Goal / Problem Statement": ("Goal", "Problem Statement", "Goal Or Problem Statement",
                                 "Goal And Problem Statement"),
    "In-Scope Task Definition": ("In Scope", "In-Scope", "Scope", "Task Definition",
                                 "In-Scope Task"),
    "Requirements": ("Required Behavior", "Required Behaviour", "Requirement List"),
    "Baseline Or Comparison Target": ("Baseline", "Comparison Target",
                                      "Baseline And Comparison Target"),
    "Constraints And Dependencies": ("Constraints", "Constraints And Risks"),
    "Risks And Open Questions": ("Risks", "Open Questions", "Risks And Questions"),
    "Dataset And Evaluation Assumptions": ("Data And Evaluation Assumptions",
                                           "Dataset Assumptions"),
}

#: The fixed first-column rows of the templates.
PIPELINE_AREAS = ("Training Entrypoints", "Validation / Evaluation Entrypoints",
                  "Model / Architecture", "Data Pipeline / Splits", "Loss / Objective",
                  "Metrics / Logging", "Checkpointing / Resume")
READINESS_CHECKS = ("Training entrypoint resolves",
                    "Validation or evaluation entrypoint resolves",
                    "Critical config loads correctly", "Output paths or permissions are correct",
                    "Smoke test or dry run passes")
SMOKE_CHECK = "Smoke test or dry run passes"
MANDATORY_CHECKS = ("Data leakage / split contamination", "Train / eval mode correctness",
                    "Metric correctness", "Label / mask / target alignment",
                    "Checkpoint semantics", "Config traceability", "Reproducibility sufficiency",
                    "Numerical stability risk", "Logging / evidence sufficiency")

SOURCE_TYPES = ("Local File", "Command", "Log", "External URL", "Open-Source Repo", "Paper")
SCOPE_CLASSES = ("Small", "Medium", "Large")
CHANGE_TYPES = ("Create", "Modify", "Remove")
CHANGE_STATUSES = ("Planned", "In Progress", "Done", "Blocked")
READINESS_RESULTS = ("Pass", "Fail", "N/A")
REVIEW_RESULTS = ("Pass", "Fail", "Needs Follow-Up")
SEVERITIES = ("High", "Medium", "Low")
STAGE5_DECISIONS = ("Pass", "Fail", "Blocked")
STAGE6_DECISIONS = ("Pass", "Fail")
STAGE7_DECISIONS = ("Pass", "Fail", "Blocked")
PRIORITIES = ("High", "Medium", "Low")

#: Values the templates pre-fill in their example rows; alone they do not make a row real.
TEMPLATE_DEFAULTS = frozenset({"high", "planned", "queued"})

ID_PREFIXES = ("R", "SC", "EXP", "W", "C", "RUN", "F", "V", "T")
_ANY_ID_RE = re.compile(r"^(?:%s)-?\d+$" % "|".join(ID_PREFIXES))
_ALL_STATUSES = tuple(dict.fromkeys(s for st in C.STAGES for s in st.statuses))
_DATE_RE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")
_NUMBERING_RE = re.compile(r"^\d+(?:\.\d+)*\.?\s+")
_LINK_RE = re.compile(r"\[[^\]]*\]\(([^)\s]+)(?:\s[^)]*)?\)")  # linear on long cells
_BOLD_REQ_RE = re.compile(r"^\s*[-*+]\s+(?:\*\*|__)?\s*(R-?\d+)\b")
_STATUS_LINE_RE = re.compile(r"^\s*(?:[-*+]\s+)?(?:\*\*|__)?(?:Current\s+)?Status(?:\*\*|__)?"
                             r"\s*:\s*(?:\*\*|__)?\s*(?P<value>.+?)\s*$", re.IGNORECASE)
_NUMBER_RE = re.compile(
    r"(?<![\w.])(?P<num>[-+−]?(?:\d+(?:,\d{3})*(?:\.\d+)?|\.\d+)(?:[eE][-+]?\d+)?)"
    r"(?P<pct>\s?%)?(?!\.?\w)")
_SHA_RE = re.compile(r"\b[0-9a-f]{7,40}\b")
IMAGE_SUFFIXES = (".png", ".svg", ".jpg", ".jpeg", ".pdf", ".gif", ".webp", ".html")
IGNORED_METRIC_KEYS = frozenset({"step", "time", "epoch", "_step", "_runtime", "_timestamp"})


# --- small value helpers ---------------------------------------------------------------


def norm_text(text: str | None) -> str:
    """Lowercase, backticks and ``*`` removed, whitespace collapsed (for label matching)."""
    if not text:
        return ""
    return " ".join(text.replace("`", "").replace("*", "").lower().split())


def _title_key(title: str) -> str:
    return norm_text(_NUMBERING_RE.sub("", title.strip()))


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


# --- the artifact ------------------------------------------------------------------------


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

SC_COLUMNS = ("Success Criteria ID", "Requirement ID", "Metric", "Comparator", "Threshold",
              "Split", "Notes")
MONITORING_COLUMNS = ("W&B key", "What it measures", "How it's calculated", "Source")
_COMPARATOR_ALIASES = {"≥": ">=", "≤": "<=", "=": "==", "=>": ">=", "=<": "<="}


def _rows(art: Artifact, section: str, columns: tuple[str, ...] = ()) -> list[TableRow]:
    view = art.table(section, columns)
    return [] if view is None else view.rows


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
        raw_thr = r.get("Threshold")
        out.append(SuccessCriterion(
            id=norm_id(raw_id, "SC"), requirement_id=norm_id(raw_req, "R"),
            metric=r.get("Metric"), comparator=comp, threshold=parse_number(raw_thr),
            split=r.get("Split"), notes=r.get("Notes"), line=r.line, raw_id=raw_id,
            raw_requirement=raw_req, raw_threshold=raw_thr))
    return out


def success_criteria_ids(art: Artifact) -> list[str]:
    return [sc.id for sc in success_criteria(art) if sc.id]


def monitoring(art: Artifact) -> list[MonitoringRow]:
    """Rows of the experiment plan's ``## Monitoring`` table."""
    return [MonitoringRow(key=r.get("W&B key", "Key", "Metric key"),
                          measures=r.get("What it measures"),
                          formula=r.get("How it's calculated", "How it’s calculated",
                                        "How it is calculated"),
                          source=r.get("Source"), line=r.line)
            for r in _rows(art, "Monitoring", ("W&B key",))]


def monitoring_keys(art: Artifact) -> list[str]:
    return [m.key for m in monitoring(art) if m.key]


def experiments(art: Artifact) -> list[ExperimentRow]:
    out = []
    for r in _rows(art, "Experiment Matrix"):
        raw = r.get("Experiment ID")
        out.append(ExperimentRow(id=norm_id(raw, "EXP"), raw_id=raw, purpose=r.get("Purpose"),
                                 variables=r.get("Variable(s) Changed", "Variables Changed"),
                                 controls=r.get("Fixed Controls"),
                                 expected=r.get("Expected Outcome"),
                                 priority=r.get("Priority"), line=r.line))
    return out


def work_items(art: Artifact) -> list[WorkItem]:
    out = []
    for r in _rows(art, "Implementation Handoff"):
        raw = r.get("Work Item ID")
        files = r.get("Files / Configs / Scripts", "Files*")
        out.append(WorkItem(id=norm_id(raw, "W"), raw_id=raw, files=paths_in_cell(files),
                            files_text=files,
                            change_type=enum_value(r.get("Change Type"), CHANGE_TYPES)
                            or r.get("Change Type"),
                            why=r.get("Why Needed"), dependency=r.get("Validation Dependency"),
                            line=r.line))
    return out


def sources(art: Artifact) -> list[SourceRow]:
    return [SourceRow(source_type=r.get("Source Type"), location=r.get("Path / URL / Command"),
                      learned=r.get("What Was Learned"), why=r.get("Why It Matters"),
                      line=r.line)
            for r in _rows(art, "Sources Consulted")]


def _fixed_rows(art: Artifact, section: str) -> list[TableRow]:
    view = art.table(section)
    return [] if view is None else view.all_rows


def pipeline_areas(art: Artifact) -> dict[str, AreaRow]:
    """The ``Current Code And Pipeline Findings`` rows by area (as written)."""
    out: dict[str, AreaRow] = {}
    for r in _fixed_rows(art, "Current Code And Pipeline Findings"):
        area = r.first or ""
        out[area] = AreaRow(area=area, findings=r.get("Findings"), evidence=r.get("Evidence"),
                            questions=r.get("Open Questions"), line=r.line)
    return out


def changes(art: Artifact) -> list[ChangeRow]:
    out = []
    for r in _rows(art, "Change Inventory"):
        raw = r.get("Change ID")
        files = r.get("Files / Configs / Scripts", "Files*")
        status = r.get("Status")
        out.append(ChangeRow(id=norm_id(raw, "C"), raw_id=raw, files=paths_in_cell(files),
                             files_text=files,
                             action=enum_value(r.get("Action"), CHANGE_TYPES) or r.get("Action"),
                             purpose=r.get("Purpose"),
                             status=enum_value(status, CHANGE_STATUSES) or status,
                             line=r.line, text=r.text))
    return out


def _check_rows(art: Artifact, section: str, allowed: tuple[str, ...]) -> dict[str, CheckRow]:
    out: dict[str, CheckRow] = {}
    for r in _fixed_rows(art, section):
        label = r.first or ""
        result = r.get("Result")
        out[label] = CheckRow(label=label, result=enum_value(result, allowed) or result,
                              evidence=r.get("Evidence"), line=r.line)
    return out


def readiness_checks(art: Artifact) -> dict[str, CheckRow]:
    """``Readiness Checks Before Stage 5`` rows by check label (as written)."""
    return _check_rows(art, "Readiness Checks Before Stage 5", READINESS_RESULTS)


def mandatory_checks(art: Artifact) -> dict[str, CheckRow]:
    """``Mandatory Checks`` rows of the code review by check label (as written)."""
    return _check_rows(art, "Mandatory Checks", REVIEW_RESULTS)


def lookup_label(rows: dict[str, CheckRow] | dict[str, AreaRow], label: str):  # type: ignore[no-untyped-def]
    """A fixed row by label, matched case-, backtick- and space-insensitively."""
    want = norm_text(label)
    for k, v in rows.items():
        if norm_text(k) == want:
            return v
    return None


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
    out = []
    for r in _rows(art, "Run Registry"):
        raw = r.get("Run ID")
        status = r.get("Status")
        out.append(RunRow(id=norm_id(raw, "RUN"), raw_id=raw, purpose=r.get("Purpose"),
                          code_basis=r.get("Code Basis"), config=r.get("Config"),
                          seed=r.get("Seed"), data_version=r.get("Data / Split Version",
                                                                 "Data Version*"),
                          hardware=r.get("Hardware / Environment", "Hardware*"),
                          status=enum_value(status, C.RUN_STATUSES) or status,
                          notes=r.get("Notes"), line=r.line))
    return out


def metric_summary(art: Artifact) -> list[MetricRow]:
    out = []
    for r in _rows(art, "Metric Summary"):
        raw = r.get("Run ID")
        out.append(MetricRow(run_id=norm_id(raw, "RUN"), raw_run=raw, metric=r.get("Metric"),
                             result=r.get("Result"), baseline=r.get("Baseline"),
                             delta=r.get("Delta"), notes=r.get("Notes"), line=r.line))
    return out


def sc_closure(art: Artifact) -> list[ClosureRow]:
    out = []
    for r in _rows(art, "Success Criteria Closure"):
        raw = r.get("Success Criteria ID")
        decision = r.get("Decision")
        ev = r.get("Evidence Run(s)", "Evidence Runs", "Evidence Run*")
        out.append(ClosureRow(sc_id=norm_id(raw, "SC"), raw_id=raw,
                              requirement_id=norm_id(r.get("Requirement ID"), "R"),
                              expected=r.get("Expected Outcome"),
                              evidence_runs=find_ids(ev, "RUN"), evidence_text=ev,
                              observed=r.get("Observed Result"),
                              decision=enum_value(decision, C.SC_DECISIONS) or decision,
                              notes=r.get("Notes"), line=r.line))
    return out


def findings(art: Artifact) -> list[Finding]:
    out = []
    for r in _rows(art, "Review Findings"):
        raw = r.get("Finding ID")
        sev = r.get("Severity")
        out.append(Finding(id=norm_id(raw, "F"), raw_id=raw,
                           severity=enum_value(sev, SEVERITIES) or sev, area=r.get("Area"),
                           summary=r.get("Summary"), action=r.get("Required Action"),
                           line=r.line))
    return out


def updated_documents(art: Artifact) -> list[DocRow]:
    out = []
    for r in _rows(art, "Updated Documents"):
        raw = r.get("Path")
        paths = paths_in_cell(raw)
        out.append(DocRow(path=paths[0] if paths else None, raw_path=raw,
                          summary=r.get("Change Summary"), why=r.get("Why Needed"),
                          line=r.line))
    return out


# --- run folders -------------------------------------------------------------------------


def run_dir(folder: Path | str, run_id: str) -> Path:
    return Path(folder) / C.RUNS_DIR / run_id


@dataclass
class LoggedKeys:
    keys: set[str]
    lines: int  # JSON lines read
    bad_lines: list[int] = field(default_factory=list)  # lines that were not JSON objects


def logged_keys(run_path: Path | str) -> LoggedKeys | None:
    """The metric keys a run logged to ``metrics.jsonl`` (one JSON object per line), without
    ``_``-prefixed internals and ``step``/``time``/``epoch``; ``None`` if there is no file."""
    path = Path(run_path) / "metrics.jsonl"
    if not path.is_file():
        return None
    keys: set[str] = set()
    n = 0
    bad: list[int] = []
    with path.open(encoding="utf-8", errors="replace") as fh:
        for i, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except ValueError:
                bad.append(i)
                continue
            if not isinstance(obj, dict):
                bad.append(i)
                continue
            n += 1
            for k in obj:
                if k.startswith("_") or k in IGNORED_METRIC_KEYS:
                    continue
                keys.add(k)
    return LoggedKeys(keys=keys, lines=n, bad_lines=bad)


def run_images(run_path: Path | str) -> list[Path]:
    """Image files (png/svg/jpg/pdf/gif/webp/html) under ``<run>/viz/``."""
    viz = Path(run_path) / "viz"
    if not viz.is_dir():
        return []
    return sorted(p for p in viz.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


# --- editing -----------------------------------------------------------------------------


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
