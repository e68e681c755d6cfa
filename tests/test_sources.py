"""Metric sources (issue 15): a run's numbers from the script's own wandb run, Lightning's
CSV log, TensorBoard event files or stdout, read live by the watchdog and imported at the
end; wandb's record file read by mlgate's reader, pinned to the versions it was tested on."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mlgate.errors import MetricSourceError
from mlgate.runs import core as runs
from mlgate.runs import sources, watch
from mlgate.runs.sources import files as F
from mlgate.runs.sources import wandb_records as W

sys.path.insert(0, str(Path(__file__).parent / "data" / "train_scripts"))
from train_script_helpers import PY, meta, metrics, wandb_history  # noqa: E402

PLAIN_WANDB = """
import math, sys, wandb
run = wandb.init(project="plain-project", config={"lr": 0.1})
n = int(sys.argv[1]) if len(sys.argv) > 1 else 12
for i in range(n):
    wandb.log({"train/loss": 1.0 / (i + 1), "val/acc": i / n, "note": "text is skipped"})
run.finish()
"""


@pytest.fixture(scope="module")
def wandb_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder of a real offline wandb run of 12 rows, made by a plain wandb script."""
    root = tmp_path_factory.mktemp("plain")
    (root / "train.py").write_text(PLAIN_WANDB)
    env = {**os.environ, "WANDB_DIR": str(root), "WANDB_MODE": "offline",
           "WANDB_SILENT": "true"}
    subprocess.run([PY, "train.py"], cwd=root, env=env, check=True, timeout=180)
    [folder] = list((root / "wandb").glob("offline-run-*"))
    return folder


def make_run(tmp_path: Path, **meta_fields: object) -> Path:
    run_dir = tmp_path / "tickets" / "t" / "runs" / "RUN-001"
    run_dir.mkdir(parents=True)
    m = {"run": "RUN-001", "cwd": str(tmp_path), "started_ts": time.time() - 60,
         "running_since": time.time() - 60, "status": "running",
         "wandb": {"mode": "offline", "project": "t", "run_id": None},
         "metrics": {"source": "auto", "regex": None, "search": ["logs", "wandb"]}}
    m.update(meta_fields)
    (run_dir / "meta.json").write_text(json.dumps(m))
    (run_dir / "train.log").write_text("")
    return run_dir


# -- wandb's record file ------------------------------------------------------------------


def test_wandb_record_reader_reads_history_run_and_exit(wandb_run: Path) -> None:
    [path] = W.find_record_files(wandb_run.parent)
    rf = W.RecordFile(path)
    rows = rf.rows()
    assert [r["step"] for r in rows] == list(range(12))
    assert [r["train/loss"] for r in rows] == [1.0 / (i + 1) for i in range(12)]
    assert all("note" not in r and isinstance(r["time"], float) for r in rows)
    assert rf.run["project"] == "plain-project" and rf.run["run_id"] == path.stem[4:]
    assert rf.producer.startswith("0.31") and rf.warning is None and rf.exit_code == 0
    assert rf.rows() == []  # incremental: nothing new
    # the same numbers as wandb's own history (read independently, record by record)
    own = [r for r in wandb_history(wandb_run) if "train/loss" in r]
    assert [r["val/acc"] for r in rows] == [r["val/acc"] for r in own]


def test_wandb_record_reader_follows_a_file_that_grows(wandb_run: Path, tmp_path: Path) -> None:
    [path] = W.find_record_files(wandb_run.parent)
    data = path.read_bytes()
    grow = tmp_path / path.name
    cut = len(data) // 2 + 3  # mid-record
    grow.write_bytes(data[:cut])
    rf = W.RecordFile(grow)
    first = rf.rows()
    assert len(first) < 12
    with open(grow, "ab") as fh:
        fh.write(data[cut:])
    second = rf.rows()
    assert [r["step"] for r in first + second] == list(range(12))


