"""``mlgate report NAME --html FILE``: one self-contained HTML page about a ticket.

The page needs no network and no other file: CSS is inline, each run's curves
(``runs/RUN-NNN/viz/*.png``) are embedded as ``data:`` URIs, and the stage diagram and the
timeline are inline SVG drawn here (no mermaid, no CDN). A run without plots gets its curves
drawn as SVG from ``metrics.jsonl``. Links to the ticket's artifacts are relative paths from
the page's folder, so they open as ``file:`` links next to the page.

Sections: header (stage, permission, branch, verification), stage diagram, timeline of the
Transition Log (dates, reasons, re-entries), gates table, re-entries, success criteria and
their closure, runs (metrics against the baseline of ``baselines.yaml``, curves), handler
evidence, process violations, artifacts.

>>> from mlgate import Workspace                                  # doctest: +SKIP
>>> write_html(Workspace.discover(".").ticket("digits-mlp"), Path("report.html"))  # doctest: +SKIP
"""
from __future__ import annotations

import base64
import datetime as dt
import html
import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlgate import __version__
from mlgate import artifacts as A
from mlgate.runs import baselines as B
from mlgate.runs import closure
from mlgate import constants as C
from mlgate.evidence import results as ev
from mlgate.errors import MlgateError
from mlgate.state.statefile import ReEntry, StateDoc, TransitionRow, ViolationRow
from mlgate.util import atomic_write

__all__ = ["write_html", "render_html", "collect", "ReportData"]

VERIFY_PREFIX = "User verification received from "
IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
               ".gif": "image/gif", ".webp": "image/webp"}
MAX_IMAGE_BYTES = 4_000_000  # per image; a larger one is linked instead of embedded
STATUS_CLASS = {"Pass": "pass", "Fail": "fail", "In Progress": "progress",
                "Blocked": "blocked", "Not Started": "todo", None: "todo"}
STAGE_SHORT = ("Bootstrap", "Investigation", "Requirements", "Plan", "Implementation",
               "Training", "Review", "Docs", "Handoff")
SERIES_COLORS = ("#2563eb", "#dc2626", "#059669", "#d97706", "#7c3aed", "#0891b2",
                 "#be185d", "#4b5563")


# -- data ----------------------------------------------------------------------------------


@dataclass
class MetricRow:
    key: str
    last: float | None
    best: float | None
    baseline: float | None
    direction: str  # "min" | "max"

    @property
    def delta(self) -> float | None:
        if self.last is None or self.baseline is None or not math.isfinite(self.last):
            return None
        return self.last - self.baseline

    @property
    def verdict(self) -> str | None:
        d = self.delta
        if d is None:
            return None
        if d == 0:
            return "equal"
        return "better" if (d < 0) == (self.direction == "min") else "worse"


@dataclass
class RunView:
    record: closure.RunRecord
    metrics: list[MetricRow]
    images: list[tuple[str, str]]  # (name, data URI)
    series: dict[str, list[tuple[float, float]]]  # for the SVG fallback
    promoted: bool = False


@dataclass
class ReportData:
    """Everything the page shows, read from the ticket's files (no writes)."""

    ticket: str
    folder: Path
    archived: bool
    doc: StateDoc
    seal: str
    branch: str | None
    base: str | None
    worktree: str | None
    verified_by: str | None
    criteria: list[closure.Criterion]
    closure_rows: list[dict[str, str]]
    gate_decision: dict[str, str | None]
    best_run: str | None
    runs: list[RunView]
    baseline: B.BaselineEntry | None
    baseline_note: str
    evidence: list[dict[str, Any]]
    artifacts: list[dict[str, Any]]
    stages: tuple[C.Stage, ...] = C.STAGES  # the domain profile's stage names and artifacts
    generated: str = field(default_factory=lambda: dt.datetime.now().astimezone()
                           .isoformat(timespec="seconds"))

    @property
    def stage(self) -> int | None:
        return self.doc.snapshot.current_stage

    @property
    def transitions(self) -> list[TransitionRow]:
        return self.doc.transitions

    @property
    def reentry(self) -> ReEntry:
        return self.doc.reentry

    @property
    def violations(self) -> list[ViolationRow]:
        return self.doc.violations


