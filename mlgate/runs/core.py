"""Training runs (SPEC §10): run directories, provenance, launchers, the supervisor and the
classification of how a run ended.

Launching::

    from mlgate.runs import core as runs
    handle = runs.launch(ticket_folder, "my-ticket", train_cfg, worktree, commit, dirty,
                         wandb_cfg)            # -> RunHandle(run_id, run_dir, pid, launcher, job)
    runs.list_runs(ticket_folder)              # -> [RunInfo(run, status, failure_class, ...)]

``train_cfg`` is the ``train:`` block of ``mlgate.yaml`` as a dict (missing keys take
:data:`TRAIN_DEFAULTS`), ``wandb_cfg`` the ``wandb:`` block (:data:`WANDB_DEFAULTS`).
Following a run to its end (and the OOM retries) is :mod:`mlgate.runs.watch`; the API a training
script uses is :mod:`mlgate.track`; the file names and ``meta.json``/``summary.json``
helpers are in :mod:`mlgate.runs.plots` (re-exported here: :func:`direction_of`,
:func:`read_meta`, :func:`update_meta`).

**Run directory** ``<ticket folder>/runs/RUN-NNN/`` — created with ``os.mkdir`` (a concurrent
launch takes the next number; nothing is ever reused or overwritten), with ``runs/.gitignore``
so that ``meta.json``, ``summary.json``, ``metrics.jsonl``, ``train.log`` and ``viz/*.png``
are committed and checkpoints and wandb folders are not.

**meta.json** keys: ``run``, ``ticket``, ``command`` (after placeholder substitution),
``argv`` (what was executed), ``cwd``, ``commit``, ``dirty``, ``config`` (``{"train": {...},
"file": {"path", "sha256", "content"}}``), ``config_hash`` (sha256 of its canonical JSON),
``seed``, ``data_version`` (sha256 over the sorted relative paths, sizes and content hashes of
the ``train.data`` paths/globs; ``"N/A"`` when none exist) and ``data_missing``, ``python``,
``python_executable``, ``torch``, ``cuda``, ``cpu``, ``gpu`` (list of names), ``platform``,
``hostname``, ``launcher``, ``nproc``, ``batch_size``, ``grad_accum``, ``attempt``,
``parent_run`` (the run an OOM retry replaces), ``pid`` (training process),
``supervisor_pid``, ``nnodes``, ``seeds``/``seed_group`` (a ``train.seeds`` set), ``log_tail``
(the last lines of the log, for a run that did not complete); for Slurm ``job_id``
(``ARRAY_TASK`` for an array task), ``cluster``, ``array_job_id``/``array_task_id``,
``node_list``/``nodes``/``partition``/``batch_host``/``slurm_cluster``/``account`` (written by
the job itself), ``rdzv_endpoint`` (multi-node), ``slurm_state`` (the scheduler's end state when
Slurm ended the job or the watchdog reconciled it from the scheduler), ``started``/``started_ts``,
``running_since`` (epoch seconds the training process started), ``finished``/``finished_ts``,
``exit_code`` (a signal ``N`` is ``128+N``), ``status`` (``running``/``completed``/``failed``),
``failure_class`` (``completed``/``crashed``/``oom``/``nan``/``stalled``/``timeout``, or
``cancelled`` for a run stopped on request), ``kill_reason``/``kill_detail`` (set by the
watchdog, or by :func:`mlgate.runs.watch.cancel`, before it stops a run), ``stall_after``,
``timeout``, ``wandb`` (``{mode, project, entity, dir, run_id, url, sync_command}``, the
last four filled by :mod:`mlgate.track`), ``directions`` (declared by the script, if any).

**Paths in meta.json** that point into the run folder (``wandb.dir``, ``wandb.sync_command``,
``slurm_folder``) are stored relative to the run folder, so they survive ``mlgate archive``
moving the ticket folder (and ``--finalize`` removing the worktree); read them with
:func:`resolve_meta_path` / :func:`wandb_location`, which also re-root the absolute paths of
older meta.json files onto the run folder's current location. ``cwd``, ``command`` and
``argv`` are the record of what was executed, kept as they were.

**Launchers** — every one runs the command under the *supervisor*
(``python -m mlgate.runs.core _supervise <run_dir> -- <argv...>``), which starts the training
process in its own session (stdin ``/dev/null``, stdout+stderr appended to ``train.log``),
writes ``train.pid``, waits, and records ``exit_code``/``finished``/``status``/
``failure_class`` plus ``summary.json`` and plots into the run directory, so the outcome is on
disk even when nobody is watching and the launching process is long gone.

* ``local`` — the supervisor is started detached (``start_new_session=True``); the run
  survives the shell that started it.
* ``torchrun`` — the same, around ``python -m torch.distributed.run --standalone
  --nproc-per-node N <script> <args>``: the command's first token (``python``,
  ``python3``, a path to a python) is kept and ``-m torch.distributed.run ...`` inserted after
  it (``python -m pkg.train`` works too; a command starting with ``torchrun`` is used as is).
  The script picks the backend (gloo on CPU, NCCL on GPU).
* ``slurm`` — submitit ``AutoExecutor(folder=<run_dir>/slurm)`` with the parameters of
  :func:`mlgate.runs.slurm.submitit_parameters` (``train.slurm``: partition, time, cpus,
  gpus per node, account, extra ``#SBATCH`` lines, submitit ``extra``); the job's batch script
  runs the supervisor function (no srun step), which first records the job's id, node list and
  partition. ``train.slurm.cluster``: ``auto`` (slurm when available, else submitit's local
  executor), ``slurm`` or ``local``. ``nproc > 1`` runs torchrun inside the job.
  ``train.seeds`` (:func:`launch_seeds`) is one array job; the runs share the first run's
  submitit folder. The watchdog asks ``scontrol show job`` (never ``sacct``).
* ``train.nnodes > 1`` — one torchrun agent per node with the c10d rendezvous
  (:mod:`mlgate.runs.nodes`): under Slurm ``srun ... torchrun`` from the batch script, the
  endpoint on the job's first node; with launcher ``torchrun`` (or submitit's local executor)
  the nodes are simulated on this machine.

The child environment: ``MLGATE_RUN_DIR``, ``MLGATE_RUN_ID``, ``MLGATE_TICKET``,
``MLGATE_SEED``, ``MLGATE_BATCH_SIZE``, ``MLGATE_GRAD_ACCUM``, ``MLGATE_WANDB_MODE``,
``MLGATE_WANDB_PROJECT``, ``MLGATE_WANDB_ENTITY``, ``WANDB_DIR=<run dir>`` unless already set,
``PYTHONUNBUFFERED=1`` unless set, and, so that frameworks write into the run folder,
``PL_TRAINER_DEFAULT_ROOT_DIR=<run dir>`` (Lightning's ``default_root_dir``) and
``WANDB_MODE=<wandb.mode>`` unless set (:func:`framework_env`), plus ``train.env``; the
working directory is the worktree. ``meta.json`` ``metrics`` records ``train.metrics``,
``train.metrics_regex`` and where the metric sources look (:mod:`mlgate.runs.sources`);
:func:`finalize` imports the run's metrics from its source (:func:`collect_metrics`) before
it classifies the end, so a NaN loss logged to wandb or a CSV is ``nan`` too.
Placeholders substituted in ``train.command``: ``{batch_size}``, ``{grad_accum}``,
``{seed}`` (the run's seed: ``train.seed``, or its entry of ``train.seeds``), ``{nproc}``,
``{run_id}``, ``{run_dir}``.

**Classification** (:func:`classify_end`): a kill by the watchdog keeps its reason
(``nan``/``stalled``/``timeout``); else a non-zero exit whose log shows an out-of-memory error
(:data:`OOM_PATTERNS`, or ``Killed`` with exit 137 — the supervisor prints ``Killed`` like a
shell when the process dies of SIGKILL it did not ask for) is ``oom``; a non-finite value of a
``*loss*`` key in ``metrics.jsonl`` is ``nan``; other non-zero exits are ``crashed``; exit 0 is
``completed``.

Standard library only at import time (submitit is imported inside the slurm launcher).
"""
from __future__ import annotations