def test_wandb_version_not_tested_is_said(wandb_run: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(W, "TESTED_WANDB", ("0.99",))
    [path] = W.find_record_files(wandb_run.parent)
    rf = W.RecordFile(path)
    assert len(rf.rows()) == 12
    assert "written by wandb 0.31" in rf.warning and "tested on wandb 0.99" in rf.warning


def test_damaged_or_foreign_record_file_is_refused_with_its_name(wandb_run: Path,
                                                                 tmp_path: Path) -> None:
    [path] = W.find_record_files(wandb_run.parent)
    data = bytearray(path.read_bytes())
    data[40] ^= 0xFF
    bad = tmp_path / "run-bad.wandb"
    bad.write_bytes(bytes(data))
    with pytest.raises(MetricSourceError, match=r"run-bad\.wandb: record at byte 7 fails its "
                                                r"checksum"):
        W.RecordFile(bad).rows()
    other = tmp_path / "run-other.wandb"
    other.write_bytes(b"SQLite format 3\x00" + bytes(100))
    with pytest.raises(MetricSourceError, match="not a wandb record file this reader knows"):
        W.RecordFile(other).rows()


# -- CSV, TensorBoard, stdout -------------------------------------------------------------


def test_lightning_csv_rows_and_a_rewrite_with_new_columns(tmp_path: Path) -> None:
    path = tmp_path / "metrics.csv"
    path.write_text("epoch,step,train_loss\n0,9,0.9\n0,19,0.7\n")
    log = F.CsvLog(path)
    assert sources.clean(log.rows()) == [{"step": 9, "train_loss": 0.9},
                                         {"step": 19, "train_loss": 0.7}]
    # Lightning rewrites the file when a key appears: old rows, then the new ones
    path.write_text("epoch,step,train_loss,val_acc\n0,9,0.9,\n0,19,0.7,\n0,19,,0.81\n1,29,0.5")
    assert sources.clean(log.rows()) == [{"step": 19, "val_acc": 0.81}]  # last line unfinished
    with open(path, "a") as fh:
        fh.write(",\n")
    assert sources.clean(log.rows()) == [{"step": 29, "train_loss": 0.5}]


def test_tensorboard_scalars_through_tensorboards_reader(tmp_path: Path) -> None:
    from torch.utils.tensorboard import SummaryWriter

    w = SummaryWriter(str(tmp_path / "tb"))
    for i in range(4):
        w.add_scalar("train/loss", 1.0 / (i + 1), i)
    w.add_text("note", "not a number", 0)
    w.flush()
    [ev] = list((tmp_path / "tb").glob("events.out.tfevents.*"))
    log = F.EventLog([ev])
    rows = log.rows()
    assert [(r["step"], r["train/loss"]) for r in rows] == [(0, 1.0), (1, 0.5),
                                                             (2, pytest.approx(1 / 3)),
                                                             (3, 0.25)]
    w.add_scalar("val/acc", 0.75, 3)
    w.flush()
    assert [{k: v for k, v in r.items() if k != "time"} for r in log.rows()] == [
        {"step": 3, "val/acc": 0.75}]
    w.close()


@pytest.mark.parametrize("regex, line, row", [
    (None, "epoch 3 train_loss=0.52 val_acc=0.91", {"step": 3, "train_loss": 0.52,
                                                    "val_acc": 0.91}),
    (None, "step: 7 | loss: nan | lr=1e-3", {"step": 7, "loss": float("nan"), "lr": 0.001}),
    (r"epoch (?P<step>\d+) .*val_acc=(?P<val_acc>\S+)", "epoch 2 x val_acc=0.5,",
     {"step": 2, "val_acc": 0.5}),
    (r"(?P<key>val/\w+) -> (?P<value>\S+)", "val/acc -> 0.8 and val/loss -> 0.3",
     {"step": 0, "val/acc": 0.8, "val/loss": 0.3}),
    (None, "Starting training on 1797 samples", None),
])
def test_stdout_regex(tmp_path: Path, regex: str | None, line: str, row: dict | None) -> None:
    log = F.StdoutLog(tmp_path / "train.log", regex)
    got = log.parse(line)
    if row is None:
        assert got is None
    else:
        assert json.dumps(got) == json.dumps(row)  # NaN compares by its JSON spelling


def test_bad_regex_names_the_setting(tmp_path: Path) -> None:
    with pytest.raises(MetricSourceError, match=r"train.metrics_regex: .*not a valid"):
        F.StdoutLog(tmp_path / "train.log", "val=(?P<v>")
    with pytest.raises(MetricSourceError, match="names no metric"):
        F.StdoutLog(tmp_path / "train.log", r"step (?P<step>\d+)")


# -- import at the end, link, live ----------------------------------------------------------


def test_auto_import_from_the_scripts_wandb_run_links_it(wandb_run: Path, tmp_path: Path
                                                        ) -> None:
    import shutil

    run_dir = make_run(tmp_path)
    shutil.copytree(wandb_run, tmp_path / "wandb" / wandb_run.name)  # WandbLogger(save_dir=".")
    result = sources.import_metrics(run_dir)
    assert result["kind"] == "wandb" and result["rows"] == 12
    assert result["path"].startswith("wandb/offline-run-")  # relative to the working dir
    assert result["keys"] == ["train/loss", "val/acc"]
    rows = metrics(run_dir)
    assert [r["val/acc"] for r in rows] == [i / 12 for i in range(12)]
    wb = meta(run_dir)["wandb"]
    assert wb["project"] == "plain-project" and wb["run_id"] == wandb_run.name.rsplit("-", 1)[1]
    assert wb["linked"] == "found" and Path(wb["dir"]).name == wandb_run.name
    assert sources.import_metrics(run_dir) == result  # once per run


def test_import_prefers_track_and_ignores_stale_files(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path, script_config={})
    (run_dir / "metrics.jsonl").write_text('{"step": 0, "time": 1.0, "loss": 0.5}\n')
    old = tmp_path / "logs" / "v0" / "metrics.csv"
    old.parent.mkdir(parents=True)
    old.write_text("step,loss\n0,9.0\n")
    assert sources.import_metrics(run_dir)["kind"] == "track"
    assert metrics(run_dir) == [{"step": 0, "time": 1.0, "loss": 0.5}]
    # a CSV from before the run started is another run's
    run2 = make_run(tmp_path / "b")
    stale = tmp_path / "b" / "logs" / "metrics.csv"
    stale.parent.mkdir(parents=True)
    stale.write_text("step,loss\n0,9.0\n")
    past = time.time() - 3600
    os.utime(stale, (past, past))
    result = sources.import_metrics(run2)
    assert result["kind"] == "none" and "no metrics.jsonl (mlgate.track)" in result["error"]
    assert "logs/" in result["error"]


def test_explicit_source_and_collect_again(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path)
    (run_dir / "train.log").write_text("epoch 0 val_acc=0.5\nepoch 1 val_acc=0.7\n")
    csv = tmp_path / "logs" / "metrics.csv"
    csv.parent.mkdir(parents=True)
    csv.write_text("step,val_acc\n0,0.6\n")
    assert sources.import_metrics(run_dir)["kind"] == "csv"  # auto: stdout needs a regex
    again = sources.import_metrics(run_dir, kind="stdout", force=True)
    assert again["kind"] == "stdout" and again["path"] == "train.log"
    assert [(r["step"], r["val_acc"]) for r in metrics(run_dir)] == [(0, 0.5), (1, 0.7)]
    with pytest.raises(MetricSourceError, match="not one of"):
        sources.import_metrics(run_dir, kind="mlflow", force=True)


def test_live_source_finds_the_csv_and_follows_it(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path)
    live = sources.LiveSource(run_dir, discover_every=0.0)
    assert live.poll() == [] and live.reader is None
    csv = run_dir / "lightning_logs" / "version_0" / "metrics.csv"
    csv.parent.mkdir(parents=True)
    csv.write_text("epoch,step,train_loss\n0,4,0.9\n")
    assert live.poll() == [{"step": 4, "train_loss": 0.9}] and live.last_row is not None
    with open(csv, "a") as fh:
        fh.write("0,9,0.8\n")
    assert live.poll() == [{"step": 9, "train_loss": 0.8}]


# -- the watchdog with a source other than metrics.jsonl ------------------------------------

CSV_SCRIPT = """
import os, sys, time
path = os.path.join(os.environ["MLGATE_RUN_DIR"], "lightning_logs", "version_0", "metrics.csv")
os.makedirs(os.path.dirname(path), exist_ok=True)
with open(path, "w") as fh:
    fh.write("epoch,step,train_loss\\n")
for i in range(int(sys.argv[1])):
    loss = "nan" if sys.argv[2] == "nan" and i == 3 else str(1.0 / (i + 1))
    with open(path, "a") as fh:
        fh.write(f"0,{i},{loss}\\n")
    time.sleep(0.4)
"""


def test_watchdog_stops_a_nan_logged_to_a_csv(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text(CSV_SCRIPT)
    folder = tmp_path / "tickets" / "t"
    h = runs.launch(folder, "t", {"command": f"{PY} train.py 60 nan", "env":
                                  {"TEST_NO_WANDB": "1"}}, tmp_path)
    assert watch.watch(h.run_dir, poll=0.1, stall_after=30) == "nan"
    m = meta(h.run_dir)
    assert "train_loss = nan at step 3" in m["kill_detail"]
    assert m["metrics_source"]["kind"] == "csv"
    assert runs.nonfinite_loss(metrics(h.run_dir)) is not None


def test_watchdog_counts_csv_rows_as_progress(tmp_path: Path) -> None:
    """No output and no metrics.jsonl: the CSV rows alone keep the run from `stalled`."""
    (tmp_path / "train.py").write_text(CSV_SCRIPT)
    folder = tmp_path / "tickets" / "t"
    h = runs.launch(folder, "t", {"command": f"{PY} train.py 12 ok"}, tmp_path)
    assert watch.watch(h.run_dir, poll=0.1, stall_after=2.5) == "completed"
    assert [r["step"] for r in metrics(h.run_dir)] == list(range(12))
    assert meta(h.run_dir)["metrics_source"]["path"] == \
        "lightning_logs/version_0/metrics.csv"


# -- `mlgate run train --collect RUN` ------------------------------------------------------


def test_cli_collect_run_imports_from_any_source_after_the_fact(git_repo: Path) -> None:
    """A finished run whose metrics mlgate did not find is imported again with `--collect
    RUN --metrics stdout`; the failing checks are printed, not only kept in the evidence."""
    from conftest import mlgate
    from test_hooks_helpers import add_ticket

    # a run mlgate launched, configured to read only mlgate.track, of a script that prints
    (git_repo / "train.py").write_text("print('epoch 0 loss=0.9 val_acc=0.61')\n"
                                       "print('epoch 1 loss=0.5 val_acc=0.83')\n")
    (git_repo / "mlgate.yaml").write_text(
        f"handlers: {{5: [train]}}\ntrain:\n  command: {sys.executable} train.py\n"
        "  metrics: track\n")
    add_ticket(git_repo, "exp", 5, worktree=False)
    folder = git_repo / "tickets" / "in-progress" / "exp"
    run_dir = folder / "runs" / "RUN-001"
    launched = mlgate(git_repo, "run", "train")
    assert launched.returncode == 1 and "RUN-001" in launched.stdout, launched.stdout
    first = mlgate(git_repo, "run", "train", "--collect")
    assert first.returncode == 1
    assert "[metrics] RUN-001 logged no metrics" in first.stdout, first.stdout
    assert "--collect RUN-001" in first.stdout  # the hint says how to import it

    out = mlgate(git_repo, "--json", "run", "train", "--collect", "RUN-001", "--metrics",
                 "stdout")
    [result] = json.loads(out.stdout)
    got = {c["id"]: c for c in result["checks"]}
    assert got["collect"]["status"] == "pass", got
    assert got["collect"]["detail"] == ("RUN-001: 2 row(s) of loss, val_acc from stdout "
                                        "(train.log)")
    assert got["metrics"]["status"] == "pass" and result["metrics"]["val_acc"] == 0.83
    assert [r["val_acc"] for r in metrics(run_dir)] == [0.61, 0.83]
    assert json.loads((run_dir / "summary.json").read_text())["last"]["loss"] == 0.5

    missing = mlgate(git_repo, "run", "train", "--collect", "RUN-009")
    assert missing.returncode == 1 and "[collect] RUN-009: no run 'RUN-009'" in missing.stdout
