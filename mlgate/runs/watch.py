"""The watchdog (SPEC §10): follow a run to its end, stop it when it goes wrong, classify it,
and retry an out-of-memory run with a smaller batch.

API::

    from mlgate.runs import watch
    cls = watch.watch(run_dir, stall_after=900, timeout=86400, poll=1.0, progress=None)
    cls = watch.watch_run(ticket_folder, "RUN-003")          # `mlgate watch RUN-003`
    infos = watch.run_with_retries(folder, ticket, train_cfg, worktree, commit, dirty,
                                   wandb_cfg, progress=None) # launch + watch + OOM retries
    print(watch.format_runs(runs.list_runs(folder)))          # `mlgate runs`

:func:`watch` returns the failure class, one of ``completed``, ``crashed``, ``oom``,
``nan``, ``stalled``, ``timeout`` (or ``cancelled``, when :func:`cancel` stopped the run
meanwhile):

* the run's own end (the supervisor records the exit code in ``meta.json``) is classified by
  :func:`mlgate.runs.core.classify_end` (``completed``/``crashed``/``oom``/``nan``);
* ``nan`` — a non-finite value is logged for a key containing ``loss``: the run is stopped;
* ``stalled`` — for ``stall_after`` seconds (counted from the training process's start) no
  new ``metrics.jsonl`` line, no output to ``train.log`` and no new row from the run's metric
  source (:mod:`mlgate.runs.sources`): the run is stopped;
* ``timeout`` — the run has been going for more than ``timeout`` seconds: it is stopped.

:func:`cancel` stops a run on request (``cancelled``): the MCP server's ``stop_run`` tool, and
a ``run``/``watch`` tool call the client cancels.

Stopping = SIGTERM to the training process's process groups (its whole tree), SIGKILL after a
grace period, or ``scancel`` for a Slurm job; the reason is written to ``meta.json``
(``kill_reason``/``kill_detail``) first, so the supervisor records it with the exit code.
Everything the watchdog knows is on disk, so a watchdog that is restarted (``mlgate watch
RUN``) re-attaches to a running run by its pids and picks up where the last one stopped; a
run whose processes are gone without a recorded exit code is finalized as ``crashed``.
Before returning, it makes sure ``summary.json`` and the ``viz/`` plots exist and waits
(bounded) for the wandb writer of :mod:`mlgate.track` to finish.

``progress``: ``None`` (silent), a :class:`rich.console.Console` (a live status line: run,
step, latest metrics, elapsed), a callable taking one plain line, or a text stream (plain
lines). Plain lines come at most every ``interval`` seconds (default 10) and at the end.
"""
from __future__ import annotations

import contextlib
import math
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from mlgate.runs import core as runs_mod
from mlgate.runs import sources
from mlgate.errors import UsageError
from mlgate.runs.plots import LOG, METRICS, parse_metric_line, read_meta, update_meta
from mlgate.runs.core import RunInfo

__all__ = ["watch", "watch_run", "cancel", "run_with_retries", "run_seeds", "format_runs",
           "MetricsTail", "failure_tail"]

DEFAULT_POLL = 1.0
KILL_GRACE = 10.0
WRITER_WAIT = 60.0  # seconds to wait for the wandb writer after the run ended


