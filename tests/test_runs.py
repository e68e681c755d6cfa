"""Training runs (SPEC §10): run directories, provenance, launchers, the supervisor, the
classification of a run's end. Real processes on CPU (torchrun with 2 gloo processes,
submitit's local executor)."""
from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from mlgate.runs import plots

from mlgate.runs import core as runs

from mlgate.runs import watch
from mlgate.errors import ConfigError, UsageError

sys.path.insert(0, str(Path(__file__).parent / "data" / "train_scripts"))
from train_script_helpers import PY, command, meta, metrics, script, wait_for  # noqa: E402


@pytest.fixture(autouse=True)
def _fast_writer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLGATE_WANDB_NICE", "0")  # the machine is shared: don't starve it


@pytest.fixture
def ticket(tmp_path: Path) -> Path:
    folder = tmp_path / "tickets" / "in-progress" / "demo"
    folder.mkdir(parents=True)
    return folder


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True,
                          check=False).stdout


# --- run directories ---------------------------------------------------------------------


def test_runs_gitignore_keeps_records_and_ignores_checkpoints_and_wandb(git_repo: Path) -> None:
    run_id, run_dir = plots.allocate_run_dir(git_repo / "runs")
    assert run_id == "RUN-001"
    keep = ["meta.json", "summary.json", "metrics.jsonl", "train.log", "viz/train_loss.png"]
    drop = ["train.pid", "checkpoints/last.pt", "model.ckpt", "wandb/offline-run-1/run-x.wandb",
            "wandb/debug.log", "slurm/123_0_log.out", ".meta.lock", "viz/notes.txt"]
    for rel in keep + drop:
        (run_dir / rel).parent.mkdir(parents=True, exist_ok=True)
        (run_dir / rel).write_text("x")
    paths = [f"runs/{run_id}/{rel}" for rel in keep + drop] + ["runs/.gitignore"]
    ignored = set(_git(git_repo, "check-ignore", *paths).split())
    assert ignored == {f"runs/{run_id}/{rel}" for rel in drop}
    _git(git_repo, "add", "-A")
    staged = set(_git(git_repo, "diff", "--cached", "--name-only").split())
    assert staged == {f"runs/{run_id}/{rel}" for rel in keep} | {"runs/.gitignore"}


