"""Metric sources: where a run's numbers come from when the script does not log them through
:mod:`mlgate.track` (SPEC §10).

``train.metrics`` in ``mlgate.yaml`` chooses one of :data:`KINDS`, or ``auto`` (the default):

* ``track`` — ``metrics.jsonl`` as :mod:`mlgate.track` writes it (the integrations for
  Lightning and Hugging Face write it too);
* ``wandb`` — the wandb run the script created itself (``run-<id>.wandb``, offline or online),
  read with :mod:`~mlgate.runs.sources.wandb_records`;
* ``csv`` — Lightning's ``CSVLogger`` ``metrics.csv``;
* ``tensorboard`` — TensorBoard event files (``events.out.tfevents.*``), read with
  TensorBoard's own loader;
* ``stdout`` — ``train.metrics_regex`` (or ``name=value`` pairs) over ``train.log``.

``auto`` takes the first of these, in that order, that has a number; ``stdout`` only when
``train.metrics_regex`` is set.

**Where files are looked for.** In the run folder (the launcher points ``WANDB_DIR`` and
Lightning's ``default_root_dir`` there), and in the folders of the ``run_outputs`` globs in
the working directory of the run (``lightning_logs/``, ``logs/``, ``tb_logs/``, ``wandb/``,
...), counting only files changed since the run started. :func:`launch_settings` is what
the launcher records in ``meta.json`` (``metrics``: ``source``, ``regex``, ``search``).

**Live** (:class:`LiveSource`): the watchdog polls the run's source for new rows: they count
as progress and are checked for NaN losses. **At the end** (:func:`import_metrics`, called
when the run is finalized, and by ``mlgate run train --collect RUN``): the source's rows are
written to the run's ``metrics.jsonl`` (so ``summary.json``, the plots, ``mlgate runs`` and the
success-criteria closure read them as any other run's), ``meta.json`` ``metrics_source``
records where they came from (``kind``, ``path``, ``rows``, ``keys``, a ``warning`` if any),
and the script's own wandb run is linked (:func:`link_wandb`: ``meta.json`` ``wandb`` gets its
real id, project and folder). A run that logged through ``mlgate.track`` keeps its
``metrics.jsonl``.

Standard library only at import time; wandb's protobuf classes and tensorboard are imported
by the readers that need them.
"""
from __future__ import annotations

import contextlib
import json
import os
import shlex
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from mlgate.errors import MetricSourceError
from mlgate.runs.plots import LOG, METRICS, read_meta, update_meta
from mlgate.runs.sources.files import CsvLog, EventLog, StdoutLog, compile_regex
from mlgate.runs.sources.wandb_records import RecordFile
from mlgate.util import atomic_write

__all__ = ["KINDS", "CHOICES", "Reader", "SourceResult", "LiveSource", "launch_settings",
           "candidates", "scan", "open_reader", "read_rows", "import_metrics", "link_wandb",
           "track_used", "MetricSourceError", "compile_regex"]

KINDS = ("track", "wandb", "csv", "tensorboard", "stdout")
CHOICES = ("auto", *KINDS)
#: Not metrics: the x axis and bookkeeping keys frameworks log beside the metrics.
NOT_METRICS = frozenset({"step", "time", "epoch", "_step", "_runtime", "_timestamp",
                         "hp_metric", "global_step", "trainer/global_step",
                         "train/global_step", "train/epoch"})
CHECKPOINT_SUFFIXES = (".pt", ".pth", ".ckpt", ".safetensors")
TRACK_COPY = "metrics.track.jsonl"  # track's own file, kept when another source is chosen
FRESH_SLACK = 2.0  # seconds: a file changed this long before the run started still counts
_SEARCH_DEFAULT = ("lightning_logs", "logs", "tb_logs", "wandb")
DISCOVER_MAX = 30.0  # seconds between two looks for a live source, at most


class Reader(Protocol):
    kind: str
    path: Path

    def rows(self) -> list[dict[str, Any]]: ...


class _TrackReader:
    kind = "track"

    def __init__(self, path: Path) -> None:
        self.path = path

    def rows(self) -> list[dict[str, Any]]:
        from mlgate.runs.plots import read_metrics

        return read_metrics(self.path)


class _WandbReader:
    kind = "wandb"

    def __init__(self, path: Path) -> None:
        self.path = path
        self.file = RecordFile(path)

    def rows(self) -> list[dict[str, Any]]:
        return self.file.rows()


# --- settings ---------------------------------------------------------------------------