import atexit
import contextlib
import copy
import functools
import hashlib
import importlib.metadata
import importlib.util
import json
import math
import os
import platform
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mlgate.config import raw as _rawconfig
from mlgate.constants import FAILURE_CLASSES, RUNS_DIR
from mlgate.errors import ConfigError, EnvironmentFailure, MissingExtra, UsageError
from mlgate.runs import nodes as _nodes
from mlgate.runs import slurm as _slurm
from mlgate.runs.plots import (
    LOG,
    METRICS,
    PID,
    SUMMARY,
    allocate_run_dir,
    direction_of,
    is_stale,
    meta_lock,
    plot_files,
    read_json,
    read_meta,
    read_metrics,
    run_dirs,
    run_number,
    format_run_id,
    update_meta,
    write_json,
    write_plots,
    write_summary,
)
from mlgate.util import atomic_write, now_iso

__all__ = [
    "TRAIN_DEFAULTS", "WANDB_DEFAULTS", "LAUNCHERS", "OOM_PATTERNS", "PLACEHOLDERS",
    "RunHandle", "RunInfo", "launch", "list_runs", "run_info", "resolve_run_dir",
    "train_settings", "wandb_settings", "substitute", "build_argv", "environment_info",
    "data_version", "config_hash", "classify_end", "finalize", "complete_records",
    "run_alive", "pid_alive", "stop_run", "supervise", "direction_of", "read_meta",
    "update_meta", "nonfinite_loss", "job_state", "resolve_meta_path", "wandb_location",
    "carry_run_outputs", "launch_seeds", "launch_detached", "new_seed_group", "reconcile",
    "log_tail", "run_number", "collect_metrics", "framework_env", "metric_settings",
]

LAUNCHERS = ("local", "torchrun", "slurm")
CLUSTERS = ("auto", "slurm", "local")
CONFIG_NAME = "mlgate.yaml"

#: Defaults of the ``train:`` and ``wandb:`` blocks: the one table in
#: :data:`mlgate.config.raw.DEFAULTS` (SPEC §12.1), plus ``command`` (none by default).
TRAIN_DEFAULTS: dict[str, Any] = {"command": None, **_rawconfig.DEFAULTS["train"]}
#: ``disabled`` is refused.
WANDB_DEFAULTS: dict[str, Any] = dict(_rawconfig.DEFAULTS["wandb"])
WANDB_MODES = ("offline", "online")

PLACEHOLDERS = ("batch_size", "grad_accum", "seed", "nproc", "run_id", "run_dir")
_METRIC_CHOICES = ("auto", "track", "wandb", "csv", "tensorboard", "stdout")

#: Log fragments that mean the process ran out of memory (CUDA, CPU allocator, Python).
OOM_PATTERNS = (
    "CUDA out of memory",
    "OutOfMemoryError",
    "MemoryError",
    "DefaultCPUAllocator: can't allocate memory",
    "CUDA error: out of memory",
    "HIP out of memory",
)
_LOG_TAIL_BYTES = 2 * 1024 * 1024
_PY_RE = re.compile(r"^python(\d+(\.\d+)?)?$")
# Slurm job states after which the job is over (and submitit's local executor's).
_SLURM_DONE = _slurm.DONE_STATES
# The Slurm end states that are a failure class of their own.
_SLURM_REASONS = {"TIMEOUT": "timeout", "DEADLINE": "timeout", "OUT_OF_MEMORY": "oom"}

# Popen objects of processes this process started (so liveness checks reap them properly).
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


@atexit.register
def _reap_children() -> None:
    """At exit, collect the status of every run this process started that has ended: no
    zombie is left behind, and Python warns only of a run that really is still running."""
    for proc in list(_CHILDREN.values()):
        proc.poll()


# --- settings ----------------------------------------------------------------------------


def train_settings(train_cfg: Mapping[str, Any] | None) -> dict[str, Any]:
    """The ``train:`` block with :data:`TRAIN_DEFAULTS` filled in, checked.

    Raises :class:`ConfigError` naming the key, the bad value and what is allowed."""
    cfg = copy.deepcopy(TRAIN_DEFAULTS)
    for key, value in dict(train_cfg or {}).items():
        if key == "slurm":
            cfg["slurm"].update(dict(value or {}))
        elif value is not None or key in ("timeout", "stall_after", "config", "command"):
            cfg[key] = value
    if cfg["launcher"] not in LAUNCHERS:
        raise ConfigError(CONFIG_NAME, f"train.launcher: {cfg['launcher']!r} is not one of "
                                       f"{', '.join(LAUNCHERS)}")
    for key in ("nproc", "batch_size", "grad_accum"):
        if not isinstance(cfg[key], int) or isinstance(cfg[key], bool) or cfg[key] < 1:
            raise ConfigError(CONFIG_NAME, f"train.{key}: {cfg[key]!r} must be an integer >= 1")
    if not isinstance(cfg["oom_retries"], int) or cfg["oom_retries"] < 0:
        raise ConfigError(CONFIG_NAME, f"train.oom_retries: {cfg['oom_retries']!r} must be an "
                                       f"integer >= 0")
    for key in ("timeout", "stall_after"):
        v = cfg[key]
        if v is not None and (not isinstance(v, (int, float)) or isinstance(v, bool) or v <= 0):
            raise ConfigError(CONFIG_NAME, f"train.{key}: {v!r} must be a number of seconds > 0")
    if isinstance(cfg["data"], str):
        cfg["data"] = [cfg["data"]]
    cfg["env"] = {str(k): str(v) for k, v in dict(cfg["env"] or {}).items()}
    if cfg["slurm"].get("cluster") in (None, ""):
        cfg["slurm"]["cluster"] = "auto"
    if cfg["slurm"]["cluster"] not in CLUSTERS:
        raise ConfigError(CONFIG_NAME, f"train.slurm.cluster: {cfg['slurm']['cluster']!r} is "
                                       f"not one of {', '.join(CLUSTERS)}")
    if cfg.get("metrics", "auto") not in _METRIC_CHOICES:
        raise ConfigError(CONFIG_NAME, f"train.metrics: {cfg['metrics']!r} is not one of "
                                       f"{', '.join(_METRIC_CHOICES)}")
    if cfg["launcher"] == "local" and cfg["nproc"] > 1:
        raise ConfigError(CONFIG_NAME, f"train.nproc: {cfg['nproc']} processes need "
                                       f"launcher torchrun (or slurm)\nhint: set "
                                       f"train.launcher: torchrun")
    _check_scale(cfg)
    return cfg


def _check_scale(cfg: dict[str, Any]) -> None:
    """``train.seeds``, ``train.parallel``, ``train.nnodes`` and the Slurm options."""
    nnodes = cfg.get("nnodes", 1)
    if not isinstance(nnodes, int) or isinstance(nnodes, bool) or nnodes < 1:
        raise ConfigError(CONFIG_NAME, f"train.nnodes: {nnodes!r} must be an integer >= 1")
    if nnodes > 1 and cfg["launcher"] == "local":
        raise ConfigError(CONFIG_NAME, f"train.nnodes: {nnodes} nodes need launcher torchrun "
                                       f"(simulated on this machine) or slurm\nhint: set "
                                       f"train.launcher: slurm")
    seeds = cfg.get("seeds")
    if seeds is not None:
        if isinstance(seeds, int) and not isinstance(seeds, bool):
            seeds = [seeds]
        if not isinstance(seeds, list) or not seeds or any(
                not isinstance(s, int) or isinstance(s, bool) or s < 0 for s in seeds):
            raise ConfigError(CONFIG_NAME, f"train.seeds: {cfg.get('seeds')!r} must be a "
                                           f"non-empty list of integers >= 0, e.g. [0, 1, 2]")
        if len(set(seeds)) != len(seeds):
            raise ConfigError(CONFIG_NAME, f"train.seeds: {seeds!r} repeats a seed")
        cfg["seeds"] = list(seeds)
    par = cfg.get("parallel")
    if par is not None and (not isinstance(par, int) or isinstance(par, bool) or par < 1):
        raise ConfigError(CONFIG_NAME, f"train.parallel: {par!r} must be an integer >= 1")
    scfg = cfg["slurm"]
    for key in ("cpus_per_task",):
        v = scfg.get(key)
        if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 1):
            raise ConfigError(CONFIG_NAME, f"train.slurm.{key}: {v!r} must be an integer >= 1")
    for key in ("partition", "account"):
        v = scfg.get(key)
        if v is not None and (not isinstance(v, str) or not re.fullmatch(r"[^\s;'\"\\]+", v)):
            raise ConfigError(CONFIG_NAME, f"train.slurm.{key}: {v!r} is not a Slurm {key} "
                                           f"name (one word, no spaces or quotes)")
    if isinstance(scfg.get("sbatch"), str):
        scfg["sbatch"] = [scfg["sbatch"]]
    _slurm.sbatch_options(scfg.get("sbatch"))  # raises for a line it cannot use