def _baseline_for(ticket: Any) -> tuple[B.BaselineEntry | None, str]:
    """The baseline the ticket was measured against: the current one, or, when the current
    one was promoted from this ticket, the one it replaced."""
    try:
        b = B.load(ticket.ws.root, ticket.ws.config.baseline_file)
    except (MlgateError, OSError, ValueError) as exc:  # the page still renders
        return None, f"baselines.yaml could not be read: {exc}"
    cur = b.current
    if cur is None:
        return None, "no baseline recorded (baselines.yaml)"
    if cur.ticket == ticket.name and cur.previous is not None:
        prev = b.entry(cur.previous)
        note = (f"baseline {cur.id} was promoted from this ticket ({cur.run or '?'}, "
                f"{cur.date or '?'}); the comparison uses baseline {cur.previous}, the one it "
                "replaced")
        if prev is not None:
            return prev, note
    return cur, (f"baseline {cur.id}" + (f", {cur.note}" if cur.note else "")
                 + (f", set {cur.date}" if cur.date else ""))


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _data_uri(path: Path) -> str | None:
    mime = IMAGE_TYPES.get(path.suffix.lower())
    if mime is None:
        return None
    try:
        data = path.read_bytes()
    except OSError:
        return None
    if len(data) > MAX_IMAGE_BYTES:
        return None
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _series(run_dir: Path, keys: list[str]) -> dict[str, list[tuple[float, float]]]:
    out: dict[str, list[tuple[float, float]]] = {}
    try:
        lines = (run_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    except OSError:
        return out
    for i, line in enumerate(lines):
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if not isinstance(rec, dict):
            continue
        step = rec.get("step", rec.get("_step", i))
        if isinstance(step, bool) or not isinstance(step, (int, float)):
            step = i
        for k in keys:
            v = rec.get(k)
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
                out.setdefault(k, []).append((float(step), float(v)))
    return out


def _run_views(folder: Path, base: B.BaselineEntry | None,
               promoted_run: str | None) -> list[RunView]:
    views = []
    for rec in closure.load_runs(folder):
        keys = rec.metric_keys()
        rows = []
        for k in keys:
            direction = (base.direction.get(k) if base is not None else None) or \
                rec.direction.get(k) or B.heuristic_direction(k)
            last = _number(rec.last.get(k))
            best = _number(rec.best.get(k)) if k in rec.best else None
            bval = _number(base.metrics.get(k)) if base is not None else None
            rows.append(MetricRow(k, last, best, bval, direction))
        rows.sort(key=lambda r: (r.baseline is None, keys.index(r.key)))
        images = []
        for rel in rec.plots:
            uri = _data_uri(rec.path / "viz" / rel)
            if uri is not None:
                images.append((rel, uri))
        series = _series(rec.path, keys)
        views.append(RunView(rec, rows, images, series, promoted=rec.run == promoted_run))
    return views


def _closure_rows(folder: Path) -> tuple[list[dict[str, str]], dict[str, str | None],
                                         str | None]:
    art = A.load(folder, A.REPORT)
    if art is None:
        return [], {}, None
    rows = []
    view = art.table("Success Criteria Closure")
    if view is not None:
        for r in view.rows:
            rows.append({"sc": r.first or "", "requirement": r.get("Requirement ID") or "",
                         "expected": r.get("Expected Outcome") or "",
                         "runs": r.get("Evidence Run*") or "",
                         "observed": r.get("Observed Result") or "",
                         "decision": r.get("Decision*") or "",
                         "notes": r.get("Notes") or ""})
    decision = {
        "decision": art.value("Gate Decision", "Stage 5 Decision"),
        "next": art.value("Gate Decision", "Next action"),
    }
    best = art.value("Best Current Result", "Best run")
    registry = art.table("Run Registry")
    if registry is not None:
        for r in registry.rows:
            if r.first:
                decision[f"purpose:{r.first}"] = r.get("Purpose")
    return rows, decision, best


def _evidence(folder: Path) -> list[dict[str, Any]]:
    out = []
    for path, stage, handler, n in ev.list_evidence(folder):
        try:
            res = ev.load(path)
        except (OSError, ValueError, TypeError):
            out.append({"file": f"{C.EVIDENCE_DIR}/{path.name}", "stage": stage,
                        "handler": handler, "status": "unreadable", "commit": None,
                        "finished": None, "checks": ""})
            continue
        counts: dict[str, int] = {}
        for c in res.checks:
            counts[c.status] = counts.get(c.status, 0) + 1
        failing = [f"{c.id}: {c.detail.splitlines()[0] if c.detail else ''}"
                   for c in res.checks if c.status == "fail"]
        out.append({"file": f"{C.EVIDENCE_DIR}/{path.name}", "stage": stage,
                    "handler": handler, "status": res.status, "commit": res.commit,
                    "finished": res.finished,
                    "checks": ", ".join(f"{v} {k}" for k, v in sorted(counts.items())),
                    "failing": failing})
    return out


def _artifacts(folder: Path, html_dir: Path,
               stages: tuple[C.Stage, ...] = C.STAGES) -> list[dict[str, Any]]:
    names: list[tuple[str, str]] = [("state", C.STATE_FILE)]
    seen = set()
    for st in stages:
        if st.artifact and st.artifact not in seen:
            seen.add(st.artifact)
            names.append((f"{st.number} {st.name}", st.artifact))
    out = []
    for label, name in names:
        path = folder / name
        status = updated = None
        if path.is_file() and name != C.STATE_FILE:
            try:
                art = A.load(folder, name)
                if art is not None:
                    status, updated = art.status, art.last_updated
            except (MlgateError, OSError, ValueError):  # still linked
                status = "unreadable"
        out.append({"label": label, "name": name, "exists": path.is_file(),
                    "status": status, "updated": updated,
                    "href": _relhref(path, html_dir)})
    for extra in (C.EVIDENCE_DIR, C.RUNS_DIR):
        p = folder / extra
        if p.is_dir():
            out.append({"label": "folder", "name": f"{extra}/", "exists": True,
                        "status": None, "updated": None, "href": _relhref(p, html_dir)})
    return out


def _relhref(path: Path, html_dir: Path) -> str:
    rel = os.path.relpath(path.resolve(), html_dir.resolve())
    return "/".join(_quote(p) for p in Path(rel).parts)


def _quote(part: str) -> str:
    from urllib.parse import quote

    return quote(part, safe="-_.~")


def collect(ticket: Any, html_dir: Path | None = None) -> ReportData:
    """Read what the page shows from ``ticket`` (a :class:`mlgate.workspace.Ticket`)."""
    folder = Path(ticket.folder)
    doc = ticket.doc()
    try:
        seal = ticket.seal_status(doc)
    except (MlgateError, OSError, ValueError):
        seal = "unknown"
    boot = doc.bootstrap
    base_branch = boot.get("Resolved Base Branch")
    base_remote = boot.get("Resolved Base Remote")
    base = None
    if base_branch and base_branch not in (C.NA, "unresolved"):
        base = base_branch if base_remote in (None, "local", C.NA) else \
            f"{base_remote}/{base_branch}"
    verified = None
    for row in doc.transitions:
        if row.reason.startswith(VERIFY_PREFIX):
            verified = f"{row.reason[len(VERIFY_PREFIX):].strip()} on {row.date}"
    try:
        criteria = closure.read_success_criteria(folder / C.STAGES[2].artifact)  # type: ignore
    except (MlgateError, OSError, ValueError):
        criteria = []
    rows, decision, best = _closure_rows(folder)
    baseline, note = _baseline_for(ticket)
    stages = getattr(ticket.ws, "stages", C.STAGES)
    promoted_run = None
    try:
        cur = B.load(ticket.ws.root, ticket.ws.config.baseline_file).current
        if cur is not None and cur.ticket == ticket.name:
            promoted_run = cur.run
    except (MlgateError, OSError, ValueError):
        pass
    return ReportData(
        ticket=ticket.name, folder=folder, archived=bool(ticket.archived), doc=doc, seal=seal,
        branch=boot.get("Ticket Branch"), base=base, worktree=boot.get("Ticket Worktree Path"),
        verified_by=verified, criteria=criteria, closure_rows=rows, gate_decision=decision,
        best_run=best, runs=_run_views(folder, baseline, promoted_run), baseline=baseline,
        baseline_note=note, evidence=_evidence(folder),
        artifacts=_artifacts(folder, html_dir or folder, stages), stages=stages)


# -- formatting ----------------------------------------------------------------------------


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def fmt(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "–"
    if not math.isfinite(value):
        return str(value)
    if value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-3):
        text = f"{value:.3e}"
    elif float(value).is_integer() and abs(value) >= 100:
        text = f"{value:.0f}"
    else:
        text = f"{value:.4f}"
    return ("+" + text) if signed and value > 0 else text


def md(text: Any) -> str:
    """Escape ``text`` and render its `backtick` spans as <code>."""
    parts = esc(text).split("`")
    if len(parts) % 2 == 0:  # unbalanced: leave the backticks as they are
        return esc(text)
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))


