"""A real Slurm cluster on this machine, for the tests and the benchmark (not a test module).

:func:`start` brings up ``munged``, ``slurmctld`` and two ``slurmd`` daemons (nodes ``n1``
and ``n2``, both on this machine, so that a two-node job is a real two-node allocation) with a
minimal ``slurm.conf``: ``ProctrackType=proctrack/linuxproc``, ``TaskPlugin=task/none``, one
partition, the machine's CPUs and memory, ports of its own (free ones picked at start), and
state, spool and log folders in a fresh temp folder, so two test runs on one machine never
meet. Each node also declares two ``gpu`` GRES slots backed by ``/dev/null`` and ``/dev/zero``
(no real GPU): enough for ``--gpus-per-node`` to reach the scheduler and be checked.

No accounting (no ``slurmdbd``): mlgate does not use ``sacct``.

:meth:`Cluster.stop` cancels the cluster's jobs and stops every daemon by its pid (SIGTERM,
SIGKILL after a grace period), then ends, by pid, any job process left behind (found by the
``SLURM_CONF`` of this cluster in its environment). The daemons also get SIGTERM when the
process that started them dies (``PR_SET_PDEATHSIG``), so a killed test run leaves none.

:func:`unavailable` says why no cluster can be started here (``None`` when one can): the
Debian packages ``slurm-wlm`` and ``munge`` are missing, or this is not root.
"""
from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("sbatch", "srun", "scontrol", "squeue", "scancel", "sinfo")
PARTITION = "debug"
NODES = ("n1", "n2")


class ClusterError(RuntimeError):
    """The cluster could not be started (the message has the daemons' logs)."""


def _which(name: str) -> str | None:
    return shutil.which(name) or next(
        (str(p) for d in ("/usr/sbin", "/sbin", "/usr/local/sbin")
         if (p := Path(d) / name).is_file() and os.access(p, os.X_OK)), None)


def unavailable() -> str | None:
    """Why a cluster cannot be started here, or ``None``."""
    missing = [n for n in DAEMONS + CLIENTS if _which(n) is None]
    if missing:
        return (f"Slurm is not installed here (missing {', '.join(missing)}): "
                f"apt-get install slurm-wlm munge (.ci/run does it when it runs as root)")
    if os.geteuid() != 0:
        return "the Slurm daemons of the test cluster need root (slurmd starts jobs as the user)"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _mem_mb() -> int:
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    return 4096


@dataclass
class Cluster:
    """A running test cluster. ``env`` is what a client needs (``SLURM_CONF``)."""

    root: Path
    conf: Path
    name: str
    nodes: tuple[str, ...]
    partition: str
    cpus: int
    pids: dict[str, int] = field(default_factory=dict)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def env(self) -> dict[str, str]:
        return {"SLURM_CONF": str(self.conf)}

    def client_env(self) -> dict[str, str]:
        return {**os.environ, **self.env}

    def run(self, *argv: str, check: bool = True, timeout: float = 30
            ) -> subprocess.CompletedProcess[str]:
        """A Slurm client command against this cluster."""
        return subprocess.run(list(argv), env=self.client_env(), capture_output=True,
                              text=True, check=check, timeout=timeout)

    def job(self, job_id: str) -> dict[str, str]:
        """``scontrol show job -o`` as a dict (empty when the controller forgot the job)."""
        out = self.run("scontrol", "show", "job", "-o", str(job_id), check=False)
        line = out.stdout.strip().split("\n")[0] if out.stdout.strip() else ""
        marks = list(re.finditer(r"(?:^|\s)([A-Za-z][A-Za-z0-9_/:]*)=", line))
        fields: dict[str, str] = {}
        for i, m in enumerate(marks):  # a value runs until the next " Key="
            end = marks[i + 1].start() if i + 1 < len(marks) else len(line)
            fields.setdefault(m.group(1), line[m.end():end].strip())
        return fields

    def wait_job(self, job_id: str, timeout: float = 60.0) -> dict[str, str]:
        """Wait until the job has ended (faster than ``sbatch --wait``, which polls every
        few seconds); its ``scontrol show job`` fields."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            info = self.job(job_id)
            if info.get("JobState") not in (None, "PENDING", "RUNNING", "CONFIGURING",
                                            "COMPLETING", "SUSPENDED"):
                return info
            time.sleep(0.1)
        raise ClusterError(f"job {job_id} did not end within {timeout} s: {self.job(job_id)}")

    def logs(self) -> str:
        parts = []
        for path in sorted((self.root / "log").glob("*")):
            with contextlib.suppress(OSError):
                parts.append(f"--- {path.name}\n" + path.read_text(errors="replace")[-4000:])
        return "\n".join(parts)

    def wait_idle(self, timeout: float = 60.0) -> None:
        """Wait until every node is idle (no job left)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for label, proc in self.procs.items():
                if proc.poll() is not None:
                    raise ClusterError(f"{label} exited with {proc.returncode}")
            out = self.run("sinfo", "-h", "-N", "-o", "%N %T", check=False).stdout.split()
            states = dict(zip(out[::2], out[1::2]))
            if set(states) >= set(self.nodes) and all(
                    s.rstrip("*") == "idle" for s in states.values()):
                return
            time.sleep(0.2)
        raise ClusterError(f"the nodes of {self.name} are not idle after {timeout} s\n"
                           + self.run("sinfo", "-N", check=False).stdout + self.logs())

    def cancel_all(self, timeout: float = 30.0) -> None:
        """Cancel every job of this cluster and wait until none is left."""
        self.run("scancel", "--full", "--user", str(os.geteuid()), check=False)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            out = self.run("squeue", "-h", "-o", "%i", check=False)
            if out.returncode == 0 and not out.stdout.strip():
                return
            time.sleep(0.2)

    def _job_processes(self) -> list[int]:
        """Processes (not the daemons) whose environment names this cluster's slurm.conf."""
        marker = f"SLURM_CONF={self.conf}".encode()
        mine = set(self.pids.values()) | {os.getpid()}
        found = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) in mine:
                continue
            with contextlib.suppress(OSError):
                if marker in Path(f"/proc/{entry}/environ").read_bytes().split(b"\0"):
                    found.append(int(entry))
        return found

    def stop(self) -> None:
        """Cancel the jobs, stop the daemons by pid, end leftover job processes by pid."""
        with contextlib.suppress(Exception):
            if "slurmctld" in self.pids:
                self.cancel_all(timeout=15.0)
        order = [n for n in self.pids if n.startswith("slurmd")] + ["slurmctld", "munged"]
        for name in order:
            pid = self.pids.get(name)
            if pid is None:
                continue
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            proc = self.procs.get(name)
            try:
                if proc is not None:
                    proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                proc.wait(timeout=10)
        self.pids.clear()
        left = self._job_processes()
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(self.root, ignore_errors=True)


