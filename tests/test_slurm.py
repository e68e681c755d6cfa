"""``launcher: slurm`` against a real Slurm cluster started by the suite (tests/slurm_cluster.py:
munged, slurmctld and two slurmd on this machine). Each behaviour of the launcher has its own
test; they skip with the reason where Slurm cannot be installed."""
from __future__ import annotations

import json
import re
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mlgate.runs import core as runs
from mlgate.runs import watch

sys.path.insert(0, str(Path(__file__).parent / "data" / "train_scripts"))
from train_script_helpers import PY, command, meta, metrics, wait_for  # noqa: E402
from train_script_helpers import _fast_writer, ticket  # noqa: E402,F401 (fixtures)


def slurm_cfg(cmd: str, **over: Any) -> dict[str, Any]:
    """A train: block for the test cluster (no GPU asked unless a test says so)."""
    slurm_opts = {"cluster": "slurm", "time_min": 5, "gpus_per_node": 0,
                  **over.pop("slurm", {})}
    return {"command": cmd, "launcher": "slurm", "stall_after": 120, "timeout": 300,
            "env": {"TEST_NO_WANDB": "1"}, "slurm": slurm_opts, **over}


def log(run_dir: Path) -> str:
    return (run_dir / "train.log").read_text()


def test_the_test_cluster_runs_a_two_node_batch_job(slurm, tmp_path: Path) -> None:
    out = tmp_path / "job.out"
    sub = slurm.run("sbatch", "--parsable", "--nodes=2", f"--output={out}",
                    "--wrap", "srun bash -c 'echo task $SLURM_PROCID on $SLURMD_NODENAME'")
    job_id = sub.stdout.strip().split(";")[0]
    slurm.wait_job(job_id)
    assert sorted(out.read_text().split("\n")[:2]) == ["task 0 on n1", "task 1 on n2"]
    info = slurm.job(job_id)
    assert (info["JobState"], info["NodeList"], info["Partition"]) == \
        ("COMPLETED", "n[1-2]", slurm.partition)


def test_a_run_is_submitted_runs_on_the_cluster_and_completes(slurm, ticket: Path,
                                                             tmp_path: Path) -> None:
    cfg = slurm_cfg(command("crash.py").replace("crash.py", "complete_light.py"))
    h = runs.launch(ticket, "demo", cfg, tmp_path)
    assert h.launcher == "slurm" and h.job and h.job.isdigit()
    assert slurm.job(h.job).get("JobName") == "mlgate-RUN-001"
    assert watch.watch(h.run_dir, poll=0.2) == "completed", log(h.run_dir)
    m = meta(h.run_dir)
    assert (m["status"], m["exit_code"], m["cluster"]) == ("completed", 0, "slurm")
    assert slurm.wait_job(h.job)["JobState"] == "COMPLETED"
    assert [r["train/loss"] for r in metrics(h.run_dir)] == [1.0, 0.5, 0.25]
    assert "done on" in log(h.run_dir)


def test_a_run_that_raises_is_crashed_with_the_jobs_log_tail(slurm, ticket: Path,
                                                             tmp_path: Path) -> None:
    h = runs.launch(ticket, "demo", slurm_cfg(command("crash.py")), tmp_path)
    assert watch.watch(h.run_dir, poll=0.2) == "crashed"
    m = meta(h.run_dir)
    assert (m["status"], m["exit_code"]) == ("failed", 3)
    assert "something went wrong" in m["log_tail"]
    assert slurm.wait_job(h.job)["JobState"] == "COMPLETED"  # the supervisor itself ended fine


def test_a_timeout_is_cancelled_with_scancel_and_classified_timeout(slurm, ticket: Path,
                                                                     tmp_path: Path) -> None:
    h = runs.launch(ticket, "demo", slurm_cfg(command("slow.py"), timeout=2), tmp_path)
    assert watch.watch(h.run_dir, poll=0.2, grace=5) == "timeout", log(h.run_dir)
    m = meta(h.run_dir)
    assert m["kill_reason"] == "timeout" and "train.timeout 2" in m["kill_detail"]
    info = slurm.wait_job(h.job)
    assert info["JobState"] == "CANCELLED", info  # scancel, not the job's own end
    assert m["exit_code"] in (143, 137)  # SIGTERM from scancel (SIGKILL after KillWait)
    assert len(metrics(h.run_dir)) >= 3  # it was running, logging, when it was stopped


def test_an_oom_relaunches_with_half_the_batch_size_as_a_new_job(slurm, ticket: Path,
                                                                 tmp_path: Path) -> None:
    cfg = slurm_cfg(command("oom.py", "--batch-size", "{batch_size}", "--grad-accum",
                            "{grad_accum}"), batch_size=32, oom_retries=2)
    infos = watch.run_with_retries(ticket, "demo", cfg, tmp_path, poll=0.2)
    assert [(i.failure_class, i.batch_size, i.grad_accum) for i in infos] == \
        [("oom", 32, 1), ("completed", 16, 2)]
    first, second = (meta(i.run_dir) for i in infos)
    assert first["job_id"] != second["job_id"]  # a new job, not a requeue
    assert second["parent_run"] == "RUN-001" and second["attempt"] == 2
    assert "CUDA out of memory" in first["oom_evidence"]
    for m in (first, second):
        assert slurm.wait_job(m["job_id"])["JobState"] == "COMPLETED"


