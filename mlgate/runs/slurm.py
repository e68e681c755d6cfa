"""Slurm (SPEC §10): how ``train.slurm`` maps to the job's ``#SBATCH`` options, what mlgate asks
the scheduler, and what a job records about itself.

API::

    from mlgate.runs import slurm
    params = slurm.submitit_parameters(train_cfg["slurm"], nnodes=2, name="mlgate-RUN-001")
    slurm.show_job("123")          # -> {"JobState": "RUNNING", ...}; {} forgotten; None: no answer
    slurm.job_state("123_1")       # -> "RUNNING" | ... | "UNKNOWN" (forgotten) | None
    slurm.cancel("123")            # scancel
    slurm.job_environment(os.environ)   # inside a job: job id, node list, nodes, partition

**No ``sacct``.** The watchdog asks ``scontrol show job`` (one RPC to ``slurmctld``, no
accounting database needed) and otherwise trusts the run's own records, which the supervisor
writes from inside the job. A job the controller has forgotten (it ended more than
``MinJobAge`` ago, 300 s by default) is ``UNKNOWN``: by then the run's ``meta.json`` says how
it ended, or nothing ever will, and it is finalized as crashed. ``sacct`` needs ``slurmdbd``
and a MariaDB/MySQL server, which many clusters run but mlgate cannot count on, and which a
login node's user cannot start.

**Options** (``train.slurm``): ``partition``, ``time_min``, ``cpus_per_task``,
``gpus_per_node`` (``--gpus-per-node``; ``0`` adds nothing), ``account``, ``sbatch`` (more
``#SBATCH`` lines, each ``--option=value``, ``--option value`` or ``--flag``, with or without
the leading ``#SBATCH``), ``extra`` (submitit parameters as they are). The options that mlgate
and submitit own (``--output``, ``--error``, ``--array``, ``--nodes``, ...) are refused in
``sbatch``; the number of nodes is ``train.nnodes``.

Standard library only.
"""
from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
from collections.abc import Mapping, Sequence
from typing import Any

from mlgate.config.sbatch import OWNED_OPTIONS, sbatch_options

__all__ = [
    "ACTIVE_STATES", "DONE_STATES", "OWNED_OPTIONS", "available", "sbatch_options",
    "submitit_parameters", "show_job", "job_state", "cancel", "parse_fields", "hostnames",
    "node_address", "job_environment", "rendezvous_endpoint", "free_port", "srun_argv",
    "exit_code",
]

CONFIG_NAME = "mlgate.yaml"

#: Job states after which the job is over (``scontrol``/``squeue`` names; ``UNKNOWN`` is
#: mlgate's word for a job the controller no longer knows).
DONE_STATES = frozenset({
    "COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "PREEMPTED",
    "BOOT_FAIL", "DEADLINE", "REVOKED", "SPECIAL_EXIT", "UNKNOWN",
    # submitit's local executor
    "FINISHED", "INTERRUPTED", "NO PROCESS AND NO RESULT",
})
ACTIVE_STATES = frozenset({"PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED",
                           "REQUEUED", "RESIZING", "STOPPED", "SIGNALING", "STAGE_OUT",
                           "REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD"})

_SCONTROL_TIMEOUT = 20.0
_KEY_RE = re.compile(r"(?:^|\s)([A-Za-z][A-Za-z0-9_/:]*)=")


def available() -> bool:
    """Whether this machine can submit to a Slurm cluster (``sbatch`` and ``scontrol``)."""
    return bool(shutil.which("sbatch") and shutil.which("scontrol"))


# --- train.slurm -> submitit ---------------------------------------------------------------


def submitit_parameters(scfg: Mapping[str, Any], nnodes: int = 1, name: str = "mlgate"
                        ) -> dict[str, Any]:
    """The ``executor.update_parameters(...)`` of a run's job (AutoExecutor names; the
    ``slurm_`` ones are ignored by submitit's local executor).

    The job runs mlgate's supervisor directly in the batch script (``slurm_use_srun=False``),
    one task per node: a multi-node run starts its ``srun torchrun`` from there."""
    params: dict[str, Any] = {
        "timeout_min": int(scfg.get("time_min") or 60),
        "nodes": int(nnodes),
        "tasks_per_node": 1,
        "name": name,
        "slurm_use_srun": False,
        "stderr_to_stdout": True,
    }
    gpus = int(scfg.get("gpus_per_node") or 0)
    if gpus:
        params["gpus_per_node"] = gpus
    if scfg.get("cpus_per_task"):
        params["cpus_per_task"] = int(scfg["cpus_per_task"])
    if scfg.get("partition"):
        params["slurm_partition"] = str(scfg["partition"])
    if scfg.get("account"):
        params["slurm_account"] = str(scfg["account"])
    extra_lines = sbatch_options(scfg.get("sbatch"))
    if extra_lines:
        params["slurm_additional_parameters"] = extra_lines
    # The signal submitit asks for before the time limit: at most a quarter of the limit.
    params["slurm_signal_delay_s"] = max(10, min(90, params["timeout_min"] * 15))
    params.update(dict(scfg.get("extra") or {}))
    return params


# --- asking the scheduler ------------------------------------------------------------------


def parse_fields(text: str) -> dict[str, str]:
    """``scontrol show ... -o`` output (``Key=value Key2=value with spaces ...``) as a dict;
    a value runs until the next `` Key=``. The first occurrence of a key wins."""
    fields: dict[str, str] = {}
    line = text.strip().splitlines()[0] if text.strip() else ""
    marks = list(_KEY_RE.finditer(line))
    for i, m in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(line)
        fields.setdefault(m.group(1), line[m.end():end].strip())
    return fields