def search_dirs(globs: Sequence[str]) -> list[str]:
    """The folders (relative globs) of the ``run_outputs`` patterns: ``results*/**`` ->
    ``results*``, ``wandb/**`` -> ``wandb``; a pattern for files only is skipped."""
    out: list[str] = []
    for g in globs:
        parts = str(g).strip().strip("/").split("/")
        head: list[str] = []
        for part in parts:
            if "**" in part:
                break
            head.append(part)
        if not head or (len(head) == len(parts) and "." in head[-1] and "*" in head[-1]):
            continue
        d = "/".join(head)
        if d not in out:
            out.append(d)
    return out


def launch_settings(train_cfg: Mapping[str, Any], run_outputs: Sequence[str] | None
                    ) -> dict[str, Any]:
    """What the launcher records in ``meta.json`` ``metrics``: the chosen source, the regex
    and the folders to search (from ``run_outputs``)."""
    kind = str(train_cfg.get("metrics") or "auto")
    if kind not in CHOICES:
        from mlgate.errors import ConfigError

        raise ConfigError("mlgate.yaml", f"train.metrics: {kind!r} is not one of "
                                         f"{', '.join(CHOICES)}")
    regex = train_cfg.get("metrics_regex") or None
    if regex is not None:
        compile_regex(str(regex))
    dirs = search_dirs(run_outputs) if run_outputs is not None else list(_SEARCH_DEFAULT)
    for d in _SEARCH_DEFAULT:
        if d not in dirs:
            dirs.append(d)
    return {"source": kind, "regex": regex, "search": dirs}


def _settings(meta: Mapping[str, Any], kind: str | None, regex: str | None
              ) -> tuple[str, str | None, list[str]]:
    s = meta.get("metrics") if isinstance(meta.get("metrics"), Mapping) else {}
    k = kind or s.get("source") or "auto"
    if k not in CHOICES:
        raise MetricSourceError(f"metric source {k!r} is not one of {', '.join(CHOICES)}",
                                source=k)
    return k, regex if regex is not None else s.get("regex"), list(s.get("search") or
                                                                   _SEARCH_DEFAULT)


def track_used(run_dir: Path, meta: Mapping[str, Any] | None = None) -> bool:
    """Whether ``mlgate.track`` ran in the script (it records ``script_config``)."""
    meta = read_meta(run_dir) if meta is None else meta
    return "script_config" in meta or meta.get("launcher") == "standalone"


# --- finding the files ----------------------------------------------------------------------


def _roots(run_dir: Path, meta: Mapping[str, Any], search: Sequence[str]) -> list[Path]:
    roots = [run_dir]
    cwd = meta.get("cwd")
    if cwd and Path(str(cwd)).is_dir():
        base = Path(str(cwd))
        for pattern in search:
            with contextlib.suppress(OSError, ValueError, NotImplementedError):
                roots += [p for p in sorted(base.glob(pattern)) if p.is_dir()]
    seen: set[Path] = set()
    out = []
    for r in roots:
        key = r.resolve()
        if key not in seen:
            seen.add(key)
            out.append(r)
    return out


def _fresh(path: Path, since: float | None) -> bool:
    if since is None:
        return True
    try:
        return path.stat().st_mtime >= since - FRESH_SLACK
    except OSError:
        return False


_PRUNE = frozenset({".git", "__pycache__", "viz", "node_modules", ".venv"})


def _kind_of(name: str, parent: str) -> str | None:
    if name == "metrics.csv":
        return "csv"
    if name.startswith("events.out.tfevents."):
        return "tensorboard"
    if name.startswith("run-") and name.endswith(".wandb") and parent != "latest-run":
        return "wandb"
    return None


