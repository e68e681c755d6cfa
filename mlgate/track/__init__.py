"""``mlgate.track``: the tracking API for training scripts (SPEC §10).

A complete loop::

    from mlgate import track

    run = track.init(config={"lr": 1e-3, "epochs": 3})   # reads MLGATE_RUN_DIR
    for step in range(1000):
        loss = train_step()                              # a tensor: no .item() needed
        run.log({"train/loss": loss}, step=step)
    run.log({"val/acc": accuracy}, step=step)
    run.finish()                                         # summary.json + viz/*.png + wandb

or ``with track.init(config=cfg) as run: ...`` (``finish`` on exit, exit code 1 when the
block raised). Module-level ``track.log(...)``/``track.finish()`` act on the active run.

**Where it writes.** Under ``mlgate run train`` the run directory comes from the environment
the launcher sets (``MLGATE_RUN_DIR``, ``MLGATE_RUN_ID``, ``MLGATE_TICKET``, ``MLGATE_SEED``,
``MLGATE_BATCH_SIZE``, ``MLGATE_GRAD_ACCUM``, ``MLGATE_WANDB_*``). Run standalone (plain
``python train.py``), ``init`` creates ``./runs/RUN-NNN/`` with its own ``meta.json`` and
records the outcome itself. In a multi-process job only rank 0 writes anything (the rank is
the first of ``RANK``, ``LOCAL_RANK``, ``SLURM_PROCID``, ``JSM_NAMESPACE_RANK`` that is set,
as in Lightning's ``rank_zero_only``; none set is rank 0): other ranks get a
:class:`NoOpRun` with the same methods.

**log(data, step=None).** Values: Python floats/ints/bools, numpy scalars, and scalar torch
tensors (any device/dtype). Tensors are *not* read on each call (no ``.item()``, no GPU→host
sync per step): they are detached and kept, and read in one batch — one
``torch.stack(...).tolist()`` per device — when the buffer is flushed: every
``flush_every`` calls (default 50), at the first call more than ``flush_secs`` seconds
(default 10) after the last flush, at ``finish()`` and on ``run.flush()``. Don't modify a logged tensor in place before it is flushed (a warning says so if
it happens; log ``t.clone()`` instead). ``step`` defaults to one more than the previous
step, starting at 0. The keys ``step`` and ``time`` are reserved.

**Files.** ``metrics.jsonl`` gets one line per ``log`` call, ``{"step": int, "time":
float, key: value, ...}`` (non-finite values as ``NaN``/``Infinity``); ``finish()`` writes
``summary.json`` (last/best/direction per key; ``directions={"val/acc": "max"}`` in
``init`` overrides the name rule) and one PNG per series into ``viz/`` (matplotlib, Agg).

**wandb.** Mode from the ``mode`` argument, else ``MLGATE_WANDB_MODE``, else the config's
``wandb.mode``/``wandb_mode``, else ``offline``; ``online`` when configured; ``disabled`` is
refused (:class:`~mlgate.errors.UsageError`), also when it comes from ``WANDB_MODE``. project
= ``project`` argument, else ``MLGATE_WANDB_PROJECT`` (the configured project or the ticket),
else the current folder's name; name = the run id; config = the script's config plus an
``mlgate`` block (run, ticket, seed, commit, config_hash, data_version, batch_size,
grad_accum); tags = ``["stage-5", <ticket>, *tags]``; ``dir`` = ``WANDB_DIR`` or the run
directory. ``meta.json`` ``wandb`` gets ``run_id``, ``dir`` (the wandb run folder:
relative to the run folder when it is inside it, so that it survives ``mlgate archive``;
:func:`mlgate.runs.core.wandb_location` resolves it), ``url`` (online) or ``sync_command``
(``wandb sync <dir>``, offline; with a relative ``dir``, run it in the run folder).

wandb's own ``log`` costs about 0.6 ms per call (wandb 0.31), more than a small training step,
so by default wandb runs in a *writer process* (``python -m mlgate.track _wandb <run_dir>``,
at nice level ``MLGATE_WANDB_NICE``, default 10) that follows ``metrics.jsonl`` and replays
each line into ``wandb.log`` with its step: the training loop only pays for the local
buffer. ``finish()`` waits (up to ``finish_timeout`` seconds, default 300) until the writer
has logged the last line and finished the wandb run. If the training process dies, the
writer still logs what was flushed and finishes the wandb run with exit code 1.
``wandb_inline=True`` runs wandb in the training process instead (``run.wandb`` is then the
wandb run, e.g. for media), logging at each flush.
The writer process starts at the first flush. **A script that starts its own wandb run**
(``wandb.init`` before ``track.init`` or before the first flush: ``wandb.run`` exists) gets no
second run: mlgate logs to that run (``foreign_wandb="log"``, the default) or only links it
(``foreign_wandb="link"``: a framework logger such as Lightning's ``WandbLogger`` already logs
the same metrics there), records its id, project and folder in ``meta.json`` ``wandb``
(``shared: true``), and never finishes it: the script does. When the script finishes it
first, the remaining rows stay in ``metrics.jsonl`` only.
Without wandb installed, ``init`` says so once and keeps the local log.

**Frameworks.** :mod:`mlgate.track.integrations` has a Lightning ``Logger``
(``MlgateLogger``) and a Hugging Face ``TrainerCallback`` (``MlgateCallback``, also
``report_to="mlgate"``) built on this API. Scripts that log with wandb, Lightning's CSV or
TensorBoard loggers or plain prints need no change at all: see :mod:`mlgate.runs.sources`.

Only the standard library is imported at import time; torch, wandb and matplotlib are used
lazily when present.
"""
from __future__ import annotations

