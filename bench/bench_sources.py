"""Live reading of each metric source, per watchdog poll, against reading ``metrics.jsonl``.

The watchdog polls a run's metric source once a second (``train.poll``). Each row measures one
poll that finds the rows a run appended since the last poll, on a log that already holds a
long run's rows (``HISTORY``), and compares it with the same poll on ``metrics.jsonl``
(``MetricsTail``, what the watchdog reads for ``mlgate.track``) in the same run:

* wandb: wandb writes its record file in 32 KiB blocks, so a poll finds one new block
  (about 200 rows of two metrics);
* csv (Lightning's ``CSVLogger``), tensorboard (TensorBoard's own loader), stdout
  (``train.metrics_regex`` over ``train.log``): ``NEW`` rows appended;
* an idle poll (nothing new) on each source, and the discovery of the source in ``auto``
  mode (globs over the run folder and the ``run_outputs`` folders, done every 2 s until a
  source is found).

Goal: a poll costs at most 10 ms (1 % of a 1 s poll interval, on one core); the ratio to
``metrics.jsonl`` is reported beside it.
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

HISTORY = 5000
NEW = 10
GOAL = "<= 10 ms per poll"


def _rounds() -> int:
    return int(os.environ.get("MLGATE_BENCH_ROUNDS") or 40)


def _median(setup: Callable[[], Callable[[], Any]], rounds: int) -> float:
    """Median seconds of the poll that ``setup()`` returns (set up afresh each round)."""
    times = []
    for _ in range(rounds):
        poll = setup()
        t0 = time.perf_counter()
        poll()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _wandb_file(root: Path) -> Path:
    """A real offline wandb record file of HISTORY + 400 rows."""
    script = (f"import wandb\nrun = wandb.init(project='bench', dir={str(root)!r})\n"
              f"for i in range({HISTORY + 400}):\n"
              f"    run.log({{'train/loss': 1.0 / (i + 1), 'val/acc': i / {HISTORY}}}, step=i)\n"
              f"run.finish()\n")
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true"}
    subprocess.run([sys.executable, "-c", script], cwd=root, env=env, check=True,
                   capture_output=True, timeout=600)
    [path] = list((root / "wandb").glob("offline-run-*/run-*.wandb"))
    return path


def run() -> list[dict]:
    from mlgate.runs import sources
    from mlgate.runs.sources import files as F
    from mlgate.runs.sources import wandb_records as W
    from mlgate.runs.watch import MetricsTail

    rounds = _rounds()
    rows: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)

        def line(i: int) -> dict[str, Any]:
            return {"step": i, "time": 1.7e9 + i, "train/loss": 1.0 / (i + 1), "val/acc": i / 1e4}

        # -- metrics.jsonl: the baseline --------------------------------------------------
        def jsonl_setup(new: int) -> Callable[[], Callable[[], Any]]:
            path = root / "metrics.jsonl"
            head = "".join(json.dumps(line(i)) + "\n" for i in range(HISTORY))
            tail = "".join(json.dumps(line(i)) + "\n" for i in range(HISTORY, HISTORY + new))

            def setup() -> Callable[[], Any]:
                path.write_text(head)
                t = MetricsTail(path)
                t.read_new()
                with open(path, "a") as fh:
                    fh.write(tail)
                return t.read_new
            return setup

        base = {n: _median(jsonl_setup(n), rounds) for n in (NEW, 0)}

        def add(name: str, med: float, new: int, note: str) -> None:
            b = base[new]
            rows.append({"name": name, "median_s": med, "baseline": b,
                         "ratio": med / b if b else None, "goal": GOAL,
                         "met": med <= 10e-3, "note": note})

        # -- wandb --------------------------------------------------------------------------
        wb = _wandb_file(root)
        data = wb.read_bytes()
        blocks = [b * W.BLOCK for b in range(1, len(data) // W.BLOCK + 1)]
        cut = blocks[len(blocks) // 2]

        def wandb_setup(grow: bool) -> Callable[[], Any]:
            part = root / "grow.wandb"
            part.write_bytes(data[:cut])
            rf = W.RecordFile(part)
            rf.rows()
            if grow:
                with open(part, "ab") as fh:
                    fh.write(data[cut:cut + W.BLOCK])
            return rf.rows

        block_rows = len(wandb_setup(True)())
        base[block_rows] = _median(jsonl_setup(block_rows), rounds)
        add("live poll: wandb record, one new 32 KiB block", _median(lambda: wandb_setup(True),
                                                                    rounds), block_rows,
            f"{block_rows} new rows in the block; baseline: {block_rows} new metrics.jsonl "
            f"lines")
        add("live poll: wandb record, nothing new", _median(lambda: wandb_setup(False), rounds),
            0, "idle poll")

        # -- Lightning CSV ----------------------------------------------------------------
        csv_path = root / "metrics.csv"
        csv_head = "epoch,step,train/loss,val/acc\n" + "".join(
            f"0,{i},{1.0 / (i + 1)},{i / 1e4}\n" for i in range(HISTORY))
        csv_tail = "".join(f"0,{i},{1.0 / (i + 1)},{i / 1e4}\n"
                           for i in range(HISTORY, HISTORY + NEW))

        def csv_setup(grow: bool) -> Callable[[], Any]:
            csv_path.write_text(csv_head)
            log = F.CsvLog(csv_path)
            log.rows()
            time.sleep(0.002)  # a new mtime
            if grow:
                with open(csv_path, "a") as fh:
                    fh.write(csv_tail)
            return log.rows

        add(f"live poll: Lightning metrics.csv, {NEW} new rows",
            _median(lambda: csv_setup(True), rounds), NEW, "appended rows parsed alone")
        add("live poll: Lightning metrics.csv, nothing new",
            _median(lambda: csv_setup(False), rounds), 0, "idle poll (stat only)")

        # -- TensorBoard ---------------------------------------------------------------------
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as exc:  # pragma: no cover
            rows.append({"name": "live poll: TensorBoard", "median_s": None, "baseline": None,
                         "ratio": None, "goal": GOAL, "met": None, "note": f"skipped: {exc}"})
        else:
            tb = root / "tb"

            def tb_setup(grow: bool) -> Callable[[], Any]:
                import shutil

                shutil.rmtree(tb, ignore_errors=True)
                w = SummaryWriter(str(tb))
                for i in range(HISTORY):
                    w.add_scalar("train/loss", 1.0 / (i + 1), i)
                w.flush()
                [ev] = list(tb.glob("events.out.tfevents.*"))
                log = F.EventLog([ev])
                log.rows()
                if grow:
                    for i in range(HISTORY, HISTORY + NEW):
                        w.add_scalar("train/loss", 1.0 / (i + 1), i)
                    w.flush()
                w.close()
                return log.rows

            tb_rounds = max(5, rounds // 4)  # writing 5,000 events per round is slow
            add(f"live poll: TensorBoard events, {NEW} new scalars",
                _median(lambda: tb_setup(True), tb_rounds), NEW, "TensorBoard's EventFileLoader")
            add("live poll: TensorBoard events, nothing new",
                _median(lambda: tb_setup(False), tb_rounds), 0, "idle poll")

        # -- stdout -----------------------------------------------------------------------------
        log_path = root / "train.log"
        regex = r"epoch (?P<step>\d+) train_loss=(?P<train_loss>\S+) val_acc=(?P<val_acc>\S+)"
        text_head = "".join(f"epoch {i} train_loss={1.0 / (i + 1):.6f} val_acc={i / 1e4}\n"
                            for i in range(HISTORY))
        text_tail = "".join(f"epoch {i} train_loss={1.0 / (i + 1):.6f} val_acc={i / 1e4}\n"
                            for i in range(HISTORY, HISTORY + NEW))

        def out_setup() -> Callable[[], Any]:
            log_path.write_text(text_head)
            log = F.StdoutLog(log_path, regex)
            log.rows()
            with open(log_path, "a") as fh:
                fh.write(text_tail)
            return log.rows

        add(f"live poll: stdout regex, {NEW} new lines", _median(out_setup, rounds), NEW,
            "train.metrics_regex over train.log")

        # -- discovery (auto mode, nothing found yet) -----------------------------------------
        run_dir = root / "tickets" / "t" / "runs" / "RUN-001"
        run_dir.mkdir(parents=True)
        for d in ("logs", "lightning_logs", "wandb", "checkpoints"):
            for v in range(20):
                (root / d / f"old_{v}").mkdir(parents=True, exist_ok=True)
                (root / d / f"old_{v}" / "notes.txt").write_text("x")
        (run_dir / "meta.json").write_text(json.dumps({
            "run": "RUN-001", "cwd": str(root), "started_ts": time.time(),
            "metrics": {"source": "auto", "regex": None,
                        "search": ["logs", "lightning_logs", "wandb", "checkpoints"]}}))

        def discover_setup() -> Callable[[], Any]:
            live = sources.LiveSource(run_dir, discover_every=0.0)
            return live.poll

        add("auto discovery, nothing found (every 2 s)", _median(discover_setup, rounds), 0,
            "one walk of the run folder and 4 run_outputs folders of 20 subfolders each")
    return rows


if __name__ == "__main__":
    for r in run():
        print(r)
