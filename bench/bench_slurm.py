"""``launcher: slurm`` on the test cluster (tests/slurm_cluster.py: munged, slurmctld and two
slurmd on this machine), each row against a bare ``sbatch --wait`` of the same script.

The script is a tiny Python program whose first line writes the time it starts running; it
then sleeps. Rows:

* ``slurm: submit to running``: a fresh ``python`` that imports mlgate and launches the run
  (``mlgate.runs.core.launch``: run folder, meta.json, submitit, ``sbatch``; what ``mlgate run
  train`` does after its gate bookkeeping), until the training script's first line runs on the
  node (through the job's supervisor). Baseline: ``sbatch --wait --wrap "<the same script>"``
  until that first line. Both include the scheduler's own start latency (about 1 s here).
  Goal: mlgate adds at most 3 s (two Python starts: the launcher's and the supervisor's).
* ``slurm: watchdog poll, scheduler asked``: one iteration of the watchdog's loop (new metrics,
  meta.json, liveness) when it asks the scheduler (``scontrol show job``), timed inside
  ``mlgate.runs.watch`` while it follows a running job. Baseline: one ``scontrol show job`` of
  that job, the query ``sbatch --wait`` makes at each of its polls (it makes it in-process, so
  the baseline also holds a process start it does not pay), timed right after each poll so
  that both meet the same load. Goal <= 1.5x.
* ``slurm: watchdog poll, between queries``: the same loop when the job's state is cached (the
  scheduler is asked at most every ``JOB_STATE_TTL`` = 15 s per job). Goal <= 0.5x.
* ``slurm: submit to classified``: launch, follow and classify a 3-second job in-process
  (poll 1 s) against ``sbatch --wait`` returning for the same job. No goal: ``sbatch --wait``
  sleeps 2 s, then 8 s, then 32 s between its polls, so the comparison says more about that
  schedule than about mlgate.

Skipped (one row with the reason) where the cluster cannot be started.
Run: ``python bench/bench_slurm.py`` (or through ``bench/run.py``).
"""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
QUICK = bool(os.environ.get("MLGATE_BENCH_QUICK"))
ROUNDS = 3 if QUICK else 5

FIRST_LINE = """\
import sys, time
open(sys.argv[1], "w").write(repr(time.time()))
time.sleep(float(sys.argv[2]))
"""

LAUNCH = """\
import sys
from mlgate.runs import core
core.launch(sys.argv[1], "bench", {cfg!r}, sys.argv[2])
"""


def _wait_file(path: Path, timeout: float = 120.0) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            text = path.read_text().strip()
            if text:
                return float(text)
        except (OSError, ValueError):
            pass
        time.sleep(0.01)
    raise RuntimeError(f"{path} was not written within {timeout} s")


def _cfg(script: Path, stamp: Path, sleep: float) -> dict[str, Any]:
    return {"command": f"{sys.executable} {script} {stamp} {sleep}", "launcher": "slurm",
            "stall_after": 600, "timeout": 600,
            "slurm": {"cluster": "slurm", "time_min": 10, "gpus_per_node": 0}}


def _time_to_running(cluster: Any, work: Path, script: Path, n: int) -> tuple[list[float],
                                                                            list[float]]:
    env = {**os.environ, **cluster.env}
    mine, bare = [], []
    for i in range(n):
        for kind in (("mlgate", "bare") if i % 2 == 0 else ("bare", "mlgate")):
            stamp = work / f"{kind}-{i}.stamp"
            if kind == "mlgate":
                ticket = work / f"t{i}"
                code = LAUNCH.format(cfg=_cfg(script, stamp, 0))
                t0 = time.time()
                subprocess.run([sys.executable, "-c", code, str(ticket), str(work)], env=env,
                               check=True, capture_output=True, cwd=work)
                mine.append(_wait_file(stamp) - t0)
            else:
                t0 = time.time()
                proc = subprocess.Popen(
                    ["sbatch", "--wait", "--output=/dev/null",
                     f"--wrap={sys.executable} {script} {stamp} 0"],
                    env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=work)
                bare.append(_wait_file(stamp) - t0)
                proc.terminate()
                proc.wait()
            cluster.wait_idle()
    return mine, bare


class _Clock:
    """Stands in for ``time`` inside mlgate.runs.watch: records how long each loop iteration
    took (from one sleep's end to the next sleep's start), and between two iterations times
    one run of ``between`` (the baseline), so that both meet the same machine load."""

    def __init__(self, between: Any) -> None:
        self.durations: list[float] = []
        self.baseline: list[float] = []
        self._between = between
        self._woke: float | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)

    def sleep(self, seconds: float) -> None:
        now = time.perf_counter()
        if self._woke is not None:
            self.durations.append(now - self._woke)
            self.baseline.append(self._between())
        time.sleep(seconds)
        self._woke = time.perf_counter()