import atexit
import contextlib
import importlib.util
import json
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlgate.runs import plots as rec
from mlgate.errors import UsageError
from mlgate.util import atomic_write, now_iso

__all__ = ["init", "log", "finish", "current", "Run", "NoOpRun", "is_main_process",
           "process_rank", "RANK_VARS"]

SPEC_FILE = ".wandb-spec.json"
DONE_FILE = ".track-done"
WRITER_LOG = "wandb-writer.log"
WRITER_NICE = 10
_WANDB_MISSING = ("wandb is not installed; logging to metrics.jsonl only — "
                  "pip install 'mlgate[wandb]'")
_RESERVED = ("step", "time")

_ACTIVE: Run | None = None
_WARNED: set[str] = set()


def _warn_once(key: str, message: str) -> None:
    if key in _WARNED:
        return
    _WARNED.add(key)
    print(f"mlgate.track: {message}", file=sys.stderr, flush=True)


#: The variables a launcher sets for a process's rank, in the order Lightning's rank-zero check
#: reads them (torchrun sets ``RANK``; Lightning's own launcher only ``LOCAL_RANK``; Slurm's
#: ``srun`` ``SLURM_PROCID``; IBM's ``jsrun`` ``JSM_NAMESPACE_RANK``).
RANK_VARS = ("RANK", "LOCAL_RANK", "SLURM_PROCID", "JSM_NAMESPACE_RANK")


def process_rank() -> int | None:
    """The rank of this process from the first of :data:`RANK_VARS` that is set (``None``:
    none is, a single process)."""
    for name in RANK_VARS:
        value = os.environ.get(name)
        if value is not None and value.strip() != "":
            try:
                return int(value)
            except ValueError:
                continue
    return None


def is_main_process() -> bool:
    """Rank 0 of a multi-process job, or a single process: the first of ``RANK``,
    ``LOCAL_RANK``, ``SLURM_PROCID``, ``JSM_NAMESPACE_RANK`` that is set is ``0``, or none
    is set (the same rule as Lightning's ``rank_zero_only``)."""
    return (process_rank() or 0) == 0


def _wandb_available() -> bool:
    if "wandb" in sys.modules:
        return sys.modules["wandb"] is not None
    try:
        return importlib.util.find_spec("wandb") is not None
    except (ImportError, ValueError):
        return False


def _as_dict(config: Any) -> dict[str, Any]:
    if config is None:
        return {}
    if isinstance(config, Mapping):
        return dict(config)
    for attr in ("to_dict", "model_dump", "_asdict"):
        fn = getattr(config, attr, None)
        if callable(fn):
            return dict(fn())
    if hasattr(config, "__dataclass_fields__"):
        import dataclasses

        return dataclasses.asdict(config)
    if hasattr(config, "__dict__"):
        return dict(vars(config))  # argparse.Namespace and plain objects
    raise TypeError(f"track.init(config=...): cannot read a {type(config).__name__} as a dict")


def _int_env(name: str) -> int | None:
    try:
        return int(os.environ[name])
    except (KeyError, ValueError):
        return None


def _resolve_mode(mode: str | None, config: Mapping[str, Any]) -> str:
    wb = config.get("wandb") if isinstance(config.get("wandb"), Mapping) else {}
    chosen = (mode or os.environ.get("MLGATE_WANDB_MODE") or (wb or {}).get("mode")
              or config.get("wandb_mode") or "offline")
    if chosen == "disabled" or os.environ.get("WANDB_MODE") == "disabled" \
            or os.environ.get("WANDB_DISABLED", "").lower() in ("true", "1"):
        raise UsageError(
            "wandb mode 'disabled' is refused: a run's metrics are evidence and mlgate never "
            "turns tracking off\nhint: use mode='offline' (local files, no network; sync "
            "later with `wandb sync`) or 'online', and unset WANDB_MODE=disabled / "
            "WANDB_DISABLED", mode="disabled")
    if chosen not in ("offline", "online"):
        raise UsageError(f"wandb mode {chosen!r} is not offline or online", mode=chosen)
    return str(chosen)


