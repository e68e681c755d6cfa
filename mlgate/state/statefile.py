"""``workflow-state.md``: parse into typed views, edit only what mlgate owns, seal.

Standard library only (the hook path uses it). The file layout is workflow-sources §1.3.

* Parsing never changes the text: ``StateDoc.parse(text).render() == text``.
* Edits replace single lines (a field value, a table row) or append rows; every other line,
  prose and unknown sections included, is kept byte for byte.
* A file that cannot be understood raises :class:`StateFileError` naming the file and line;
  nothing is ever written over it.
* The seal is one HTML comment line at the end of the file: an HMAC-SHA256 over the
  machine-owned fields and the logs, keyed by a secret kept outside the worktree.
"""
from __future__ import annotations

import json
import re
from mlgate.record import as_dict, record
from pathlib import Path
TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs import time on the hook path
    from typing import Any

from mlgate import constants as C
from mlgate.errors import StateFileError
from mlgate.state.seal import SEAL_VERSION, mac
from mlgate.state.mdparse import Document, Field, Section, Table, normalize_value, render_field_line, render_row

REQUIRED_SECTIONS = (
    "Current Snapshot",
    "Stage 0 Bootstrap Record",
    "Stage Gates",
    "Pre-Edit Checklist",
    "Re-Entry Declaration",
    "Transition Log",
    "Process Violation Log",
)
ALL_SECTIONS = (
    "Current Snapshot",
    "Stage 0 Bootstrap Record",
    "Stage Gates",
    "Stage Transition Contract",
    "Transition Matrix",
    "Pre-Edit Checklist",
    "Re-Entry Declaration",
    "Transition Log",
    "Process Violation Log",
)
BOOTSTRAP_KEYS = (
    "Bootstrap Mode",
    "User-Specified Base Branch",
    "Resolved Base Remote",
    "Resolved Base Branch",
    "Default Finalization Target Remote",
    "Default Finalization Target Branch",
    "Remote Refresh Performed",
    "Remote Refresh Result",
    "Ticket Worktree Path",
    "Ticket Branch",
)
PRE_EDIT_KEYS = (
    "Current Stage is `4`",
    "Code Edit Permission is `Unlocked`",
    "Stage 3 gate is `Pass`",
    "Required upstream artifacts are current",
    "Pre-Edit Checklist Result",
)
REENTRY_KEYS = (
    "Trigger Stage",
    "Classification",
    "Required Return Path",
    "Required Upstream Artifacts To Update Before More Source Edits",
    "Resume Condition",
)
TRANSITION_COLUMNS = (
    "Transition ID",
    "Date",
    "From Stage",
    "To Stage",
    "Reason",
    "Classification",
    "Code Edit Permission After Transition",
    "Evidence Updated",
)
VIOLATION_COLUMNS = ("Date", "Violation ID", "Violation", "Detected At Stage", "Action Taken",
                     "Cleared")
_T_ID = re.compile(r"^T-(\d{3,})$")
_V_ID = re.compile(r"^V-(\d{3,})$")
_STAGE_CELL = re.compile(r"^`?(\d)`?\b")


@record
class Snapshot:
    ticket: str | None
    current_stage: int | None
    next_stage: int | None
    permission: str | None
    active_reentry: bool
    classification: str | None
    last_transition_id: str | None
    last_updated: str | None


@record
class GateRow:
    stage: int
    label: str
    status: str | None
    rule: str
    evidence: str
    line: int


@record
class TransitionRow:
    id: str
    date: str
    from_stage: int | None
    to_stage: int | None
    reason: str
    classification: str | None
    permission_after: str | None
    evidence_updated: str
    line: int = 0

    def cells(self) -> list[str]:
        return [self.id, self.date, _num(self.from_stage), _num(self.to_stage), self.reason,
                self.classification or C.NA, self.permission_after or "", self.evidence_updated]


@record
class ViolationRow:
    date: str
    id: str
    violation: str
    stage: int | None
    action: str
    cleared: bool | None
    line: int = 0

    def cells(self) -> list[str]:
        cleared = "" if self.cleared is None else ("Yes" if self.cleared else "No")
        return [self.date, self.id, self.violation, _num(self.stage), self.action, cleared]