def test_run_ids_are_never_reused_even_when_allocated_concurrently(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    plots.allocate_run_dir(root)
    (root / "RUN-005").mkdir()
    (root / "RUN-005" / "meta.json").write_text('{"run": "RUN-005"}')
    got: list[str] = []
    lock = threading.Lock()

    def take() -> None:
        rid, _ = plots.allocate_run_dir(root)
        with lock:
            got.append(rid)

    threads = [threading.Thread(target=take) for _ in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(got)) == 24
    assert sorted(got) == [f"RUN-{n:03d}" for n in range(6, 30)]
    assert (root / "RUN-005" / "meta.json").read_text() == '{"run": "RUN-005"}'


def test_two_concurrent_launches_get_distinct_runs(ticket: Path, tmp_path: Path) -> None:
    marker = tmp_path / "m"
    cfg = {"command": command("sleep_exit.py", "0.2", "0", str(marker))}
    handles: list[runs.RunHandle] = []
    barrier = threading.Barrier(2)

    def go() -> None:
        barrier.wait()
        handles.append(runs.launch(ticket, "demo", cfg, tmp_path))

    threads = [threading.Thread(target=go) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(h.run_id for h in handles) == ["RUN-001", "RUN-002"]
    for h in handles:
        assert watch.watch(h.run_dir, poll=0.1) == "completed"


# --- launch, provenance, the supervisor -------------------------------------------------------


def test_launch_records_provenance_and_environment(ticket: Path, git_repo: Path) -> None:
    data = git_repo / "data"
    data.mkdir()
    (data / "a.csv").write_text("1,2\n")
    (data / "b.csv").write_text("3,4\n")
    (git_repo / "conf.yaml").write_text("lr: 0.1\nlayers: [8, 16]\n")
    probe = ("import os; print('ENV', os.environ['MLGATE_RUN_ID'], os.environ['MLGATE_TICKET'], "
             "os.environ['MLGATE_SEED'], os.environ['MLGATE_BATCH_SIZE'], "
             "os.environ['MLGATE_GRAD_ACCUM'], os.environ['MLGATE_WANDB_MODE'], "
             "os.environ['MLGATE_WANDB_PROJECT'], os.environ['EXTRA'], os.getcwd())")
    cfg = {"command": f"{PY} -c \"{probe}\" --bs {{batch_size}} --ga {{grad_accum}}",
           "batch_size": 8, "grad_accum": 2, "seed": 7, "data": ["data/", "missing/"],
           "config": "conf.yaml", "env": {"EXTRA": "yes"}}
    h = runs.launch(ticket, "demo", cfg, git_repo, "c0ffee", True, {"mode": "offline"})
    assert watch.watch(h.run_dir, poll=0.1) == "completed"
    m = meta(h.run_dir)
    assert m["command"].endswith("--bs 8 --ga 2")
    assert m["argv"][-4:] == ["--bs", "8", "--ga", "2"]
    assert (m["run"], m["ticket"], m["commit"], m["dirty"]) == ("RUN-001", "demo", "c0ffee", True)
    assert (m["seed"], m["batch_size"], m["grad_accum"], m["attempt"]) == (7, 8, 2, 1)
    assert m["config"]["train"]["batch_size"] == 8
    assert m["config"]["file"]["content"] == {"lr": 0.1, "layers": [8, 16]}
    canon = json.dumps(m["config"], sort_keys=True, separators=(",", ":"))
    assert m["config_hash"] == hashlib.sha256(canon.encode()).hexdigest()
    assert len(m["data_version"]) == 64 and m["data_missing"] == ["missing/"]
    assert m["torch"] == importlib.metadata.version("torch")
    assert m["cuda"] is None and m["gpu"] == [] and m["cpu"]
    assert m["python"] == ".".join(map(str, sys.version_info[:3]))
    assert (m["status"], m["failure_class"], m["exit_code"]) == ("completed", "completed", 0)
    assert m["pid"] == int((h.run_dir / "train.pid").read_text())
    assert m["supervisor_pid"] and m["finished"] and m["wandb"]["project"] == "demo"
    log = (h.run_dir / "train.log").read_text()
    assert f"ENV RUN-001 demo 7 8 2 offline demo yes {git_repo}" in log
    # The data version follows the content of the data files.
    v1 = m["data_version"]
    (data / "b.csv").write_text("3,5\n")
    h2 = runs.launch(ticket, "demo", cfg, git_repo)
    watch.watch(h2.run_dir, poll=0.1)
    assert meta(h2.run_dir)["data_version"] not in (v1, "N/A")
    assert runs.data_version([], git_repo) == ("N/A", [])


def test_placeholders_and_torchrun_argv() -> None:
    cmd = runs.substitute("python t.py --bs {batch_size} --ga {grad_accum} --x {other}",
                          {"batch_size": 16, "grad_accum": 4})
    assert cmd == "python t.py --bs 16 --ga 4 --x {other}"
    dist = ["-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2"]
    assert runs.build_argv("python t.py --a 1", "torchrun", 2) == ["python", *dist, "t.py", "--a",
                                                                   "1"]
    assert runs.build_argv("python3 -u -m pkg.train", "torchrun", 2) == ["python3", *dist, "-m",
                                                                         "pkg.train"]
    assert runs.build_argv("t.py", "torchrun", 2) == [sys.executable, *dist, "t.py"]
    assert runs.build_argv("torchrun --nproc-per-node 4 t.py", "torchrun", 2)[0] == "torchrun"
    assert runs.build_argv("python t.py", "local", 1) == ["python", "t.py"]
    with pytest.raises(ConfigError, match="torchrun"):
        runs.build_argv("bash run.sh", "torchrun", 2)


def test_bad_settings_are_refused_before_a_run_dir_exists(ticket: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="disabled"):
        runs.launch(ticket, "demo", {"command": "python x.py"}, tmp_path,
                    wandb_cfg={"mode": "disabled"})
    with pytest.raises(ConfigError, match="train.launcher"):
        runs.launch(ticket, "demo", {"command": "python x.py", "launcher": "mpi"}, tmp_path)
    with pytest.raises(ConfigError, match="torchrun"):
        runs.launch(ticket, "demo", {"command": "python x.py", "nproc": 2}, tmp_path)
    with pytest.raises(ConfigError, match="train.command"):
        runs.launch(ticket, "demo", {}, tmp_path)
    assert not (ticket / "runs").exists() or not list((ticket / "runs").glob("RUN-*"))


def test_command_that_cannot_start_is_crashed_with_127(ticket: Path, tmp_path: Path) -> None:
    h = runs.launch(ticket, "demo", {"command": "/no/such/python train.py"}, tmp_path)
    assert watch.watch(h.run_dir, poll=0.1) == "crashed"
    m = meta(h.run_dir)
    assert m["exit_code"] == 127 and m["status"] == "failed"
    assert "could not start '/no/such/python'" in (h.run_dir / "train.log").read_text()


def test_detached_run_outlives_the_process_that_launched_it(ticket: Path, tmp_path: Path) -> None:
    marker = tmp_path / "ran.txt"
    cfg = {"command": command("sleep_exit.py", "3", "5", str(marker))}
    code = (f"import json; from mlgate.runs import core as runs; h = runs.launch({str(ticket)!r}, 'demo', "
            f"{cfg!r}, {str(tmp_path)!r}); print(h.run_id, h.pid)")
    t0 = time.time()
    out = subprocess.run([PY, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    launcher_done = time.time()
    run_id, pid = out.stdout.split()
    run_dir = ticket / "runs" / run_id
    assert not marker.exists(), "the launcher returned only after the run finished"
    assert runs.pid_alive(int(pid)), "the run died with its launcher"
    assert meta(run_dir)["status"] == "running"
    assert wait_for(lambda: meta(run_dir).get("exit_code") is not None, timeout=60)
    m = meta(run_dir)
    assert marker.read_text() == "ran\n"
    assert (m["exit_code"], m["status"], m["failure_class"]) == (5, "failed", "crashed")
    assert m["finished_ts"] > launcher_done > t0


@pytest.mark.slow
def test_torchrun_two_gloo_processes_only_rank0_writes(ticket: Path, tmp_path: Path) -> None:
    cfg = {"command": f"{PY} {script('ddp.py')}", "launcher": "torchrun", "nproc": 2,
           "stall_after": 120, "env": {"OMP_NUM_THREADS": "1", "TEST_NO_WANDB": "1"}}
    h = runs.launch(ticket, "demo", cfg, tmp_path)
    assert watch.watch(h.run_dir, poll=0.2) == "completed", (h.run_dir / "train.log").read_text()
    m = meta(h.run_dir)
    assert "torch.distributed.run" in m["argv"] and "--nproc-per-node=2" in m["argv"]
    rows = metrics(h.run_dir)
    assert [r["step"] for r in rows] == list(range(10))
    assert {r["rank"] for r in rows} == {0.0}
    log = (h.run_dir / "train.log").read_text()
    assert "rank 0 of 2: Run" in log and "rank 1 of 2: NoOpRun" in log
    assert "rank 1 done" in log
    assert len(list(h.run_dir.glob("RUN-*"))) == 0 and not (tmp_path / "runs").exists()
    summary = json.loads((h.run_dir / "summary.json").read_text())
    assert summary["last"]["train/loss"] < summary["best"]["train/loss"] + 1e-9


@pytest.mark.slow
def test_slurm_launcher_with_submitit_local_executor(ticket: Path, tmp_path: Path) -> None:
    cfg = {"command": command("complete.py", "--steps", "20", "--batch-size", "{batch_size}"),
           "launcher": "slurm", "batch_size": 16, "stall_after": 120,
           "slurm": {"cluster": "local", "time_min": 5, "gpus_per_node": 0},
           "env": {"TEST_NO_WANDB": "1"}}
    h = runs.launch(ticket, "demo", cfg, tmp_path)
    assert h.launcher == "slurm" and h.job
    assert watch.watch(h.run_dir, poll=0.2) == "completed", (h.run_dir / "train.log").read_text()
    m = meta(h.run_dir)
    assert (m["job_id"], m["cluster"]) == (h.job, "local")
    assert (h.run_dir / "slurm").is_dir()
    assert m["exit_code"] == 0 and m["pid"]
    assert [r["step"] for r in metrics(h.run_dir) if "train/loss" in r] == list(range(20))
    assert "done" in (h.run_dir / "train.log").read_text()


# --- classification -----------------------------------------------------------------------


def _ended_run(tmp_path: Path, log: str, rows: list[dict] | None = None) -> Path:
    run_id, run_dir = plots.allocate_run_dir(tmp_path / "runs")
    plots.write_json(run_dir / "meta.json", {"run": run_id, "status": "running"})
    (run_dir / "train.log").write_text(log)
    if rows is not None:
        (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return run_dir


@pytest.mark.parametrize("log,code,expected", [
    ("ok\n", 0, "completed"),
    ("Traceback...\nValueError: bad\n", 1, "crashed"),
    ("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2 GiB\n", 1, "oom"),
    ("RuntimeError: [enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate "
     "memory: you tried to allocate 123 bytes\n", 1, "oom"),
    ("MemoryError\n", 1, "oom"),
    ("[mlgate] Killed (signal 9, exit 137)\n", 137, "oom"),
    ("Killed\n", 1, "crashed"),
    ("CUDA out of memory (caught, retried with a smaller batch)\n", 0, "completed"),
])
def test_classification_of_a_runs_end(tmp_path: Path, log: str, code: int, expected: str) -> None:
    run_dir = _ended_run(tmp_path, log)
    assert runs.classify_end(run_dir, code) == expected


def test_nonfinite_loss_is_nan_and_watchdog_reason_wins(tmp_path: Path) -> None:
    rows = [{"step": 0, "time": 0.0, "train/loss": 1.0}, {"step": 1, "time": 0.0,
                                                          "train/loss": float("nan")}]
    assert runs.classify_end(_ended_run(tmp_path, "", rows), 0) == "nan"
    assert runs.classify_end(_ended_run(tmp_path, "", rows), 1) == "nan"
    acc_nan = [{"step": 0, "time": 0.0, "val/acc": float("nan")}]
    assert runs.classify_end(_ended_run(tmp_path, "", acc_nan), 0) == "completed"
    run_dir = _ended_run(tmp_path, "CUDA out of memory\n", rows)
    plots.update_meta(run_dir, kill_reason="stalled")
    m = runs.finalize(run_dir, 143)
    assert (m["failure_class"], m["status"], m["exit_code"]) == ("stalled", "failed", 143)
    assert runs.finalize(run_dir, 0)["failure_class"] == "stalled"  # idempotent
    assert (run_dir / "summary.json").exists() and list((run_dir / "viz").glob("*.png"))


def test_sigkill_of_the_training_process_is_recorded_as_killed(ticket: Path,
                                                               tmp_path: Path) -> None:
    h = runs.launch(ticket, "demo", {"command": command("sleep_exit.py", "60", "0",
                                                        str(tmp_path / "x"))}, tmp_path)
    os.kill(h.pid, signal.SIGKILL)
    assert watch.watch(h.run_dir, poll=0.1) == "oom"  # what a shell would print: "Killed"
    m = meta(h.run_dir)
    assert m["exit_code"] == 137 and "Killed" in (h.run_dir / "train.log").read_text()


# --- listing ------------------------------------------------------------------------------


def test_list_runs_resolve_and_format(ticket: Path, tmp_path: Path) -> None:
    a = _ended_run(ticket, "")
    plots.write_json(a / "meta.json", {"run": "RUN-001", "status": "completed",
                                       "failure_class": "completed", "batch_size": 32,
                                       "grad_accum": 2, "attempt": 2, "parent_run": "RUN-000",
                                       "started_ts": 100.0, "finished_ts": 161.0})
    plots.write_json(a / "summary.json", {"run": "RUN-001", "last": {"val/acc": 0.91}})
    b = _ended_run(ticket, "")
    plots.write_json(b / "meta.json", {"run": "RUN-002", "status": "running", "pid": 999999999,
                                       "started_ts": 1.0})
    (b / "metrics.jsonl").write_text('{"step": 3, "time": 1.0, "train/loss": 0.5}\n')
    infos = runs.list_runs(ticket)
    assert [i.run for i in infos] == ["RUN-001", "RUN-002"]
    assert infos[0].metrics == {"val/acc": 0.91} and infos[1].metrics == {"train/loss": 0.5}
    assert infos[1].alive is False
    d = infos[0].to_dict()
    assert {"run", "status", "failure_class", "metrics"} <= set(d)
    assert json.dumps(d)
    table = watch.format_runs(infos)
    lines = table.splitlines()
    assert lines[0].split() == ["RUN", "STATUS", "CLASS", "BATCH", "ATTEMPT", "DURATION", "METRICS"]
    assert "32x2" in lines[1] and "(after RUN-000)" in lines[1] and "0:01:01" in lines[1]
    assert "val/acc=0.91" in lines[1] and "running?" in lines[2]
    assert watch.format_runs([]) == "no runs yet"
    assert runs.resolve_run_dir(ticket, "2") == b
    assert runs.resolve_run_dir(ticket, "run-001") == a
    with pytest.raises(UsageError, match="RUN-001, RUN-002"):
        runs.resolve_run_dir(ticket, "RUN-009")


def test_environment_info_does_not_import_torch() -> None:
    code = ("import sys; from mlgate.runs import core as runs; i = runs.environment_info(); "
            "print(i['torch'], 'torch' in sys.modules)")
    out = subprocess.run([PY, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == [importlib.metadata.version("torch"), "False"]


def test_slurm_parameters_submitit_refuses_are_a_config_error(ticket: Path, tmp_path: Path) -> None:
    cfg = {"command": "python train.py", "launcher": "slurm",
           "slurm": {"cluster": "local", "extra": {"no_such_option": 1}}}
    with pytest.raises(ConfigError, match="slurm_"):
        runs.launch(ticket, "demo", cfg, tmp_path)
    m = meta(ticket / "runs" / "RUN-001")
    assert (m["status"], m["failure_class"], m["exit_code"]) == ("failed", "crashed", 127)
    assert "submitit refused" in (ticket / "runs" / "RUN-001" / "train.log").read_text()