class NoOpRun:
    """What ranks other than 0 get: the same API, writing nothing."""

    is_main = False
    wandb = None
    url = None

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        self.config = config or {}
        self.run_id = os.environ.get("MLGATE_RUN_ID")
        rd = os.environ.get("MLGATE_RUN_DIR")
        self.run_dir = Path(rd) if rd else None
        self.seed = _int_env("MLGATE_SEED")
        self.batch_size = _int_env("MLGATE_BATCH_SIZE")
        self.grad_accum = _int_env("MLGATE_GRAD_ACCUM")
        self.finished = False

    def log(self, data: Mapping[str, Any], step: int | None = None) -> None:
        return None

    def flush(self) -> None:
        return None

    def update_config(self, data: Mapping[str, Any]) -> None:
        return None

    def finish(self, exit_code: int | None = None) -> None:
        self.finished = True

    def __enter__(self) -> NoOpRun:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.finish()


class Run:
    """A tracked run (rank 0). Create it with :func:`init`."""

    is_main = True

    def __init__(self, run_dir: Path, run_id: str, ticket: str | None, config: dict[str, Any],
                 *, standalone: bool, directions: Mapping[str, str] | None,
                 flush_every: int, flush_secs: float | None, finish_timeout: float) -> None:
        self.run_dir = run_dir
        self.run_id = run_id
        self.ticket = ticket
        self.config = config
        self.standalone = standalone
        self.directions = dict(directions) if directions else None
        self.finish_timeout = finish_timeout
        self.seed = _int_env("MLGATE_SEED")
        if self.seed is None and isinstance(config.get("seed"), int):
            self.seed = config["seed"]
        self.batch_size = _int_env("MLGATE_BATCH_SIZE")
        self.grad_accum = _int_env("MLGATE_GRAD_ACCUM")
        self.finished = False
        self.wandb: Any = None  # the wandb run when wandb_inline=True
        self._flush_every = max(1, int(flush_every))
        self._flush_secs = flush_secs
        self._rows: list[tuple[int, float, dict[str, Any]]] = []
        self._step = 0
        self._tensor_type: Any = None
        self._templates: dict[tuple[str, ...], str] = {}
        self._last_flush = time.monotonic()
        self._fh = open(run_dir / rec.METRICS, "a", encoding="utf-8")
        self._writer: _WandbWriter | None = None
        self._writer_proc: subprocess.Popen[bytes] | None = None
        # The writer process starts at the first flush (see _start_wandb), so that a wandb run
        # the script starts itself after track.init is found and shared instead of doubled.
        self._wandb_spec: dict[str, Any] | None = None
        self._foreign_wandb = "log"
        self._exc: BaseException | None = None
        self._hooks: dict[str, tuple[Any, Any]] = {}
        self._pid = os.getpid()  # forked children (DataLoader workers) never write
        self._at_exit = False
        self._lock = threading.RLock()

    # -- properties --------------------------------------------------------------------

    @property
    def dir(self) -> Path:
        return self.run_dir

    @property
    def step(self) -> int:
        """The step the next ``log`` without ``step=`` will use."""
        return self._step

    @property
    def url(self) -> str | None:
        """The wandb run URL (online mode, once wandb has started), else ``None``."""
        return (rec.read_meta(self.run_dir).get("wandb") or {}).get("url")

    # -- logging -----------------------------------------------------------------------

    def log(self, data: Mapping[str, Any], step: int | None = None) -> None:
        """Buffer one row of metrics (see the module docstring)."""
        if self.finished:
            raise RuntimeError(f"run.log() after run.finish() ({self.run_id})")
        if step is None:
            step = self._step
        elif type(step) is not int:
            step = int(step)
        self._step = step + 1
        row: dict[str, Any] = {}
        tensor = self._tensor_type
        for k, v in data.items():
            t = type(v)
            if type(k) is not str:
                row[k] = self._value(k, v)  # raises
            elif t is float or t is int:
                row[k] = v
            elif t is tensor and not v.dim():  # the common case: a 0-d torch.Tensor
                v = v.detach()
                try:
                    row[k] = (v, v._version)
                except RuntimeError:  # an inference tensor (torch.inference_mode): no version
                    row[k] = (v, None)
            else:
                row[k] = self._value(k, v)
        if "step" in row or "time" in row:
            raise ValueError("run.log: 'step' and 'time' are reserved keys; pass the step as "
                             "run.log({...}, step=N)")
        self._rows.append((step, time.time(), row))
        if len(self._rows) >= self._flush_every or (
                self._flush_secs is not None
                and time.monotonic() - self._last_flush > self._flush_secs):
            self.flush()

    def _value(self, key: Any, v: Any) -> Any:
        if type(key) is not str:
            raise TypeError(f"run.log: metric names are strings, got {key!r}")
        tensor = self._tensor_type
        if tensor is None and "torch" in sys.modules:
            tensor = self._tensor_type = sys.modules["torch"].Tensor
        if tensor is not None and isinstance(v, tensor):
            if v.dim() != 0:
                if v.numel() != 1:
                    raise ValueError(f"run.log: {key!r} is a tensor of shape {tuple(v.shape)}; "
                                     f"log a scalar (e.g. .mean())")
                v = v.reshape(())
            v = v.detach()
            try:
                return (v, v._version)
            except RuntimeError:  # an inference tensor (torch.inference_mode): no version
                return (v, None)
        if isinstance(v, (bool, int, float)):
            return float(v)
        item = getattr(v, "item", None)
        if callable(item):
            try:
                x = item()
            except (ValueError, TypeError, RuntimeError) as exc:
                raise ValueError(f"run.log: {key!r} is not a scalar: {exc}") from exc
            if isinstance(x, (bool, int, float)):
                return float(x)
        raise TypeError(f"run.log: {key!r} = {v!r} ({type(v).__name__}) is not a number; log "
                        f"floats, ints, numpy scalars or scalar tensors")

    def flush(self) -> None:
        """Read buffered tensors (one batched transfer per device) and append the rows to
        ``metrics.jsonl`` (and to wandb when inline)."""
        with self._lock:
            rows, self._rows = self._rows, []
            self._last_flush = time.monotonic()
            if not rows or os.getpid() != self._pid:  # nothing, or a forked child's copy
                return
            pending = [(row, k, v) for _, _, row in rows for k, v in row.items()
                       if type(v) is tuple]
            if pending:
                self._resolve(pending)
            self._fh.write(self._lines(rows))
            self._fh.flush()
            if self._wandb_spec is not None:
                self._start_wandb()
            if self._writer is not None and self._writer.logs:
                try:
                    self._writer.log_rows({"step": s, **row} for s, _, row in rows)
                except Exception as exc:  # e.g. the script finished its own wandb run first
                    _warn_once("wandb-log", f"wandb.log failed ({type(exc).__name__}: {exc}); "
                                            f"metrics.jsonl keeps every value")
                    self._writer.logs = False

    def _start_wandb(self) -> None:
        """Start wandb for this run (once): share the script's own wandb run when it has one
        (``wandb.run``), else start the writer process."""
        spec, self._wandb_spec = self._wandb_spec, None
        if spec is None:
            return
        existing = _script_wandb_run()
        if existing is not None:
            self._adopt(existing)
        else:
            self._writer_proc = _start_writer(self.run_dir, spec)

    def _adopt(self, existing: Any) -> None:
        """Log to (``foreign_wandb="log"``) or only link (``"link"``) the wandb run the script
        started itself; mlgate never finishes it."""
        writer = _WandbWriter(existing, _wandb_run_mode(existing), run_dir=self.run_dir,
                              owned=False)
        writer.logs = self._foreign_wandb == "log"
        self._writer = writer
        self.wandb = existing
        info = writer.info()
        rec.update_meta(self.run_dir, fn=lambda m: m.setdefault("wandb", {}).update(
            info, shared=True, logged_by_mlgate=writer.logs))

    def _lines(self, rows: list[tuple[int, float, dict[str, Any]]]) -> str:
        """The ``metrics.jsonl`` lines of ``rows``: the same JSON as ``json.dumps`` (``NaN``/
        ``Infinity`` for non-finite values), formatted through a %-template cached per key
        set, which is several times faster per row."""
        templates = self._templates
        out = []
        for step, t, row in rows:
            keys = tuple(row)
            tpl = templates.get(keys)
            if tpl is None:
                tpl = templates[keys] = ('{"step": %d, "time": %r' + "".join(
                    f", {json.dumps(k)}: %r" for k in keys) + "}\n")
            values = tuple(row.values())
            total = sum(values)
            if total - total == 0.0:  # every value finite (ints and floats)
                out.append(tpl % (step, t, *values))
            else:
                out.append(json.dumps({"step": step, "time": t, **row}) + "\n")
        return "".join(out)

    def _resolve(self, pending: list[tuple[dict[str, Any], str, tuple[Any, int | None]]]
                 ) -> None:
        import torch

        by_device: dict[Any, list[tuple[dict[str, Any], str, tuple[Any, int | None]]]] = {}
        for item in pending:
            by_device.setdefault(item[2][0].device, []).append(item)
        for items in by_device.values():
            values = torch.stack([t for _, _, (t, _) in items]).tolist()
            for (row, key, (t, version)), value in zip(items, values):
                if version is not None and t._version != version:
                    _warn_once("mutated", f"the tensor logged as {key!r} was modified in place "
                               f"after run.log(); its value at flush time was written — log "
                               f"t.clone() or t.detach().clone() instead")
                row[key] = float(value)

    # -- the end -----------------------------------------------------------------------

    def finish(self, exit_code: int | None = None) -> None:
        """Flush, write ``summary.json`` and the plots, finish wandb. Idempotent."""
        global _ACTIVE
        if os.getpid() != self._pid:  # a forked child (e.g. a DataLoader worker)
            return
        with self._lock:
            if self.finished:
                return
            self.finished = True
        if exit_code is None:
            exit_code = 1 if self._exc is not None else 0
        try:
            self.flush()
        finally:
            with contextlib.suppress(OSError):
                self._fh.close()
        rec.write_summary(self.run_dir, declared=self.directions)
        try:
            rec.write_plots(self.run_dir, declared=self.directions)
        except ImportError:
            _warn_once("matplotlib", "matplotlib is not installed; no plots in viz/ — "
                                     "pip install 'mlgate[wandb]'")
        self._finish_wandb(exit_code)
        if self.standalone:
            cls = "completed" if exit_code == 0 else _exception_class(self._exc)
            rec.update_meta(self.run_dir, finished=now_iso(), finished_ts=time.time(),
                            exit_code=exit_code, failure_class=cls,
                            status="completed" if cls == "completed" else "failed")
        else:
            rec.update_meta(self.run_dir, track_finished=now_iso())
        _remove_hooks(self, at_exit=self._at_exit)
        if _ACTIVE is self:
            _ACTIVE = None

    def update_config(self, data: Mapping[str, Any]) -> None:
        """Add ``data`` to the run's config (``meta.json`` ``script_config``; the wandb run's
        config when wandb runs in this process)."""
        add = _as_dict(data)
        self.config.update(add)
        rec.update_meta(self.run_dir, fn=lambda m: m.update(
            script_config={**(m.get("script_config") or {}), **add}))
        if self.wandb is not None:
            with contextlib.suppress(Exception):
                self.wandb.config.update(add, allow_val_change=True)

    def _finish_wandb(self, exit_code: int) -> None:
        if self._wandb_spec is not None:
            self._start_wandb()
        if self._writer is not None and not self._writer.owned:
            info: dict[str, Any] = {}
            with contextlib.suppress(Exception):
                info = self._writer.info()
            rec.update_meta(self.run_dir, fn=lambda m: m.setdefault("wandb", {}).update(info))
            return
        if self._writer is not None:
            try:
                self._writer.finish(exit_code)
                info = self._writer.info()
                rec.update_meta(self.run_dir, fn=lambda m: m.setdefault("wandb", {}).update(
                    info, finished=True))
            except Exception as exc:
                _warn_once("wandb-finish", f"wandb.finish failed: {exc}")
            return
        proc = self._writer_proc
        if proc is None:
            return
        atomic_write(self.run_dir / DONE_FILE, json.dumps({"exit_code": exit_code}) + "\n")
        try:
            proc.wait(timeout=self.finish_timeout)
        except subprocess.TimeoutExpired:
            _warn_once("writer-slow", f"the wandb writer (pid {proc.pid}) is still logging "
                                      f"after {self.finish_timeout:.0f} s; it finishes in the "
                                      f"background (see {self.run_dir / WRITER_LOG})")
            return
        wb = rec.read_meta(self.run_dir).get("wandb") or {}
        if proc.returncode != 0:
            _warn_once("writer-failed", f"the wandb writer failed: {wb.get('error') or ''} "
                                        f"(see {self.run_dir / WRITER_LOG}); metrics.jsonl is "
                                        f"complete")
        elif wb.get("error"):
            _warn_once("writer-error", f"wandb: {wb['error']} (see {self.run_dir / WRITER_LOG})")

    def _on_exception(self, exc: BaseException) -> None:
        self._exc = exc

    def __enter__(self) -> Run:
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        if exc is not None:
            self._exc = exc
        self.finish(exit_code=1 if exc is not None else 0)