def _badge(text: str | None, cls: str) -> str:
    return f'<span class="badge {cls}">{esc(text or "–")}</span>'


def _status_badge(status: str | None) -> str:
    return _badge(status or "Not Started", STATUS_CLASS.get(status, "todo"))


def _decision_class(decision: str) -> str:
    return {"Passed": "pass", "Failed": "fail", "Inconclusive": "progress",
            "Waived": "blocked"}.get(decision, "todo")


def _stage_label(n: int | None, stages: tuple[C.Stage, ...] = C.STAGES) -> str:
    if n is None:
        return "–"
    return stages[n].label if 0 <= n < len(stages) else str(n)


# -- SVG -----------------------------------------------------------------------------------


FILL = {"pass": "#dcfce7", "fail": "#fee2e2", "progress": "#fef3c7", "blocked": "#ede9fe",
        "todo": "#f3f4f6"}
STROKE = {"pass": "#16a34a", "fail": "#dc2626", "progress": "#d97706", "blocked": "#7c3aed",
          "todo": "#9ca3af"}


def _reentries(rows: list[TransitionRow]) -> list[TransitionRow]:
    return [r for r in rows if r.classification and r.classification != C.NA
            and r.from_stage is not None and r.to_stage is not None]


def stage_diagram(data: ReportData) -> str:
    """The workflow as an inline SVG: nine stage boxes coloured by gate status, the current
    one outlined, forward edges, skips taken on a return path (above) and re-entries
    (below, labelled with their classification)."""
    box_w, box_h, gap = 100, 54, 18
    n = len(C.STAGES)
    width = 20 + n * box_w + (n - 1) * gap + gap + 70
    reentries = _reentries(data.transitions)
    skips = sorted({(r.from_stage, r.to_stage) for r in data.transitions
                    if r.from_stage is not None and r.to_stage is not None
                    and r.to_stage > r.from_stage + 1})
    top = 48 + (30 + 10 * len(skips) if skips else 0)
    height = top + box_h + 14 + 34 * len(reentries) + (16 if reentries else 0)

    def x_of(s: int) -> float:
        return 20 + s * (box_w + gap)

    parts = [f'<svg class="diagram" role="img" aria-label="stage diagram" '
             f'viewBox="0 0 {width} {height}" '
             f'width="{width}" height="{height}">',
             '<defs><marker id="arr" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
             'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
             'fill="#6b7280"/></marker><marker id="arr-r" viewBox="0 0 10 10" refX="9" '
             'refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
             '<path d="M0,0 L10,5 L0,10 z" fill="#dc2626"/></marker></defs>']
    gates = data.doc.gates
    cur = data.stage
    for st in data.stages:
        g = gates.get(st.number)
        cls = STATUS_CLASS.get(g.status if g else None, "todo")
        x = x_of(st.number)
        current = cur == st.number and not data.archived
        sw = 3.5 if current else 1.5
        parts.append(f'<g class="stage-node" data-stage="{st.number}"><rect x="{x}" y="{top}" '
                     f'width="{box_w}" height="{box_h}" rx="9" fill="{FILL[cls]}" '
                     f'stroke="{"#111827" if current else STROKE[cls]}" stroke-width="{sw}"/>'
                     f'<text x="{x + box_w / 2}" y="{top + 22}" class="n">{st.number}</text>'
                     f'<text x="{x + box_w / 2}" y="{top + 40}" class="s">'
                     f'{esc(STAGE_SHORT[st.number])}</text>'
                     f'<title>{esc(st.label)}: {esc(g.status if g else "Not Started")}</title>'
                     '</g>')
        if st.number < n - 1:
            parts.append(f'<line x1="{x + box_w}" y1="{top + box_h / 2}" x2="{x + box_w + gap - 2}" '
                         f'y2="{top + box_h / 2}" stroke="#6b7280" stroke-width="1.5" '
                         'marker-end="url(#arr)"/>')
    # done node
    dx = x_of(n - 1) + box_w + gap
    dcls = "pass" if data.archived else "todo"
    parts.append(f'<line x1="{dx - gap}" y1="{top + box_h / 2}" x2="{dx - 2}" '
                 f'y2="{top + box_h / 2}" stroke="#6b7280" stroke-width="1.5" '
                 'marker-end="url(#arr)"/>')
    parts.append(f'<g class="stage-node" data-stage="done"><rect x="{dx}" y="{top + 6}" '
                 f'width="62" height="{box_h - 12}" rx="21" fill="{FILL[dcls]}" '
                 f'stroke="{"#111827" if data.archived else STROKE[dcls]}" '
                 f'stroke-width="{3.5 if data.archived else 1.5}"/><text x="{dx + 31}" '
                 f'y="{top + box_h / 2 + 5}" class="s">done</text></g>')
    for i, (a, b) in enumerate(skips):
        xa, xb = x_of(a) + box_w / 2, x_of(b) + box_w / 2
        h = 34 + 10 * i
        parts.append(f'<path d="M{xa},{top} C{xa},{top - h} {xb},{top - h} {xb},{top - 2}" '
                     'fill="none" stroke="#6b7280" stroke-dasharray="4 3" stroke-width="1.5" '
                     'marker-end="url(#arr)"/>'
                     f'<text x="{(xa + xb) / 2}" y="{top - h + 4}" class="lbl">skip {a}→{b}'
                     '</text>')
    for i, r in enumerate(reentries):
        a, b = r.from_stage, r.to_stage
        assert a is not None and b is not None
        xa = x_of(a) + box_w / 2 + 8
        xb = x_of(b) + box_w / 2 - 8
        y0 = top + box_h
        depth = 30 + 34 * i
        parts.append(f'<path class="reentry" d="M{xa},{y0} C{xa},{y0 + depth} {xb},'
                     f'{y0 + depth} {xb},{y0 + 2}" fill="none" stroke="#dc2626" '
                     'stroke-width="2" marker-end="url(#arr-r)"/>'
                     f'<text x="{(xa + xb) / 2}" y="{y0 + depth * 0.75 + 12}" class="lbl red">'
                     f'{esc(r.id)} {esc(r.classification)} ({a}→{b}, {esc(r.date)})</text>')
    legend_x = 20
    parts.append(f'<g class="legend" transform="translate({legend_x},14)">')
    for i, (label, cls) in enumerate((("Pass", "pass"), ("In Progress", "progress"),
                                      ("Fail", "fail"), ("Blocked", "blocked"),
                                      ("Not Started", "todo"))):
        lx = i * 112
        parts.append(f'<rect x="{lx}" y="0" width="14" height="14" rx="3" fill="{FILL[cls]}" '
                     f'stroke="{STROKE[cls]}"/><text x="{lx + 20}" y="11" class="lg">'
                     f'{label}</text>')
    parts.append(f'<rect x="{5 * 112}" y="0" width="14" height="14" rx="3" fill="#fff" '
                 f'stroke="#111827" stroke-width="3"/><text x="{5 * 112 + 20}" y="11" '
                 'class="lg">current</text>')
    parts.append('</g></svg>')
    return "".join(parts)


