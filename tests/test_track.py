"""The tracking API for training scripts (SPEC §10): buffered tensors without per-step host
reads, metrics.jsonl/summary.json/plots, wandb offline (writer process and inline), rank 0
only, refusing ``disabled``, and a missing wandb."""
from __future__ import annotations

import json
import math
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from mlgate import track

from mlgate.runs import plots
from mlgate.errors import UsageError

sys.path.insert(0, str(Path(__file__).parent / "data" / "train_scripts"))
from train_script_helpers import PY, meta, metrics, wandb_history  # noqa: E402


@pytest.fixture(autouse=True)
def _isolated_track(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """Each test: its own cwd, no launcher environment, fresh warn-once state; the hooks
    track.init installs in this process (excepthook, SIGTERM) are put back afterwards."""
    monkeypatch.chdir(tmp_path)
    for var in ("MLGATE_RUN_DIR", "MLGATE_RUN_ID", "MLGATE_TICKET", "MLGATE_SEED", "RANK",
                "MLGATE_WANDB_MODE", "MLGATE_WANDB_PROJECT", "MLGATE_BATCH_SIZE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("MLGATE_WANDB_NICE", "0")
    monkeypatch.setattr(track, "_WARNED", set())
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    term = signal.getsignal(signal.SIGTERM)
    yield
    if track._ACTIVE is not None:
        track._ACTIVE.finish()
    signal.signal(signal.SIGTERM, term)


@pytest.fixture
def no_wandb(monkeypatch: pytest.MonkeyPatch) -> None:
    """wandb "not installed" for this process (the tests about buffering don't need it)."""
    monkeypatch.setitem(sys.modules, "wandb", None)


def test_log_buffers_tensors_and_reads_them_in_one_batch_per_flush(
        no_wandb: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def no_item(self: torch.Tensor) -> float:
        raise AssertionError("run.log called .item(): a host sync per step")

    stacks: list[int] = []
    real_stack = torch.stack

    def counting_stack(tensors, *a, **k):  # type: ignore[no-untyped-def]
        stacks.append(len(tensors))
        return real_stack(tensors, *a, **k)

    monkeypatch.setattr(torch.Tensor, "item", no_item)
    monkeypatch.setattr(torch, "stack", counting_stack)
    run = track.init(config={"lr": 0.1}, flush_every=50, flush_secs=None)
    path = run.run_dir / "metrics.jsonl"
    w = torch.ones(3, requires_grad=True)
    expected = []
    for i in range(120):
        loss = (w * (1.0 / (i + 1))).sum()  # part of an autograd graph
        acc = torch.tensor([i / 120.0])     # shape (1,): a scalar too
        run.log({"loss": loss, "acc": acc, "lr": 0.1, "n": i, "np": np.float32(0.5),
                 "flag": True})
        expected.append(3.0 / (i + 1))
        if i == 48:
            assert path.read_text() == "", "nothing may be read before the flush"
    assert run._rows[0][2]["loss"][0].requires_grad is False  # detached: no graph kept alive
    assert stacks == [100, 100]  # one batched read per flush: 50 rows x 2 tensors
    run.finish()
    assert stacks == [100, 100, 40]
    rows = metrics(run.run_dir)
    assert [r["step"] for r in rows] == list(range(120))
    assert [r["loss"] for r in rows] == pytest.approx(expected, rel=1e-6)
    assert rows[3] | {"time": 0} == {"step": 3, "time": 0, "loss": pytest.approx(0.75),
                                     "acc": pytest.approx(0.025), "lr": 0.1, "n": 3,
                                     "np": 0.5, "flag": 1.0}
    summary = json.loads((run.run_dir / "summary.json").read_text())
    assert summary["last"]["loss"] == pytest.approx(3.0 / 120)
    assert summary["best"]["loss"] == pytest.approx(3.0 / 120)
    assert summary["best"]["acc"] == pytest.approx(119 / 120)
    assert summary["direction"]["loss"] == "min" and summary["direction"]["acc"] == "max"
    assert summary["steps"] == 120 and summary["last_step"] == 119
    assert {p.name for p in (run.run_dir / "viz").glob("*.png")} == {
        "loss.png", "acc.png", "lr.png", "n.png", "np.png", "flag.png"}


def test_flush_by_time_and_explicit_steps(no_wandb: None) -> None:
    run = track.init(flush_every=1000, flush_secs=0.0)
    run.log({"a": 1.0}, step=10)
    assert metrics(run.run_dir) == [{"step": 10, "time": metrics(run.run_dir)[0]["time"], "a": 1.0}]
    run.log({"b": 2.0})
    assert run.step == 12
    run.finish()
    assert [r["step"] for r in metrics(run.run_dir)] == [10, 11]


def test_standalone_runs_get_their_own_numbered_dirs_and_meta(no_wandb: None,
                                                               tmp_path: Path) -> None:
    with track.init(config={"seed": 5}) as run:
        run.log({"loss": 1.0})
    assert run.run_id == "RUN-001" and run.run_dir == tmp_path / "runs" / "RUN-001"
    m = meta(run.run_dir)
    assert (m["launcher"], m["status"], m["exit_code"], m["failure_class"]) == (
        "standalone", "completed", 0, "completed")
    assert m["seed"] == 5 and m["config"] == {"seed": 5} and m["torch"] == torch.__version__
    assert (tmp_path / "runs" / ".gitignore").exists()
    run2 = track.init()
    assert run2.run_id == "RUN-002"
    run2.finish()
    assert track.current() is None


@pytest.mark.parametrize("exc,cls", [(MemoryError(), "oom"), (RuntimeError("boom"), "crashed"),
                                     (RuntimeError("CUDA out of memory. Tried"), "oom")])
def test_context_manager_records_a_failure(no_wandb: None, exc: BaseException, cls: str) -> None:
    with pytest.raises(type(exc)):
        with track.init() as run:
            run.log({"loss": 1.0})
            raise exc
    m = meta(run.run_dir)
    assert (m["status"], m["exit_code"], m["failure_class"]) == ("failed", 1, cls)
    assert metrics(run.run_dir)[0]["loss"] == 1.0


def test_bad_values_are_refused_with_the_key(no_wandb: None) -> None:
    run = track.init()
    with pytest.raises(ValueError, match=r"'x' is a tensor of shape \(3,\)"):
        run.log({"x": torch.ones(3)})
    with pytest.raises(TypeError, match="'name' = 'abc'"):
        run.log({"name": "abc"})
    with pytest.raises(ValueError, match="reserved"):
        run.log({"step": 1.0})
    run.finish()
    with pytest.raises(RuntimeError, match="after run.finish"):
        run.log({"a": 1.0})


def test_a_tensor_modified_in_place_before_the_flush_is_reported(
        no_wandb: None, capsys: pytest.CaptureFixture[str]) -> None:
    run = track.init()
    total = torch.zeros(())
    run.log({"total": total})
    total += 5
    run.finish()
    assert "modified in place" in capsys.readouterr().err


def test_only_rank_zero_writes(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RANK", "1")
    run = track.init(config={"a": 1})
    assert isinstance(run, track.NoOpRun) and not run.is_main
    run.log({"loss": torch.tensor(1.0)})
    track.log({"loss": 2.0})
    run.finish()
    assert not (tmp_path / "runs").exists()


def test_disabled_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="'disabled' is refused"):
        track.init(mode="disabled")
    with pytest.raises(UsageError, match="disabled"):
        track.init(config={"wandb": {"mode": "disabled"}})
    monkeypatch.setenv("WANDB_MODE", "disabled")
    with pytest.raises(UsageError, match="WANDB_MODE"):
        track.init()
    assert not (tmp_path / "runs").exists()


def test_missing_wandb_warns_once_and_keeps_the_local_log(
        no_wandb: None, capsys: pytest.CaptureFixture[str]) -> None:
    for _ in range(2):
        with track.init() as run:
            run.log({"loss": 0.5})
        assert metrics(run.run_dir)[0]["loss"] == 0.5
        assert meta(run.run_dir)["wandb"]["error"] == "wandb is not installed"
    err = capsys.readouterr().err
    assert err.count("wandb is not installed; logging to metrics.jsonl only — "
                     "pip install 'mlgate[wandb]'") == 1


@pytest.mark.slow
def test_wandb_offline_writer_process_gets_every_row(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLGATE_TICKET", "my-ticket")
    run = track.init(config={"lr": 0.01}, tags=["baseline"])
    for i in range(75):
        run.log({"train/loss": torch.tensor(1.0 / (i + 1)), "val/acc": i / 75}, step=i)
    run.finish()
    wb = meta(run.run_dir)["wandb"]
    assert wb["mode"] == "offline" and wb["finished"] and wb["steps_logged"] == 75
    assert wb["project"] == "my-ticket" and wb["sync_command"] == f"wandb sync {wb['dir']}"
    history = wandb_history(wb["dir"])
    assert [r["_step"] for r in history] == list(range(75))
    assert {k for r in history for k in r if not k.startswith("_")} == {"train/loss", "val/acc"}
    assert history[3]["train/loss"] == pytest.approx(0.25)
    spec = json.loads((run.run_dir / ".wandb-spec.json").read_text())
    assert spec["name"] == run.run_id and spec["tags"] == ["stage-5", "my-ticket", "baseline"]
    assert spec["config"]["lr"] == 0.01 and spec["config"]["mlgate"]["run"] == run.run_id


@pytest.mark.slow
def test_wandb_inline_mode(tmp_path: Path) -> None:
    run = track.init(wandb_inline=True, flush_every=10)
    assert run.wandb is not None and run.wandb.name == run.run_id
    for i in range(25):
        run.log({"loss": torch.tensor(float(i))}, step=i)
    run.finish()
    wb = meta(run.run_dir)["wandb"]
    assert wb["run_id"] == run.wandb.id and wb["finished"]
    assert [r["loss"] for r in wandb_history(wb["dir"])] == [float(i) for i in range(25)]
    import wandb

    wandb.teardown()  # inline mode started wandb's service in this process: stop it


@pytest.mark.slow
def test_writer_finishes_wandb_after_the_trainer_is_killed(tmp_path: Path) -> None:
    code = ("import os, signal; from mlgate import track\n"
            "run = track.init(flush_every=1)\n"
            "for i in range(7): run.log({'loss': float(i)}, step=i)\n"
            "os.kill(os.getpid(), signal.SIGKILL)\n")
    proc = subprocess.run([PY, "-c", code], cwd=tmp_path, timeout=120)
    assert proc.returncode == -signal.SIGKILL
    run_dir = tmp_path / "runs" / "RUN-001"
    from train_script_helpers import wait_for

    assert wait_for(lambda: meta(run_dir)["wandb"].get("finished"), timeout=90)
    wb = meta(run_dir)["wandb"]
    assert wb["exit_code"] == 1
    assert [r["loss"] for r in wandb_history(wb["dir"])] == [float(i) for i in range(7)]


def test_sigterm_flushes_the_buffer_before_dying(tmp_path: Path) -> None:
    code = ("import os, signal, sys; sys.modules['wandb'] = None\n"
            "import torch; from mlgate import track\n"
            "run = track.init(flush_every=50, flush_secs=None)\n"
            "for i in range(10): run.log({'loss': torch.tensor(float(i))}, step=i)\n"
            "os.kill(os.getpid(), signal.SIGTERM)\n"
            "import time; time.sleep(30)\n")
    proc = subprocess.run([PY, "-c", code], cwd=tmp_path, timeout=60, capture_output=True)
    assert proc.returncode == -signal.SIGTERM
    rows = metrics(tmp_path / "runs" / "RUN-001")
    assert [r["loss"] for r in rows] == [float(i) for i in range(10)]


def test_direction_and_summary_rules() -> None:
    for name in ("loss", "val/Loss", "test_error", "ppl_perplexity", "MSE", "val/mae", "rmse"):
        assert plots.direction_of(name) == "min", name
    for name in ("acc", "val/f1", "auc", "throughput"):
        assert plots.direction_of(name) == "max", name
    assert plots.direction_of("loss", {"loss": "max"}) == "max"
    assert plots.direction_of("acc", {"acc": "sideways"}) == "max"
    from mlgate.runs import core as runs

    assert runs.direction_of is plots.direction_of
    recs = [{"step": 0, "time": 0.0, "loss": 2.0, "acc": 0.1},
            {"step": 1, "time": 0.0, "loss": float("nan"), "acc": 0.7},
            {"step": 2, "time": 0.0, "loss": 1.5},
            {"step": 2, "time": 0.0, "acc": 0.4}]
    s = plots.summarize(recs, "RUN-009", {"acc": "max"})
    assert s["last"] == {"loss": 1.5, "acc": 0.4} and s["best"] == {"loss": 1.5, "acc": 0.7}
    assert s["steps"] == 3 and s["last_step"] == 2 and s["run"] == "RUN-009"
    only_nan = plots.summarize([{"step": 0, "loss": float("inf")}])
    assert math.isinf(only_nan["last"]["loss"]) and only_nan["best"] == {"loss": None}


def test_metrics_reader_survives_a_torn_last_line(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"step": 0, "time": 1.0, "loss": 1.0}\n{"step": 1, "time": 1.0, "lo')
    assert plots.read_metrics(path) == [{"step": 0, "time": 1.0, "loss": 1.0}]
    assert plots.plot_name("val/acc", set()) == "val_acc.png"
    taken = {"val_acc.png"}
    assert plots.plot_name("val acc", taken) == "val_acc-2.png"


def test_importing_track_pulls_in_no_heavy_package() -> None:
    code = ("import sys, mlgate.track; print(','.join(m for m in ('torch', 'wandb', "
            "'matplotlib', 'numpy', 'pydantic', 'click', 'yaml', 'rich', 'submitit') "
            "if m in sys.modules))")
    out = subprocess.run([PY, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_logging_cuda_tensors_does_not_synchronize_per_step(no_wandb: None) -> None:
    run = track.init(flush_every=50, flush_secs=None)
    w = torch.randn(256, 256, device="cuda", requires_grad=True)
    torch.cuda.set_sync_debug_mode("error")  # any synchronizing call now raises
    try:
        for i in range(49):
            loss = (w @ w).pow(2).mean()
            run.log({"loss": loss, "acc": (loss > 0).float()}, step=i)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    run.finish()  # the flush reads them all in one transfer
    assert [r["step"] for r in metrics(run.run_dir)] == list(range(49))


@pytest.mark.slow
def test_online_without_credentials_falls_back_to_offline_and_says_so(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    run = track.init(mode="online")
    run.log({"loss": 1.0})
    run.finish()
    wb = meta(run.run_dir)["wandb"]
    assert wb["mode"] == "offline" and wb["finished"] and wb["url"] is None
    assert "online init failed" in wb["error"] and wb["sync_command"].startswith("wandb sync ")
    assert "wandb: wandb online init failed" in capsys.readouterr().err
    assert [r["loss"] for r in wandb_history(wb["dir"])] == [1.0]


def test_finish_takes_its_process_hooks_back(no_wandb: None) -> None:
    before = (sys.excepthook, signal.getsignal(signal.SIGTERM))
    run = track.init()
    assert sys.excepthook is not before[0]
    run.finish()
    assert (sys.excepthook, signal.getsignal(signal.SIGTERM)) == before


def test_a_forked_child_never_writes_the_parents_buffer(no_wandb: None) -> None:
    import os

    run = track.init(flush_every=50, flush_secs=None)
    run.log({"loss": torch.tensor(1.0)}, step=0)
    pid = os.fork()
    if pid == 0:  # like a DataLoader worker killed by SIGTERM, or exiting normally
        run.flush()
        run.finish()
        os._exit(0)
    os.waitpid(pid, 0)
    assert (run.run_dir / "metrics.jsonl").read_text() == ""
    run.finish()
    assert [r["step"] for r in metrics(run.run_dir)] == [0]


# -- issue 15: bugs found with the frameworks' own training code ---------------------------


def test_log_inside_inference_mode(no_wandb: None, tmp_path: Path) -> None:
    """Lightning runs its test loop under torch.inference_mode(): inference tensors have no
    version counter, and logging them must not crash the run."""
    run = track.init(flush_every=2, flush_secs=None)
    w = torch.ones(2)
    with torch.inference_mode():
        for i in range(5):
            acc = (w * (i / 8.0)).sum()  # an inference tensor
            assert acc.is_inference()
            run.log({"test/acc": acc, "plain": i}, step=i)
    run.log({"test/acc": torch.tensor(2.0)}, step=5)  # a normal tensor still works after
    run.finish()
    rows = metrics(run.run_dir)
    assert [r["test/acc"] for r in rows] == [0.0, 0.25, 0.5, 0.75, 1.0, 2.0]
    assert meta(run.run_dir)["status"] == "completed"


@pytest.mark.parametrize("env", [{"LOCAL_RANK": "1"}, {"SLURM_PROCID": "2"},
                                 {"JSM_NAMESPACE_RANK": "1"}, {"RANK": "1", "LOCAL_RANK": "0"}])
def test_ranks_other_than_zero_write_nothing(no_wandb: None, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch,
                                             env: dict[str, str]) -> None:
    """Lightning's own DDP launcher sets only LOCAL_RANK in the processes it starts: they must
    not write a second copy of every row into the same metrics.jsonl."""
    for var in track.RANK_VARS:
        monkeypatch.delenv(var, raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert not track.is_main_process()
    run = track.init(config={"x": 1})
    assert isinstance(run, track.NoOpRun)
    run.log({"loss": 1.0})
    track.log({"loss": 1.0})
    run.finish()
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("env", [{}, {"LOCAL_RANK": "0"}, {"RANK": "0", "LOCAL_RANK": "3"},
                                 {"SLURM_PROCID": "0"}])
def test_rank_zero_writes(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    for var in track.RANK_VARS:
        monkeypatch.delenv(var, raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert track.is_main_process()


SHARED_WANDB = """
import sys, wandb
from mlgate import track

order = sys.argv[1]
if order == "wandb-first":
    own = wandb.init(project="own-project", config={"lr": 0.1})
run = track.init(config={"lr": 0.1}, flush_every=100)
if order == "track-first":
    own = wandb.init(project="own-project", config={"lr": 0.1})
for i in range(5):
    run.log({"train/loss": 1.0 / (i + 1)}, step=i)
run.flush()
own.finish()                        # the script finishes its own run first
for i in range(5, 7):
    run.log({"train/loss": 1.0 / (i + 1)}, step=i)
run.finish()
print("done", own.id, flush=True)
"""


@pytest.mark.slow
@pytest.mark.parametrize("order", ["wandb-first", "track-first"])
def test_a_script_with_its_own_wandb_run_gets_no_second_one(tmp_path: Path, order: str) -> None:
    """wandb.init in the script and track.init: one wandb run, linked in meta.json with its
    real id and project; the script finishing it first does not turn the run `crashed`."""
    (tmp_path / "train.py").write_text(SHARED_WANDB)
    proc = subprocess.run([PY, "train.py", order], cwd=tmp_path, capture_output=True,
                          text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    own_id = proc.stdout.split()[-1]
    import os

    wandb_root = Path(os.environ["WANDB_DIR"]) / "wandb"
    folders = sorted(p.name for p in wandb_root.glob("offline-run-*"))
    assert folders == [f for f in folders if f.endswith(own_id)] and len(folders) == 1
    run_dir = tmp_path / "runs" / "RUN-001"
    m = meta(run_dir)
    assert m["status"] == "completed" and m["exit_code"] == 0
    wb = m["wandb"]
    assert wb["run_id"] == own_id and wb["project"] == "own-project" and wb["shared"] is True
    assert [r["step"] for r in metrics(run_dir)] == list(range(7))
    history = wandb_history(wandb_root / folders[0])
    assert [r["train/loss"] for r in history] == [1.0 / (i + 1) for i in range(5)]