def _exception_class(exc: BaseException | None) -> str:
    if exc is None:
        return "crashed"
    names = {c.__name__ for c in type(exc).__mro__}
    text = str(exc)
    if names & {"MemoryError", "OutOfMemoryError"} or "out of memory" in text:
        return "oom"
    return "crashed"


# --- init ------------------------------------------------------------------------------------


def init(config: Any = None, project: str | None = None, tags: list[str] | None = None,
         mode: str | None = None, *, entity: str | None = None,
         directions: Mapping[str, str] | None = None, flush_every: int = 50,
         flush_secs: float | None = 10.0, wandb_inline: bool = False,
         finish_timeout: float = 300.0, foreign_wandb: str = "log") -> Run | NoOpRun:
    """Start tracking (see the module docstring). Returns the active run if one is open."""
    global _ACTIVE
    cfg = _as_dict(config)
    if _ACTIVE is not None and not _ACTIVE.finished:
        _warn_once("reinit", f"track.init() called again: returning the open run "
                             f"{_ACTIVE.run_id}")
        return _ACTIVE
    if not is_main_process():
        return NoOpRun(cfg)
    wb_mode = _resolve_mode(mode, cfg)
    env_dir = os.environ.get("MLGATE_RUN_DIR")
    ticket = os.environ.get("MLGATE_TICKET") or None
    if env_dir:
        run_dir = Path(env_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        meta = rec.read_meta(run_dir)
        run_id = os.environ.get("MLGATE_RUN_ID") or meta.get("run") or run_dir.name
        standalone = not meta
        if standalone:
            _standalone_meta(run_dir, run_id, ticket, cfg, wb_mode)
    else:
        run_id, run_dir = rec.allocate_run_dir(Path.cwd() / "runs")
        standalone = True
        _standalone_meta(run_dir, run_id, ticket, cfg, wb_mode)
    meta = rec.read_meta(run_dir)
    proj = (project or os.environ.get("MLGATE_WANDB_PROJECT")
            or ((cfg.get("wandb") or {}).get("project") if isinstance(cfg.get("wandb"), Mapping)
                else None) or ticket or Path.cwd().name)
    ent = entity or os.environ.get("MLGATE_WANDB_ENTITY") or (
        (cfg.get("wandb") or {}).get("entity") if isinstance(cfg.get("wandb"), Mapping) else None)
    all_tags = ["stage-5"] + ([ticket] if ticket else []) + [str(t) for t in tags or []]
    provenance = {k: meta.get(k) for k in ("run", "ticket", "seed", "commit", "dirty",
                                           "config_hash", "data_version", "batch_size",
                                           "grad_accum", "launcher", "nproc")}
    wandb_config = {**cfg, "mlgate": provenance}
    rec.update_meta(run_dir, fn=lambda m: m.update(
        script_config=cfg, directions=dict(directions) if directions else m.get("directions"),
        wandb={**(m.get("wandb") or {}), "mode": wb_mode, "project": proj, "entity": ent}))
    run = Run(run_dir, run_id, ticket, cfg, standalone=standalone, directions=directions,
              flush_every=flush_every, flush_secs=flush_secs, finish_timeout=finish_timeout)
    if foreign_wandb not in ("log", "link"):
        raise ValueError(f"track.init(foreign_wandb={foreign_wandb!r}): use 'log' or 'link'")
    run._foreign_wandb = foreign_wandb
    spec = {"project": proj, "entity": ent, "name": run_id, "config": wandb_config,
            "tags": all_tags, "mode": wb_mode, "group": ticket, "job_type": "train",
            "dir": os.environ.get("WANDB_DIR") or str(run_dir.resolve()),
            "parent_pid": os.getpid(), "program": sys.argv[0] if sys.argv else None,
            "nice": _int_env("MLGATE_WANDB_NICE") if _int_env("MLGATE_WANDB_NICE") is not None
            else WRITER_NICE}
    if not _wandb_available():
        _warn_once("wandb-missing", _WANDB_MISSING)
        rec.update_meta(run_dir, fn=lambda m: m.setdefault("wandb", {}).update(
            error="wandb is not installed"))
    elif _script_wandb_run() is not None:
        run._adopt(_script_wandb_run())
    elif wandb_inline:
        spec["sidecar"] = False
        run._writer = _WandbWriter.start(spec, run_dir)
        run.wandb = run._writer.run
        info = run._writer.info()
        rec.update_meta(run_dir, fn=lambda m: m.setdefault("wandb", {}).update(info))
    else:
        run._wandb_spec = spec
    _install_hooks(run)
    _ACTIVE = run
    return run


def _standalone_meta(run_dir: Path, run_id: str, ticket: str | None, cfg: dict[str, Any],
                     wb_mode: str) -> None:
    import hashlib
    import platform

    torch_v = getattr(sys.modules.get("torch"), "__version__", None)
    if torch_v is None:
        with contextlib.suppress(Exception):
            import importlib.metadata

            torch_v = importlib.metadata.version("torch")
    commit, dirty = None, None
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=10, stdin=subprocess.DEVNULL)
        if out.returncode == 0:
            commit = out.stdout.strip()
            st = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                                capture_output=True, text=True, timeout=10,
                                stdin=subprocess.DEVNULL)
            dirty = bool(st.stdout.strip())
    canon = json.dumps(cfg, sort_keys=True, separators=(",", ":"), default=str)
    now = time.time()
    meta = {
        "run": run_id, "ticket": ticket, "launcher": "standalone",
        "command": shlex.join([sys.executable, *sys.argv]), "cwd": os.getcwd(),
        "commit": commit, "dirty": dirty, "config": cfg,
        "config_hash": hashlib.sha256(canon.encode()).hexdigest(),
        "seed": _int_env("MLGATE_SEED") if _int_env("MLGATE_SEED") is not None else cfg.get("seed"),
        "data_version": "N/A", "python": platform.python_version(),
        "python_executable": sys.executable, "torch": torch_v, "platform": platform.platform(),
        "hostname": platform.node(), "pid": os.getpid(), "started": now_iso(),
        "started_ts": now, "running_since": now, "finished": None, "exit_code": None,
        "status": "running", "failure_class": None, "attempt": 1, "parent_run": None,
        "wandb": {"mode": wb_mode, "dir": None, "run_id": None, "url": None},
    }
    rec.write_json(run_dir / rec.META, meta)