def scan(run_dir: str | Path, meta: Mapping[str, Any] | None = None,
         search: Sequence[str] | None = None) -> dict[str, list[Path]]:
    """The files of every file-based source (``wandb``, ``csv``, ``tensorboard``) that
    belong to the run, in one walk of each folder: best first (the run folder's before the
    working directory's, then the largest); for ``tensorboard`` one event file per log
    folder. Files changed before the run started, and other runs' folders, are skipped."""
    run_dir = Path(run_dir)
    meta = read_meta(run_dir) if meta is None else meta
    if search is None:
        search = _settings(meta, None, None)[2]
    since = meta.get("running_since") or meta.get("started_ts")
    since_f = float(since) - FRESH_SLACK if since else None
    found: dict[str, list[tuple[int, int, str]]] = {"wandb": [], "csv": [], "tensorboard": []}
    seen: set[str] = set()
    for i, root in enumerate(_roots(run_dir, meta, search)):
        for top, dirs, names in os.walk(root):
            base = os.path.basename(top)
            if base.startswith(("offline-run-", "run-")) and top != str(root):
                dirs[:] = []  # inside a wandb run folder: its record file is at the top
            else:
                dirs[:] = [d for d in dirs if d not in _PRUNE
                           and not (i > 0 and d.startswith("RUN-"))]
            for name in names:
                kind = _kind_of(name, base)
                if kind is None:
                    continue
                path = os.path.join(top, name)
                try:
                    st = os.stat(path)
                    key = os.path.realpath(path)
                except OSError:
                    continue
                if key in seen or (since_f is not None and st.st_mtime < since_f):
                    continue
                seen.add(key)
                found[kind].append((0 if i == 0 else 1, -st.st_size, path))
    out: dict[str, list[Path]] = {}
    for kind, items in found.items():
        items.sort(key=lambda t: (t[0], t[1], t[2]))
        paths = [Path(p) for _, _, p in items]
        if kind == "tensorboard":
            by_dir: dict[Path, Path] = {}
            for f in paths:
                by_dir.setdefault(f.parent, f)
            paths = list(by_dir.values())
        out[kind] = paths
    return out


def candidates(run_dir: str | Path, kind: str, meta: Mapping[str, Any] | None = None,
               search: Sequence[str] | None = None) -> list[Path]:
    """The files of source ``kind`` that belong to the run, best first (see :func:`scan`);
    ``track`` is ``metrics.jsonl`` and ``stdout`` is ``train.log``."""
    run_dir = Path(run_dir)
    if kind == "track":
        p = run_dir / METRICS
        return [p] if p.is_file() and p.stat().st_size > 0 else []
    if kind == "stdout":
        p = run_dir / LOG
        return [p] if p.is_file() else []
    if kind not in ("wandb", "csv", "tensorboard"):
        raise MetricSourceError(f"unknown metric source {kind!r}", source=kind)
    return scan(run_dir, meta, search)[kind]


def open_reader(kind: str, path: Path, regex: str | None = None) -> Reader:
    """The incremental reader of one source file."""
    if kind == "track":
        return _TrackReader(path)
    if kind == "wandb":
        return _WandbReader(path)
    if kind == "csv":
        return CsvLog(path)
    if kind == "tensorboard":
        return EventLog(sorted(path.parent.glob("events.out.tfevents.*")) or [path])
    if kind == "stdout":
        return StdoutLog(path, regex)
    raise MetricSourceError(f"unknown metric source {kind!r}", source=kind)