class MetricsTail:
    """Reads the lines appended to a ``metrics.jsonl`` since the last call."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.offset = 0
        self.partial = b""

    def read_new(self) -> list[dict[str, Any]]:
        try:
            with open(self.path, "rb") as fh:
                size = os.fstat(fh.fileno()).st_size
                if size < self.offset:  # truncated/replaced: start over
                    self.offset, self.partial = 0, b""
                if size == self.offset:
                    return []
                fh.seek(self.offset)
                data = fh.read(size - self.offset)
        except OSError:
            return []
        self.offset += len(data)
        data = self.partial + data
        lines = data.split(b"\n")
        self.partial = lines.pop()
        out = []
        for raw in lines:
            rec = parse_metric_line(raw.decode("utf-8", errors="replace"))
            if rec is not None:
                out.append(rec)
        return out


# --- progress display --------------------------------------------------------------------


def _fmt_value(v: Any) -> str:
    if isinstance(v, float):
        if not math.isfinite(v):
            return str(v)
        return f"{v:.4g}"
    return str(v)


def _fmt_elapsed(seconds: float) -> str:
    s = int(max(seconds, 0))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


class _Display:
    """One status line per run: live (rich) or plain lines (callable/stream)."""

    def __init__(self, progress: Any, run_id: str, started: float,
                 interval: float = 10.0, max_keys: int = 6) -> None:
        self.run_id = run_id
        self.started = started
        self.interval = interval
        self.max_keys = max_keys
        self.step: Any = None
        self.latest: dict[str, Any] = {}
        self.live: Any = None
        self.emit: Callable[[str], None] | None = None
        self.last_emit = 0.0
        self.dirty = False
        self.finished: float | None = None
        if progress is None:
            return
        if type(progress).__module__.startswith("rich") and hasattr(progress, "print"):
            from rich.live import Live
            from rich.text import Text

            self._text = Text
            self.live = Live(Text(self.line()), console=progress, refresh_per_second=4,
                             transient=False)
            self.live.start()
        elif callable(progress):
            self.emit = progress
        elif hasattr(progress, "write"):
            def write(line: str) -> None:
                progress.write(line + "\n")
                with contextlib.suppress(Exception):
                    progress.flush()
            self.emit = write

    def line(self, status: str = "") -> str:
        parts = [self.run_id]
        parts.append(f"step {self.step}" if self.step is not None else "waiting for metrics")
        keys = list(self.latest)[: self.max_keys]
        if keys:
            parts.append(" ".join(f"{k}={_fmt_value(self.latest[k])}" for k in keys))
        parts.append(f"elapsed {_fmt_elapsed((self.finished or time.time()) - self.started)}")
        if status:
            parts.append(status)
        return "  ".join(parts)

    def update(self, records: Sequence[Mapping[str, Any]]) -> None:
        for rec in records:
            if "step" in rec:
                self.step = rec["step"]
            self.latest.update({k: v for k, v in rec.items() if k not in ("step", "time")})
        self.dirty = True

    def tick(self) -> None:
        if self.live is not None:
            self.live.update(self._text(self.line()))
        elif self.emit is not None and self.dirty and time.time() - self.last_emit >= self.interval:
            self.emit(self.line())
            self.last_emit = time.time()
            self.dirty = False

    def close(self, status: str) -> None:
        if self.live is not None:
            self.live.update(self._text(self.line(status)))
            self.live.stop()
        elif self.emit is not None:
            self.emit(self.line(status))


# --- the watchdog ----------------------------------------------------------------------------


def _ended(meta: Mapping[str, Any]) -> bool:
    return meta.get("status") in ("completed", "failed") and bool(meta.get("failure_class"))


def _stop(run_dir: Path, reason: str, detail: str, grace: float) -> None:
    """Record why, stop the processes, and wait for the supervisor to record the exit."""
    meta = update_meta(run_dir, kill_reason=reason, kill_detail=detail)
    if not runs_mod.stop_run(run_dir, meta, grace=grace):
        where = meta.get("supervisor_host") or meta.get("hostname") or "another machine"
        update_meta(run_dir, kill_detail=f"{detail}; NOT stopped: its processes run on {where}, "
                                         f"stop them there")
        runs_mod.finalize(run_dir, None, reason=reason)
        return
    deadline = time.monotonic() + grace + 5.0
    while time.monotonic() < deadline:
        meta = read_meta(run_dir)
        if _ended(meta) or not runs_mod.run_alive(run_dir, meta):
            break
        time.sleep(0.1)
    if not _ended(read_meta(run_dir)):
        runs_mod.finalize(run_dir, None, reason=reason)


def cancel(run_dir: str | Path, detail: str, grace: float = KILL_GRACE) -> str:
    """Stop the run in ``run_dir`` on request and record it as ``cancelled`` (``kill_reason``
    and ``kill_detail`` = ``detail`` in ``meta.json``); returns its failure class. A run that
    has already ended keeps its own class and is not touched."""
    run_dir = Path(run_dir)
    meta = read_meta(run_dir)
    if not meta:
        raise UsageError(f"{run_dir} has no meta.json: not a run directory", path=str(run_dir))
    if not _ended(meta):
        if runs_mod.run_alive(run_dir, meta):
            _stop(run_dir, "cancelled", detail, grace)
        else:  # its processes are gone, the end unrecorded: record it as it was
            runs_mod.finalize(run_dir, meta.get("exit_code"))
    runs_mod.complete_records(run_dir)
    return str(read_meta(run_dir).get("failure_class") or "crashed")


def _wait_writer(run_dir: Path, limit: float) -> None:
    """Wait (bounded) for mlgate.track's wandb writer process to finish its last rows."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        wb = read_meta(run_dir).get("wandb") or {}
        pid = runs_mod._int(wb.get("writer_pid"))
        if not pid or wb.get("finished") or not runs_mod.pid_alive(pid):
            return
        time.sleep(0.2)