def _install_hooks(run: Run) -> None:
    """atexit: finish the run if the script did not; excepthook: remember an uncaught
    exception (exit code 1); SIGTERM (when nothing else handles it): flush, then die.
    :meth:`Run.finish` takes them back out (:func:`_remove_hooks`)."""
    atexit.register(_atexit_finish, run)
    prev_hook = sys.excepthook

    def hook(tp: Any, value: BaseException, tb: Any) -> None:
        run._on_exception(value)
        prev_hook(tp, value, tb)

    sys.excepthook = hook
    run._hooks = {"excepthook": (hook, prev_hook)}
    if threading.current_thread() is threading.main_thread():
        with contextlib.suppress(ValueError, OSError):
            if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
                def on_term(signum: int, _frame: Any) -> None:
                    with contextlib.suppress(Exception):
                        run.flush()
                    signal.signal(signum, signal.SIG_DFL)
                    os.kill(os.getpid(), signum)

                signal.signal(signal.SIGTERM, on_term)
                run._hooks["sigterm"] = (on_term, signal.SIG_DFL)


def _remove_hooks(run: Run, at_exit: bool) -> None:
    hooks = getattr(run, "_hooks", {})
    ours, prev = hooks.get("excepthook", (None, None))
    if ours is not None and sys.excepthook is ours:
        sys.excepthook = prev
    ours, prev = hooks.get("sigterm", (None, None))
    if ours is not None and threading.current_thread() is threading.main_thread():
        with contextlib.suppress(ValueError, OSError, TypeError):
            if signal.getsignal(signal.SIGTERM) is ours:
                signal.signal(signal.SIGTERM, prev)
    if not at_exit:
        atexit.unregister(_atexit_finish)
    run._hooks = {}