def timeline_svg(data: ReportData) -> str:
    """The stage of the ticket after each transition (a step line), one column per
    Transition Log row with its id and date; re-entries in red."""
    rows = [r for r in data.transitions if r.to_stage is not None]
    if not rows:
        return '<p class="muted">No transitions yet.</p>'
    col, left, top, row_h = 64, 130, 16, 26
    width = left + col * len(rows) + 40
    height = top + row_h * len(C.STAGES) + 70

    def y_of(s: int) -> float:
        return top + row_h * s + row_h / 2

    parts = [f'<svg class="timeline" role="img" aria-label="timeline" '
             f'viewBox="0 0 {width} {height}" '
             f'width="{width}" height="{height}">']
    for st in data.stages:
        y = y_of(st.number)
        parts.append(f'<line x1="{left - 8}" y1="{y}" x2="{width - 20}" y2="{y}" '
                     'stroke="#e5e7eb"/><text x="{0}" y="{1}" class="axis">{2}</text>'
                     .format(left - 14, y + 4, esc(f"{st.number} {STAGE_SHORT[st.number]}")))
    first = rows[0].from_stage if rows[0].from_stage is not None else 0
    points = [(left - 8.0, y_of(first))]
    for i, r in enumerate(rows):
        x = left + col * i + col / 2
        prev_y = points[-1][1]
        points.append((x, prev_y))
        points.append((x, y_of(r.to_stage or 0)))
    path = " ".join(f"{'M' if i == 0 else 'L'}{x:.1f},{y:.1f}" for i, (x, y) in enumerate(points))
    parts.append(f'<path d="{path}" fill="none" stroke="#2563eb" stroke-width="2.5"/>')
    for i, r in enumerate(rows):
        x = left + col * i + col / 2
        y = y_of(r.to_stage or 0)
        red = bool(r.classification and r.classification != C.NA)
        color = "#dc2626" if red else "#2563eb"
        if red and r.from_stage is not None:
            parts.append(f'<line x1="{x}" y1="{y_of(r.from_stage)}" x2="{x}" y2="{y}" '
                         'stroke="#dc2626" stroke-width="3"/>')
        parts.append(f'<circle cx="{x}" cy="{y}" r="5" fill="{color}"><title>{esc(r.id)} '
                     f'{esc(r.date)}: {esc(r.reason)}</title></circle>')
        base_y = top + row_h * len(C.STAGES) + 14
        parts.append(f'<text x="{x}" y="{base_y}" class="tid">{esc(r.id)}</text>'
                     f'<text x="{x}" y="{base_y + 14}" class="tdate">{esc(r.date[5:])}</text>')
    parts.append("</svg>")
    return "".join(parts)