def watch(run_dir: str | Path, stall_after: float | None = None, timeout: float | None = None,
          poll: float = DEFAULT_POLL, progress: Any = None, *, grace: float = KILL_GRACE,
          interval: float = 10.0, stop: threading.Event | None = None) -> str:
    """Follow the run in ``run_dir`` to its end and return its failure class.

    ``stall_after``/``timeout`` default to the values recorded in ``meta.json`` at launch
    (``train.stall_after``/``train.timeout``); ``None`` there means no limit. When ``stop``
    is set before the run ends, the watch stops following it and returns ``"running"``: the
    run goes on, nothing is recorded (a later watch re-attaches)."""
    run_dir = Path(run_dir)
    meta = read_meta(run_dir)
    if not meta:
        raise UsageError(f"{run_dir} has no meta.json: not a run directory", path=str(run_dir))
    if stall_after is None:
        stall_after = meta.get("stall_after")
    if timeout is None:
        timeout = meta.get("timeout")
    run_id = str(meta.get("run") or run_dir.name)
    started = float(meta.get("started_ts") or time.time())
    display = _Display(progress, run_id, started, interval=interval)
    tail = MetricsTail(run_dir / METRICS)
    live = sources.LiveSource(run_dir, meta)
    status = ""
    try:
        if _ended(meta):
            display.update(tail.read_new())
        elif not _follow(run_dir, tail, display, stall_after, timeout, poll, grace, stop,
                         live):
            status = "no longer watched; the run goes on"
            return "running"
        runs_mod.complete_records(run_dir)
        _wait_writer(run_dir, WRITER_WAIT)
        meta = read_meta(run_dir)
        display.finished = meta.get("finished_ts")
        cls = str(meta.get("failure_class") or "crashed")
        status = cls if meta.get("exit_code") is None else f"{cls} (exit {meta['exit_code']})"
        return cls
    finally:
        display.close(status or "watch interrupted")


def _follow(run_dir: Path, tail: MetricsTail, display: _Display, stall_after: float | None,
            timeout: float | None, poll: float, grace: float,
            stop: threading.Event | None = None,
            live: sources.LiveSource | None = None) -> bool:
    """Follow the run until it ends (``True``) or ``stop`` is set (``False``); ``live`` also
    reads the script's own metric log (wandb, CSV, TensorBoard, stdout)."""
    metrics = run_dir / METRICS
    log = run_dir / LOG
    dead_since: float | None = None
    while True:
        if stop is not None and stop.is_set():
            return False
        recs = tail.read_new()
        if live is not None:
            recs += live.poll()  # the script's own wandb/CSV/TensorBoard/stdout log
        if recs:
            display.update(recs)
            bad = runs_mod.nonfinite_loss(recs)
            if bad is not None:
                step, key, value = bad
                _stop(run_dir, "nan", f"{key} = {value} at step {step}", grace)
                return True
        meta = read_meta(run_dir)
        if _ended(meta):
            display.update(tail.read_new())
            return True
        now = time.time()
        if not runs_mod.run_alive(run_dir, meta):
            # The supervisor normally records the end; give it a moment, then do it here.
            dead_since = dead_since or now
            if now - dead_since > 3.0:
                runs_mod.reconcile(run_dir, meta)  # from the scheduler, for a Slurm job
                return True
        else:
            dead_since = None
        since = float(meta.get("running_since") or meta.get("started_ts") or now)
        if timeout and meta.get("running_since") and now - since > float(timeout):
            _stop(run_dir, "timeout", f"ran {now - since:.0f} s > train.timeout {timeout} s",
                  grace)
            return True
        if stall_after and meta.get("running_since"):
            last = since
            for alive in (metrics, log):  # a new metric, or output: the run is alive
                with contextlib.suppress(OSError):
                    last = max(last, alive.stat().st_mtime)
            if live is not None and live.last_row is not None:
                last = max(last, live.last_row)
            if now - last > float(stall_after):
                _stop(run_dir, "stalled", f"no new metric for {now - last:.0f} s "
                                          f"(train.stall_after {stall_after} s)", grace)
                return True
        display.tick()
        if stop is not None:
            stop.wait(poll)
        else:
            time.sleep(poll)