def _poll_costs(cluster: Any, work: Path, script: Path, ttl: float, seconds: float
                ) -> tuple[list[float], list[float]]:
    from mlgate.runs import core as runs
    from mlgate.runs import watch

    stamp = work / f"poll-{ttl}.stamp"
    h = runs.launch(work / f"poll-{ttl}", "bench", _cfg(script, stamp, seconds), work)
    _wait_file(stamp)

    def query() -> float:
        t0 = time.perf_counter()
        subprocess.run(["scontrol", "show", "job", "-o", str(h.job)], capture_output=True)
        return time.perf_counter() - t0

    clock, saved_time, saved_ttl = _Clock(query), watch.time, runs.JOB_STATE_TTL
    watch.time, runs.JOB_STATE_TTL = clock, ttl  # type: ignore[assignment]
    runs._JOB_STATES.clear()
    try:
        watch.watch(h.run_dir, poll=0.25)
    finally:
        watch.time, runs.JOB_STATE_TTL = saved_time, saved_ttl  # type: ignore[assignment]
    cluster.wait_idle()
    if ttl > 60:  # the first poll asked the scheduler; the others used its answer
        return clock.durations[1:], clock.baseline[1:]
    return clock.durations, clock.baseline


def _end_to_end(cluster: Any, work: Path, script: Path, n: int) -> tuple[list[float],
                                                                       list[float]]:
    from mlgate.runs import core as runs
    from mlgate.runs import watch

    env = {**os.environ, **cluster.env}
    mine, bare = [], []
    for i in range(n):
        stamp = work / f"e2e-{i}.stamp"
        t0 = time.perf_counter()
        h = runs.launch(work / f"e2e-{i}", "bench", _cfg(script, stamp, 3), work)
        assert watch.watch(h.run_dir) == "completed"
        mine.append(time.perf_counter() - t0)
        cluster.wait_idle()
        t0 = time.perf_counter()
        subprocess.run(["sbatch", "--wait", "--output=/dev/null",
                        f"--wrap={sys.executable} {script} {stamp}.bare 3"], env=env,
                       check=True, capture_output=True, cwd=work)
        bare.append(time.perf_counter() - t0)
        cluster.wait_idle()
    return mine, bare


def _row(name: str, mine: list[float], base: list[float], baseline: str, goal: str,
         note: str = "") -> dict[str, Any]:
    m, b = statistics.median(mine), statistics.median(base)
    row: dict[str, Any] = {"name": name, "median_s": m, "baseline": f"{baseline} {b:.3f} s",
                           "ratio": m / b if b else None, "goal": goal}
    if note:
        row["note"] = note
    return row


def run() -> list[dict[str, Any]]:
    sys.path.insert(0, str(REPO / "tests"))
    sys.path.insert(0, str(REPO))
    import slurm_cluster

    reason = slurm_cluster.unavailable()
    if reason:
        return [{"name": "slurm", "median_s": None, "baseline": None, "ratio": None,
                 "goal": "-", "met": None, "note": f"skipped: {reason}"}]
    cluster = slurm_cluster.start()
    saved = os.environ.get("SLURM_CONF")
    os.environ.update(cluster.env)
    try:
        with tempfile.TemporaryDirectory(prefix="mlgate-bench-slurm-") as tmp:
            work = Path(tmp)
            script = work / "first_line.py"
            script.write_text(FIRST_LINE)
            rows = []
            mine, bare = _time_to_running(cluster, work, script, ROUNDS)
            rows.append(_row("slurm: submit to running", mine, bare, "sbatch --wait",
                             "<= baseline + 3 s",
                             f"mlgate {min(mine):.2f}-{max(mine):.2f} s, sbatch "
                             f"{min(bare):.2f}-{max(bare):.2f} s over {ROUNDS} rounds"))
            polls, queries = _poll_costs(cluster, work, script, 0.0, 4.0)
            rows.append(_row("slurm: watchdog poll, scheduler asked", polls, queries,
                             "scontrol show job", "<= 1.5x",
                             f"{len(polls)} polls, each followed by one baseline query"))
            cached, queries = _poll_costs(cluster, work, script, 1e9, 4.0)
            rows.append(_row("slurm: watchdog poll, between queries", cached, queries,
                             "scontrol show job", "<= 0.5x",
                             f"{len(cached)} polls, each followed by one baseline query"))
            mine, bare = _end_to_end(cluster, work, script, 1 if QUICK else 2)
            row = _row("slurm: submit to classified (3 s job)", mine, bare, "sbatch --wait",
                       "-", "sbatch --wait sleeps 2 s, 8 s, then 32 s between its polls")
            row["met"] = None
            rows.append(row)
            return rows
    finally:
        if saved is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = saved
        cluster.stop()


if __name__ == "__main__":
    for r in run():
        print(r)