def wandb_settings(wandb_cfg: Mapping[str, Any] | None) -> dict[str, Any]:
    """The ``wandb:`` block with defaults; ``disabled`` (or any unknown mode) is refused."""
    cfg = dict(WANDB_DEFAULTS)
    cfg.update({k: v for k, v in dict(wandb_cfg or {}).items() if v is not None})
    if cfg["mode"] not in WANDB_MODES:
        raise ConfigError(CONFIG_NAME, f"wandb.mode: {cfg['mode']!r} is refused: use offline "
                                       f"(the default: logs locally, sync later) or online; "
                                       f"mlgate never turns tracking off")
    return cfg


def substitute(command: str, values: Mapping[str, Any]) -> str:
    """Replace ``{batch_size}``, ``{grad_accum}``, ... in ``command`` (other braces stay)."""
    for name in PLACEHOLDERS:
        if name in values and values[name] is not None:
            command = command.replace("{" + name + "}", str(values[name]))
    return command


def build_argv(command: str, launcher: str, nproc: int, nnodes: int = 1) -> list[str]:
    """The argv that runs ``command`` under ``launcher`` (see the module docstring). With
    ``nnodes > 1`` it is the argv of one node's torchrun agent, with the c10d rendezvous
    options of :mod:`mlgate.runs.nodes` (filled in where the run starts)."""
    try:
        tokens = shlex.split(command)
    except ValueError as exc:
        raise ConfigError(CONFIG_NAME, f"train.command: cannot split {command!r}: {exc}") from exc
    if not tokens:
        raise ConfigError(CONFIG_NAME, "train.command is empty")
    if launcher != "torchrun" and not (launcher == "slurm" and (nproc > 1 or nnodes > 1)):
        return tokens
    dist = ["-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}"]
    if nnodes > 1:
        dist = ["-m", "torch.distributed.run", *_nodes.agent_options(nnodes, nproc)]
    head = os.path.basename(tokens[0])
    if head == "torchrun":
        if nnodes > 1:
            raise ConfigError(CONFIG_NAME, f"train.command: {command!r}: with train.nnodes > 1 "
                                           f"write the command as `python train.py ...`: "
                                           f"mlgate adds torchrun and its rendezvous options")
        return tokens
    if _PY_RE.match(head):
        rest = tokens[1:]
        while rest and rest[0] in ("-u", "-B"):
            rest = rest[1:]  # torchrun's workers are plain `python`; PYTHONUNBUFFERED is set
        if not rest or (rest[0].startswith("-") and rest[0] != "-m"):
            raise ConfigError(CONFIG_NAME, f"train.command: {command!r}: for torchrun the "
                                           f"command must be `python script.py ...` or "
                                           f"`python -m package.module ...`")
        return [tokens[0], *dist, *rest]
    if head.endswith(".py"):
        return [sys.executable, *dist, *tokens]
    raise ConfigError(CONFIG_NAME, f"train.command: {command!r}: launcher torchrun needs a "
                                   f"python command (`python train.py ...`), a `.py` script "
                                   f"or `torchrun ...`")


# --- provenance ----------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def environment_info() -> dict[str, Any]:
    """python/torch/CUDA versions and CPU/GPU names, without importing torch (the torch
    version comes from the package metadata, CUDA from ``torch/version.py``, GPU names from
    ``nvidia-smi`` when it exists). Cached per process."""
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "python_executable": sys.executable,
        "platform": platform.platform(),
        "hostname": socket.gethostname(),
        "cpu": _cpu_name(),
        "cpu_count": os.cpu_count(),
        "torch": None,
        "cuda": None,
        "gpu": _gpu_names(),
    }
    try:
        info["torch"] = importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        return info
    info["cuda"] = _torch_cuda_version()
    return info


def _cpu_name() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            if line.lower().startswith(("model name", "hardware", "cpu model")):
                return line.split(":", 1)[1].strip()
    if sys.platform == "darwin":
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(["sysctl", "-n", "machdep.cpu.brand_string"],
                                 capture_output=True, text=True, timeout=5)
            if out.stdout.strip():
                return out.stdout.strip()
    return platform.processor() or platform.machine()