def line_chart(title: str, lines: list[tuple[str, list[tuple[float, float]]]],
               baseline: float | None = None, w: int = 360, h: int = 210) -> str:
    """One inline SVG line chart: a line per ``(label, points)``, an optional dashed
    baseline, min/max axis labels and a legend."""
    pts_all = [p for _, pts in lines for p in pts]
    if not pts_all:
        return ""
    xs = [p[0] for p in pts_all]
    ys = [p[1] for p in pts_all] + ([baseline] if baseline is not None else [])
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(ys), max(ys)
    if x1 == x0:
        x0, x1 = x0 - 1, x1 + 1
    if y1 == y0:
        y0, y1 = y0 - 0.5, y1 + 0.5
    pad_l, pad_r, pad_t, pad_b = 48, 12, 24, 40

    def sx(v: float) -> float:
        return pad_l + (v - x0) / (x1 - x0) * (w - pad_l - pad_r)

    def sy(v: float) -> float:
        return h - pad_b - (v - y0) / (y1 - y0) * (h - pad_b - pad_t)

    out = [f'<svg class="curve" role="img" aria-label="{esc(title)}" viewBox="0 0 {w} {h}" '
           f'width="{w}" height="{h}"><text x="{pad_l}" y="15" class="ct">{esc(title)}</text>',
           f'<line x1="{pad_l}" y1="{h - pad_b}" x2="{w - pad_r}" y2="{h - pad_b}" '
           'stroke="#d1d5db"/>',
           f'<line x1="{pad_l}" y1="{pad_t}" x2="{pad_l}" y2="{h - pad_b}" stroke="#d1d5db"/>',
           f'<text x="{pad_l - 4}" y="{pad_t + 4}" class="ax" text-anchor="end">{fmt(y1)}</text>',
           f'<text x="{pad_l - 4}" y="{h - pad_b}" class="ax" text-anchor="end">{fmt(y0)}</text>',
           f'<text x="{pad_l}" y="{h - pad_b + 13}" class="ax">{_fmt_step(x0)}</text>',
           f'<text x="{w - pad_r}" y="{h - pad_b + 13}" class="ax" text-anchor="end">step '
           f'{_fmt_step(x1)}</text>']
    if baseline is not None:
        yb = sy(baseline)
        out.append(f'<line x1="{pad_l}" y1="{yb:.1f}" x2="{w - pad_r}" y2="{yb:.1f}" '
                   'stroke="#6b7280" stroke-dasharray="5 4" stroke-width="1.5"/>'
                   f'<text x="{w - pad_r}" y="{yb - 4:.1f}" class="ax" text-anchor="end">'
                   f'baseline {fmt(baseline)}</text>')
    legend_x = pad_l
    for i, (label, pts) in enumerate(lines):
        color = SERIES_COLORS[i % len(SERIES_COLORS)]
        if len(pts) == 1:
            out.append(f'<circle cx="{sx(pts[0][0]):.1f}" cy="{sy(pts[0][1]):.1f}" r="3.5" '
                       f'fill="{color}"/>')
        elif pts:
            d = " ".join(f"{'M' if j == 0 else 'L'}{sx(x):.1f},{sy(y):.1f}"
                         for j, (x, y) in enumerate(pts))
            out.append(f'<path d="{d}" fill="none" stroke="{color}" stroke-width="2"/>')
        if len(lines) > 1 or label:
            out.append(f'<rect x="{legend_x}" y="{h - 17}" width="10" height="10" '
                       f'fill="{color}"/><text x="{legend_x + 14}" y="{h - 8}" class="ax">'
                       f'{esc(label)}</text>')
            legend_x += 22 + 7 * len(label)
    out.append("</svg>")
    return "".join(out)