def watch_run(folder: str | Path, run_id: str, stall_after: float | None = None,
              timeout: float | None = None, poll: float = DEFAULT_POLL,
              progress: Any = None) -> str:
    """``mlgate watch RUN``: :func:`watch` on run ``run_id`` of the ticket folder ``folder``
    (``RUN-003``, ``run-3`` or ``3``). Raises :class:`UsageError` for an unknown run."""
    return watch(runs_mod.resolve_run_dir(folder, run_id), stall_after, timeout, poll, progress)


def failure_tail(folder: str | Path, run_id: str) -> str:
    """The log tail recorded for a run that did not complete (``meta.json`` ``log_tail``;
    with the reason the watchdog or the scheduler gave, when there is one)."""
    meta = read_meta(runs_mod.resolve_run_dir(folder, run_id))
    tail = str(meta.get("log_tail") or "")
    detail = meta.get("kill_detail")
    return (f"[mlgate] {detail}\n" if detail and str(detail) not in tail else "") + tail


def run_with_retries(folder: str | Path, ticket: str | None, train_cfg: Mapping[str, Any] | None,
                     worktree: str | Path, commit: str | None = None, dirty: bool = False,
                     wandb_cfg: Mapping[str, Any] | None = None, progress: Any = None,
                     poll: float = DEFAULT_POLL, *, seed: int | None = None,
                     group: Mapping[str, Any] | None = None,
                     first: runs_mod.RunHandle | None = None,
                     on_launch: Any = None) -> list[RunInfo]:
    """Launch a run, watch it, and on ``oom`` relaunch it as a new run with ``batch_size``
    halved and ``grad_accum`` doubled (``meta.json``: ``attempt``, ``parent_run``), at most
    ``train.oom_retries`` times and only when the command contains ``{batch_size}``.
    ``seed``/``group``: the run is one of a ``train.seeds`` set; ``first``: a run already
    launched (e.g. a task of a Slurm array job) to watch instead of launching one.
    ``on_launch`` is passed to :func:`mlgate.runs.core.launch`. Returns every run started,
    oldest first."""
    cfg = runs_mod.train_settings(train_cfg)
    out: list[RunInfo] = []
    attempt, parent = 1, None
    while True:
        handle = first if first is not None and attempt == 1 else runs_mod.launch(
            folder, ticket, cfg, worktree, commit, dirty, wandb_cfg, attempt=attempt,
            parent=parent, seed=seed, group=group, on_launch=on_launch)
        if progress is not None and callable(progress) and not hasattr(progress, "print"):
            progress(f"{handle.run_id} launched ({handle.launcher}, batch_size "
                     f"{cfg['batch_size']}, grad_accum {cfg['grad_accum']})")
        cls = watch(handle.run_dir, cfg["stall_after"], cfg["timeout"], poll, progress)
        out.append(runs_mod.run_info(handle.run_dir))
        if cls != "oom" or "{batch_size}" not in str(cfg["command"]):
            break
        if attempt > cfg["oom_retries"] or cfg["batch_size"] < 2:
            break
        cfg = {**cfg, "batch_size": cfg["batch_size"] // 2, "grad_accum": cfg["grad_accum"] * 2}
        attempt, parent = attempt + 1, handle.run_id
    return out


def run_seeds(folder: str | Path, ticket: str | None, train_cfg: Mapping[str, Any] | None,
              worktree: str | Path, commit: str | None = None, dirty: bool = False,
              wandb_cfg: Mapping[str, Any] | None = None, progress: Any = None,
              poll: float = DEFAULT_POLL, on_launch: Any = None) -> list[RunInfo]:
    """``train.seeds``: one run per seed, each watched to its end with its own OOM retries.

    On Slurm the runs are one array job (:func:`mlgate.runs.core.launch_seeds`; an OOM retry
    is a job of its own); on this machine they run one after another, or up to
    ``train.parallel`` at once. Without ``train.seeds`` this is :func:`run_with_retries`.
    Returns every run started, by run id."""
    cfg = runs_mod.train_settings(train_cfg)
    seeds = cfg.get("seeds")
    if not seeds:
        return run_with_retries(folder, ticket, cfg, worktree, commit, dirty, wandb_cfg,
                                progress, poll, on_launch=on_launch)
    if cfg["launcher"] == "slurm":
        handles = runs_mod.launch_seeds(folder, ticket, cfg, worktree, commit, dirty,
                                        wandb_cfg, seeds, on_launch)
        group = {k: read_meta(handles[0].run_dir).get(k) for k in ("seed_group", "seeds")}
        jobs = [dict(seed=s, group=group, first=h) for s, h in zip(seeds, handles)]
        workers = len(jobs)
    else:
        group = runs_mod.new_seed_group(seeds)
        jobs = [dict(seed=s, group=group) for s in seeds]
        workers = min(int(cfg.get("parallel") or 1), len(jobs))
    if workers > 1 and progress is not None and hasattr(progress, "print"):
        console = progress  # one live line per run cannot share a console: plain lines
        progress = lambda line: console.print(line)  # noqa: E731

    def one(kw: dict[str, Any]) -> list[RunInfo]:
        return run_with_retries(folder, ticket, cfg, worktree, commit, dirty, wandb_cfg,
                                progress, poll, on_launch=on_launch, **kw)

    if workers <= 1:
        done = [one(kw) for kw in jobs]
    else:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mlgate-seed") as pool:
            done = list(pool.map(one, jobs))
    infos = [i for chunk in done for i in chunk]
    return sorted(infos, key=lambda i: (runs_mod.run_number(i.run) or 0, i.run))


# --- listing ---------------------------------------------------------------------------------


def _duration(info: RunInfo) -> str:
    meta = read_meta(info.run_dir)
    start = meta.get("started_ts")
    end = meta.get("finished_ts") or (time.time() if info.status == "running" else None)
    if not start or not end:
        return "-"
    return _fmt_elapsed(float(end) - float(start))


def format_runs(infos: Sequence[RunInfo], max_metrics: int = 4) -> str:
    """A plain-text table of runs for ``mlgate runs``: run, status, failure class, batch
    size (× grad accum), attempt/parent, duration, the last metrics."""
    if not infos:
        return "no runs yet"
    header = ["RUN", "STATUS", "CLASS", "BATCH", "ATTEMPT", "DURATION", "METRICS"]
    rows = []
    for i in infos:
        status = i.status
        if status == "running" and i.alive is False:
            status = "running?"  # processes gone, end not recorded: `mlgate watch` it
        batch = "-" if i.batch_size is None else (
            f"{i.batch_size}x{i.grad_accum}" if (i.grad_accum or 1) > 1 else str(i.batch_size))
        attempt = str(i.attempt) + (f" (after {i.parent_run})" if i.parent_run else "")
        metrics = " ".join(f"{k}={_fmt_value(v)}" for k, v in list(i.metrics.items())[:max_metrics])
        if len(i.metrics) > max_metrics:
            metrics += f" (+{len(i.metrics) - max_metrics})"
        rows.append([i.run, status, i.failure_class or "-", batch, attempt, _duration(i),
                     metrics or "-"])
    widths = [max(len(r[c]) for r in [header, *rows]) for c in range(len(header))]
    lines = ["  ".join(cell.ljust(widths[c]) for c, cell in enumerate(r)).rstrip()
             for r in [header, *rows]]
    return "\n".join(lines)