@record
class ReEntry:
    trigger_stage: int | None
    classification: str | None
    return_path: tuple[int, ...] | None
    path_text: str | None
    upstream_artifacts: str | None
    resume_condition: str | None

    @property
    def declared(self) -> bool:
        return self.classification is not None


def _num(value: int | None) -> str:
    return "" if value is None else str(value)


def _clean(value: str | None) -> str:
    """Cell/field text for a typed view: backticks and surrounding space removed."""
    return normalize_value(value) or ""


_CLEAN: dict[str, str] = {}  # _clean() by cell text: log cells repeat across files
# Parsed Stage Gates / Transition Log rows by (cells, column indexes): the values of a row
# that passed every check (a row that fails raises and is never stored).
_GATE_ROWS: dict[tuple, tuple] = {}
_TRANSITION_ROWS: dict[tuple, tuple] = {}


def _row_values(cells: list[str], cols: list[tuple[str, int | None]]) -> dict[str, str]:
    """{column: cleaned cell} of one table row ("" for a missing column or cell)."""
    n = len(cells)
    out: dict[str, str] = {}
    for c, i in cols:
        if i is None or i >= n:
            out[c] = ""
            continue
        raw = cells[i]
        v = _CLEAN.get(raw)
        if v is None:
            v = _clean(raw)
            if len(raw) <= 300:
                if len(_CLEAN) >= 20_000:
                    _CLEAN.clear()
                _CLEAN[raw] = v
        out[c] = v
    return out


def parse_path(text: str | None) -> tuple[int, ...] | None:
    """``1 -> 3 -> 4`` (with or without backticks) -> (1, 3, 4); ``stay in 4`` -> (4,)."""
    if not text:
        return None
    t = text.replace("`", "").strip()
    m = re.match(r"^stay in\s+(\d)", t, re.I)
    if m:
        return (int(m.group(1)),)
    parts = [p.strip() for p in re.split(r"->|→", t)]
    if not parts or not all(p.isdigit() and len(p) == 1 for p in parts):
        return None
    return tuple(int(p) for p in parts)


STAGE_ENTRY_PREFIX = "<!-- mlgate-stage-entry:"
#: ``<!-- mlgate-stage4-windows: <entry>..<exit> <entry>.. -->``: every stage-4 window of the
#: ticket, the commit HEAD was at on entering stage 4 and on leaving it (empty while open).
#: ``mlgate audit`` places each source commit of the branch history in one of them.
WINDOWS_PREFIX = "<!-- mlgate-stage4-windows:"
_HEX_DIGITS = frozenset("0123456789abcdef")


def is_commit_sha(text: str) -> bool:
    """A commit id as a stage-entry line may hold: 7-64 lowercase hex digits."""
    return 7 <= len(text) <= 64 and set(text) <= _HEX_DIGITS