def clean(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Rows with numbers only, without :data:`NOT_METRICS` keys; a row without a step gets
    one more than the previous row's."""
    out: list[dict[str, Any]] = []
    last = -1
    for row in rows:
        step = row.get("step")
        step = int(step) if isinstance(step, (int, float)) and not isinstance(step, bool) \
            else last + 1
        last = step
        values = {k: v for k, v in row.items() if k not in NOT_METRICS
                  and not str(k).startswith("_") and isinstance(v, (int, float))
                  and not isinstance(v, bool)}
        if not values:
            continue
        new: dict[str, Any] = {"step": step}
        if isinstance(row.get("time"), (int, float)):
            new["time"] = float(row["time"])
        new.update(values)
        out.append(new)
    return out


def read_rows(run_dir: str | Path, kind: str | None = None, regex: str | None = None,
              meta: Mapping[str, Any] | None = None) -> tuple[str, Path | None,
                                                              list[dict[str, Any]],
                                                              str | None]:
    """``(kind, path, rows, warning)`` of the run's metric source (``kind`` ``auto``: the
    first kind with a number, see the module docstring); ``(kind, None, [], None)`` when
    nothing is found."""
    run_dir = Path(run_dir)
    meta = read_meta(run_dir) if meta is None else meta
    chosen, regex, search = _settings(meta, kind, regex)
    if chosen == "auto":
        order = [k for k in KINDS if k != "stdout" or regex]
        if track_used(run_dir, meta):
            order = ["track"]
    else:
        order = [chosen]
    errors: list[str] = []
    for k in order:
        for path in candidates(run_dir, k, meta, search):
            try:
                reader = open_reader(k, path, regex)
                rows = clean(reader.rows())
            except MetricSourceError as exc:
                if chosen != "auto":
                    raise
                errors.append(exc.message)
                continue
            if rows:
                warning = getattr(getattr(reader, "file", None), "warning", None)
                return k, path, rows, warning
    if errors:
        raise MetricSourceError("; ".join(errors))
    return (chosen, None, [], None)


# --- at the end -----------------------------------------------------------------------------


class SourceResult(dict):  # type: ignore[type-arg]
    """What :func:`import_metrics` recorded in ``meta.json`` ``metrics_source``: ``kind``,
    ``path``, ``rows``, ``keys`` and, when something is off, ``warning`` or ``error``."""


def _where(path: Path, run_dir: Path, cwd: Any) -> str:
    for base in (run_dir, Path(str(cwd)) if cwd else None):
        if base is None:
            continue
        with contextlib.suppress(ValueError, OSError):
            return path.resolve().relative_to(base.resolve()).as_posix()
    return str(path)


def _write_rows(run_dir: Path, rows: list[dict[str, Any]]) -> None:
    target = run_dir / METRICS
    if target.exists() and track_used(run_dir) and not (run_dir / TRACK_COPY).exists():
        os.replace(target, run_dir / TRACK_COPY)
    atomic_write(target, "".join(json.dumps(r) + "\n" for r in rows))


def import_metrics(run_dir: str | Path, kind: str | None = None, regex: str | None = None,
                   force: bool = False) -> SourceResult:
    """Bring the run's metrics into its ``metrics.jsonl`` from its source and link its wandb
    run (see the module docstring). Done once per run unless ``force`` (``--collect RUN``);
    ``kind``/``regex`` override the recorded ``train.metrics``/``train.metrics_regex``.
    Raises :class:`MetricSourceError` when the chosen source cannot be read."""
    run_dir = Path(run_dir)
    meta = read_meta(run_dir)
    done = meta.get("metrics_source")
    if isinstance(done, Mapping) and done.get("kind") and not force:
        return SourceResult(done)
    chosen = _settings(meta, kind, regex)[0]
    link_wandb(run_dir, meta)
    meta = read_meta(run_dir)
    outside = checkpoints_outside(run_dir, meta)
    if outside or meta.get("checkpoints"):
        update_meta(run_dir, checkpoints=outside)
    if chosen in ("auto", "track") and track_used(run_dir, meta):
        result = SourceResult(kind="track", path=METRICS)
    else:
        k, path, rows, warning = read_rows(run_dir, kind, regex, meta)
        if path is None:
            result = SourceResult(kind="none", requested=chosen, rows=0,
                                  error=_nothing_found(chosen, meta))
        else:
            _write_rows(run_dir, rows)
            keys: list[str] = []
            for r in rows:
                keys += [key for key in r if key not in ("step", "time") and key not in keys]
            result = SourceResult(kind=k, path=_where(path, run_dir, meta.get("cwd")),
                                  rows=len(rows), keys=keys, imported=time.time())
            if warning:
                result["warning"] = warning
    update_meta(run_dir, metrics_source=dict(result))
    return result


def checkpoints_outside(run_dir: str | Path, meta: Mapping[str, Any] | None = None
                        ) -> list[str]:
    """Checkpoints the run wrote outside its folder (relative to its working directory):
    in the ``run_outputs`` folders, and where Lightning puts them beside a ``WandbLogger``
    (``<project>/<wandb run id>/checkpoints/``). Only files changed since the run started."""
    run_dir = Path(run_dir)
    meta = read_meta(run_dir) if meta is None else meta
    cwd = meta.get("cwd")
    if not cwd or not Path(str(cwd)).is_dir():
        return []
    base = Path(str(cwd))
    since = meta.get("running_since") or meta.get("started_ts")
    roots = _roots(run_dir, meta, _settings(meta, None, None)[2])[1:]
    wb = meta.get("wandb") if isinstance(meta.get("wandb"), Mapping) else {}
    if wb.get("project") and wb.get("run_id"):
        roots.append(base / str(wb["project"]) / str(wb["run_id"]))
    found: list[str] = []
    run_key = run_dir.resolve()
    for root in roots:
        if not root.is_dir():
            continue
        for p in sorted(root.rglob("*")):
            if p.suffix.lower() not in CHECKPOINT_SUFFIXES or not p.is_file():
                continue
            key = p.resolve()
            if run_key in key.parents or not _fresh(p, float(since) if since else None):
                continue
            rel = _where(p, base, None)
            if rel not in found:
                found.append(rel)
    return found[:50]


def _nothing_found(chosen: str, meta: Mapping[str, Any]) -> str:
    where = "the run folder and " + ", ".join(f"{d}/" for d in _settings(meta, None, None)[2])
    what = {"auto": "no metrics.jsonl (mlgate.track), wandb run, metrics.csv or TensorBoard "
                    "event file with a number",
            "track": "no metrics.jsonl (the script did not call mlgate.track)",
            "wandb": "no wandb run (run-*.wandb) with a logged number",
            "csv": "no metrics.csv with a number",
            "tensorboard": "no TensorBoard event file with a scalar",
            "stdout": "no line of train.log that the regex matches"}[chosen]
    return f"{what} in {where}"


def link_wandb(run_dir: str | Path, meta: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Record the wandb run the script created itself in ``meta.json`` ``wandb``: its real
    id, project, entity, mode and folder (run-relative when inside the run folder) and, for
    an offline run, ``wandb sync``. A run whose wandb is linked already (mlgate.track) is
    left alone. Returns the ``wandb`` block."""
    run_dir = Path(run_dir)
    meta = read_meta(run_dir) if meta is None else meta
    wb = dict(meta.get("wandb") or {})
    if wb.get("run_id"):
        return wb
    files = candidates(run_dir, "wandb", meta)
    if not files:
        return wb
    rf = RecordFile(files[0])
    try:
        while rf.read_new():
            if rf.run:
                break
    except MetricSourceError as exc:
        why = exc.message
        update_meta(run_dir, fn=lambda m: m.setdefault("wandb", {}).update(link_error=why))
        return wb
    folder = files[0].parent
    mode = "offline" if folder.name.startswith("offline-run-") else "online"
    rel = _where(folder, run_dir, None)
    info = {"run_id": rf.run.get("run_id") or folder.name.rsplit("-", 1)[-1],
            "project": rf.run.get("project"), "entity": rf.run.get("entity"), "mode": mode,
            "dir": rel if not Path(rel).is_absolute() else str(folder.resolve()),
            "linked": "found", "url": None}
    if mode == "offline":
        info["sync_command"] = f"wandb sync {shlex.quote(info['dir'])}"
    if rf.warning:
        info["reader_warning"] = rf.warning
    return update_meta(run_dir, fn=lambda m: m.setdefault("wandb", {}).update(info))["wandb"]


# --- live ------------------------------------------------------------------------------------


class LiveSource:
    """The watchdog's view of a run's metric source: :meth:`poll` returns the rows that
    appeared since the last poll. The source's file is looked for after ``discover_every``
    seconds, then at intervals growing by half up to :data:`DISCOVER_MAX` seconds until one is
    found (a run that writes none costs little); ``metrics.jsonl`` (``mlgate.track``) is
    followed by the watchdog itself, so a run that uses it has no live source here."""

    def __init__(self, run_dir: str | Path, meta: Mapping[str, Any] | None = None,
                 discover_every: float = 2.0) -> None:
        self.run_dir = Path(run_dir)
        meta = read_meta(self.run_dir) if meta is None else meta
        self.kind, self.regex, self.search = _settings(meta, None, None)
        self.discover_every = discover_every
        self._interval = discover_every
        self.reader: Reader | None = None
        self.error: str | None = None
        self.last_row: float | None = None  # time.time() of the last new row
        self._next = 0.0

    def poll(self, meta: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        if self.kind == "track" or self.error is not None:
            return []
        if self.reader is None:
            now = time.monotonic()
            if now < self._next:
                return []
            self._next = now + self._interval
            self._interval = min(self._interval * 1.5, DISCOVER_MAX)
            meta = read_meta(self.run_dir) if meta is None else meta
            if self.kind == "auto" and track_used(self.run_dir, meta):
                self.kind = "track"
                return []
            order = [self.kind] if self.kind != "auto" else \
                [k for k in KINDS[1:] if k != "stdout" or self.regex]
            found = scan(self.run_dir, meta, self.search) if set(order) - {"stdout"} else {}
            for k in order:
                paths = found.get(k) or (candidates(self.run_dir, k, meta, self.search)
                                         if k == "stdout" else [])
                if paths:
                    try:
                        self.reader = open_reader(k, paths[0], self.regex)
                    except MetricSourceError as exc:
                        self.error = exc.message
                        return []
                    break
            if self.reader is None:
                return []
        try:
            rows = clean(self.reader.rows())
        except MetricSourceError as exc:
            self.error = exc.message
            return []
        if rows:
            self.last_row = time.time()
        return rows