def _scontrol(*args: str) -> subprocess.CompletedProcess[str] | None:
    exe = shutil.which("scontrol")
    if exe is None:
        return None
    try:
        return subprocess.run([exe, *args], capture_output=True, text=True,
                              timeout=_SCONTROL_TIMEOUT, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return None


def show_job(job_id: str) -> dict[str, str] | None:
    """``scontrol show job -o JOB``: the job's fields; ``{}`` when the controller does not
    know the job (any more); ``None`` when it could not be asked (no ``scontrol``, no
    answer)."""
    out = _scontrol("show", "job", "-o", str(job_id))
    if out is None:
        return None
    if out.returncode != 0:
        if "Invalid job id" in (out.stderr + out.stdout):
            return {}
        return None
    return parse_fields(out.stdout)


def job_state(job_id: str) -> str | None:
    """The job's state (``RUNNING``, ``COMPLETED``, ...), ``UNKNOWN`` for a job the
    controller has forgotten, ``None`` when the scheduler cannot be asked."""
    fields = show_job(job_id)
    if fields is None:
        return None
    if not fields:
        return "UNKNOWN"
    state = fields.get("JobState", "")
    return state.split()[0].upper() if state else None


def exit_code(fields: Mapping[str, str]) -> int | None:
    """``ExitCode=2:0`` → 2; ``0:9`` (killed by signal 9) → 137; ``None`` when absent."""
    raw = fields.get("ExitCode", "")
    m = re.fullmatch(r"(\d+):(\d+)", raw.strip())
    if not m:
        return None
    code, sig = int(m.group(1)), int(m.group(2))
    return 128 + sig if sig else code


def cancel(job_id: str) -> bool:
    """``scancel JOB`` (SIGTERM to every process of the job, SIGKILL after ``KillWait``)."""
    exe = shutil.which("scancel")
    if exe is None:
        return False
    try:
        out = subprocess.run([exe, str(job_id)], capture_output=True, text=True,
                             timeout=_SCONTROL_TIMEOUT, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return False
    return out.returncode == 0


def hostnames(nodelist: str) -> list[str]:
    """``n[1-3],gpu7`` → ``["n1", "n2", "n3", "gpu7"]`` (``scontrol show hostnames``; a
    plain comma split when it cannot be asked)."""
    if not nodelist:
        return []
    out = _scontrol("show", "hostnames", nodelist)
    if out is not None and out.returncode == 0 and out.stdout.strip():
        return out.stdout.split()
    return [n for n in nodelist.split(",") if n and "[" not in n] or [nodelist]


def node_address(node: str) -> str:
    """The address Slurm reaches ``node`` at (its ``NodeAddr``; the name itself when it
    cannot be asked)."""
    out = _scontrol("show", "node", "-o", node)
    if out is not None and out.returncode == 0:
        addr = parse_fields(out.stdout).get("NodeAddr")
        if addr:
            return addr
    return node


def free_port() -> int:
    """A TCP port free on this machine now."""
    with socket.socket() as s:
        s.bind(("", 0))
        return int(s.getsockname()[1])


# --- inside a job --------------------------------------------------------------------------


def job_environment(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """What a job knows about itself from its environment, as ``meta.json`` keys: ``job_id``
    (``ARRAY_TASK`` form for an array task, as submitit names it), ``array_job_id``,
    ``array_task_id``, ``node_list`` (Slurm's compressed form), ``nodes`` (expanded),
    ``partition``, ``batch_host``, ``slurm_cluster``, ``account``. Empty outside a job."""
    env = os.environ if env is None else env
    job = env.get("SLURM_JOB_ID")
    if not job:
        return {}
    info: dict[str, Any] = {"job_id": job}
    if env.get("SLURM_ARRAY_JOB_ID") and env.get("SLURM_ARRAY_TASK_ID"):
        info.update(job_id=f"{env['SLURM_ARRAY_JOB_ID']}_{env['SLURM_ARRAY_TASK_ID']}",
                    array_job_id=env["SLURM_ARRAY_JOB_ID"],
                    array_task_id=int(env["SLURM_ARRAY_TASK_ID"]))
    nodelist = env.get("SLURM_JOB_NODELIST") or env.get("SLURM_NODELIST") or ""
    info.update(node_list=nodelist, nodes=hostnames(nodelist),
                partition=env.get("SLURM_JOB_PARTITION"),
                batch_host=env.get("SLURMD_NODENAME") or socket.gethostname(),
                slurm_cluster=env.get("SLURM_CLUSTER_NAME"),
                account=env.get("SLURM_JOB_ACCOUNT"))
    return info


def rendezvous_endpoint(nodes: Sequence[str], here: str | None = None) -> str:
    """``HOST:PORT`` of torchrun's c10d rendezvous for a multi-node job: the job's first node
    (its ``NodeAddr``) and a port free there (picked here when this is the first node, as it
    is for the batch script; else a port derived from the job id)."""
    first = nodes[0] if nodes else socket.gethostname()
    here = here or os.environ.get("SLURMD_NODENAME") or socket.gethostname()
    if here == first:
        port = free_port()
    else:
        port = 29400 + int(re.sub(r"\D", "", os.environ.get("SLURM_JOB_ID", "0")) or 0) % 1000
    return f"{node_address(first)}:{port}"


def srun_argv(nnodes: int, agent_argv: Sequence[str]) -> list[str]:
    """The batch script's ``srun`` that starts one torchrun agent on each of the job's
    ``nnodes`` nodes; when one fails, srun stops the others (``--kill-on-bad-exit``). Each
    line of the log is prefixed with its node's task number (``--label``: ``1: ...``); srun
    forwards whole lines, so the nodes' output does not interleave within a line."""
    return ["srun", f"--nodes={nnodes}", f"--ntasks={nnodes}", "--ntasks-per-node=1",
            "--kill-on-bad-exit=1", "--label", *agent_argv]