def _atexit_finish(run: Run) -> None:
    if not run.finished:
        run._at_exit = True
        with contextlib.suppress(Exception):
            run.finish()


def current() -> Run | None:
    """The open run of this process, if any."""
    return _ACTIVE if _ACTIVE is not None and not _ACTIVE.finished else None


def log(data: Mapping[str, Any], step: int | None = None) -> None:
    """``run.log`` on the open run (ranks other than 0: nothing)."""
    if _ACTIVE is None:
        if not is_main_process():
            return
        raise RuntimeError("mlgate.track.log() before track.init()")
    _ACTIVE.log(data, step)


def finish(exit_code: int | None = None) -> None:
    """``run.finish`` on the open run, if any."""
    if _ACTIVE is not None:
        _ACTIVE.finish(exit_code)


# --- wandb -------------------------------------------------------------------------------------


class _WandbWriter:
    """Owns one wandb run: ``start`` (with an offline fallback when online fails),
    ``log_rows``, ``finish``, ``info`` (what meta.json records)."""

    def __init__(self, run: Any, mode: str, error: str | None = None,
                 run_dir: Path | None = None, owned: bool = True) -> None:
        self.run = run
        self.mode = mode
        self.error = error
        self.steps = 0
        self.run_dir = run_dir
        self.owned = owned  # False: the script's own run (never finished by mlgate)
        self.logs = True  # False: only linked (a framework logger logs the same metrics)

    @classmethod
    def start(cls, spec: Mapping[str, Any], run_dir: Path) -> _WandbWriter:
        import wandb

        kwargs = {k: spec.get(k) for k in ("project", "entity", "name", "config", "tags",
                                           "group", "job_type", "dir")}
        Path(str(kwargs["dir"])).mkdir(parents=True, exist_ok=True)
        settings: dict[str, Any] = {}
        if spec.get("sidecar", True):
            settings.update(console="off", x_stats_pid=int(spec["parent_pid"]))
            if spec.get("program"):
                settings["program"] = spec["program"]
        mode = str(spec.get("mode") or "offline")

        def attempt(m: str) -> Any:
            s = None
            with contextlib.suppress(Exception):
                s = wandb.Settings(**settings)
            return wandb.init(mode=m, settings=s, **kwargs)

        try:
            return cls(attempt(mode), mode, run_dir=run_dir)
        except Exception as exc:
            if mode != "online":
                raise
            msg = f"wandb online init failed ({type(exc).__name__}: {exc}); logging offline"
            print(f"mlgate.track: {msg}", file=sys.stderr, flush=True)
            return cls(attempt("offline"), "offline", error=msg, run_dir=run_dir)

    def log_rows(self, rows: Any) -> None:
        for row in rows:
            step = row.get("step")
            values = {k: v for k, v in row.items() if k not in _RESERVED}
            if step is None or (not self.owned and int(step) < int(getattr(self.run, "step", 0)
                                                                   or 0)):
                self.run.log(values)  # the script's run is past this step: its current one
            else:
                self.run.log(values, step=int(step))
            self.steps += 1

    def finish(self, exit_code: int = 0) -> None:
        self.run.finish(exit_code=exit_code)

    def info(self) -> dict[str, Any]:
        run = self.run
        sync_dir = None
        with contextlib.suppress(Exception):
            sync_dir = run.settings.sync_dir
        if not sync_dir:
            with contextlib.suppress(Exception):
                sync_dir = str(Path(run.dir).parent)
        if sync_dir and self.run_dir is not None:
            sync_dir = _run_relative(sync_dir, self.run_dir)
        url = None
        if self.mode == "online":
            with contextlib.suppress(Exception):
                url = run.url
        info = {"mode": self.mode, "run_id": run.id, "dir": sync_dir, "url": url,
                "project": getattr(run, "project", None), "steps_logged": self.steps}
        entity = None
        with contextlib.suppress(Exception):
            entity = run.entity
        if entity:
            info["entity"] = entity
        if self.mode == "offline" and sync_dir:
            info["sync_command"] = f"wandb sync {sync_dir}"
        if self.error:
            info["error"] = self.error
        return info