def _conf(root: Path, name: str, ports: dict[str, int], cpus: int, mem: int,
          host: str) -> str:
    nodes = "\n".join(
        f"NodeName={n} NodeHostname={host} NodeAddr=127.0.0.1 Port={ports[n]} CPUs={cpus} "
        f"RealMemory={mem} Gres=gpu:2 State=UNKNOWN" for n in NODES)
    return f"""\
# Written by tests/slurm_cluster.py: a throwaway cluster for mlgate's tests.
ClusterName={name}
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={ports['ctld']}
SlurmdPort={ports[NODES[0]]}
AuthType=auth/munge
AuthInfo=socket={root}/munge.sock
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool/%n
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd-%n.pid
SlurmctldLogFile={root}/log/slurmctld.log
SlurmdLogFile={root}/log/slurmd-%n.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmdParameters=config_overrides
ReturnToService=2
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MailProg=/bin/true
KillWait=5
MinJobAge=600
InactiveLimit=0
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0
MessageTimeout=20
GresTypes=gpu
{nodes}
PartitionName={PARTITION} Nodes=ALL Default=YES MaxTime=INFINITE State=UP
"""


def start(timeout: float = 60.0) -> Cluster:
    """Start a cluster in a fresh temp folder; raises :class:`ClusterError` with the logs."""
    reason = unavailable()
    if reason:
        raise ClusterError(reason)
    # A short path: the munge socket must fit a Unix socket name.
    root = Path(tempfile.mkdtemp(prefix="mlgate-slurm-"))
    for sub in ("state", "log", *(f"spool/{n}" for n in NODES)):
        (root / sub).mkdir(parents=True)
    key = root / "munge.key"
    key.write_bytes(secrets.token_bytes(1024))
    key.chmod(0o600)
    name = "mlgate" + secrets.token_hex(4)
    cpus = os.cpu_count() or 1
    mem = max(_mem_mb() // len(NODES), 256)
    ports = {"ctld": _free_port(), **{n: _free_port() for n in NODES}}
    conf = root / "slurm.conf"
    conf.write_text(_conf(root, name, ports, cpus, mem, socket.gethostname()))
    (root / "gres.conf").write_text("AutoDetect=off\n"
                                    f"NodeName={NODES[0]},{NODES[1]} Name=gpu "
                                    "File=/dev/null,/dev/zero\n")
    (root / "cgroup.conf").write_text("# unused: ProctrackType=proctrack/linuxproc, "
                                      "TaskPlugin=task/none\n")
    cluster = Cluster(root=root, conf=conf, name=name, nodes=NODES, partition=PARTITION,
                      cpus=cpus)
    env = {**os.environ, "SLURM_CONF": str(conf)}

    def spawn(label: str, argv: list[str]) -> None:
        out = open(root / "log" / f"{label}.out", "ab")
        proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True,
                                preexec_fn=_die_with_parent)
        out.close()
        cluster.pids[label] = proc.pid
        cluster.procs[label] = proc

    try:
        spawn("munged", [str(_which("munged")), "--foreground", "--force",
                         f"--socket={root}/munge.sock", f"--key-file={key}",
                         f"--pid-file={root}/munged.pid", f"--seed-file={root}/munged.seed",
                         f"--log-file={root}/log/munged.log"])
        _wait_for(lambda: (root / "munge.sock").exists(), 15, "munged's socket", cluster)
        spawn("slurmctld", [str(_which("slurmctld")), "-D", "-f", str(conf)])
        _wait_for(lambda: cluster.run("scontrol", "ping", check=False).returncode == 0 and
                  "UP" in cluster.run("scontrol", "ping", check=False).stdout, timeout,
                  "slurmctld to answer", cluster)
        for n in NODES:
            spawn(f"slurmd-{n}", [str(_which("slurmd")), "-D", "-f", str(conf), "-N", n])
        cluster.wait_idle(timeout)
    except BaseException:
        logs = cluster.logs()
        cluster.stop()
        raise ClusterError(f"the test Slurm cluster did not start\n{logs}") from None
    return cluster


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the process that started it dies (a test run
    killed before its fixture could stop the daemons does not leave them running)."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _wait_for(predicate: Callable[[], bool], timeout: float, what: str,
              cluster: Cluster) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for label, proc in cluster.procs.items():
            if proc.poll() is not None:
                raise ClusterError(f"{label} exited with {proc.returncode}")
        if predicate():
            return
        time.sleep(0.1)
    raise ClusterError(f"timed out waiting for {what}")