def test_slurm_options_reach_the_job(slurm, ticket: Path, tmp_path: Path) -> None:
    cfg = slurm_cfg(command("slow.py"), slurm={
        "partition": slurm.partition, "time_min": 7, "cpus_per_task": 2, "gpus_per_node": 2,
        "account": "acme", "sbatch": ["--comment=mlgate test run", "#SBATCH --nice=7",
                                      "--mem 100M"]})
    h = runs.launch(ticket, "demo", cfg, tmp_path)
    assert wait_for(lambda: slurm.job(h.job).get("JobState") == "RUNNING", 30)
    info = slurm.job(h.job)
    runs.stop_run(h.run_dir)
    assert info["Partition"] == slurm.partition
    assert info["TimeLimit"] == "00:07:00"
    assert info["CPUs/Task"] == "2"
    assert info["TresPerNode"] == "gres:gpu:2"
    assert info["Account"] == "acme"
    assert info["Comment"] == "mlgate test run"
    assert info["Nice"] == "7"
    assert info["MinMemoryNode"] == "100M"
    script_text = next((h.run_dir / "slurm").glob("*_submission.sh")).read_text()
    assert "#SBATCH --comment='mlgate test run'" in script_text


def test_meta_records_job_id_node_list_and_partition(slurm, ticket: Path,
                                                     tmp_path: Path) -> None:
    h = runs.launch(ticket, "demo", slurm_cfg(command("complete_light.py")), tmp_path)
    assert watch.watch(h.run_dir, poll=0.2) == "completed", log(h.run_dir)
    m = meta(h.run_dir)
    info = slurm.wait_job(h.job)
    assert m["job_id"] == h.job
    assert m["partition"] == info["Partition"] == slurm.partition  # the cluster's default
    assert m["node_list"] == info["NodeList"] and m["nodes"] == [info["NodeList"]]
    assert m["nodes"][0] in slurm.nodes and m["batch_host"] == m["nodes"][0]
    assert f"done on {m['nodes'][0]}" in log(h.run_dir)
    assert m["slurm_cluster"] == slurm.name


@pytest.fixture
def project(git_repo: Path) -> tuple[Path, Path]:
    """A workspace with ticket ``demo`` (no worktree): (repository root, ticket folder)."""
    from conftest import mlgate

    for args in (("init",), ("new", "demo", "--no-worktree")):
        r = mlgate(git_repo, *args)
        assert r.returncode == 0, r.stdout + r.stderr
    [folder] = git_repo.glob("tickets/*/demo")
    return git_repo, folder


SUBMITTER = """
import json
import re
import os
import signal
import subprocess
import sys
from mlgate.runs import watch
watch.run_with_retries(sys.argv[1], "demo", {cfg!r}, sys.argv[2], poll=0.2)
"""


def test_killed_submitter_leaves_the_job_running_and_watch_reconciles_it(
        slurm, project: tuple[Path, Path]) -> None:
    from conftest import mlgate

    repo, folder = project
    cfg = slurm_cfg(command("complete_light.py", "--steps", "8", "--sleep", "0.5"))
    submitter = subprocess.Popen([PY, "-c", SUBMITTER.format(cfg=cfg), str(folder), str(repo)],
                                 cwd=repo, start_new_session=True)
    run_dir = folder / "runs" / "RUN-001"
    try:
        assert wait_for(lambda: (run_dir / "meta.json").exists() and
                        bool(meta(run_dir).get("running_since")), 60)
    finally:
        os.killpg(submitter.pid, signal.SIGKILL)  # mlgate (launcher and watchdog) is gone
        submitter.wait()
    m = meta(run_dir)
    assert m["status"] == "running"
    assert slurm.job(m["job_id"])["JobState"] == "RUNNING"  # the job did not notice
    listed = json.loads(mlgate(repo, "--json", "runs", "demo").stdout)
    assert [(r["run"], r["status"], r["alive"]) for r in listed] == [("RUN-001", "running", True)]
    r = mlgate(repo, "watch", "RUN-001", "demo", timeout=120)
    assert r.returncode == 0 and "RUN-001: completed" in r.stdout, r.stdout + r.stderr
    m = meta(run_dir)
    assert (m["status"], m["exit_code"]) == ("completed", 0)
    assert len(metrics(run_dir)) == 8