class StateDoc:
    """A parsed ``workflow-state.md``."""

    def __init__(self, text: str, path: str | Path = "workflow-state.md") -> None:
        self.path = str(path)
        self._load(text)

    @classmethod
    def parse(cls, text: str, path: str | Path = "workflow-state.md") -> "StateDoc":
        return cls(text, path)

    @classmethod
    def load(cls, path: str | Path) -> "StateDoc":
        p = Path(path)
        try:
            raw = p.read_bytes()
        except FileNotFoundError:
            raise StateFileError(str(p), None, "file not found") from None
        except OSError as exc:
            raise StateFileError(str(p), None, f"cannot read: {exc.strerror or exc}") from None
        return cls.from_bytes(raw, p)

    @classmethod
    def from_bytes(cls, raw: bytes, path: str | Path) -> "StateDoc":
        """Parse the bytes of ``path`` as read from disk (UTF-8; a bad byte is reported with
        its line)."""
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            head = raw[: exc.start]
            line = head.count(b"\n") + head.count(b"\r") - head.count(b"\r\n") + 1
            raise StateFileError(str(path), line, "not valid UTF-8 text") from None
        return cls(text, path)

    # -- parsing -------------------------------------------------------------------

    def _load(self, text: str) -> None:
        self.doc = Document(text, self.path)
        self._validate_structure()
        self.snapshot = self._parse_snapshot()
        self.bootstrap = self._parse_bootstrap()
        self.gates = self._parse_gates()
        self.pre_edit = {f.key: f.value for f in self._section("Pre-Edit Checklist").fields}
        self.reentry = self._parse_reentry()
        self.transitions = self._parse_transitions()
        self.violations = self._parse_violations()
        self.seal, self.seal_line = self._parse_seal()
        self.stage_entries, self.stage_entry_line = self._parse_stage_entries()
        self.windows, self.windows_line = self._parse_windows()

    def _err(self, line: int | None, message: str) -> StateFileError:
        return StateFileError(self.path, line, message)

    def _section(self, title: str) -> Section:
        s = self.doc.section(title)
        if s is None:  # guarded by _validate_structure
            raise self._err(None, f"missing section '## {title}'")
        return s

    def _validate_structure(self) -> None:
        if self.doc.title is None or self.doc.title.strip().lower() != "workflow state":
            line = self.doc.title_line or 1
            raise self._err(line, "expected the title '# Workflow State' "
                                  "(is this a workflow-state.md?)")
        seen = {" ".join(s.title.lower().split()): s for s in self.doc.sections}
        for title in REQUIRED_SECTIONS:
            if title.lower() not in seen:
                last = len(self.doc.lines) or 1
                raise self._err(last, f"missing section '## {title}' "
                                      "(required by the workflow-state layout)")
        dups = [s for s in self.doc.sections if s.title in ALL_SECTIONS]
        names = [s.title for s in dups]
        for s in dups:
            if names.count(s.title) > 1:
                raise self._err(s.line, f"section '## {s.title}' appears more than once")

    def _field(self, section: Section, key: str, required: bool = True) -> Field | None:
        f = section.field(key)
        if f is None and required:
            raise self._err(section.line, f"section '## {section.title}' has no "
                                          f"'- {key}:' field")
        return f

    def _enum(self, f: Field | None, allowed: tuple[str, ...], what: str) -> str | None:
        if f is None:
            return None
        v = f.value
        if v is None:
            return None
        for a in allowed:
            if v.lower() == a.lower():
                return a
        raise self._err(f.line, f"{what} is {v!r}; allowed: {', '.join(allowed)}")

    def _stage_value(self, f: Field | None, what: str, allow_empty_words: bool = False
                     ) -> int | None:
        if f is None or f.value is None:
            return None
        v = f.value
        if allow_empty_words and v.upper() in ("N/A", "NONE", "DONE", "-"):
            return None
        if v.isdigit() and int(v) in C.STAGE_NUMBERS:
            return int(v)
        raise self._err(f.line, f"{what} is {v!r}; expected a stage number 0-8")

    def _parse_snapshot(self) -> Snapshot:
        s = self._section("Current Snapshot")
        ticket_f = self._field(s, "Ticket")
        stage_f = self._field(s, "Current Stage")
        next_f = self._field(s, "Next Stage", required=False)
        perm_f = self._field(s, "Code Edit Permission")
        active_f = self._field(s, "Active Re-Entry", required=False)
        cls_f = self._field(s, "Re-Entry Classification", required=False)
        last_t = self._field(s, "Last Transition ID", required=False)
        upd = self._field(s, "Last Updated", required=False)
        active = self._enum(active_f, C.YES_NO, "Active Re-Entry")
        cls = self._enum(cls_f, (C.NA, *C.CLASSIFICATIONS), "Re-Entry Classification")
        last_id = last_t.value if last_t else None
        if last_id is not None and last_id.upper() in ("N/A", "NONE", "-"):
            last_id = None
        if last_id is not None and not _T_ID.match(last_id):
            raise self._err(last_t.line if last_t else s.line,
                            f"Last Transition ID is {last_id!r}; expected T-NNN")
        return Snapshot(
            ticket=ticket_f.value if ticket_f else None,
            current_stage=self._stage_value(stage_f, "Current Stage"),
            next_stage=self._stage_value(next_f, "Next Stage", allow_empty_words=True),
            permission=self._enum(perm_f, C.PERMISSIONS, "Code Edit Permission"),
            active_reentry=active == "Yes",
            classification=None if cls in (None, C.NA) else cls,
            last_transition_id=last_id,
            last_updated=upd.value if upd else None,
        )

    def _parse_bootstrap(self) -> dict[str, str | None]:
        s = self._section("Stage 0 Bootstrap Record")
        out: dict[str, str | None] = {}
        for key in BOOTSTRAP_KEYS:
            f = s.field(key)
            out[key] = f.value if f else None
        mode_f = s.field("Bootstrap Mode")
        self._enum(mode_f, C.BOOTSTRAP_MODES, "Bootstrap Mode")
        self._enum(s.field("Remote Refresh Performed"), C.REFRESH_VALUES,
                   "Remote Refresh Performed")
        return out

    def _table(self, section: Section, first_col: str) -> Table:
        for t in section.tables:
            if t.keys and t.keys[0].lower() == first_col.lower():
                return t
        raise self._err(section.line, f"section '## {section.title}' has no table whose "
                                      f"first column is '{first_col}'")

    def _parse_gates(self) -> dict[int, GateRow]:
        s = self._section("Stage Gates")
        t = self._table(s, "Stage")
        status_i = t.column("Gate Status")
        rule_i = t.column("Gate Rule Summary")
        ev_i = t.column("Evidence")
        if status_i is None or ev_i is None:
            raise self._err(t.line, "Stage Gates table needs the columns 'Gate Status' "
                                    "and 'Evidence'")
        gates: dict[int, GateRow] = {}
        memo = _GATE_ROWS
        for row in t.rows:
            key = (tuple(row.cells), status_i, rule_i, ev_i)
            known = memo.get(key)  # gate rows repeat across files: each is checked once
            if known is not None:
                n = known[0]
                if n in gates:
                    raise self._err(row.line, f"Stage Gates has two rows for stage {n}")
                gates[n] = GateRow(*known, line=row.line)
                continue
            if row.is_empty:
                continue
            m = _STAGE_CELL.match(row.cells[0].strip())
            if not m:
                raise self._err(row.line, f"Stage Gates row starts with {row.cells[0]!r}; "
                                          "expected '<n> <Stage Name>'")
            n = int(m.group(1))
            if n not in C.STAGE_NUMBERS:
                raise self._err(row.line, f"Stage Gates row for unknown stage {n}")
            if n in gates:
                raise self._err(row.line, f"Stage Gates has two rows for stage {n}")
            cell = lambda i: row.cells[i] if i is not None and i < len(row.cells) else ""  # noqa: E731
            status = normalize_value(cell(status_i))
            if status is not None and status not in C.GATE_STATUSES:
                raise self._err(row.line, f"gate status of stage {n} is {status!r}; allowed: "
                                          f"{', '.join(C.GATE_STATUSES)}")
            values = (n, row.cells[0].strip(), status, cell(rule_i).strip(), _clean(cell(ev_i)))
            gates[n] = GateRow(*values, line=row.line)
            if len(memo) >= 20_000:
                memo.clear()
            memo[key] = values
        missing = [n for n in C.STAGE_NUMBERS if n not in gates]
        if missing:
            raise self._err(t.line, "Stage Gates table lacks rows for stage(s) "
                                    f"{', '.join(map(str, missing))}")
        return gates

    def _parse_reentry(self) -> ReEntry:
        s = self._section("Re-Entry Declaration")
        trig_f = s.field("Trigger Stage")
        cls_f = s.field("Classification")
        path_f = s.field("Required Return Path")
        trig = self._stage_value(trig_f, "Trigger Stage", allow_empty_words=True)
        cls = self._enum(cls_f, (C.NA, *C.CLASSIFICATIONS), "Re-Entry classification")
        path_text = path_f.value if path_f else None
        if path_text and path_text.upper() == C.NA:
            path_text = None
        up = s.field("Required Upstream Artifacts To Update Before More Source Edits")
        res = s.field("Resume Condition")
        return ReEntry(
            trigger_stage=trig,
            classification=None if cls in (None, C.NA) else cls,
            return_path=parse_path(path_text),
            path_text=path_text,
            upstream_artifacts=up.value if up else None,
            resume_condition=res.value if res else None,
        )

    def _parse_transitions(self) -> list[TransitionRow]:
        s = self._section("Transition Log")
        t = self._table(s, "Transition ID")
        cols = [(c, t.column(c)) for c in TRANSITION_COLUMNS]
        rows: list[TransitionRow] = []
        memo = _TRANSITION_ROWS
        col_key = tuple(i for _, i in cols)
        for row in t.data_rows:
            key = (tuple(row.cells), col_key)
            known = memo.get(key)  # a row is checked once, however many files repeat it
            if known is not None:
                rows.append(TransitionRow(*known, line=row.line))
                continue
            get = _row_values(row.cells, cols)
            tid = get["Transition ID"]
            if not _T_ID.match(tid):
                raise self._err(row.line, f"Transition ID {tid!r} does not look like T-NNN")
            values = (
                tid, get["Date"],
                self._cell_stage(get["From Stage"], row.line, "From Stage"),
                self._cell_stage(get["To Stage"], row.line, "To Stage"),
                get["Reason"],
                None if get["Classification"] in ("", C.NA) else get["Classification"],
                get["Code Edit Permission After Transition"] or None,
                get["Evidence Updated"])
            rows.append(TransitionRow(*values, line=row.line))
            if len(memo) >= 20_000:
                memo.clear()
            memo[key] = values
        return rows

    def _cell_stage(self, text: str, line: int, what: str) -> int | None:
        if text in ("", C.NA, "-"):
            return None
        if text.isdigit() and int(text) in C.STAGE_NUMBERS:
            return int(text)
        raise self._err(line, f"{what} is {text!r}; expected a stage number 0-8")

    def _parse_violations(self) -> list[ViolationRow]:
        s = self._section("Process Violation Log")
        t = self._table(s, "Date")
        cols = [(c, t.column(c)) for c in VIOLATION_COLUMNS]
        rows: list[ViolationRow] = []
        for row in t.data_rows:
            get = _row_values(row.cells, cols)
            vid = get["Violation ID"]
            if not _V_ID.match(vid):
                raise self._err(row.line, f"Violation ID {vid!r} does not look like V-NNN")
            cleared_txt = get["Cleared"]
            cleared = None if not cleared_txt else cleared_txt.lower() == "yes"
            rows.append(ViolationRow(
                date=get["Date"], id=vid, violation=get["Violation"],
                stage=self._cell_stage(get["Detected At Stage"], row.line, "Detected At Stage"),
                action=get["Action Taken"], cleared=cleared, line=row.line))
        return rows

    def _parse_stage_entries(self) -> tuple[dict[int, str], int | None]:
        """The ``<!-- mlgate-stage-entry: 4=<sha> 6=<sha> -->`` line: the commit HEAD was at
        when the ticket entered each stage (the stage-4 and stage-6 gates compare against
        it). Sealed with the rest; absent in files written before it existed."""
        if STAGE_ENTRY_PREFIX not in self.doc.text:
            return {}, None
        found: tuple[dict[int, str], int | None] = ({}, None)
        for i, raw in enumerate(self.doc.lines):
            if not raw.startswith(STAGE_ENTRY_PREFIX):
                continue
            if found[1] is not None:
                raise self._err(i + 1, "more than one mlgate stage-entry line")
            body = raw.rstrip("\r\n")
            if not body.endswith("-->"):
                raise self._err(i + 1, "malformed mlgate stage-entry line")
            entries: dict[int, str] = {}
            for item in body[len(STAGE_ENTRY_PREFIX):-3].split():
                stage, eq, sha = item.partition("=")
                if not (eq and stage.isdigit() and int(stage) in C.STAGE_NUMBERS
                        and is_commit_sha(sha)):
                    raise self._err(i + 1, f"mlgate stage-entry item {item!r}; expected "
                                           "<stage>=<commit sha>")
                entries[int(stage)] = sha
            found = (entries, i + 1)
        return found

    def _parse_windows(self) -> tuple[list[tuple[str, str | None]], int | None]:
        """The ``<!-- mlgate-stage4-windows: a..b c.. -->`` line (sealed; absent in files
        written before it existed): ``[(entry, exit or None)]``, oldest first."""
        if WINDOWS_PREFIX not in self.doc.text:
            return [], None
        found: tuple[list[tuple[str, str | None]], int | None] = ([], None)
        for i, raw in enumerate(self.doc.lines):
            if not raw.startswith(WINDOWS_PREFIX):
                continue
            if found[1] is not None:
                raise self._err(i + 1, "more than one mlgate stage4-windows line")
            body = raw.rstrip("\r\n")
            if not body.endswith("-->"):
                raise self._err(i + 1, "malformed mlgate stage4-windows line")
            windows: list[tuple[str, str | None]] = []
            for item in body[len(WINDOWS_PREFIX):-3].split():
                start, dots, end = item.partition("..")
                if not (dots and is_commit_sha(start) and (not end or is_commit_sha(end))):
                    raise self._err(i + 1, f"mlgate stage4-windows item {item!r}; expected "
                                           "<entry sha>..<exit sha> (exit empty while open)")
                windows.append((start, end or None))
            found = (windows, i + 1)
        return found

    def _parse_seal(self) -> tuple[str | None, int | None]:
        found: tuple[str | None, int | None] = (None, None)
        text, lines = self.doc.text, self.doc.lines
        if C.SEAL_PREFIX not in text:
            return found
        if text.count(C.SEAL_PREFIX) == 1:  # the usual case: find that one line from the end
            for i in range(len(lines) - 1, -1, -1):
                if C.SEAL_PREFIX in lines[i]:
                    if not lines[i].startswith(C.SEAL_PREFIX):
                        return found
                    m = C.SEAL_RE.match(lines[i].rstrip("\r\n"))
                    if not m:
                        raise self._err(i + 1, "malformed mlgate seal line")
                    return m.group("digest"), i + 1
        for i, raw in enumerate(self.doc.lines):
            if raw.startswith(C.SEAL_PREFIX):
                m = C.SEAL_RE.match(raw.rstrip("\r\n"))
                if not m:
                    raise self._err(i + 1, "malformed mlgate seal line")
                if found[0] is not None:
                    raise self._err(i + 1, "more than one mlgate seal line")
                found = (m.group("digest"), i + 1)
        return found

    # -- queries -------------------------------------------------------------------

    def render(self) -> str:
        return self.doc.render()

    def line_of(self, section_title: str, field_key: str | None = None) -> int:
        s = self.doc.section(section_title)
        if s is None:
            return 1
        if field_key:
            f = s.field(field_key)
            if f is not None:
                return f.line
        return s.line

    @property
    def sections_in_order(self) -> bool:
        order = [s.title for s in self.doc.sections if s.title in ALL_SECTIONS]
        return order == [t for t in ALL_SECTIONS if t in order]

    def next_transition_id(self) -> str:
        nums = [int(_T_ID.match(t.id).group(1)) for t in self.transitions]  # type: ignore[union-attr]
        return f"T-{max(nums, default=0) + 1:03d}"

    def next_violation_id(self) -> str:
        nums = [int(_V_ID.match(v.id).group(1)) for v in self.violations]  # type: ignore[union-attr]
        return f"V-{max(nums, default=0) + 1:03d}"

    # -- editing (each edit re-parses, so views stay consistent) --------------------

    def _replace_line(self, lineno: int, text: str) -> None:
        if self.doc.lines[lineno - 1] != text:
            self.doc.lines[lineno - 1] = text

    def _reparse(self) -> None:
        self._load("".join(self.doc.lines))

    def _set_field(self, section: str, key: str, value: str | None) -> None:
        s = self._section(section)
        f = s.field(key)
        if f is None:
            raise self._err(s.line, f"section '## {section}' has no '- {key}:' field")
        original = self.doc.lines[f.line - 1]
        if f.value == normalize_value(value) and (value or "") == f.raw:
            return
        self._replace_line(f.line, render_field_line(f, value, original))

    def set_snapshot(self, **values: Any) -> None:
        """Set snapshot fields: ticket, current_stage, next_stage, permission, active_reentry,
        classification, last_transition_id, last_updated."""
        mapping = {
            "ticket": ("Ticket", lambda v: v),
            "current_stage": ("Current Stage", lambda v: f"`{v}`"),
            "next_stage": ("Next Stage", lambda v: "`N/A`" if v is None else f"`{v}`"),
            "permission": ("Code Edit Permission", lambda v: f"`{v}`"),
            "active_reentry": ("Active Re-Entry", lambda v: "`Yes`" if v else "`No`"),
            "classification": ("Re-Entry Classification", lambda v: f"`{v or C.NA}`"),
            "last_transition_id": ("Last Transition ID", lambda v: f"`{v}`" if v else ""),
            "last_updated": ("Last Updated", lambda v: v or ""),
        }
        for name, value in values.items():
            key, fmt = mapping[name]
            self._set_field("Current Snapshot", key, fmt(value))
        self._reparse()

    def set_bootstrap(self, values: dict[str, str | None]) -> None:
        for key, value in values.items():
            if key not in BOOTSTRAP_KEYS:
                raise KeyError(key)
            text = "" if value is None else (value if key == "Remote Refresh Result" else f"`{value}`")
            self._set_field("Stage 0 Bootstrap Record", key, text)
        self._reparse()

    def set_gate(self, stage: int, status: str | None = None, evidence: str | None = None) -> None:
        s = self._section("Stage Gates")
        t = self._table(s, "Stage")
        row = next(r for r in t.rows if r.line == self.gates[stage].line)
        cells = list(row.cells)
        while len(cells) < len(t.header):
            cells.append("")
        si, ei = t.column("Gate Status"), t.column("Evidence")
        changed = False
        if status is not None and si is not None and normalize_value(cells[si]) != status:
            cells[si] = status
            changed = True
        if evidence is not None and ei is not None and _clean(cells[ei]) != evidence:
            cells[ei] = evidence
            changed = True
        if changed:
            original = self.doc.lines[row.line - 1]
            ending = original[len(original.rstrip("\r\n")):]
            self._replace_line(row.line, render_row(cells, ending or "\n"))
            self._reparse()

    def set_pre_edit(self, values: dict[str, str]) -> None:
        s = self._section("Pre-Edit Checklist")
        for key, value in values.items():
            f = s.field(key)
            if f is None:
                raise self._err(s.line, f"Pre-Edit Checklist has no '- {key}:' field")
            self._replace_line(f.line, render_field_line(f, f"`{value}`",
                                                         self.doc.lines[f.line - 1]))
        self._reparse()

    def set_reentry(self, trigger: int | None, classification: str | None,
                    path_text: str | None, upstream: str | None, resume: str | None) -> None:
        vals = {
            "Trigger Stage": f"`{trigger}`" if trigger is not None else "",
            "Classification": f"`{classification}`" if classification else "",
            "Required Return Path": f"`{path_text}`" if path_text else "",
            "Required Upstream Artifacts To Update Before More Source Edits": upstream or "",
            "Resume Condition": resume or "",
        }
        for key, value in vals.items():
            self._set_field("Re-Entry Declaration", key, value)
        self._reparse()

    def _append_row(self, section: str, first_col: str, cells: list[str]) -> None:
        s = self._section(section)
        t = self._table(s, first_col)
        nl = self.doc.newline()
        placeholder_lines = [r.line for r in t.rows if r.is_placeholder or r.is_empty]
        insert_at = t.end_line  # 0-based index after the last table line
        new_line = render_row(cells, nl)
        last = self.doc.lines[insert_at - 1]
        if not last.endswith(("\n", "\r")):
            self.doc.lines[insert_at - 1] = last + nl
        self.doc.lines.insert(insert_at, new_line)
        for ln in sorted(placeholder_lines, reverse=True):
            del self.doc.lines[ln - 1]
        self._reparse()

    def append_transition(self, row: TransitionRow) -> None:
        if row.id != self.next_transition_id():
            raise ValueError(f"transition id {row.id} is not the next one "
                             f"({self.next_transition_id()})")
        self._append_row("Transition Log", "Transition ID", row.cells())

    def append_violation(self, row: ViolationRow) -> None:
        self._append_row("Process Violation Log", "Date", row.cells())

    def clear_violation(self, vid: str) -> None:
        s = self._section("Process Violation Log")
        t = self._table(s, "Date")
        ci = t.column("Cleared")
        for r in t.data_rows:
            if _clean(r.cells[t.column("Violation ID") or 1]) == vid and ci is not None:
                cells = list(r.cells)
                cells[ci] = "Yes"
                original = self.doc.lines[r.line - 1]
                ending = original[len(original.rstrip("\r\n")):]
                self._replace_line(r.line, render_row(cells, ending or "\n"))
        self._reparse()

    # -- seal ------------------------------------------------------------------------

    def set_stage_entry(self, stage: int, sha: str) -> None:
        """Record that the ticket entered ``stage`` at commit ``sha`` (kept on one comment
        line just above the seal line, and sealed)."""
        entries = dict(self.stage_entries)
        entries[stage] = sha
        nl = self.doc.newline()
        line = STAGE_ENTRY_PREFIX + " " + " ".join(
            f"{k}={v}" for k, v in sorted(entries.items())) + f" -->{nl}"
        if self.stage_entry_line is not None:
            self.doc.lines[self.stage_entry_line - 1] = line
        elif self.seal_line is not None:
            self.doc.lines.insert(self.seal_line - 1, line)
        else:
            if self.doc.lines and not self.doc.lines[-1].endswith(("\n", "\r")):
                self.doc.lines[-1] += nl
            self.doc.lines.append(line)
        self._reparse()

    def set_windows(self, windows: list[tuple[str, str | None]]) -> None:
        """Record the stage-4 windows (one sealed comment line above the stage-entry line)."""
        nl = self.doc.newline()
        line = WINDOWS_PREFIX + " " + " ".join(
            f"{a}..{b or ''}" for a, b in windows) + f" -->{nl}"
        if self.windows_line is not None:
            self.doc.lines[self.windows_line - 1] = line
        else:
            at = self.stage_entry_line or self.seal_line
            if at is not None:
                self.doc.lines.insert(at - 1, line)
            else:
                if self.doc.lines and not self.doc.lines[-1].endswith(("\n", "\r")):
                    self.doc.lines[-1] += nl
                self.doc.lines.append(line)
        self._reparse()

    def seal_payload(self) -> bytes:
        """The canonical bytes the seal covers: machine-owned fields, the logs, and the
        stage-entry commits when the file has them (so files sealed before that line existed
        still verify)."""
        snap = as_dict(self.snapshot)
        snap.pop("last_updated", None)
        data: dict[str, object] = {
            "snapshot": snap,
            "bootstrap": self.bootstrap,
            "gates": {str(n): g.status for n, g in sorted(self.gates.items())},
            "pre_edit": self.pre_edit,
            "reentry": {k: v for k, v in as_dict(self.reentry).items() if k != "return_path"},
            "transitions": [r.cells() for r in self.transitions],
            "violations": [r.cells() for r in self.violations],
        }
        if self.stage_entry_line is not None:
            data["stage_entries"] = {str(k): v for k, v in self.stage_entries.items()}
        if self.windows_line is not None:
            data["stage4_windows"] = [f"{a}..{b or ''}" for a, b in self.windows]
        return json.dumps(data, sort_keys=True, ensure_ascii=True).encode("ascii")

    def compute_seal(self, key: bytes) -> str:
        return mac(key, self.seal_payload())

    @property
    def seal_version(self) -> str | None:
        if self.seal_line is None:
            return None
        m = C.SEAL_RE.match(self.doc.lines[self.seal_line - 1].rstrip("\r\n"))
        return m.group("version") if m else None

    def apply_seal(self, key: bytes) -> None:
        """Write (or replace) the seal line at the end of the file."""
        digest = self.compute_seal(key)
        nl = self.doc.newline()
        line = f"{C.SEAL_PREFIX} {SEAL_VERSION} {digest} -->{nl}"
        if self.seal_line is not None:
            self.doc.lines[self.seal_line - 1] = line
        else:
            if self.doc.lines and not self.doc.lines[-1].endswith(("\n", "\r")):
                self.doc.lines[-1] += nl
            self.doc.lines.append(line)
        self._reparse()