def _script_wandb_run() -> Any:
    """The wandb run the script started itself (``wandb.run``), if wandb is imported and one
    is active and not disabled; else ``None``."""
    wandb = sys.modules.get("wandb")
    run = getattr(wandb, "run", None) if wandb is not None else None
    if run is None:
        return None
    with contextlib.suppress(Exception):
        if getattr(run.settings, "mode", None) == "disabled" or getattr(run, "disabled", False):
            _warn_once("wandb-disabled", "the script's wandb run is disabled; mlgate logs to "
                                         "its own wandb run")
            return None
    return run


def _wandb_run_mode(run: Any) -> str:
    with contextlib.suppress(Exception):
        mode = str(run.settings.mode)
        if mode in ("offline", "online"):
            return mode
    with contextlib.suppress(Exception):
        return "offline" if run.offline else "online"
    return "offline"


def _run_relative(path: str, run_dir: Path) -> str:
    """``path`` relative to the run folder (POSIX) when it is inside it, else as it is: what
    meta.json stores, so that the run folder can move (``mlgate archive``)."""
    try:
        return Path(path).resolve().relative_to(Path(run_dir).resolve()).as_posix() or "."
    except (OSError, ValueError):
        return path


def _start_writer(run_dir: Path, spec: dict[str, Any]) -> subprocess.Popen[bytes] | None:
    rec.write_json(run_dir / SPEC_FILE, spec)
    with contextlib.suppress(FileNotFoundError):
        (run_dir / DONE_FILE).unlink()
    try:
        with open(run_dir / WRITER_LOG, "ab") as out:
            proc = subprocess.Popen([sys.executable, "-m", "mlgate.track", "_wandb",
                                     str(run_dir.resolve())],
                                    stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True)
    except OSError as exc:
        _warn_once("writer-start", f"could not start the wandb writer: {exc}; logging to "
                                   f"metrics.jsonl only")
        return None
    rec.update_meta(run_dir, fn=lambda m: m.setdefault("wandb", {}).update(writer_pid=proc.pid))
    return proc