def test_watch_reconciles_a_job_that_died_unrecorded_from_the_scheduler(
        slurm, project: tuple[Path, Path]) -> None:
    from conftest import mlgate

    repo, folder = project
    h = runs.launch(folder, "demo", slurm_cfg(command("slow.py")), repo)
    assert wait_for(lambda: bool(meta(h.run_dir).get("running_since")), 60)
    # The supervisor and the training process die at once (as under the node's OOM killer):
    # nobody records the end; the batch script exits 137 and the job FAILED.
    m = meta(h.run_dir)
    for pid in (m["supervisor_pid"], m["pid"]):
        os.kill(pid, signal.SIGKILL)
    info = slurm.wait_job(h.job)
    assert (info["JobState"], info["ExitCode"]) == ("FAILED", "137:0"), info
    assert meta(h.run_dir)["status"] == "running"
    r = mlgate(repo, "--json", "watch", "RUN-001", "demo", timeout=120)
    assert r.returncode == 1, r.stdout + r.stderr
    out = json.loads(r.stdout)
    assert out["failure_class"] == "crashed"
    assert f"Slurm job {h.job} ended FAILED (ExitCode 137:0)" in out["log_tail"]
    m = meta(h.run_dir)
    assert (m["status"], m["exit_code"], m["slurm_state"]) == ("failed", 137, "FAILED")
    assert m["node_list"] in slurm.nodes


def test_seeds_are_one_array_job(slurm, ticket: Path, tmp_path: Path) -> None:
    cfg = slurm_cfg(command("complete_light.py"), seeds=[0, 1, 2], parallel=2)
    infos = watch.run_seeds(ticket, "demo", cfg, tmp_path, poll=0.2)
    assert [(i.run, i.failure_class) for i in infos] == \
        [("RUN-001", "completed"), ("RUN-002", "completed"), ("RUN-003", "completed")]
    metas = [meta(i.run_dir) for i in infos]
    array = metas[0]["array_job_id"]
    assert [m["job_id"] for m in metas] == [f"{array}_0", f"{array}_1", f"{array}_2"]
    assert [(m["seed"], m["array_task_id"]) for m in metas] == [(0, 0), (1, 1), (2, 2)]
    assert len({m["seed_group"] for m in metas}) == 1
    info = slurm.wait_job(f"{array}_2")
    assert info["ArrayJobId"] == array and info["JobName"] == "mlgate-RUN-001-seeds3"
    script_text = next((infos[0].run_dir / "slurm").glob("*_submission.sh")).read_text()
    assert "#SBATCH --array=0-2%2" in script_text  # train.parallel caps the running tasks
    assert [m["slurm_folder"] for m in metas] == ["slurm", "../RUN-001/slurm",
                                                  "../RUN-001/slurm"]
    assert [metrics(i.run_dir)[0]["train/loss"] for i in infos] == [1.0, 1.01, 1.02]


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_two_nodes_through_srun_torchrun_rendezvous_on_the_first_node(
        slurm, ticket: Path, tmp_path: Path) -> None:
    h = runs.launch(ticket, "demo", slurm_cfg(command("ddp_nodes.py"), nnodes=2), tmp_path)
    assert watch.watch(h.run_dir, poll=0.2) == "completed", log(h.run_dir)
    m = meta(h.run_dir)
    assert (m["node_list"], m["nodes"]) == ("n[1-2]", ["n1", "n2"])
    assert slurm.wait_job(h.job)["NumNodes"] == "2"
    assert m["argv"][:6] == ["srun", "--nodes=2", "--ntasks=2", "--ntasks-per-node=1",
                             "--kill-on-bad-exit=1", "--label"]
    host, port = m["rdzv_endpoint"].rsplit(":", 1)
    assert host == "127.0.0.1" and port.isdigit()  # NodeAddr of n1, the job's first node
    assert f"--rdzv-endpoint={m['rdzv_endpoint']}" in m["argv"]
    assert f"--rdzv-id={h.job}" in m["argv"]
    found = sorted(re.findall(r"rank (\d) of 2 on node \d \((n\d)\): (Run|NoOpRun)$",
                              log(h.run_dir), flags=re.M))
    assert [(r, t) for r, _, t in found] == [("0", "Run"), ("1", "NoOpRun")]
    assert sorted(n for _, n, _ in found) == ["n1", "n2"]  # one rank on each Slurm node
    rows = metrics(h.run_dir)
    assert [r["step"] for r in rows] == list(range(5)) and {r["rank"] for r in rows} == {0}


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_node_failure_under_slurm_is_classified_for_the_run(slurm, ticket: Path,
                                                              tmp_path: Path) -> None:
    cfg = slurm_cfg(command("ddp_nodes.py"), nnodes=2, env={"TEST_NO_WANDB": "1",
                                                              "FAIL_NODE": "1"})
    h = runs.launch(ticket, "demo", cfg, tmp_path)
    assert watch.watch(h.run_dir, poll=0.2) == "crashed"
    text = log(h.run_dir)
    assert "RuntimeError: node 1 fails on purpose" in text
    m = meta(h.run_dir)
    assert m["exit_code"] not in (0, None) and m["status"] == "failed"
    assert slurm.wait_job(h.job)["NumNodes"] == "2"
