"""The watchdog (SPEC §10): completed/crashed/nan/stalled/timeout/oom on real processes, the
OOM halving chain, re-attaching after the watcher dies, and the progress display."""
from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mlgate.runs import core as runs

from mlgate.runs import watch

sys.path.insert(0, str(Path(__file__).parent / "data" / "train_scripts"))
from train_script_helpers import PY, command, meta, metrics, wait_for, wandb_history  # noqa: E402
from train_script_helpers import _fast_writer, ticket  # noqa: E402,F401 (fixtures)


NO_WANDB = {"TEST_NO_WANDB": "1"}  # for tests that don't look at wandb (it has its own tests)


def _dead(pid: int) -> bool:
    return wait_for(lambda: not runs.pid_alive(pid), timeout=30)


@pytest.mark.slow
def test_completed_run_has_metrics_summary_plots_and_wandb_offline_history(
        ticket: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WANDB_DIR")  # the default: wandb writes inside the run directory
    cfg = {"command": command("example_train.py", "--epochs", "2", "--batch-size",
                              "{batch_size}", "--grad-accum", "{grad_accum}"),
           "batch_size": 64, "stall_after": 120}
    lines: list[str] = []
    h = runs.launch(ticket, "demo", cfg, tmp_path, "abc123", False, {"mode": "offline"})
    assert watch.watch(h.run_dir, poll=0.2, progress=lines.append) == "completed"
    m = meta(h.run_dir)
    assert (m["status"], m["exit_code"], m["failure_class"]) == ("completed", 0, "completed")
    rows = metrics(h.run_dir)
    assert [r["step"] for r in rows if "train/loss" in r] == list(range(64))  # 2048/64 x 2
    assert [r["step"] for r in rows if "val/acc" in r] == [31, 63]
    assert all(isinstance(r["time"], float) for r in rows)
    summary = json.loads((h.run_dir / "summary.json").read_text())
    assert summary["run"] == "RUN-001" and summary["steps"] == 64
    assert summary["direction"] == {"train/loss": "min", "val/loss": "min", "val/acc": "max"}
    losses = [r["train/loss"] for r in rows if "train/loss" in r]
    accs = [r["val/acc"] for r in rows if "val/acc" in r]
    assert summary["last"]["train/loss"] == losses[-1] and summary["last"]["val/acc"] == accs[-1]
    assert summary["best"]["train/loss"] == min(losses) and summary["best"]["val/acc"] == max(accs)
    assert losses[-1] < losses[0]
    assert sorted(p.name for p in (h.run_dir / "viz").glob("*.png")) == [
        "train_loss.png", "val_acc.png", "val_loss.png"]
    assert (h.run_dir / "model.pt").exists()
    # wandb: offline, inside the run dir, the same keys and steps in its history.
    wb = m["wandb"]
    assert wb["mode"] == "offline" and wb["url"] is None and wb["finished"] is True
    assert Path(wb["dir"]).parent == Path("wandb")  # relative to the run folder
    assert wb["sync_command"] == f"wandb sync {wb['dir']}"
    history = wandb_history(h.run_dir / wb["dir"])
    keys = {k for r in history for k in r if not k.startswith("_")}
    assert keys == {"train/loss", "val/loss", "val/acc"}
    assert sorted({r["_step"] for r in history}) == list(range(64))
    hist_loss = {r["_step"]: r["train/loss"] for r in history if "train/loss" in r}
    assert hist_loss == {r["step"]: r["train/loss"] for r in rows if "train/loss" in r}
    assert m["wandb"]["project"] == "demo"
    assert m["script_config"] == {"batch_size": 64, "grad_accum": 1, "epochs": 2, "lr": 0.01}
    assert lines and lines[-1].startswith("RUN-001  step 63") and "completed (exit 0)" in lines[-1]


def test_crash_is_classified_with_its_exit_code(ticket: Path, tmp_path: Path) -> None:
    h = runs.launch(ticket, "demo", {"command": command("crash.py"), "env": NO_WANDB}, tmp_path)
    assert watch.watch(h.run_dir, poll=0.1) == "crashed"
    m = meta(h.run_dir)
    assert (m["exit_code"], m["status"]) == (3, "failed")
    assert "something went wrong" in (h.run_dir / "train.log").read_text()
    assert json.loads((h.run_dir / "summary.json").read_text())["last"] == {"train/loss": 0.9}
    assert (h.run_dir / "viz" / "train_loss.png").exists()


def test_nan_loss_stops_the_run(ticket: Path, tmp_path: Path) -> None:
    h = runs.launch(ticket, "demo", {"command": command("nan.py"), "stall_after": 120,
                                     "env": NO_WANDB}, tmp_path)
    t0 = time.time()
    assert watch.watch(h.run_dir, poll=0.1) == "nan"
    assert time.time() - t0 < 120
    assert _dead(h.pid)
    m = meta(h.run_dir)
    assert m["status"] == "failed" and m["kill_reason"] == "nan"
    assert "train/loss = nan at step 3" in m["kill_detail"]
    assert m["exit_code"] == 128 + signal.SIGTERM


def test_stalled_run_is_stopped(ticket: Path, tmp_path: Path) -> None:
    h = runs.launch(ticket, "demo", {"command": command("stall.py")}, tmp_path)
    assert watch.watch(h.run_dir, stall_after=2, poll=0.2) == "stalled"
    assert _dead(h.pid)
    m = meta(h.run_dir)
    assert (m["status"], m["failure_class"], m["exit_code"]) == ("failed", "stalled", 143)
    assert "no new metric" in m["kill_detail"]
    assert [r["step"] for r in metrics(h.run_dir)] == [0, 1]
    # The wandb writer was spared: it logged what was flushed and closed the wandb run.
    wb = m["wandb"]
    assert wb["finished"] and wb["exit_code"] == 1
    assert [r["train/loss"] for r in wandb_history(wb["dir"])] == [1.0, 0.9]


def test_timeout_stops_a_run_that_keeps_logging(ticket: Path, tmp_path: Path) -> None:
    h = runs.launch(ticket, "demo", {"command": command("slow.py"), "timeout": 4,
                                     "stall_after": 60, "env": NO_WANDB}, tmp_path)
    assert watch.watch(h.run_dir, poll=0.2) == "timeout"
    assert _dead(h.pid)
    m = meta(h.run_dir)
    assert m["failure_class"] == "timeout" and "train.timeout 4" in m["kill_detail"]
    assert m["finished_ts"] - m["running_since"] < 60


def test_oom_relaunches_with_halved_batch_until_it_fits(ticket: Path, tmp_path: Path) -> None:
    cfg = {"command": command("oom.py", "--batch-size", "{batch_size}", "--grad-accum",
                              "{grad_accum}"), "batch_size": 64, "grad_accum": 1, "env": NO_WANDB}
    lines: list[str] = []
    infos = watch.run_with_retries(ticket, "demo", cfg, tmp_path, "abc", False, {},
                                   progress=lines.append, poll=0.1)
    assert [(i.run, i.failure_class, i.batch_size, i.grad_accum, i.attempt, i.parent_run)
            for i in infos] == [
        ("RUN-001", "oom", 64, 1, 1, None),
        ("RUN-002", "oom", 32, 2, 2, "RUN-001"),
        ("RUN-003", "completed", 16, 4, 3, "RUN-002"),
    ]
    run3 = ticket / "runs" / "RUN-003"
    assert "batch_size=16 grad_accum=4" in (run3 / "train.log").read_text()
    assert meta(run3)["command"].endswith("--batch-size 16 --grad-accum 4")
    assert "CUDA out of memory" in meta(ticket / "runs" / "RUN-001")["oom_evidence"]
    assert any("RUN-002 launched" in ln for ln in lines)
    assert [r["effective_batch"] for r in metrics(run3)] == [64.0] * 5


def test_oom_retries_are_bounded_and_need_the_placeholder(ticket: Path, tmp_path: Path) -> None:
    cfg = {"command": command("oom.py", "--batch-size", "{batch_size}", "--grad-accum",
                              "{grad_accum}"), "batch_size": 128, "oom_retries": 1}
    infos = watch.run_with_retries(ticket, "demo", cfg, tmp_path, poll=0.1)
    assert [(i.failure_class, i.batch_size) for i in infos] == [("oom", 128), ("oom", 64)]
    fixed = {"command": command("oom.py", "--batch-size", "64", "--grad-accum", "1")}
    infos = watch.run_with_retries(ticket, "demo", fixed, tmp_path, poll=0.1)
    assert [(i.run, i.failure_class) for i in infos] == [("RUN-003", "oom")]


def test_watch_reattaches_after_the_watcher_is_killed(ticket: Path, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    h = runs.launch(ticket, "demo", {"command": command("sleep_exit.py", "4", "0", str(marker)),
                                     "stall_after": 60}, tmp_path)
    code = f"from mlgate.runs import watch; watch.watch({str(h.run_dir)!r})"
    watcher = subprocess.Popen([PY, "-c", code])
    time.sleep(1.0)
    watcher.kill()
    watcher.wait()
    assert runs.pid_alive(h.pid), "killing the watcher must not touch the run"
    assert watch.watch_run(ticket, "RUN-001", poll=0.1) == "completed"
    assert marker.exists() and meta(h.run_dir)["exit_code"] == 0
    # Watching an ended run returns its class at once.
    t0 = time.monotonic()
    assert watch.watch_run(ticket, "1") == "completed"
    assert time.monotonic() - t0 < 5


def test_run_whose_processes_vanished_is_finalized_as_crashed(ticket: Path, tmp_path: Path) -> None:
    h = runs.launch(ticket, "demo", {"command": command("sleep_exit.py", "60", "0",
                                                        str(tmp_path / "x"))}, tmp_path)
    os.kill(h.supervisor_pid, signal.SIGKILL)  # the supervisor dies first: nobody records
    os.killpg(h.pid, signal.SIGKILL)
    assert watch.watch(h.run_dir, poll=0.1) == "crashed"
    m = meta(h.run_dir)
    assert m["status"] == "failed" and m["exit_code"] is None and m["finished"]


def test_progress_rich_live_line_and_plain_lines(ticket: Path, tmp_path: Path) -> None:
    from rich.console import Console

    buf = io.StringIO()
    console = Console(file=buf, force_terminal=False, width=120)
    h = runs.launch(ticket, "demo", {"command": command("crash.py"), "env": NO_WANDB}, tmp_path)
    assert watch.watch(h.run_dir, poll=0.1, progress=console) == "crashed"
    out = buf.getvalue()
    assert "RUN-001" in out and "train/loss=0.9" in out and "crashed (exit 3)" in out
    plain = io.StringIO()
    assert watch.watch(h.run_dir, progress=plain) == "crashed"  # already ended: one line
    line = plain.getvalue().splitlines()[-1]
    assert line.startswith("RUN-001  step 1  train/loss=0.9  elapsed ")
    assert line.endswith("crashed (exit 3)")


def test_cancel_stops_a_running_run_and_leaves_an_ended_one_alone(ticket: Path,
                                                                  tmp_path: Path) -> None:
    h = runs.launch(ticket, "demo", {"command": command("slow.py"), "env": NO_WANDB}, tmp_path)
    assert wait_for(lambda: metrics_written(h.run_dir), timeout=60)
    # a watch asked to stop returns "running" and leaves the run alone
    import threading

    stop, got = threading.Event(), []
    watcher = threading.Thread(target=lambda: got.append(
        watch.watch(h.run_dir, poll=0.2, stop=stop)))
    watcher.start()
    time.sleep(0.5)
    stop.set()
    watcher.join(timeout=10)
    assert got == ["running"] and runs.run_alive(h.run_dir)
    assert meta(h.run_dir)["status"] == "running"
    assert watch.cancel(h.run_dir, "stopped by the test") == "cancelled"
    assert _dead(h.pid)
    m = meta(h.run_dir)
    assert (m["status"], m["failure_class"], m["kill_reason"], m["kill_detail"]) == \
        ("failed", "cancelled", "cancelled", "stopped by the test")
    assert m["exit_code"] == 143 and (h.run_dir / "summary.json").exists()
    # an ended run keeps its record
    before = (h.run_dir / "meta.json").read_bytes()
    assert watch.cancel(h.run_dir, "again") == "cancelled"
    assert (h.run_dir / "meta.json").read_bytes() == before
    done = runs.launch(ticket, "demo", {"command": command("sleep_exit.py", "0.1", "0",
                                                           str(tmp_path / "marker"))}, tmp_path)
    assert watch.watch(done.run_dir, poll=0.2) == "completed"
    assert watch.cancel(done.run_dir, "too late") == "completed"
    assert "kill_reason" not in meta(done.run_dir)


def metrics_written(run_dir: Path) -> bool:
    path = run_dir / "metrics.jsonl"
    return path.exists() and path.stat().st_size > 0
def test_output_to_train_log_counts_as_liveness(ticket: Path, tmp_path: Path) -> None:
    """A healthy run that logs its metrics elsewhere but keeps printing is not `stalled`."""
    h = runs.launch(ticket, "demo", {"command": command("prints_only.py"), "env": NO_WANDB},
                    tmp_path)
    assert watch.watch(h.run_dir, stall_after=2, poll=0.2) == "completed"
    assert meta(h.run_dir)["exit_code"] == 0
