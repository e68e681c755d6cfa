"""The run record on disk and the metric series in it: the lowest layer of training runs.

A run directory (SPEC §10) is ``<ticket folder>/runs/RUN-NNN/``. This module owns its file
names and the pieces of it that every writer shares: :mod:`mlgate.runs.core` (launchers, the
supervisor, classification), :mod:`mlgate.track` (the writer inside a training script) and
:mod:`mlgate.runs.watch` (the watchdog) all build on it, so it sits below them (layer 3) and
imports only the standard library (matplotlib lazily, inside :func:`write_plots`).

Run directory layout::

    runs/.gitignore            keep the small records, ignore checkpoints and wandb folders
    runs/RUN-001/meta.json     provenance + outcome (see mlgate.runs.core for the keys)
    runs/RUN-001/train.log     stdout+stderr of the training command
    runs/RUN-001/train.pid     pid of the training process
    runs/RUN-001/metrics.jsonl one JSON object per line: {"step": int, "time": float, key: float}
    runs/RUN-001/summary.json  {"run", "last", "best", "direction", "steps", "last_step"}
    runs/RUN-001/viz/*.png     one plot per logged series

API:

* :func:`allocate_run_dir` — the next ``RUN-NNN`` (``os.mkdir``; a concurrent launcher gets
  the next number, a directory is never reused); :func:`ensure_runs_dir` writes
  ``runs/.gitignore``.
* :func:`read_meta` / :func:`update_meta` — ``meta.json`` read-modify-write under a
  per-run ``flock`` and written atomically, so the supervisor, the watchdog and the training
  script can all record their part.
* :func:`read_metrics`, :func:`direction_of`, :func:`summarize`, :func:`write_summary` —
  ``metrics.jsonl`` and ``summary.json``. Non-finite values are written as the JSON
  extensions ``NaN``/``Infinity`` (Python's ``json`` reads them); ``best`` ignores them.
* :func:`write_plots` — a PNG per series into ``viz/`` with matplotlib's Agg canvas (no
  pyplot, no global backend switch).
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Callable

from mlgate import constants as C
from mlgate.util import atomic_write

META = "meta.json"
LOG = "train.log"
PID = "train.pid"
METRICS = "metrics.jsonl"
SUMMARY = "summary.json"
VIZ = "viz"
LOCK = ".meta.lock"
RUN_PREFIX = "RUN-"
RUN_ID_RE = re.compile(r"^RUN-(?P<n>\d{3,})$")

#: ``runs/.gitignore``: everything ignored, then the small records re-included, one level down.
GITIGNORE = """\
# Written by mlgate. The small records of each run are committed with the ticket;
# checkpoints, wandb folders and anything else a run writes are not.
*
!.gitignore
!*/
!*/meta.json
!*/summary.json
!*/metrics.jsonl
!*/train.log
!*/viz/
!*/viz/*.png
"""

MAX_POINTS = 5000  # drawn per series at most
DIRECTIONS = ("min", "max")


# --- run directories -----------------------------------------------------------------------


def run_number(run_id: str) -> int | None:
    m = RUN_ID_RE.match(run_id)
    return int(m.group("n")) if m else None


def format_run_id(n: int) -> str:
    return f"{RUN_PREFIX}{n:03d}"


def ensure_runs_dir(runs_root: str | Path) -> Path:
    """Create ``runs_root`` and its ``.gitignore`` (left alone when it already exists)."""
    root = Path(runs_root)
    root.mkdir(parents=True, exist_ok=True)
    gi = root / ".gitignore"
    if not gi.exists():
        atomic_write(gi, GITIGNORE)
    return root


def run_dirs(runs_root: str | Path) -> list[Path]:
    """Every ``RUN-NNN`` directory under ``runs_root``, by number."""
    root = Path(runs_root)
    if not root.is_dir():
        return []
    found = [(run_number(p.name), p) for p in root.iterdir() if p.is_dir()]
    return [p for n, p in sorted((n, p) for n, p in found if n is not None)]


def allocate_run_dir(runs_root: str | Path) -> tuple[str, Path]:
    """Create the next free ``RUN-NNN`` under ``runs_root`` and return ``(run_id, path)``.

    ``os.mkdir`` is atomic: when two launches race for the same number, one gets
    ``FileExistsError`` and takes the next one. An existing directory is never reused.
    """
    root = ensure_runs_dir(runs_root)
    n = max((run_number(p.name) or 0 for p in run_dirs(root)), default=0) + 1
    while True:
        run_id = format_run_id(n)
        path = root / run_id
        try:
            os.mkdir(path)
        except FileExistsError:
            n += 1
            continue
        return run_id, path


# --- meta.json -----------------------------------------------------------------------------


def read_json(path: str | Path) -> dict[str, Any]:
    """The JSON object in ``path``; ``{}`` when the file is missing, empty or not an object."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_json(path: str | Path, data: Mapping[str, Any]) -> None:
    atomic_write(path, json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def read_meta(run_dir: str | Path) -> dict[str, Any]:
    return read_json(Path(run_dir) / META)


@contextlib.contextmanager
def meta_lock(run_dir: str | Path) -> Iterator[None]:
    """An exclusive ``flock`` on ``<run_dir>/.meta.lock`` (released by the kernel if the
    holder dies). A no-op where ``fcntl`` does not exist."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    fd = os.open(Path(run_dir) / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def update_meta(run_dir: str | Path, fn: Callable[[dict[str, Any]], Any] | None = None,
                **fields: Any) -> dict[str, Any]:
    """Set ``fields`` in ``meta.json`` (and/or let ``fn`` change the dict in place) under the
    run's lock; written atomically. Returns the new meta."""
    with meta_lock(run_dir):
        meta = read_meta(run_dir)
        meta.update(fields)
        if fn is not None:
            fn(meta)
        write_json(Path(run_dir) / META, meta)
        return meta


# --- metrics.jsonl and summary.json ----------------------------------------------------------


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_finite(value: Any) -> bool:
    return is_number(value) and math.isfinite(value)


def metric_keys(record: Mapping[str, Any]) -> list[str]:
    """The metric keys of one ``metrics.jsonl`` record (everything but ``step``/``time``)."""
    return [k for k in record if k not in ("step", "time")]


def parse_metric_line(line: str) -> dict[str, Any] | None:
    """One ``metrics.jsonl`` line as a dict, or ``None`` for a blank or broken line."""
    line = line.strip()
    if not line:
        return None
    try:
        rec = json.loads(line)
    except ValueError:
        return None
    return rec if isinstance(rec, dict) else None


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """Every record of a ``metrics.jsonl`` (``path`` is the file or its run directory).

    A torn last line (a writer killed mid-write) and lines that are not JSON objects are
    skipped, so a crashed run still reads."""
    p = Path(path)
    if p.is_dir():
        p = p / METRICS
    try:
        text = p.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    return [r for r in (parse_metric_line(ln) for ln in text.splitlines()) if r is not None]


def direction_of(name: str, declared: Mapping[str, str] | None = None) -> str:
    """``"min"`` or ``"max"``: the declared direction of metric ``name`` if any, else
    lower-is-better for names containing loss/error/perplexity/mse/mae/rmse
    (case-insensitive), else higher-is-better (SPEC §11)."""
    if declared:
        d = declared.get(name)
        if d in DIRECTIONS:
            return str(d)
    return C.metric_direction(name)


def series(records: Iterable[Mapping[str, Any]]) -> dict[str, list[tuple[int, float]]]:
    """``{key: [(step, value), ...]}`` in logging order, numbers only."""
    out: dict[str, list[tuple[int, float]]] = {}
    for i, rec in enumerate(records):
        step = rec.get("step", i)
        step = step if is_number(step) else i
        for k in metric_keys(rec):
            v = rec[k]
            if is_number(v):
                out.setdefault(k, []).append((int(step), float(v)))
    return out


def summarize(records: Iterable[Mapping[str, Any]], run_id: str | None = None,
              declared: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The ``summary.json`` object of a run: ``last`` value per key, ``best`` finite value per
    key in its direction (``None`` when no value was finite), ``direction`` per key, ``steps``
    (distinct steps logged) and ``last_step``."""
    recs = list(records)
    by_key = series(recs)
    last: dict[str, float] = {}
    best: dict[str, float | None] = {}
    direction: dict[str, str] = {}
    for k, points in by_key.items():
        d = direction_of(k, declared)
        direction[k] = d
        last[k] = points[-1][1]
        finite = [v for _, v in points if math.isfinite(v)]
        best[k] = (min(finite) if d == "min" else max(finite)) if finite else None
    steps = {r.get("step") for r in recs if is_number(r.get("step"))}
    return {"run": run_id, "last": last, "best": best, "direction": direction,
            "steps": len(steps), "last_step": max(steps) if steps else None}


def write_summary(run_dir: str | Path, declared: Mapping[str, str] | None = None,
                  records: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Compute and write ``<run_dir>/summary.json`` from ``metrics.jsonl``. Directions come
    from ``declared``, else from ``meta.json``'s ``directions``, else the name rule."""
    run_dir = Path(run_dir)
    meta = read_meta(run_dir)
    if declared is None:
        declared = meta.get("directions") or None
    recs = read_metrics(run_dir) if records is None else records
    summary = summarize(recs, meta.get("run") or run_dir.name, declared)
    write_json(run_dir / SUMMARY, summary)
    return summary


def is_stale(target: Path, source: Path) -> bool:
    """Whether ``target`` is missing or older than ``source``."""
    try:
        t = target.stat().st_mtime_ns
    except OSError:
        return True
    try:
        return source.stat().st_mtime_ns > t
    except OSError:
        return False


# --- plots -----------------------------------------------------------------------------------


def plot_name(key: str, taken: set[str]) -> str:
    """A file name for series ``key`` (``val/acc`` → ``val_acc.png``), unique within
    ``taken``."""
    base = re.sub(r"[^A-Za-z0-9_.-]+", "_", key).strip("._") or "series"
    name, n = f"{base}.png", 2
    while name in taken:
        name, n = f"{base}-{n}.png", n + 1
    taken.add(name)
    return name


def format_number(value: float | None, signed: bool = False) -> str:
    """The one number format of plots and the report: 4 decimals, scientific notation for
    very large or small magnitudes, integers as integers from 100 up."""
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


def _tick_label(value: float, _pos: Any = None) -> str:
    """Axis tick labels: :func:`format_number` without trailing zeros (0.9500 -> 0.95)."""
    text = format_number(value)
    if "." in text and "e" not in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


COLORS = ("#2563eb", "#dc2626", "#059669", "#d97706", "#7c3aed", "#0891b2", "#be185d",
          "#4b5563")
#: A baseline further from the curves than this many times their span is shown as a marker
#: at the edge of the axes instead of a line that would squash the curves.
FAR_BASELINE = 1.0


def draw_chart(title: str, lines: Sequence[tuple[str, Sequence[tuple[float, float]]]],
               baseline: float | None = None, size: tuple[float, float] = (6.0, 4.0),
               ylabel: str | None = None) -> Any:
    """The one chart of mlgate (run plots and the report): a line per ``(label, points)``
    (a single point is drawn as a marker), integer step ticks, a grid, tick labels in
    :func:`format_number`'s precision, and the baseline as a dashed line, or, when it is far
    from the curves, as a labelled arrow at the edge so the curves keep the axes. Returns a
    matplotlib ``Figure`` (no pyplot: nothing global changes)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    fig = Figure(figsize=size, dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    xs_all: list[float] = []
    ys_all: list[float] = []
    for i, (label, pts) in enumerate(lines):
        pts = [(x, y) for x, y in pts if math.isfinite(y)]
        if len(pts) > MAX_POINTS:  # a long run: every k-th point (and the last) is plenty
            k = -(-len(pts) // MAX_POINTS)
            pts = pts[::k] + pts[-1:]
        if not pts:
            continue
        xs, ys = [p[0] for p in pts], [p[1] for p in pts]
        xs_all += xs
        ys_all += ys
        color = COLORS[i % len(COLORS)]
        ax.plot(xs, ys, color=color, linewidth=1.6, label=label or None,
                marker="o" if len(pts) == 1 else None, markersize=6)
    if xs_all:
        lo, hi = min(xs_all), max(xs_all)
        if lo == hi:  # one step: a point in the middle of a sensible axis
            ax.set_xlim(lo - 1, hi + 1)
    if baseline is not None and math.isfinite(baseline) and ys_all:
        lo, hi = min(ys_all), max(ys_all)
        span = (hi - lo) or abs(hi) or 1.0
        gap = lo - baseline if baseline < lo else baseline - hi if baseline > hi else 0.0
        text = f"baseline {format_number(baseline)}"
        if gap > FAR_BASELINE * span:
            up = baseline > hi
            ax.annotate(f"{text} {'↑' if up else '↓'}", xy=(0.99, 0.98 if up else 0.02),
                        xycoords="axes fraction", ha="right", va="top" if up else "bottom",
                        fontsize=8, color="#4b5563",
                        bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "#9ca3af"})
        else:
            ax.axhline(baseline, color="#4b5563", linestyle="--", linewidth=1.2, label=text)
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("step")
    if ylabel:
        ax.set_ylabel(ylabel)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=6))
    ax.yaxis.set_major_locator(MaxNLocator(nbins=6))
    ax.yaxis.set_major_formatter(FuncFormatter(_tick_label))
    ax.tick_params(labelsize=8)
    ax.grid(True, color="#e5e7eb", linewidth=0.8)
    ax.set_axisbelow(True)
    if any(label for label, _ in lines) or ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8, frameon=False, loc="best")
    fig.tight_layout()
    return fig


_SVG_ID = re.compile(r'\bid="([^"]+)"')


def chart_svg(title: str, lines: Sequence[tuple[str, Sequence[tuple[float, float]]]],
              baseline: float | None = None, size: tuple[float, float] = (4.6, 3.0),
              prefix: str = "c") -> str:
    """:func:`draw_chart` as inline SVG (text kept as text, ids made unique with
    ``prefix`` so that several charts can share one HTML page)."""
    import io

    import matplotlib

    fig = draw_chart(title, lines, baseline, size)
    buf = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": prefix}):
        fig.savefig(buf, format="svg")
    svg = buf.getvalue()
    svg = svg[svg.index("<svg"):]
    svg = re.sub(r"<metadata>.*?</metadata>\s*", "", svg, flags=re.S)
    ids = set(_SVG_ID.findall(svg))
    svg = _SVG_ID.sub(lambda m: f'id="{prefix}-{m[1]}"', svg)
    svg = re.sub(r'(url\(#|href="#)([^")]+)',
                 lambda m: m[1] + (f"{prefix}-{m[2]}" if m[2] in ids else m[2]), svg)
    return svg.replace("<svg ", '<svg class="chart" role="img" aria-label="'
                       + title.replace('"', "'") + '" ', 1)


def write_plots(run_dir: str | Path, records: list[dict[str, Any]] | None = None,
                declared: Mapping[str, str] | None = None) -> list[Path]:
    """Write one PNG per logged series of ``run_dir`` into ``viz/`` and return their paths
    (drawn by :func:`draw_chart`). Raises ``ImportError`` when matplotlib is not installed."""
    run_dir = Path(run_dir)
    meta = read_meta(run_dir)
    if declared is None:
        declared = meta.get("directions") or None
    recs = read_metrics(run_dir) if records is None else records
    run_id = meta.get("run") or run_dir.name
    viz = run_dir / VIZ
    viz.mkdir(exist_ok=True)
    taken: set[str] = set()
    out: list[Path] = []
    for key, points in series(recs).items():
        bad = sum(1 for _, v in points if not math.isfinite(v))
        better = "lower" if direction_of(key, declared) == "min" else "higher"
        title = f"{run_id}: {key} ({better} is better)"
        if bad:
            title += f" — {bad} non-finite value(s) not drawn"
        fig = draw_chart(title, [("", points)], ylabel=key)
        path = viz / plot_name(key, taken)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")  # two writers may race
        fig.savefig(tmp, format="png")
        os.replace(tmp, path)
        out.append(path)
    return out


def plot_files(run_dir: str | Path) -> list[Path]:
    viz = Path(run_dir) / VIZ
    return sorted(viz.glob("*.png")) if viz.is_dir() else []