def _parent_alive(pid: int) -> bool:
    if os.getppid() == pid:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError, IndexError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat[stat.rindex(")") + 2] in "ZX":
            return False
    return os.getppid() == pid


def _writer_main(run_dir: Path) -> int:
    """The wandb writer process: replay ``metrics.jsonl`` into wandb until the run is done."""
    spec = rec.read_json(run_dir / SPEC_FILE)
    with contextlib.suppress(OSError, AttributeError):
        os.nice(int(spec.get("nice", WRITER_NICE)))
    parent = int(spec.get("parent_pid") or 0)
    try:
        writer = _WandbWriter.start(spec, run_dir)
    except Exception as exc:
        msg = f"{type(exc).__name__}: {exc}"
        print(f"mlgate.track writer: wandb.init failed: {msg}", flush=True)
        rec.update_meta(run_dir, fn=lambda m: m.setdefault("wandb", {}).update(error=msg))
        return 1
    info = writer.info()
    rec.update_meta(run_dir, fn=lambda m: m.setdefault("wandb", {}).update(
        info, writer_pid=os.getpid()))
    path = run_dir / rec.METRICS
    offset, partial = 0, b""

    def read_new() -> list[dict[str, Any]]:
        nonlocal offset, partial
        try:
            with open(path, "rb") as fh:
                fh.seek(offset)
                data = fh.read()
        except OSError:
            return []
        offset += len(data)
        lines = (partial + data).split(b"\n")
        partial = lines.pop()
        return [r for r in (rec.parse_metric_line(ln.decode("utf-8", "replace"))
                            for ln in lines) if r is not None]

    exit_code = 0
    while True:
        rows = read_new()
        if rows:
            writer.log_rows(rows)
            continue
        done = run_dir / DONE_FILE
        if done.exists():
            writer.log_rows(read_new())
            exit_code = int(rec.read_json(done).get("exit_code") or 0)
            break
        if parent and not _parent_alive(parent):
            time.sleep(0.2)
            writer.log_rows(read_new())
            exit_code = 1
            break
        time.sleep(0.25)
    try:
        writer.finish(exit_code)
    finally:
        info = writer.info()
        rec.update_meta(run_dir, fn=lambda m: m.setdefault("wandb", {}).update(
            info, finished=True, exit_code=exit_code))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) == 2 and args[0] == "_wandb":
        return _writer_main(Path(args[1]))
    print("usage: python -m mlgate.track _wandb RUN_DIR", file=sys.stderr)
    return 2

