"""``mlgate report NAME --html FILE``: one self-contained HTML page about a ticket.

The page is rendered from the Jinja2 templates in ``templates/`` (package data) and needs
no network and no other file: CSS is inline, each run's curves (``runs/RUN-NNN/viz/*.png``)
are embedded as ``data:`` URIs, the comparison charts are inline SVG drawn by the same
matplotlib code as the runs' plots (:func:`mlgate.runs.plots.chart_svg`), and the stage
diagram and the timeline are inline SVG drawn here (no mermaid, no CDN). A run without plots
gets its curves drawn from ``metrics.jsonl``. Links to the ticket's artifacts are relative paths from
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

from markupsafe import Markup

from mlgate import __version__
from mlgate import artifacts as A
from mlgate.runs import baselines as B
from mlgate.runs import closure
from mlgate.runs import plots
from mlgate import constants as C
from mlgate.evidence import results as ev
from mlgate.errors import MlgateError
from mlgate.state.statefile import ReEntry, StateDoc, TransitionRow, ViolationRow
from mlgate.util import atomic_write

__all__ = ["write_html", "render_html", "collect", "diagram_svg", "ReportData"]

VERIFY_PREFIX = "User verification received from "
IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
               ".gif": "image/gif", ".webp": "image/webp"}
MAX_IMAGE_BYTES = 4_000_000  # per image; a larger one is linked instead of embedded
STATUS_CLASS = {"Pass": "pass", "Fail": "fail", "In Progress": "progress",
                "Blocked": "blocked", "Not Started": "todo", None: "todo"}
STAGE_SHORT = ("Bootstrap", "Investigation", "Requirements", "Plan", "Implementation",
               "Training", "Review", "Docs", "Handoff")


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


fmt = plots.format_number  # the same precision as the charts' tick labels


def md(text: Any) -> Markup:
    """Escape ``text`` and render its `backtick` spans as <code>."""
    parts = esc(text).split("`")
    if len(parts) % 2 == 0:  # unbalanced: leave the backticks as they are
        return Markup(esc(text))
    return Markup("".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts)))


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


def _chart_error(exc: Exception) -> str:
    return (f"charts need matplotlib ({type(exc).__name__}: {exc}); "
            "pip install 'mlgate[wandb]'")


def comparison_charts(d: "ReportData") -> list[Markup]:
    """Every run's curve of each metric on one chart, with the baseline (one chart path:
    :func:`mlgate.runs.plots.chart_svg`, the same drawing as the runs' own plots)."""
    keys: list[str] = []
    for rv in d.runs:
        for m in rv.metrics:
            if m.key not in keys:
                keys.append(m.key)
    base = d.baseline.metrics if d.baseline is not None else {}
    order = {k: i for i, k in enumerate(keys)}
    keys.sort(key=lambda k: (k not in base, order[k]))
    charts = []
    for i, key in enumerate(keys):
        lines = [(rv.record.run, rv.series.get(key, [])) for rv in d.runs]
        lines = [(label, pts) for label, pts in lines if pts]
        if lines:
            charts.append(Markup(plots.chart_svg(key, lines, _number(base.get(key)),
                                                 prefix=f"cmp{i}")))
    return charts


def _run_charts(rv: "RunView", n: int) -> list[Markup]:
    """A run's metrics drawn from ``metrics.jsonl`` (when it has no PNG plots)."""
    return [Markup(plots.chart_svg(key, [("", pts)], prefix=f"run{n}-{j}"))
            for j, (key, pts) in enumerate(sorted(rv.series.items())) if pts]


# -- HTML ----------------------------------------------------------------------------------


def _env() -> Any:
    import jinja2

    env = jinja2.Environment(loader=jinja2.PackageLoader("mlgate.report", "templates"),
                             autoescape=jinja2.select_autoescape(["html", "j2"],
                                                                 default_for_string=True),
                             undefined=jinja2.StrictUndefined, trim_blocks=False)
    env.globals.update(stage_label=_stage_label, version=__version__,
                       status_class=lambda s: STATUS_CLASS.get(s, "todo"))
    return env


def code(value: Any) -> Markup:
    return Markup("<code>{}</code>").format("" if value is None else value)


def span(cls: str, value: Any) -> Markup:
    return Markup('<span class="{}">{}</span>').format(cls, "" if value is None else value)


def _metric_cells(m: MetricRow) -> list[Any]:
    cls = {"better": "better", "worse": "worse"}.get(m.verdict or "", "")
    delta = fmt(m.delta, signed=True) if m.delta is not None else "–"
    return [code(m.key), fmt(m.last), fmt(m.best) if m.best is not None else "–",
            fmt(m.baseline) if m.baseline is not None else "–", span(cls, delta),
            span(cls, m.verdict or "no baseline") + Markup(" ")
            + span("muted", f"({'lower' if m.direction == 'min' else 'higher'} is better)")]