def _fmt_step(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else fmt(v)


def curves_svg(series: dict[str, list[tuple[float, float]]]) -> str:
    """A run's metrics as small inline charts (when the run has no PNG plots)."""
    charts = [line_chart(key, [("", pts)], w=300, h=180) for key, pts in sorted(series.items())
              if pts]
    return "".join(charts) or '<p class="muted">No metrics logged.</p>'


def comparison_charts(d: "ReportData") -> str:
    """Every run's curve of each metric on one chart, with the baseline dashed."""
    keys: list[str] = []
    for rv in d.runs:
        for m in rv.metrics:
            if m.key not in keys:
                keys.append(m.key)
    base = d.baseline.metrics if d.baseline is not None else {}
    order = {k: i for i, k in enumerate(keys)}
    keys.sort(key=lambda k: (k not in base, order[k]))
    charts = []
    for key in keys:
        lines = [(rv.record.run, rv.series.get(key, [])) for rv in d.runs]
        lines = [(label, pts) for label, pts in lines if pts]
        if not lines:
            continue
        charts.append(line_chart(key, lines, _number(base.get(key))))
    return "".join(charts)


# -- HTML ----------------------------------------------------------------------------------


CSS = """
:root{--fg:#111827;--muted:#6b7280;--line:#e5e7eb;--bg:#f9fafb;--card:#fff;--accent:#2563eb}
*{box-sizing:border-box}
body{margin:0;font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;
color:var(--fg);background:var(--bg)}
main{max-width:1240px;margin:0 auto;padding:24px 28px 60px}
header.top{background:#111827;color:#f9fafb;padding:22px 28px}
header.top .inner{max-width:1240px;margin:0 auto}
header.top h1{margin:0 0 6px;font-size:26px;letter-spacing:.2px}
header.top .sub{color:#d1d5db}
header.top .badge{margin-right:6px}
header.top nav{margin-top:10px;font-size:13px}
header.top nav a{color:#93c5fd;margin-right:16px;text-decoration:none}
h2{font-size:18px;margin:30px 0 10px;padding-bottom:6px;border-bottom:2px solid var(--line)}
h3{font-size:15px;margin:18px 0 8px}
.card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:16px 18px;
margin:12px 0;overflow-x:auto}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{border-bottom:1px solid var(--line);padding:6px 8px;text-align:left;vertical-align:top}
th{background:#f3f4f6;font-weight:600;white-space:nowrap}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,"DejaVu Sans Mono",monospace;
font-size:12px;background:#f3f4f6;padding:1px 4px;border-radius:4px}
.badge{display:inline-block;padding:1px 9px;border-radius:999px;font-size:12px;font-weight:600;
border:1px solid transparent;white-space:nowrap}
.badge.pass{background:#dcfce7;color:#166534;border-color:#86efac}
.badge.fail{background:#fee2e2;color:#991b1b;border-color:#fca5a5}
.badge.progress{background:#fef3c7;color:#92400e;border-color:#fcd34d}
.badge.blocked{background:#ede9fe;color:#5b21b6;border-color:#c4b5fd}
.badge.todo{background:#f3f4f6;color:#374151;border-color:#d1d5db}
.badge.info{background:#dbeafe;color:#1e40af;border-color:#93c5fd}
.better{color:#166534;font-weight:600}.worse{color:#991b1b;font-weight:600}
.muted{color:var(--muted)}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(230px,1fr));gap:10px 24px}
.grid div{overflow-wrap:anywhere;min-width:0}
.date{white-space:nowrap}
.grid div b{display:block;font-size:11px;text-transform:uppercase;letter-spacing:.5px;
color:var(--muted)}
svg text{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif}
svg.diagram,svg.timeline{max-width:100%;height:auto;display:block}
code{white-space:nowrap}
svg.diagram text.n{font-size:17px;font-weight:700;text-anchor:middle;fill:#111827}
svg.diagram text.s{font-size:12px;text-anchor:middle;fill:#374151}
svg.diagram text.lbl{font-size:11px;text-anchor:middle;fill:#374151}
svg.diagram text.red{fill:#b91c1c;font-weight:600}
svg.diagram text.lg{font-size:11px;fill:#374151}
svg.timeline text.axis{font-size:11px;text-anchor:end;fill:#374151}
svg.timeline text.tid{font-size:10px;text-anchor:middle;fill:#374151;font-weight:600}
svg.timeline text.tdate{font-size:10px;text-anchor:middle;fill:#6b7280}
svg.curve{border:1px solid var(--line);border-radius:8px;background:#fff}
svg.curve text.ct{font-size:12px;font-weight:600;fill:#111827}
svg.curve text.ax{font-size:10px;fill:#6b7280}
.plots{display:flex;flex-wrap:wrap;gap:10px;align-items:flex-start}
.plots figure{margin:0;width:280px}
.plots img{width:100%;border:1px solid var(--line);border-radius:8px;background:#fff}
.plots figcaption{font-size:11px;color:var(--muted);text-align:center}
.run h3 .badge{margin-left:6px}
.kv{display:flex;flex-wrap:wrap;gap:4px 18px;color:#374151;font-size:13px;margin-bottom:8px}
footer{color:var(--muted);font-size:12px;margin-top:40px;border-top:1px solid var(--line);
padding-top:10px}
a{color:var(--accent)}
"""


def _table(headers: list[str], rows: list[list[str]], num: set[int] | None = None,
           cls: str = "") -> str:
    num = num or set()
    head = "".join(f'<th class="num">{h}</th>' if i in num else f"<th>{h}</th>"
                   for i, h in enumerate(headers))
    body = "".join("<tr>" + "".join(f'<td class="num">{c}</td>' if i in num else f"<td>{c}</td>"
                                    for i, c in enumerate(r)) + "</tr>" for r in rows)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _section_header(d: ReportData) -> str:
    snap = d.doc.snapshot
    stage = "archived (tickets/done)" if d.archived else \
        f"stage {_stage_label(d.stage, d.stages)}"
    perm = snap.permission or "Locked"
    if d.seal != "valid" and perm == "Unlocked":
        perm = "Locked"
    badges = [_badge(stage, "info"),
              _badge(f"code edits {perm}", "pass" if perm == "Unlocked" else "todo"),
              _badge("verified" if d.verified_by else "not verified",
                     "pass" if d.verified_by else "progress")]
    if snap.active_reentry:
        badges.append(_badge(f"re-entry {snap.classification}", "fail"))
    nav = "".join(f'<a href="#{a}">{t}</a>' for a, t in (
        ("diagram", "Stages"), ("criteria", "Success criteria"), ("runs", "Runs"),
        ("timeline", "Timeline"), ("gates", "Gates"), ("reentries", "Re-entries"),
        ("evidence", "Evidence"), ("artifacts", "Artifacts")))
    return (f'<header class="top"><div class="inner"><h1>Ticket {esc(d.ticket)}</h1>'
            f'<div class="sub">{"".join(badges)}</div><nav>{nav}</nav></div></header>')


def _section_overview(d: ReportData) -> str:
    snap = d.doc.snapshot
    items = [
        ("Current stage", "done (archived)" if d.archived else _stage_label(d.stage, d.stages)),
        ("Next stage", _stage_label(snap.next_stage, d.stages)
         if snap.next_stage is not None else "–"),
        ("Code edit permission", f"{snap.permission or '–'} (seal {d.seal})"),
        ("Branch", d.branch or "–"), ("Base branch", d.base or "–"),
        ("Worktree", d.worktree or "–"),
        ("Location", str(d.folder)), ("Transitions", str(len(d.transitions))),
        ("Last transition", f"{snap.last_transition_id or '–'} on {snap.last_updated or '–'}"),
        ("User verification", d.verified_by or "not recorded (`mlgate verify --by NAME`)"),
        ("Best run", d.best_run or "–"),
        ("Stage 5 decision", (d.gate_decision or {}).get("decision") or "–"),
    ]
    cells = "".join(f"<div><b>{esc(k)}</b>{esc(v)}</div>" for k, v in items)
    return f'<h2 id="overview">Overview</h2><div class="card grid">{cells}</div>'


def _section_diagram(d: ReportData) -> str:
    return ('<h2 id="diagram">Stage diagram</h2><div class="card">'
            + stage_diagram(d) + "</div>")


def _section_timeline(d: ReportData) -> str:
    rows = []
    for r in d.transitions:
        red = bool(r.classification and r.classification != C.NA)
        cls = _badge(r.classification, "fail") if red else '<span class="muted">N/A</span>'
        rows.append([f"<code>{esc(r.id)}</code>", f'<span class="date">{esc(r.date)}</span>',
                     f"{esc(_stage_label(r.from_stage, d.stages))} → "
                     f"{esc(_stage_label(r.to_stage, d.stages))}",
                     md(r.reason), cls, esc(r.permission_after), esc(r.evidence_updated)])
    table = _table(["ID", "Date", "From → To", "Reason", "Classification", "Edits after",
                    "Evidence updated"], rows) if rows else ""
    return ('<h2 id="timeline">Timeline</h2><div class="card">' + timeline_svg(d) + table
            + "</div>")


def _section_gates(d: ReportData) -> str:
    rows = []
    for st in d.stages:
        g = d.doc.gates.get(st.number)
        marker = " ◀ current" if d.stage == st.number and not d.archived else ""
        rows.append([f"<b>{esc(st.label)}</b>{esc(marker)}", _status_badge(g.status if g else None),
                     md(g.rule if g else ""), esc(g.evidence if g else "")])
    return ('<h2 id="gates">Gates</h2><div class="card">'
            + _table(["Stage", "Gate status", "Gate rule", "Evidence"], rows) + "</div>")


def _section_reentries(d: ReportData) -> str:
    items = _reentries(d.transitions)
    body = []
    if items:
        rows = []
        for r in items:
            path = C.REENTRY_MATRIX.get(r.from_stage or -1, {}).get(r.classification or "")
            rows.append([f"<code>{esc(r.id)}</code>", f'<span class="date">{esc(r.date)}</span>',
                         _badge(r.classification, "fail"),
                         esc(_stage_label(r.from_stage, d.stages)),
                         esc(_stage_label(r.to_stage, d.stages)),
                         esc(C.format_path(path) if r.classification in
                             C.REENTRY_MATRIX.get(r.from_stage or -1, {}) else "–"),
                         md(r.reason)])
        body.append(_table(["ID", "Date", "Classification", "Trigger stage", "Returned to",
                            "Return path", "Reason"], rows))
    else:
        body.append('<p class="muted">No re-entry was declared.</p>')
    decl = d.reentry
    if d.doc.snapshot.active_reentry and decl.declared:
        body.append(f'<p><b>Active re-entry:</b> {esc(decl.classification)} from stage '
                    f'{esc(decl.trigger_stage)}, path {esc(decl.path_text)}; resume when: '
                    f'{esc(decl.resume_condition)}</p>')
    return '<h2 id="reentries">Re-entries</h2><div class="card">' + "".join(body) + "</div>"


def _section_criteria(d: ReportData) -> str:
    closures = {r["sc"]: r for r in d.closure_rows}
    rows = []
    for c in d.criteria:
        cl = closures.get(c.id, {})
        dec = cl.get("decision") or ""
        rows.append([f"<code>{esc(c.id)}</code>", esc(c.requirement_id),
                     f"<code>{esc(c.metric)}</code>", esc(c.comparator),
                     esc(c.threshold_raw if c.threshold_raw is not None else c.threshold),
                     esc(c.split), esc(cl.get("runs")), esc(cl.get("observed")),
                     _badge(dec, _decision_class(dec)) if dec else '<span class="muted">'
                     'not closed</span>', md(cl.get("notes"))])
    if not rows:
        return ('<h2 id="criteria">Success criteria</h2><div class="card"><p class="muted">'
                'No success criteria in requirements.md yet.</p></div>')
    dec = d.gate_decision or {}
    extra = ""
    if dec.get("decision"):
        extra = (f'<p>Stage 5 decision: {_badge(dec.get("decision"), "pass" if dec.get("decision") == "Pass" else "fail")}'
                 f' <span class="muted">{esc(dec.get("next"))}</span></p>')
    return ('<h2 id="criteria">Success criteria</h2><div class="card">'
            + _table(["SC", "Req.", "Metric", "Cmp", "Threshold", "Split", "Evidence runs",
                      "Observed", "Decision", "Notes"], rows) + extra + "</div>")


def _metric_cells(m: MetricRow) -> list[str]:
    verdict = m.verdict
    cls = {"better": "better", "worse": "worse"}.get(verdict or "", "")
    delta = fmt(m.delta, signed=True) if m.delta is not None else "–"
    return [f"<code>{esc(m.key)}</code>", fmt(m.last), fmt(m.best) if m.best is not None else "–",
            fmt(m.baseline) if m.baseline is not None else "–",
            f'<span class="{cls}">{delta}</span>',
            f'<span class="{cls}">{esc(verdict or "no baseline")}</span>'
            f' <span class="muted">({"lower" if m.direction == "min" else "higher"} is better)'
            "</span>"]


def _section_runs(d: ReportData) -> str:
    out = ['<h2 id="runs">Runs</h2>']
    if d.baseline is not None:
        base_metrics = ", ".join(f"{k} {fmt(v)}" for k, v in d.baseline.metrics.items())
        out.append(f'<p>Baseline: <b>{esc(base_metrics)}</b> <span class="muted">'
                   f'({esc(d.baseline_note)})</span></p>')
    else:
        out.append(f'<p class="muted">{esc(d.baseline_note)}</p>')
    if not d.runs:
        out.append('<div class="card"><p class="muted">No training runs yet '
                   '(<code>mlgate run train</code>).</p></div>')
        return "".join(out)
    keys: list[str] = []
    for rv in d.runs:
        for m in rv.metrics:
            if m.baseline is not None and m.key not in keys:
                keys.append(m.key)
    if not keys:
        for rv in d.runs:
            keys += [m.key for m in rv.metrics[:3] if m.key not in keys]
    rows = []
    for rv in d.runs:
        r = rv.record
        by_key = {m.key: m for m in rv.metrics}
        cells = [f'<a href="#{esc(r.run)}"><code>{esc(r.run)}</code></a>'
                 + (' ' + _badge("promoted", "info") if rv.promoted else "")
                 + (' ' + _badge("best", "pass") if d.best_run == r.run else ""),
                 md(re.sub(r"\s*\(mlgate:[^()]*\)", "",
                           (d.gate_decision or {}).get(f"purpose:{r.run}") or "")),
                 _badge(r.status, "pass" if r.completed else ("progress" if r.status == "Running"
                                                               else "fail")),
                 esc(r.failure_class or "–"),
                 f"<code>{esc(str(r.meta.get('commit') or '')[:10])}</code>"]
        for k in keys:
            m = by_key.get(k)
            if m is None:
                cells.append("–")
                continue
            cls = {"better": "better", "worse": "worse"}.get(m.verdict or "", "")
            delta = f' <span class="{cls}">({fmt(m.delta, signed=True)})</span>' \
                if m.delta is not None else ""
            cells.append(f"{fmt(m.last)}{delta}")
        rows.append(cells)
    out.append('<div class="card">' + _table(
        ["Run", "Purpose", "Status", "End", "Commit"] + [f"{esc(k)} (Δ baseline)" for k in keys],
        rows, num=set(range(5, 5 + len(keys)))) + "</div>")
    charts = comparison_charts(d)
    if charts:
        out.append('<h3>Curves of every run against the baseline</h3>'
                   f'<div class="card plots">{charts}</div>')
    out.append('<p class="muted">Every run in detail: <a href="#run-details">Run details</a>.'
               '</p>')
    return "".join(out)


def _section_run_details(d: ReportData) -> str:
    if not d.runs:
        return ""
    out = ['<h2 id="run-details">Run details</h2>']
    for rv in d.runs:
        r = rv.record
        meta = r.meta
        cfg = meta.get("script_config")
        if not isinstance(cfg, dict):
            cfg = meta.get("config") if isinstance(meta.get("config"), dict) else {}
            cfg = {} if set(cfg) <= {"train", "file"} else cfg
        kv = [("command", meta.get("command")), ("commit", str(meta.get("commit") or "")[:12]),
              ("seed", meta.get("seed")), ("batch size", meta.get("batch_size")),
              ("data version", str(meta.get("data_version") or "")[:24]),
              ("started", meta.get("started")), ("finished", meta.get("finished")),
              ("torch", meta.get("torch")), ("device", meta.get("gpu") or meta.get("cpu")),
              ("wandb", _wandb_text(meta.get("wandb")))]
        if isinstance(meta.get("command"), list):
            kv[0] = ("command", " ".join(str(a) for a in meta["command"]))
        kvs = "".join(f"<span><b>{esc(k)}</b> {esc(v)}</span>" for k, v in kv
                      if v not in (None, ""))
        cfg_text = ", ".join(f"{k}={v}" for k, v in cfg.items()) if cfg else ""
        plots = "".join(f'<figure><img alt="{esc(r.run)} {esc(name)}" src="{uri}">'
                        f'<figcaption>{esc(name)}</figcaption></figure>'
                        for name, uri in rv.images) if rv.images else curves_svg(rv.series)
        out.append(
            f'<div class="card run" id="{esc(r.run)}"><h3><code>{esc(r.run)}</code>'
            f'{_badge(r.status, "pass" if r.completed else "fail")}'
            + (_badge("promoted to baseline", "info") if rv.promoted else "")
            + f'</h3><div class="kv">{kvs}</div>'
            + (f'<div class="kv"><span><b>config</b> <code>{esc(cfg_text)}</code></span></div>'
               if cfg_text else "")
            + _table(["Metric", "Last", "Best", "Baseline", "Δ (last − baseline)", "Verdict"],
                     [_metric_cells(m) for m in rv.metrics], num={1, 2, 3, 4})
            + f'<div class="plots">{plots}</div></div>')
    return "".join(out)


def _wandb_text(w: Any) -> str | None:
    if not isinstance(w, dict):
        return None
    mode = w.get("mode")
    if w.get("url"):
        return f"{mode} run {w.get('run_id') or ''} ({w['url']})"
    return f"{mode} run {w.get('run_id') or ''}".strip()


def _section_evidence(d: ReportData) -> str:
    if not d.evidence:
        return ""
    rows = []
    for e in d.evidence:
        st = e["status"]
        fails = "<br>".join(esc(f) for f in e.get("failing") or [])
        rows.append([f"<code>{esc(e['file'])}</code>", esc(e["stage"]), esc(e["handler"]),
                     _badge(st, "pass" if st == "Pass" else ("progress" if st == "Blocked"
                                                            else "fail")),
                     f"<code>{esc(str(e['commit'] or '')[:10])}</code>", esc(e["finished"]),
                     esc(e["checks"]) + (f"<br>{fails}" if fails else "")])
    return ('<h2 id="evidence">Handler evidence</h2><div class="card">'
            + _table(["File", "Stage", "Handler", "Status", "Commit", "Finished", "Checks"], rows)
            + "</div>")


def _section_violations(d: ReportData) -> str:
    if not d.violations:
        return ""
    rows = [[esc(v.date), f"<code>{esc(v.id)}</code>", md(v.violation), esc(v.stage),
             md(v.action), esc({True: "Yes", False: "No"}.get(v.cleared, ""))]
            for v in d.violations]
    return ('<h2 id="violations">Process violations</h2><div class="card">'
            + _table(["Date", "ID", "Violation", "Stage", "Action", "Cleared"], rows) + "</div>")


def _section_artifacts(d: ReportData) -> str:
    rows = []
    for a in d.artifacts:
        link = (f'<a href="{esc(a["href"])}">{esc(a["name"])}</a>' if a["exists"]
                else f'<span class="muted">{esc(a["name"])} (not written yet)</span>')
        rows.append([esc(a["label"]), link, esc(a["status"] or ""), esc(a["updated"] or "")])
    return ('<h2 id="artifacts">Artifacts</h2><div class="card">'
            + _table(["Stage", "File", "Document status", "Last updated"], rows)
            + '<p class="muted">Links are relative to this page.</p></div>')


def render_html(d: ReportData) -> str:
    """The whole page as one string."""
    body = "".join([
        _section_header(d), "<main>", _section_overview(d), _section_diagram(d),
        _section_criteria(d), _section_runs(d), _section_timeline(d), _section_gates(d),
        _section_reentries(d), _section_evidence(d), _section_violations(d),
        _section_artifacts(d), _section_run_details(d),
        f'<footer>Generated by mlgate {esc(__version__)} on {esc(d.generated)} from '
        f'<code>{esc(d.folder)}</code>. Self-contained: no scripts and no network '
        "resources.</footer></main>"])
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>mlgate report: {esc(d.ticket)}</title><style>{CSS}</style></head>"
            f"<body>{body}</body></html>\n")


def write_html(ticket: Any, path: Path) -> Path:
    """Write the report of ``ticket`` (a :class:`mlgate.workspace.Ticket`) to ``path``
    (folders are created); returns the absolute path."""
    path = Path(path).expanduser().resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    data = collect(ticket, html_dir=path.parent)
    atomic_write(path, render_html(data))
    return path