def _gpu_names() -> list[str]:
    exe = shutil.which("nvidia-smi")
    if not exe:
        return []
    try:
        out = subprocess.run([exe, "--query-gpu=name", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=15)
    except (OSError, subprocess.SubprocessError):
        return []
    if out.returncode != 0:
        return []
    return [ln.strip() for ln in out.stdout.splitlines() if ln.strip()]


def _torch_cuda_version() -> str | None:
    try:
        spec = importlib.util.find_spec("torch")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for loc in spec.submodule_search_locations:
        with contextlib.suppress(OSError):
            text = (Path(loc) / "version.py").read_text()
            m = re.search(r"^cuda(?:\s*:[^=\n]*)?\s*=\s*['\"]([^'\"]+)['\"]", text, re.M)
            return m.group(1) if m else None
    return None


def config_hash(obj: Any) -> str:
    """sha256 of the canonical JSON of ``obj`` (sorted keys, no spaces)."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def data_version(patterns: Sequence[str], root: str | Path,
                 cache: str | Path | None = None) -> tuple[str, list[str]]:
    """``(hash, missing)``: sha256 over the sorted relative paths, sizes and content hashes of
    every file under the configured data paths/globs (relative to ``root``; directories are
    walked, ``.git`` skipped). ``"N/A"`` when nothing matches. ``missing`` lists the entries
    that matched nothing. ``cache`` (a JSON file) remembers content hashes by path, size and
    mtime so that a large unchanged data set is not re-read for every run."""
    root = Path(root)
    files: dict[str, Path] = {}
    missing: list[str] = []
    for pat in patterns:
        if any(c in pat for c in "*?["):
            matches = sorted(root.glob(pat))
        else:
            p = root / pat
            matches = [p] if p.exists() else []
        if not matches:
            missing.append(pat)
            continue
        for m in matches:
            if m.is_dir():
                for f in sorted(m.rglob("*")):
                    if f.is_file() and ".git" not in f.relative_to(root).parts:
                        files[f.relative_to(root).as_posix()] = f
            elif m.is_file():
                files[m.relative_to(root).as_posix()] = m
    if not files:
        return "N/A", missing
    known = read_json(cache) if cache else {}
    fresh: dict[str, Any] = {}
    h = hashlib.sha256()
    for rel in sorted(files):
        f = files[rel]
        st = f.stat()
        key = str(f.resolve())
        hit = known.get(key)
        if isinstance(hit, list) and hit[:2] == [st.st_size, st.st_mtime_ns]:
            digest = hit[2]
        else:
            digest = _file_sha256(f)
        fresh[key] = [st.st_size, st.st_mtime_ns, digest]
        h.update(f"{rel}\0{st.st_size}\0{digest}\n".encode())
    if cache:
        with contextlib.suppress(OSError, Exception):
            write_json(cache, {**known, **fresh})
    return h.hexdigest(), missing


def run_config(cfg: Mapping[str, Any], worktree: Path) -> dict[str, Any]:
    """What ``meta.json`` records as the run's config: the ``train:`` block, and the parsed
    content and hash of the ``train.config`` file when one is set."""
    out: dict[str, Any] = {"train": {k: v for k, v in cfg.items()}}
    ref = cfg.get("config")
    if ref:
        path = (worktree / str(ref)) if not os.path.isabs(str(ref)) else Path(str(ref))
        if not path.is_file():
            raise ConfigError(CONFIG_NAME, f"train.config: {ref!r} does not exist in "
                                           f"{worktree}\nhint: give a path relative to the "
                                           f"repository root, or remove the key")
        text = path.read_text(encoding="utf-8", errors="replace")
        content: Any
        try:
            if path.suffix in (".yaml", ".yml"):
                import yaml

                content = yaml.safe_load(text)
            else:
                content = json.loads(text)
        except Exception:  # not parseable: keep the text
            content = text
        out["file"] = {"path": str(ref), "sha256": hashlib.sha256(text.encode()).hexdigest(),
                       "content": content}
    return out


# --- handles and infos ---------------------------------------------------------------------


@dataclass
class RunHandle:
    """A launched run. ``pid`` is the training process (``None`` when it has not started
    yet, e.g. a queued Slurm job, or could not start); ``job`` the Slurm job id."""

    run_id: str
    run_dir: Path
    pid: int | None
    launcher: str
    job: str | None = None
    supervisor_pid: int | None = None


@dataclass
class RunInfo:
    """One run as ``mlgate runs`` lists it (``to_dict()`` for ``--json``)."""

    run: str
    run_dir: Path
    status: str
    failure_class: str | None
    metrics: dict[str, Any] = field(default_factory=dict)
    batch_size: int | None = None
    grad_accum: int | None = None
    attempt: int = 1
    parent_run: str | None = None
    started: str | None = None
    finished: str | None = None
    exit_code: int | None = None
    launcher: str | None = None
    commit: str | None = None
    alive: bool | None = None  # for a run whose meta still says running: is it?
    wandb_dir: str | None = None  # the wandb run folder, absolute, where it is now
    sync_command: str | None = None  # `wandb sync <wandb_dir>` (offline runs whose folder exists)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["run_dir"] = str(self.run_dir)
        return data


def run_info(run_dir: str | Path) -> RunInfo:
    """Read a run directory into a :class:`RunInfo` (``metrics`` = the last value per key,
    from ``summary.json`` or, while running, from ``metrics.jsonl``)."""
    run_dir = Path(run_dir)
    meta = read_meta(run_dir)
    summary = read_json(run_dir / SUMMARY)
    metrics = dict(summary.get("last") or {})
    if not metrics or is_stale(run_dir / SUMMARY, run_dir / METRICS):
        for rec in read_metrics(run_dir):
            metrics.update({k: v for k, v in rec.items() if k not in ("step", "time")})
    status = str(meta.get("status") or "running")
    alive = run_alive(run_dir, meta) if status == "running" else None
    wb_dir, sync = wandb_location(run_dir, meta)
    return RunInfo(run=str(meta.get("run") or run_dir.name), run_dir=run_dir, status=status,
                   failure_class=meta.get("failure_class"), metrics=metrics,
                   batch_size=meta.get("batch_size"), grad_accum=meta.get("grad_accum"),
                   attempt=int(meta.get("attempt") or 1), parent_run=meta.get("parent_run"),
                   started=meta.get("started"), finished=meta.get("finished"),
                   exit_code=meta.get("exit_code"), launcher=meta.get("launcher"),
                   commit=meta.get("commit"), alive=alive,
                   wandb_dir=str(wb_dir) if wb_dir is not None else None, sync_command=sync)


# --- paths in meta.json --------------------------------------------------------------------


def resolve_meta_path(run_dir: str | Path, value: Any) -> Path | None:
    """The path a meta.json value names, for the run folder where it is *now*.

    A relative value is relative to the run folder (how mlgate writes paths that point into
    it, so that they survive ``mlgate archive``); an absolute one (outside the run folder) is
    returned as it is. ``None`` for an empty value."""
    if not value or not isinstance(value, (str, os.PathLike)):
        return None
    path = Path(value).expanduser()
    return path if path.is_absolute() else Path(run_dir).absolute() / path


def wandb_location(run_dir: str | Path, meta: Mapping[str, Any] | None = None
                   ) -> tuple[Path | None, str | None]:
    """``(folder, sync command)`` of the run's wandb run where it is now: the folder (absolute,
    ``None`` when none is recorded or it no longer exists, e.g. the worktree it was in was
    removed) and, for an offline run whose folder exists, ``wandb sync <folder>``."""
    run_dir = Path(run_dir)
    meta = read_meta(run_dir) if meta is None else meta
    wb = meta.get("wandb") if isinstance(meta.get("wandb"), Mapping) else {}
    folder = resolve_meta_path(run_dir, wb.get("dir"))
    if folder is None or not folder.exists():
        return None, None
    sync = None
    if wb.get("mode") == "offline" or wb.get("sync_command"):
        sync = f"wandb sync {shlex.quote(str(folder))}"
    return folder, sync


def carry_run_outputs(src: str | Path, dst: str | Path) -> list[Path]:
    """Move what git does not carry -- ignored run outputs such as ``wandb/`` offline runs,
    checkpoints, Slurm logs -- from the runs of ticket folder ``src`` to the same runs under
    ticket folder ``dst``; returns the files moved (at their new place). A file that already
    exists under ``dst`` (e.g. the committed ``meta.json``) is left where it is.

    For ``mlgate archive --finalize``: call it after the merge brought the ticket folder to
    the main checkout and before ``git worktree remove`` deletes the worktree (which removes
    ignored files without asking)."""
    src_runs, dst_runs = Path(src) / RUNS_DIR, Path(dst) / RUNS_DIR
    moved: list[Path] = []
    if not src_runs.is_dir() or src_runs.resolve() == dst_runs.resolve():
        return moved
    for run in run_dirs(src_runs):
        for path in sorted(run.rglob("*")):
            if path.is_dir() and not path.is_symlink():
                continue
            target = dst_runs / path.relative_to(src_runs)
            if target.exists() or target.is_symlink():
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(path), str(target))
            moved.append(target)
    return moved


def list_runs(folder: str | Path) -> list[RunInfo]:
    """Every run of a ticket folder (``<folder>/runs/RUN-NNN``), oldest first."""
    return [run_info(p) for p in run_dirs(Path(folder) / RUNS_DIR)]


def resolve_run_dir(folder: str | Path, run_id: str) -> Path:
    """The directory of run ``run_id`` (``RUN-007``, ``run-7``, ``7``) in a ticket folder."""
    root = Path(folder) / RUNS_DIR
    text = str(run_id).strip()
    m = re.fullmatch(r"(?i)(?:run-?)?0*(\d+)", text)
    if m:
        path = root / format_run_id(int(m.group(1)))
        if path.is_dir():
            return path
    known = [p.name for p in run_dirs(root)]
    raise UsageError(f"no run {run_id!r} in {root}" + (f" (known: {', '.join(known)})" if known
                     else " (no runs yet)") + "\nhint: `mlgate runs` lists them",
                     run=run_id, known=known)


# --- launch --------------------------------------------------------------------------------


def launch(folder: str | Path, ticket: str | None, train_cfg: Mapping[str, Any] | None,
           worktree: str | Path, commit: str | None = None, dirty: bool = False,
           wandb_cfg: Mapping[str, Any] | None = None, attempt: int = 1,
           parent: str | None = None, seed: int | None = None,
           group: Mapping[str, Any] | None = None,
           on_launch: Callable[[str, Path], None] | None = None) -> RunHandle:
    """Launch ``train_cfg["command"]`` as a new run of the ticket folder ``folder``.
    ``on_launch(run_id, run_dir)`` is called once ``meta.json`` is written, before the
    training process starts (the train handler registers the run as mlgate's there).

    Returns once the training process has started (its pid is in ``train.pid``), or at once
    for a Slurm job. ``seed`` replaces ``train.seed`` for this run; ``group`` (``seed_group``,
    ``seeds``) ties it to the other runs of one ``train.seeds`` set. Raises
    :class:`ConfigError` for a bad ``train:``/``wandb:`` block (before any run directory is
    made) and :class:`MissingExtra` when submitit is needed but absent.
    """
    cfg = train_settings(train_cfg)
    wb = wandb_settings(wandb_cfg)
    prep = _prepare(folder, ticket, cfg, wb, worktree, commit, dirty, attempt, parent, seed,
                    group, on_launch)
    if cfg["launcher"] == "slurm":
        return _launch_slurm([prep], Path(worktree), cfg)[0]
    return _launch_prepared_local(prep, Path(worktree), cfg)


def launch_seeds(folder: str | Path, ticket: str | None, train_cfg: Mapping[str, Any] | None,
                 worktree: str | Path, commit: str | None = None, dirty: bool = False,
                 wandb_cfg: Mapping[str, Any] | None = None,
                 seeds: Sequence[int] | None = None,
                 on_launch: Callable[[str, Path], None] | None = None) -> list[RunHandle]:
    """One run per seed (``seeds``, default ``train.seeds``), all started now: on Slurm one
    array job (``train.parallel`` caps how many of its tasks run at once), otherwise one
    process per seed on this machine (the caller limits how many run at once). Each run's
    ``meta.json`` has its ``seed``, the ``seeds`` of the set and their ``seed_group``."""
    cfg = train_settings(train_cfg)
    wb = wandb_settings(wandb_cfg)
    chosen = list(seeds if seeds is not None else (cfg["seeds"] or [cfg["seed"]]))
    group = new_seed_group(chosen)
    preps = [_prepare(folder, ticket, cfg, wb, worktree, commit, dirty, 1, None, s, group,
                      on_launch) for s in chosen]
    if cfg["launcher"] == "slurm":
        return _launch_slurm(preps, Path(worktree), cfg)
    return [_launch_prepared_local(p, Path(worktree), cfg) for p in preps]


def launch_detached(folder: str | Path, ticket: str | None,
                    train_cfg: Mapping[str, Any] | None, worktree: str | Path,
                    commit: str | None = None, dirty: bool = False,
                    wandb_cfg: Mapping[str, Any] | None = None,
                    on_launch: Callable[[str, Path], None] | None = None) -> list[RunHandle]:
    """What ``mlgate run train --detach`` starts: one run, or one per ``train.seeds`` (all at
    once: nobody stays to start the next, so locally ``train.parallel`` must allow them all;
    on Slurm the array job's own limit applies)."""
    cfg = train_settings(train_cfg)
    seeds = cfg.get("seeds")
    if not seeds:
        return [launch(folder, ticket, cfg, worktree, commit, dirty, wandb_cfg,
                       on_launch=on_launch)]
    par = cfg.get("parallel") or 1
    if cfg["launcher"] != "slurm" and len(seeds) > par:
        raise UsageError(f"train.seeds has {len(seeds)} seeds but train.parallel is {par}: "
                         f"detached, mlgate does not stay to start the rest\nhint: run without "
                         f"--detach, or set train.parallel: {len(seeds)}",
                         seeds=seeds, parallel=par)
    return launch_seeds(folder, ticket, cfg, worktree, commit, dirty, wandb_cfg, seeds,
                        on_launch)


def new_seed_group(seeds: Sequence[int]) -> dict[str, Any]:
    """The ``seed_group``/``seeds`` meta.json keys shared by the runs of one seed set."""
    import uuid

    return {"seed_group": uuid.uuid4().hex[:12], "seeds": list(seeds)}


@dataclass
class _Prepared:
    """A run directory with its meta.json written, ready to be started."""

    run_id: str
    run_dir: Path
    argv: list[str]
    extra_env: dict[str, str]


def _prepare(folder: str | Path, ticket: str | None, cfg: Mapping[str, Any],
             wb: Mapping[str, Any], worktree: str | Path, commit: str | None, dirty: bool,
             attempt: int, parent: str | None, seed: int | None,
             group: Mapping[str, Any] | None,
             on_launch: Callable[[str, Path], None] | None = None) -> _Prepared:
    folder, worktree = Path(folder), Path(worktree)
    if not cfg["command"]:
        raise ConfigError(CONFIG_NAME, "train.command is not set\nhint: add e.g. train: "
                                       "{command: \"python train.py --batch-size {batch_size}\"}")
    if not worktree.is_dir():
        raise UsageError(f"worktree {worktree} does not exist", path=str(worktree))
    seed = cfg["seed"] if seed is None else seed
    nnodes = int(cfg.get("nnodes") or 1)
    values: dict[str, Any] = {k: cfg[k] for k in ("batch_size", "grad_accum", "nproc")}
    values["seed"] = seed
    # Validate the command before a run directory exists.
    build_argv(substitute(cfg["command"], {**values, "run_id": "RUN-000", "run_dir": "x"}),
               cfg["launcher"], cfg["nproc"], nnodes)
    config = run_config(cfg, worktree)
    runs_root = folder / RUNS_DIR
    run_id, run_dir = allocate_run_dir(runs_root)
    values.update(run_id=run_id, run_dir=str(run_dir.resolve()))
    command = substitute(cfg["command"], values)
    argv = build_argv(command, cfg["launcher"], cfg["nproc"], nnodes)
    data_hash, missing = data_version(cfg["data"], worktree, runs_root / ".data-cache.json")
    project = wb.get("project") or ticket
    extra_env = dict(cfg["env"])
    extra_env.update({
        "MLGATE_RUN_DIR": str(run_dir.resolve()),
        "MLGATE_RUN_ID": run_id,
        "MLGATE_TICKET": ticket or "",
        "MLGATE_SEED": str(seed),
        "MLGATE_BATCH_SIZE": str(cfg["batch_size"]),
        "MLGATE_GRAD_ACCUM": str(cfg["grad_accum"]),
        "MLGATE_WANDB_MODE": wb["mode"],
        "MLGATE_WANDB_PROJECT": project or "",
        "MLGATE_WANDB_ENTITY": wb.get("entity") or "",
    })
    if "WANDB_DIR" not in os.environ and "WANDB_DIR" not in cfg["env"]:
        extra_env["WANDB_DIR"] = str(run_dir.resolve())
    extra_env.update(framework_env(run_dir, wb, cfg["env"]))
    if "PYTHONUNBUFFERED" not in os.environ and "PYTHONUNBUFFERED" not in cfg["env"]:
        extra_env["PYTHONUNBUFFERED"] = "1"
    now = time.time()
    meta: dict[str, Any] = {
        "run": run_id, "ticket": ticket, "command": command, "argv": argv,
        "cwd": str(worktree.resolve()), "commit": commit, "dirty": bool(dirty),
        "config": config, "config_hash": config_hash(config), "seed": seed,
        "data_version": data_hash, "data_paths": list(cfg["data"]), "data_missing": missing,
        **environment_info(),
        "launcher": cfg["launcher"], "nproc": cfg["nproc"], "nnodes": nnodes,
        "batch_size": cfg["batch_size"],
        "grad_accum": cfg["grad_accum"], "attempt": attempt, "parent_run": parent,
        "pid": None, "supervisor_pid": None, "started": now_iso(), "started_ts": now,
        "running_since": None, "finished": None, "exit_code": None, "status": "running",
        "failure_class": None, "stall_after": cfg["stall_after"], "timeout": cfg["timeout"],
        "oom_retries": cfg["oom_retries"],
        "wandb": {"mode": wb["mode"], "project": project, "entity": wb.get("entity"),
                  "dir": None, "run_id": None, "url": None},
        "mlgate_version": _mlgate_version(),
        "metrics": metric_settings(cfg, worktree),
    }
    if group:
        meta.update({k: group[k] for k in ("seed_group", "seeds") if k in group})
    write_json(run_dir / "meta.json", meta)
    if on_launch is not None:
        on_launch(run_id, run_dir)
    (run_dir / LOG).touch()
    return _Prepared(run_id, run_dir, argv, extra_env)


def _launch_prepared_local(prep: _Prepared, worktree: Path, cfg: Mapping[str, Any]
                           ) -> RunHandle:
    argv = prep.argv
    nnodes = int(cfg.get("nnodes") or 1)
    if nnodes > 1:  # launcher torchrun: the nodes are simulated on this machine
        argv = _nodes.local_argv(nnodes, argv)
        update_meta(prep.run_dir, argv=argv)
    return _launch_local(prep.run_id, prep.run_dir, argv, {**os.environ, **prep.extra_env},
                         worktree, cfg["launcher"])


def framework_env(run_dir: Path, wb: Mapping[str, Any], env: Mapping[str, str]
                  ) -> dict[str, str]:
    """What makes the frameworks write into the run folder and wandb run in the configured
    mode, for a script that does not use mlgate.track: Lightning's ``default_root_dir``
    (``PL_TRAINER_DEFAULT_ROOT_DIR``: its default loggers and checkpoints) and ``WANDB_MODE``.
    A variable already set in the environment or in ``train.env`` is left alone."""
    out: dict[str, str] = {}
    for name, value in (("PL_TRAINER_DEFAULT_ROOT_DIR", str(Path(run_dir).resolve())),
                        ("WANDB_MODE", str(wb.get("mode") or "offline"))):
        if name not in os.environ and name not in env:
            out[name] = value
    return out


def metric_settings(cfg: Mapping[str, Any], worktree: Path) -> dict[str, Any]:
    """``meta.json`` ``metrics``: ``train.metrics``, ``train.metrics_regex`` and the folders
    of the ``run_outputs`` globs where the metric sources look (mlgate.runs.sources)."""
    from mlgate.runs import sources

    try:
        outputs = _rawconfig.load_raw(worktree).get("run_outputs")
    except ConfigError:
        outputs = None
    return sources.launch_settings(cfg, outputs if isinstance(outputs, list) else None)


def _mlgate_version() -> str | None:
    try:
        from mlgate import __version__

        return __version__
    except ImportError:  # pragma: no cover
        return None


def _launch_local(run_id: str, run_dir: Path, argv: list[str], env: dict[str, str],
                  worktree: Path, launcher: str) -> RunHandle:
    sup = [sys.executable, "-m", "mlgate.runs.core", "_supervise", str(run_dir.resolve()), "--",
           *argv]
    with open(run_dir / LOG, "ab") as log:
        try:
            proc = subprocess.Popen(sup, cwd=worktree, env=env, stdin=subprocess.DEVNULL,
                                    stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True, close_fds=True)
        except OSError as exc:
            log.write(f"[mlgate] could not start the supervisor: {exc}\n".encode())
            finalize(run_dir, 127, plots=False)
            raise
    _CHILDREN[proc.pid] = proc
    update_meta(run_dir, fn=lambda m: m.update(supervisor_pid=m.get("supervisor_pid") or proc.pid))
    pid = _wait_for_pid(run_dir, proc)
    return RunHandle(run_id, run_dir, pid, launcher, None, proc.pid)


def _wait_for_pid(run_dir: Path, proc: subprocess.Popen[bytes] | None,
                  timeout: float = 30.0) -> int | None:
    """Wait until the supervisor wrote ``train.pid`` (or the run already ended)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pid = _read_pid(run_dir)
        if pid:
            return pid
        if read_meta(run_dir).get("exit_code") is not None:
            return None
        if proc is not None and proc.poll() is not None:
            return _read_pid(run_dir)
        time.sleep(0.02)
    return _read_pid(run_dir)


def _read_pid(run_dir: Path) -> int | None:
    try:
        return int((Path(run_dir) / PID).read_text().strip())
    except (OSError, ValueError):
        return None


def _launch_slurm(preps: list[_Prepared], worktree: Path, cfg: Mapping[str, Any]
                  ) -> list[RunHandle]:
    """Submit the runs through submitit: one job, or one array job for several seeds. The
    submitit folder is the first run's ``slurm/`` (the other runs point to it)."""
    try:
        import submitit
    except ImportError as exc:
        for p in preps:
            _abort(p.run_dir, "submitit is not installed: pip install 'mlgate[slurm]'")
        raise MissingExtra("submitit", "slurm", "train.launcher: slurm") from exc
    scfg = dict(cfg["slurm"])
    cluster = None if scfg.get("cluster") in (None, "auto") else scfg["cluster"]
    nnodes = int(cfg.get("nnodes") or 1)
    first = preps[0]
    name = f"mlgate-{first.run_id}" + (f"-seeds{len(preps)}" if len(preps) > 1 else "")
    folder = first.run_dir / "slurm"
    try:
        executor = submitit.AutoExecutor(folder=folder, cluster=cluster)
        used = str(getattr(executor, "cluster", cluster) or "slurm")
        params = _slurm.submitit_parameters(scfg, nnodes if used == "slurm" else 1, name)
        if len(preps) > 1 and cfg.get("parallel"):
            params["slurm_array_parallelism"] = int(cfg["parallel"])
        executor.update_parameters(**params)
    except (NameError, ValueError, TypeError, RuntimeError) as exc:
        for p in preps:
            _abort(p.run_dir, f"submitit refused the parameters: {exc}")
        raise ConfigError(CONFIG_NAME, f"train.slurm: {exc}\nhint: submitit parameters of the "
                                       f"Slurm executor take the prefix slurm_ in "
                                       f"train.slurm.extra (e.g. slurm_account)") from exc
    for p in preps:
        if nnodes > 1:  # srun starts one torchrun agent per node; one machine simulates them
            p.argv = (_slurm.srun_argv(nnodes, p.argv) if used == "slurm"
                      else _nodes.local_argv(nnodes, p.argv))
            update_meta(p.run_dir, argv=p.argv)
    calls = [(str(p.run_dir.resolve()), list(p.argv), dict(p.extra_env),
              str(worktree.resolve())) for p in preps]
    try:
        if len(preps) == 1:
            jobs = [executor.submit(_slurm_entry, *calls[0])]
        else:
            with executor.batch():
                jobs = [executor.submit(_slurm_entry, *c) for c in calls]
    except Exception as exc:
        for p in preps:
            _abort(p.run_dir, f"the job could not be submitted: {exc}")
        raise EnvironmentFailure(f"{first.run_id}: the Slurm job could not be submitted: "
                                 f"{exc}", run=first.run_id) from exc
    handles = []
    for p, job in zip(preps, jobs):
        job_id = str(job.job_id)
        fields: dict[str, Any] = {"job_id": job_id, "cluster": used,
                                  # run-relative, so that it survives `mlgate archive`
                                  "slurm_folder": os.path.relpath(folder, p.run_dir)}
        if len(preps) > 1 and used == "slurm" and "_" in job_id:
            array_id, _, task = job_id.partition("_")
            fields.update(array_job_id=array_id, array_task_id=int(task))
        if used == "slurm" and scfg.get("partition"):
            fields["partition"] = scfg["partition"]
        update_meta(p.run_dir, fn=lambda m, f=fields: m.update(
            {k: v for k, v in f.items() if not m.get(k) or k in ("job_id", "cluster")}))
        if used == "local":
            with contextlib.suppress(ValueError):
                proc = getattr(job, "_process", None)
                if proc is not None:
                    _CHILDREN[int(job_id)] = proc
        handles.append(RunHandle(p.run_id, p.run_dir, _read_pid(p.run_dir), "slurm", job_id,
                                 None))
    return handles


def _abort(run_dir: Path, reason: str) -> None:
    """A run that never started: say why in train.log and record it as crashed."""
    with contextlib.suppress(OSError), open(run_dir / LOG, "a", encoding="utf-8") as log:
        log.write(f"[mlgate] {reason}\n")
    finalize(run_dir, 127, plots=False)


def _slurm_entry(run_dir: str, argv: list[str], extra_env: dict[str, str], cwd: str) -> int:
    """What a Slurm (or submitit local) job runs: the supervisor, in-process.

    In a Slurm job it first records what the job knows about itself (job id, node list,
    nodes, partition: :func:`mlgate.runs.slurm.job_environment`), so that ``meta.json`` is
    complete even when the process that submitted is gone; a multi-node run gets its
    rendezvous endpoint on the job's first node. SIGUSR2 (submitit asks Slurm for it before
    the time limit) is caught and ignored here: submitit's own handler would requeue the job.
    """
    env = {**os.environ, **extra_env}
    # Only in a job that submitit's Slurm executor started: a local-executor job started from
    # inside an allocation (salloc) also sees SLURM_JOB_ID, of that allocation.
    in_job = os.environ.get("SUBMITIT_EXECUTOR") == "slurm"
    info = _slurm.job_environment(os.environ) if in_job else {}
    argv = list(argv)
    if info:
        if argv and os.path.basename(argv[0]) == "srun":
            endpoint = _slurm.rendezvous_endpoint(info.get("nodes") or [])
            argv = _nodes.fill_rendezvous(argv, endpoint, str(info["job_id"]))
            info.update(rdzv_endpoint=endpoint, argv=argv)
        update_meta(run_dir, **{k: v for k, v in info.items() if v not in (None, "")})
        with contextlib.suppress(ValueError, OSError):
            signal.signal(signal.SIGUSR2, _ignore_signal)
    return supervise(run_dir, argv, env=env, cwd=cwd)


def _ignore_signal(_signum: int, _frame: Any) -> None:
    """A Python-level no-op handler (unlike SIG_IGN it is not inherited by the child)."""


# --- supervisor ----------------------------------------------------------------------------


def supervise(run_dir: str | Path, argv: Sequence[str], env: Mapping[str, str] | None = None,
              cwd: str | Path | None = None) -> int:
    """Run ``argv`` as the training process of ``run_dir`` and record how it ended.

    The process gets its own session (so the watchdog can stop its whole process group
    without stopping the supervisor), stdin ``/dev/null`` and ``train.log`` as stdout+stderr.
    SIGTERM/SIGINT/SIGHUP sent to the supervisor are forwarded to it. Returns the exit code
    (``128+N`` for signal ``N``)."""
    run_dir = Path(run_dir)
    update_meta(run_dir, supervisor_pid=os.getpid(), supervisor_host=socket.gethostname())
    with open(run_dir / LOG, "ab", buffering=0) as log:
        try:
            proc = subprocess.Popen(list(argv), cwd=cwd, env=dict(env) if env else None,
                                    stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        except OSError as exc:
            log.write(f"[mlgate] could not start {argv[0]!r}: {exc.strerror or exc}\n".encode())
            finalize(run_dir, 127)
            return 127
        atomic_write(run_dir / PID, f"{proc.pid}\n")
        update_meta(run_dir, pid=proc.pid, running_since=time.time())

        def forward(signum: int, _frame: Any) -> None:
            with contextlib.suppress(OSError):
                os.killpg(proc.pid, signum)

        old: dict[int, Any] = {}
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            with contextlib.suppress(ValueError, OSError):  # not the main thread
                old[sig] = signal.signal(sig, forward)
        try:
            rc = proc.wait()
        finally:
            for sig, handler in old.items():
                with contextlib.suppress(ValueError, OSError, TypeError):
                    signal.signal(sig, handler)
        code = rc if rc >= 0 else 128 - rc
        if rc < 0:
            name = _signal_name(-rc)
            # Like a shell: "Killed" for SIGKILL (the kernel's OOM killer is the usual sender).
            text = "Killed" if -rc == signal.SIGKILL else f"Terminated by {name}"
            log.write(f"[mlgate] {text} (signal {-rc}, exit {code})\n".encode())
    finalize(run_dir, code, reason=_scheduler_stop(run_dir, code))
    return code


def _scheduler_stop(run_dir: Path, code: int) -> str | None:
    """Inside a Slurm job, after the training process died of a signal: whether Slurm
    stopped the job, and why (``TIMEOUT``: its time limit → ``timeout``; ``OUT_OF_MEMORY`` →
    ``oom``); recorded in ``meta.json`` as ``slurm_state``. ``None`` otherwise (then the
    usual rules apply, e.g. the watchdog's own ``kill_reason``)."""
    if code < 128 or os.environ.get("SUBMITIT_EXECUTOR") != "slurm":
        return None
    meta = read_meta(run_dir)
    if meta.get("launcher") != "slurm" or not meta.get("job_id"):
        return None
    state = _slurm.job_state(str(meta["job_id"]))
    if not state:
        return None
    update_meta(run_dir, slurm_state=state)
    reason = _SLURM_REASONS.get(state)
    if reason and not meta.get("kill_reason"):
        update_meta(run_dir, kill_detail=f"Slurm ended the job: {state}" + (
            " (its time limit, train.slurm.time_min)" if state == "TIMEOUT" else ""))
    return None if meta.get("kill_reason") else reason


def _signal_name(num: int) -> str:
    try:
        return signal.Signals(num).name
    except ValueError:
        return f"signal {num}"


# --- classification and finalization -------------------------------------------------------


def _log_tail(run_dir: Path, limit: int = _LOG_TAIL_BYTES) -> str:
    path = run_dir / LOG
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            if size > limit:
                fh.seek(size - limit)
            return fh.read().decode("utf-8", errors="replace")
    except OSError:
        return ""


LOG_TAIL_LINES = 20


def log_tail(run_dir: str | Path, meta: Mapping[str, Any] | None = None,
             lines: int = LOG_TAIL_LINES) -> str:
    """The last ``lines`` lines of the run's ``train.log``; for a Slurm job whose training
    process never started, those of the job's own log (``slurm/<job>_0_log.out``), where
    the scheduler and submitit write why."""
    run_dir = Path(run_dir)
    meta = read_meta(run_dir) if meta is None else meta
    text = _log_tail(run_dir, 64 * 1024)
    tail = text.splitlines()[-lines:]
    if meta.get("launcher") == "slurm" and meta.get("job_id") and not meta.get("pid"):
        folder = resolve_meta_path(run_dir, meta.get("slurm_folder") or "slurm")
        job = str(meta["job_id"])
        if folder is not None and folder.is_dir():
            for path in sorted(folder.glob(f"{job}_*log.*")):
                with contextlib.suppress(OSError):
                    body = path.read_text(encoding="utf-8", errors="replace").splitlines()
                    if body:
                        tail += [f"--- {path.name}"] + body[-lines:]
    return "\n".join(tail)


def find_oom(text: str, exit_code: int | None) -> str | None:
    """The out-of-memory evidence in a log (the matching line), or ``None``."""
    for line in reversed(text.splitlines()):
        if any(p in line for p in OOM_PATTERNS):
            return line.strip()
    if exit_code == 137 and re.search(r"(?m)\bKilled\b", text):
        return "Killed (exit 137)"
    return None


def nonfinite_loss(records: Iterable[Mapping[str, Any]]) -> tuple[int | None, str, float] | None:
    """The first ``(step, key, value)`` where a key containing ``loss`` is NaN/inf."""
    for rec in records:
        for k, v in rec.items():
            if "loss" in k.lower() and isinstance(v, (int, float)) and not isinstance(v, bool) \
                    and not math.isfinite(v):
                return rec.get("step"), k, float(v)
    return None


def classify_end(run_dir: str | Path, exit_code: int | None,
                 meta: Mapping[str, Any] | None = None) -> str:
    """The failure class of an ended run (see the module docstring for the rules)."""
    run_dir = Path(run_dir)
    meta = read_meta(run_dir) if meta is None else meta
    if meta.get("kill_reason") in FAILURE_CLASSES:
        return str(meta["kill_reason"])
    bad = nonfinite_loss(read_metrics(run_dir))
    if exit_code != 0:
        if find_oom(_log_tail(run_dir), exit_code):
            return "oom"
        return "nan" if bad else "crashed"
    return "nan" if bad else "completed"


def finalize(run_dir: str | Path, exit_code: int | None, reason: str | None = None,
             plots: bool = True) -> dict[str, Any]:
    """Record the end of a run in ``meta.json`` (``exit_code``, ``finished``, ``status``,
    ``failure_class``), then :func:`complete_records`. Idempotent: a run already recorded as
    ended keeps its record (a later call only fills in a missing exit code)."""
    run_dir = Path(run_dir)
    collect_metrics(run_dir)
    with meta_lock(run_dir):
        meta = read_meta(run_dir)
        if meta.get("status") in ("completed", "failed") and meta.get("failure_class"):
            if meta.get("exit_code") is None and exit_code is not None:
                meta["exit_code"] = exit_code
                write_json(run_dir / "meta.json", meta)
        else:
            cls = reason if reason in FAILURE_CLASSES else classify_end(run_dir, exit_code, meta)
            now = time.time()
            meta.update(exit_code=exit_code, finished=now_iso(), finished_ts=now,
                        failure_class=cls,
                        status="completed" if cls == "completed" else "failed")
            if cls == "oom":
                meta["oom_evidence"] = find_oom(_log_tail(run_dir), exit_code)
            if cls != "completed":
                meta["log_tail"] = log_tail(run_dir, meta)
            write_json(run_dir / "meta.json", meta)
    complete_records(run_dir, plots=plots)
    return read_meta(run_dir)


def collect_metrics(run_dir: str | Path, kind: str | None = None, regex: str | None = None,
                    force: bool = False) -> dict[str, Any]:
    """Import the run's metrics from its metric source into ``metrics.jsonl`` and link the
    script's own wandb run (:func:`mlgate.runs.sources.import_metrics`). At the end of a run
    (``force=False``) an unreadable source never loses the run's outcome: the reason is
    recorded in ``meta.json`` ``metrics_source.error``."""
    from mlgate.runs import sources

    run_dir = Path(run_dir)
    if not read_meta(run_dir):
        return {}
    try:
        return dict(sources.import_metrics(run_dir, kind, regex, force=force))
    except sources.MetricSourceError as exc:
        if force:
            raise
        update_meta(run_dir, metrics_source={"kind": "none", "error": exc.message})
        return {"kind": "none", "error": exc.message}
    except Exception as exc:  # a reader bug must not lose the run's outcome
        if force:
            raise
        msg = f"{type(exc).__name__}: {exc}"
        update_meta(run_dir, metrics_source={"kind": "none", "error": msg})
        return {"kind": "none", "error": msg}


def complete_records(run_dir: str | Path, plots: bool = True) -> None:
    """Write ``summary.json`` and the ``viz/`` plots when they are missing or older than
    ``metrics.jsonl``. A missing matplotlib is noted in ``meta.json`` (``plots_error``)."""
    run_dir = Path(run_dir)
    metrics = run_dir / METRICS
    if not metrics.exists():
        return
    records = read_metrics(run_dir)
    if is_stale(run_dir / SUMMARY, metrics):
        write_summary(run_dir, records=records)
    if not plots or not records:
        return
    pngs = plot_files(run_dir)
    if pngs and not any(is_stale(p, metrics) for p in pngs):
        return
    try:
        write_plots(run_dir, records=records)
    except ImportError:
        update_meta(run_dir, plots_error="matplotlib is not installed: no plots in viz/ — "
                                         "pip install 'mlgate[wandb]'")
    except Exception as exc:  # a plot must never lose the run's outcome
        update_meta(run_dir, plots_error=f"{type(exc).__name__}: {exc}")


# --- liveness and stopping -----------------------------------------------------------------


def pid_alive(pid: int | None) -> bool:
    """Whether process ``pid`` exists and is not a zombie (children we started are reaped)."""
    if not pid or pid <= 0:
        return False
    proc = _CHILDREN.get(pid)
    if proc is not None:
        return proc.poll() is None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError, IndexError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat[stat.rindex(")") + 2] in "ZX":
            with contextlib.suppress(ChildProcessError, OSError):
                os.waitpid(pid, os.WNOHANG)
            return False
    return True


_JOB_STATES: dict[str, tuple[float, str | None]] = {}
JOB_STATE_TTL = 15.0  # seconds between two `scontrol show job` queries for the same job


def job_state(meta: Mapping[str, Any], run_dir: str | Path | None = None,
              fresh: bool = False) -> str | None:
    """The Slurm state of a run's job: ``RUNNING``, ``COMPLETED``, ... or ``UNKNOWN`` (the
    controller has forgotten it); ``None`` when it cannot be asked. A real cluster is asked
    with ``scontrol show job`` (no ``sacct``: see :mod:`mlgate.runs.slurm`) at most every
    :data:`JOB_STATE_TTL` seconds per job unless ``fresh``."""
    if meta.get("launcher") != "slurm" or not meta.get("job_id"):
        return None
    job_id = str(meta["job_id"])
    if meta.get("cluster") == "local":
        return "RUNNING" if pid_alive(_int(job_id)) else "FINISHED"
    cached = _JOB_STATES.get(job_id)
    if not fresh and cached and time.monotonic() - cached[0] < JOB_STATE_TTL:
        return cached[1]
    state = _slurm.job_state(job_id)
    _JOB_STATES[job_id] = (time.monotonic(), state)
    return state


def reconcile(run_dir: str | Path, meta: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Finalize a run whose processes (or Slurm job) are gone without a recorded end, from
    what is left: for a Slurm job, the scheduler's state and exit code (``TIMEOUT`` →
    ``timeout``, ``OUT_OF_MEMORY`` → ``oom``; ``slurm_state`` and a ``kill_detail`` saying
    so are recorded), else the run's own records. Returns the new meta."""
    run_dir = Path(run_dir)
    meta = read_meta(run_dir) if meta is None else meta
    code = meta.get("exit_code")
    reason = None
    if meta.get("launcher") == "slurm" and meta.get("cluster") not in (None, "local") \
            and meta.get("job_id"):
        fields = _slurm.show_job(str(meta["job_id"])) or {}
        state = (fields.get("JobState") or "UNKNOWN").split()[0].upper()
        if code is None:
            code = _slurm.exit_code(fields)
        reason = _SLURM_REASONS.get(state)
        detail = (f"Slurm job {meta['job_id']} ended {state}"
                  + (f" (ExitCode {fields['ExitCode']})" if fields.get("ExitCode") else "")
                  + " without mlgate's supervisor recording the end"
                  + ("; the controller no longer knows the job" if state == "UNKNOWN" else ""))
        extra = {"slurm_state": state}
        if not meta.get("kill_reason"):
            extra["kill_detail"] = detail
        for key, field_name in (("node_list", "NodeList"), ("partition", "Partition")):
            if not meta.get(key) and fields.get(field_name) not in (None, "", "(null)"):
                extra[key] = fields[field_name]
        update_meta(run_dir, **extra)
        with contextlib.suppress(OSError), open(run_dir / LOG, "a", encoding="utf-8") as log:
            log.write(f"[mlgate] {detail}\n")
    return finalize(run_dir, code, reason=reason)


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def run_alive(run_dir: str | Path, meta: Mapping[str, Any] | None = None) -> bool:
    """Whether the run may still be going: no exit code recorded and its supervisor,
    training process or Slurm job is still there."""
    run_dir = Path(run_dir)
    meta = read_meta(run_dir) if meta is None else meta
    if meta.get("exit_code") is not None or meta.get("status") in ("completed", "failed"):
        return False
    if meta.get("launcher") == "slurm":
        state = job_state(meta, run_dir)
        if state is None:
            return True
        return state not in _SLURM_DONE
    host = meta.get("supervisor_host") or meta.get("hostname")
    if host and host != socket.gethostname():
        return True  # another machine's process: only its record can tell
    pids = [_int(meta.get("supervisor_pid")), _int(meta.get("pid")) or _read_pid(run_dir)]
    if not any(pids):
        started = meta.get("started_ts") or 0
        return time.time() - float(started) < 30.0  # still starting
    return any(pid_alive(p) for p in pids if p)


def _descendants(pid: int) -> list[int]:
    """Every descendant of ``pid`` (Linux ``/proc``; empty elsewhere)."""
    children: dict[int, list[int]] = {}
    with contextlib.suppress(OSError):
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            with contextlib.suppress(OSError, ValueError, IndexError):
                stat = Path(f"/proc/{entry}/stat").read_text()
                ppid = int(stat[stat.rindex(")") + 2:].split()[1])
                children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def _signal_tree(pids: Iterable[int], sig: int) -> None:
    """Send ``sig`` to each pid and to the process groups it leads (a group is signalled only
    when its leader is in ``pids``, so a process that left for its own session is spared)."""
    pids = list(pids)
    groups: set[int] = set()
    for p in pids:
        with contextlib.suppress(OSError):
            if os.getpgid(p) == p:
                groups.add(p)
    for g in groups:
        if g > 1 and g != os.getpgrp():
            with contextlib.suppress(OSError):
                os.killpg(g, sig)
    for p in pids:
        with contextlib.suppress(OSError):
            os.kill(p, sig)


def stop_run(run_dir: str | Path, meta: Mapping[str, Any] | None = None,
             grace: float = 10.0) -> bool:
    """Stop a run's training process and everything it started: SIGTERM to their process
    groups, SIGKILL after ``grace`` seconds. A Slurm job is cancelled (``scancel``). The
    supervisor survives and records the exit code. Returns ``False`` when the run's processes
    are on another machine (nothing is signalled then)."""
    run_dir = Path(run_dir)
    meta = read_meta(run_dir) if meta is None else meta
    if meta.get("launcher") == "slurm" and meta.get("cluster") not in (None, "local"):
        if not meta.get("job_id"):
            return False
        _JOB_STATES.pop(str(meta["job_id"]), None)
        return _slurm.cancel(str(meta["job_id"]))
    host = meta.get("supervisor_host") or meta.get("hostname")
    if host and host != socket.gethostname():
        return False
    pid = _int(meta.get("pid")) or _read_pid(run_dir)
    if not pid:
        sup = _int(meta.get("supervisor_pid"))
        if sup and pid_alive(sup):
            with contextlib.suppress(OSError):
                os.kill(sup, signal.SIGTERM)
        return True
    # The wandb writer of mlgate.track (a child of the training process) is left alone: it
    # logs what was flushed and finishes the wandb run once its parent is gone.
    writer = _int((meta.get("wandb") or {}).get("writer_pid"))
    spare = {writer, *_descendants(writer)} if writer else set()
    tree = [p for p in [pid, *_descendants(pid)] if p not in spare]
    _signal_tree(tree, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(pid_alive(p) for p in tree):
        time.sleep(0.1)
    left = [p for p in tree if pid_alive(p)]
    if left:
        _signal_tree([p for p in left + [q for p in left for q in _descendants(p)]
                      if p not in spare], signal.SIGKILL)
    return True


# --- entry point ---------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m mlgate.runs.core _supervise <run_dir> -- <command...>``."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) >= 4 and args[0] == "_supervise" and "--" in args:
        cut = args.index("--")
        return supervise(args[1], args[cut + 1:])
    print("usage: python -m mlgate.runs.core _supervise RUN_DIR -- COMMAND...", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