def _wandb_text(w: Any) -> str | None:
    """The wandb run a run is linked to: its real id and project (as the training script
    created it), or nothing when no wandb run was found."""
    if not isinstance(w, dict) or not w.get("run_id"):
        return None
    text = f"{w.get('mode') or ''} run {w['run_id']}".strip()
    if w.get("project"):
        text += f" in project {w['project']}"
    if w.get("url"):
        text += f" ({w['url']})"
    return text


def _context(d: ReportData) -> dict[str, Any]:
    """Everything the template shows, with HTML fragments as ``Markup`` (the rest is
    escaped by the template)."""
    snap = d.doc.snapshot
    perm = snap.permission or "Locked"
    if d.seal != "valid" and perm == "Unlocked":
        perm = "Locked"
    ctx: dict[str, Any] = {"d": d, "permission": perm}
    ctx["overview"] = [
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
    ctx["diagram"] = Markup(stage_diagram(d))
    ctx["timeline"] = Markup(timeline_svg(d))
    ctx["timeline_rows"] = [
        [code(r.id), span("date", r.date),
         f"{_stage_label(r.from_stage, d.stages)} → {_stage_label(r.to_stage, d.stages)}", md(r.reason),
         Markup(_badge(r.classification, "fail"))
         if r.classification and r.classification != C.NA else span("muted", "N/A"),
         r.permission_after, r.evidence_updated] for r in d.transitions]
    gate_rows = []
    for st in d.stages:
        g = d.doc.gates.get(st.number)
        marker = " ◀ current" if d.stage == st.number and not d.archived else ""
        gate_rows.append([Markup("<b>{}</b>{}").format(st.label, marker),
                          Markup(_status_badge(g.status if g else None)),
                          md(g.rule if g else ""), g.evidence if g else ""])
    ctx["gate_rows"] = gate_rows
    reentry_rows = []
    for r in _reentries(d.transitions):
        matrix = C.REENTRY_MATRIX.get(r.from_stage or -1, {})
        path = matrix.get(r.classification or "")
        reentry_rows.append([code(r.id), span("date", r.date),
                             Markup(_badge(r.classification, "fail")),
                             _stage_label(r.from_stage, d.stages), _stage_label(r.to_stage, d.stages),
                             C.format_path(path) if r.classification in matrix else "–",
                             md(r.reason)])
    ctx["reentry_rows"] = reentry_rows
    closures = {r["sc"]: r for r in d.closure_rows}
    criteria_rows = []
    for c in d.criteria:
        cl = closures.get(c.id, {})
        dec = cl.get("decision") or ""
        criteria_rows.append([
            code(c.id), c.requirement_id, code(c.metric), c.comparator,
            c.threshold_raw if c.threshold_raw is not None else c.threshold, c.split,
            cl.get("runs"), cl.get("observed"),
            Markup(_badge(dec, _decision_class(dec))) if dec else span("muted", "not closed"),
            md(cl.get("notes"))])
    ctx["criteria_rows"] = criteria_rows
    ctx["baseline_metrics"] = ", ".join(f"{k} {fmt(v)}" for k, v in
                                        (d.baseline.metrics.items() if d.baseline else []))
    keys: list[str] = []
    for rv in d.runs:
        for m in rv.metrics:
            if m.baseline is not None and m.key not in keys:
                keys.append(m.key)
    if not keys:
        for rv in d.runs:
            keys += [m.key for m in rv.metrics[:3] if m.key not in keys]
    run_rows = []
    for rv in d.runs:
        r = rv.record
        by_key = {m.key: m for m in rv.metrics}
        first = Markup('<a href="#{}">{}</a>').format(r.run, code(r.run))
        if rv.promoted:
            first += Markup(" ") + Markup(_badge("promoted", "info"))
        if d.best_run == r.run:
            first += Markup(" ") + Markup(_badge("best", "pass"))
        cells: list[Any] = [
            first,
            md(re.sub(r"\s*\(mlgate:[^()]*\)", "",
                      (d.gate_decision or {}).get(f"purpose:{r.run}") or "")),
            Markup(_badge(r.status, "pass" if r.completed else
                          ("progress" if r.status == "Running" else "fail"))),
            r.failure_class or "–", code(str(r.meta.get("commit") or "")[:10])]
        for k in keys:
            m = by_key.get(k)
            if m is None:
                cells.append("–")
                continue
            cls = {"better": "better", "worse": "worse"}.get(m.verdict or "", "")
            cell = Markup("{}").format(fmt(m.last))
            if m.delta is not None:
                cell += Markup(" ") + span(cls, f"({fmt(m.delta, signed=True)})")
            cells.append(cell)
        run_rows.append(cells)
    ctx["run_headers"] = ["Run", "Purpose", "Status", "End", "Commit"] + \
        [f"{k} (Δ baseline)" for k in keys]
    ctx["run_rows"] = run_rows
    ctx["run_num"] = tuple(range(5, 5 + len(keys)))
    try:
        ctx["comparison"] = comparison_charts(d) if d.runs else []
        chart_problem = None
    except ImportError as exc:
        ctx["comparison"], chart_problem = [], _chart_error(exc)
    details = []
    for n, rv in enumerate(d.runs):
        r = rv.record
        meta = r.meta
        cfg = meta.get("script_config")
        if not isinstance(cfg, dict):
            cfg = meta.get("config") if isinstance(meta.get("config"), dict) else {}
            cfg = {} if set(cfg) <= {"train", "file"} else cfg
        command = meta.get("command")
        if isinstance(command, list):
            command = " ".join(str(a) for a in command)
        kv = [("command", command), ("commit", str(meta.get("commit") or "")[:12]),
              ("seed", meta.get("seed")), ("batch size", meta.get("batch_size")),
              ("data version", str(meta.get("data_version") or "")[:24]),
              ("started", meta.get("started")), ("finished", meta.get("finished")),
              ("torch", meta.get("torch")), ("device", meta.get("gpu") or meta.get("cpu")),
              ("wandb", _wandb_text(meta.get("wandb")))]
        charts: list[Markup] = []
        if not rv.images and chart_problem is None:
            try:
                charts = _run_charts(rv, n)
            except ImportError as exc:
                chart_problem = _chart_error(exc)
        details.append({
            "id": r.run, "status": r.status, "status_class": "pass" if r.completed else "fail",
            "promoted": rv.promoted, "kv": [(k, v) for k, v in kv if v not in (None, "")],
            "config": ", ".join(f"{k}={v}" for k, v in cfg.items()) if cfg else "",
            "metric_rows": [_metric_cells(m) for m in rv.metrics], "images": rv.images,
            "charts": charts, "no_charts": chart_problem or "No metrics logged."})
    ctx["run_details"] = details
    evidence_rows = []
    for e in d.evidence:
        st = e["status"]
        checks = Markup("{}").format(e["checks"])
        for f in e.get("failing") or []:
            checks += Markup("<br>{}").format(f)
        evidence_rows.append([code(e["file"]), e["stage"], e["handler"],
                              Markup(_badge(st, "pass" if st == "Pass" else
                                            ("progress" if st == "Blocked" else "fail"))),
                              code(str(e["commit"] or "")[:10]), e["finished"], checks])
    ctx["evidence_rows"] = evidence_rows
    ctx["violation_rows"] = [[v.date, code(v.id), md(v.violation), v.stage, md(v.action),
                              {True: "Yes", False: "No"}.get(v.cleared, "")]
                             for v in d.violations]
    ctx["artifact_rows"] = [
        [a["label"], Markup('<a href="{}">{}</a>').format(a["href"], a["name"]) if a["exists"]
         else span("muted", f"{a['name']} (not written yet)"), a["status"] or "",
         a["updated"] or ""] for a in d.artifacts]
    return ctx


def diagram_svg(ticket: Any) -> str:
    """The report's stage diagram of ``ticket`` as a standalone SVG file (``mlgate graph
    --svg``): the stages coloured by gate status, the current one outlined, the re-entries
    and skips taken. Drawn here, so it needs no mermaid renderer and no network."""
    import importlib.resources

    svg = stage_diagram(collect(ticket))
    css = importlib.resources.files("mlgate.report").joinpath("templates/report.css")
    rules = "\n".join(line for line in css.read_text().splitlines()
                      if line.startswith(("svg text", "svg.diagram")))
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            + svg.replace("<svg ", '<svg xmlns="http://www.w3.org/2000/svg" ', 1)
            .replace(">", f"><style>{rules}</style>", 1) + "\n")


def render_html(d: ReportData) -> str:
    """The whole page as one string, from ``templates/report.html.j2``."""
    return _env().get_template("report.html.j2").render(**_context(d)) + "\n"


def write_html(ticket: Any, path: Path) -> Path:
    """Write the report of ``ticket`` (a :class:`mlgate.workspace.Ticket`) to ``path``
    (folders are created); returns the absolute path."""
    path = Path(path).expanduser().resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    data = collect(ticket, html_dir=path.parent)
    atomic_write(path, render_html(data))
    return path
