"""Multi-node torchrun: the rendezvous options mlgate adds, and the simulation of several nodes
on one machine (SPEC §10).

``train.nnodes: N`` runs one torchrun *agent* per node with the c10d rendezvous::

    python -m torch.distributed.run --nnodes=N --nproc-per-node=P --rdzv-backend=c10d \\
        --rdzv-endpoint=HOST:PORT --rdzv-id=ID script.py ...

torchrun does the rest (the rendezvous, ranks, ``MASTER_ADDR``; the script picks gloo or
NCCL). mlgate writes :data:`ENDPOINT` and :data:`RDZV_ID` into the argv at launch and fills
them in where the run starts (:func:`fill_rendezvous`):

* under Slurm, the job's batch script runs ``srun --nodes=N --ntasks-per-node=1
  --kill-on-bad-exit=1 <agent argv>`` with the endpoint on the job's first node (see
  :func:`mlgate.runs.slurm.rendezvous_endpoint`) and the job id as rendezvous id; srun stops
  the other nodes when one fails;
* on one machine (``launcher: torchrun``, or submitit's local executor), this module's
  :func:`main` stands in for the cluster: ``python -m mlgate.runs.nodes --nnodes N -- <agent
  argv>`` starts N agents with the endpoint ``127.0.0.1:<free port>`` and the run id, prefixes
  each line of their output with the node's number (like ``srun --label``), and when one node
  fails it says which in ``train.log``, stops the others and exits with the failed node's exit
  code, so the run is classified by that failure.

Standard library only.
"""
from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence

__all__ = ["ENDPOINT", "RDZV_ID", "agent_options", "fill_rendezvous", "local_argv", "main"]

ENDPOINT = "@mlgate-rdzv-endpoint@"
RDZV_ID = "@mlgate-rdzv-id@"
#: Seconds the other nodes get to end on their own after one failed, before SIGTERM.
FAIL_GRACE = 10.0
KILL_GRACE = 10.0


def agent_options(nnodes: int, nproc: int) -> list[str]:
    """torchrun's options for one agent of an ``nnodes``-node run (placeholders unfilled)."""
    return [f"--nnodes={nnodes}", f"--nproc-per-node={nproc}", "--rdzv-backend=c10d",
            f"--rdzv-endpoint={ENDPOINT}", f"--rdzv-id={RDZV_ID}"]


def fill_rendezvous(argv: Sequence[str], endpoint: str, rdzv_id: str) -> list[str]:
    """``argv`` with mlgate's rendezvous placeholders replaced."""
    return [a.replace(ENDPOINT, endpoint).replace(RDZV_ID, rdzv_id) for a in argv]


def local_argv(nnodes: int, agent_argv: Sequence[str]) -> list[str]:
    """The argv that simulates ``nnodes`` nodes on this machine."""
    return [sys.executable, "-m", "mlgate.runs.nodes", f"--nnodes={nnodes}", "--",
            *agent_argv]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _say(text: str) -> None:
    print(f"[mlgate] {text}", file=sys.stderr, flush=True)


def _relay(proc: subprocess.Popen[bytes], rank: int, lock: threading.Lock) -> None:
    """Copy an agent's output to ours, line by line, each prefixed with ``<rank>: ``."""
    assert proc.stdout is not None
    out = sys.stdout.buffer
    prefix = f"{rank}: ".encode()
    for line in iter(proc.stdout.readline, b""):
        with lock:
            out.write(prefix + (line if line.endswith(b"\n") else line + b"\n"))
            out.flush()


def _signal(procs: Sequence[subprocess.Popen[bytes]], sig: int) -> None:
    for p in procs:
        if p.poll() is None:
            with contextlib.suppress(OSError):
                os.killpg(p.pid, sig)


def run_nodes(nnodes: int, agent_argv: Sequence[str], rdzv_id: str) -> int:
    """Start ``nnodes`` agents on this machine and wait for them; the exit code of the first
    node that failed, else 0."""
    endpoint = f"127.0.0.1:{_free_port()}"
    argv = fill_rendezvous(agent_argv, endpoint, rdzv_id)
    _say(f"{nnodes} nodes simulated on this machine; c10d rendezvous at {endpoint}")
    procs: list[subprocess.Popen[bytes]] = []
    relays: list[threading.Thread] = []
    lock = threading.Lock()
    for rank in range(nnodes):
        env = {**os.environ, "MLGATE_NODE": str(rank)}
        # Each agent leads its own process group (its workers with it), so that a node can
        # be stopped as a whole. Its output comes back through a pipe, a whole line at a
        # time, prefixed with the node's number (as `srun --label` does on a cluster).
        proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                start_new_session=True)
        procs.append(proc)
        relay = threading.Thread(target=_relay, args=(proc, rank, lock), daemon=True)
        relay.start()
        relays.append(relay)

    def forward(signum: int, _frame: object) -> None:
        _signal(procs, signum)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, forward)
    failed: tuple[int, int] | None = None
    deadline: float | None = None
    killed = False
    while any(p.poll() is None for p in procs):
        for rank, p in enumerate(procs):
            code = p.poll()
            if code is not None and code != 0 and failed is None:
                code = code if code >= 0 else 128 - code
                failed = (rank, code)
                _say(f"node {rank} of {nnodes} failed (exit {code}); stopping the other "
                     f"node(s)")
                deadline = time.monotonic() + FAIL_GRACE
        now = time.monotonic()
        if deadline is not None and now > deadline:
            if not killed:
                _signal(procs, signal.SIGTERM)
                killed, deadline = True, now + KILL_GRACE
            else:
                _signal(procs, signal.SIGKILL)
                deadline = None
        time.sleep(0.1)
    for relay in relays:
        relay.join(timeout=5.0)
    if failed is None:
        codes = [p.returncode for p in procs]
        bad = [(r, c if c >= 0 else 128 - c) for r, c in enumerate(codes) if c != 0]
        if bad:  # e.g. stopped by a signal that reached every node
            failed = bad[0]
    if failed is not None:
        _say(f"the run failed on node {failed[0]} of {nnodes} (exit {failed[1]})")
        return failed[1]
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m mlgate.runs.nodes --nnodes N -- <agent argv>``."""
    args = list(sys.argv[1:] if argv is None else argv)
    if "--" not in args:
        print("usage: python -m mlgate.runs.nodes --nnodes=N -- AGENT_ARGV...", file=sys.stderr)
        return 2
    cut = args.index("--")
    opts, agent = args[:cut], args[cut + 1:]
    nnodes = 0
    for i, opt in enumerate(opts):
        if opt.startswith("--nnodes="):
            nnodes = int(opt.split("=", 1)[1])
        elif opt == "--nnodes" and i + 1 < len(opts):
            nnodes = int(opts[i + 1])
    if nnodes < 1 or not agent:
        print("usage: python -m mlgate.runs.nodes --nnodes=N -- AGENT_ARGV...", file=sys.stderr)
        return 2
    rdzv_id = os.environ.get("MLGATE_RUN_ID") or f"mlgate-{os.getpid()}"
    return run_nodes(nnodes, agent, rdzv_id)


if __name__ == "__main__":
    sys.exit(main())
