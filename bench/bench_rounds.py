"""``mlgate round compare`` over a round of 20 tickets with 5 runs each: goal <= 1 s.

Setup (not timed): a git repository with a baseline, 20 tickets made by ``Workspace.new_ticket``
(each in its own worktree on ``codex/<ticket>``), each with 5 run folders as the launcher
writes them (``meta.json`` with a config whose ``lr`` differs per ticket, ``summary.json``,
``metrics.jsonl`` of 50 steps, a plot), three of them seeds of one config; 18 tickets have
passed stage 5 (a sealed state file), one is still in stage 5 and one was discarded.

Timed: the real CLI, ``mlgate --json round compare r1`` in a subprocess (start-up included),
against ``mlgate --version`` (the CLI's start-up alone) in the same run; and the library call
:func:`mlgate.rounds.compare.compare` in this process.
"""
from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO))

from _common import MLGATE, isolated_env, sh  # noqa: E402

TICKETS = 20
RUNS = 5
QUICK = os.environ.get("MLGATE_BENCH_QUICK") == "1"


def _write_run(folder: Path, n: int, seed: int, lr: float, acc: float) -> None:
    run = f"RUN-{n:03d}"
    d = folder / "runs" / run
    (d / "viz").mkdir(parents=True)
    config = {"train": {"command": "python train.py", "seed": seed, "batch_size": 64},
              "file": {"path": "configs/train.json", "sha256": f"{lr}",
                       "content": {"model": "mlp", "hidden": 128, "lr": lr, "epochs": 15}}}
    (d / "meta.json").write_text(json.dumps({
        "run": run, "commit": "0" * 40, "config": config, "config_hash": f"{lr}-{seed}",
        "seed": seed, "data_version": "sha256:feed", "status": "completed",
        "failure_class": "completed", "exit_code": 0, "started": "2026-01-01T00:00:00",
        "finished": "2026-01-01T00:01:00"}))
    last = {"train/loss": 0.1 + lr, "val/loss": 0.2 + lr, "val/acc": acc, "test/acc": acc - 0.01}
    with (d / "metrics.jsonl").open("w") as fh:
        for step in range(50):
            fh.write(json.dumps({"step": step, **{k: v * (1 + (50 - step) / 100)
                                                  for k, v in last.items()}}) + "\n")
    (d / "summary.json").write_text(json.dumps({
        "run": run, "last": last, "best": last, "steps": 50,
        "direction": {"train/loss": "min", "val/loss": "min", "val/acc": "max",
                      "test/acc": "max"}}))
    (d / "viz" / "val_acc.png").write_bytes(b"\x89PNG\r\n\x1a\n")


def make_round(tmp: Path, env: dict[str, str]) -> Path:
    from mlgate.rounds import store
    from mlgate.runs import baselines
    from mlgate.util import today
    from mlgate.workspace import Workspace

    root = tmp / "proj"
    root.mkdir()
    sh(["git", "init", "-q", "-b", "main"], root, env)
    (root / "README.md").write_text("# bench\n")
    sh(["git", "add", "-A"], root, env)
    sh(["git", "commit", "-q", "-m", "init"], root, env)
    old = dict(os.environ)
    os.environ.update(env)  # the worktrees are made in this process
    try:
        ws, _ = Workspace.init(root)
        b = baselines.load(root)
        b.set({"val/acc": 0.9, "val/loss": 0.3, "train/loss": 0.2, "test/acc": 0.89})
        b.save()
        sh(["git", "add", "-A"], root, env)
        sh(["git", "commit", "-q", "-m", "mlgate"], root, env)
        key = ws.key()
        names = [f"t-{i:02d}" for i in range(TICKETS)]
        for i, name in enumerate(names):
            t = ws.new_ticket(name)
            lr = 0.001 * (i + 1)
            for n in range(1, RUNS + 1):
                seed = max(0, n - 3)  # RUN-003..005: seeds 0, 1, 2 of one config
                _write_run(t.folder, n, seed, lr, 0.88 + 0.002 * i + 0.001 * n)
            if i < TICKETS - 2:  # passed stage 5
                doc = t.doc()
                doc.set_gate(5, status="Pass", evidence="training-validation-report.md")
                doc.set_snapshot(current_stage=6, next_stage=7)
                doc.apply_seal(key)
                from mlgate.util import atomic_write

                atomic_write(t.state_path, doc.render())
                (t.folder / "training-validation-report.md").write_text(
                    "# Training And Validation Report\n\n## Gate Decision\n\n"
                    "- Stage 5 Decision: `Pass`\n")
        rounds = store.Rounds(root / store.DEFAULT_FILE)
        rounds.rounds["r1"] = store.Round(
            name="r1", created=today(), base_branch="main", base_commit=None, baseline=1,
            tickets=names, discarded={names[-1]: "diverged"})
        rounds.save()
    finally:
        os.environ.clear()
        os.environ.update(old)
    return root


def run() -> list[dict]:
    tmp = Path(tempfile.mkdtemp(prefix="mlgate-bench-rounds-"))
    try:
        home = tmp / "home"
        home.mkdir()
        (home / ".gitconfig").write_text("[init]\n\tdefaultBranch = main\n")
        env = isolated_env(home)
        root = make_round(tmp, env)
        cmd = [MLGATE, "--json", "round", "compare", "r1"]
        out = json.loads(sh(cmd, root, env))  # warm up and check
        if len(out["tickets"]) != TICKETS or out["ready"] or len(out["metrics"]) != 4 or \
                out["hyperparameters"].get("file.content.lr") is None or \
                any(r["seeds"] != 3 for r in out["tickets"]):
            raise RuntimeError(f"round compare gave an unexpected answer: "
                               f"{json.dumps(out)[:600]}")
        sh([MLGATE, "--version"], root, env)
        reps = 3 if QUICK else 9
        cli, start = [], []
        for _ in range(reps):
            t0 = time.perf_counter()
            subprocess.run(cmd, cwd=root, env=env, stdout=subprocess.DEVNULL, check=True)
            cli.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            subprocess.run([MLGATE, "--version"], cwd=root, env=env,
                           stdout=subprocess.DEVNULL, check=True)
            start.append(time.perf_counter() - t0)
        from mlgate.rounds import compare, store
        from mlgate.runs import baselines

        lib = []
        for _ in range(reps):
            t0 = time.perf_counter()
            compare.compare(root, store.load(root).rounds["r1"], baselines.load(root),
                            "codex/")
            lib.append(time.perf_counter() - t0)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    med_cli, med_start, med_lib = (statistics.median(x) for x in (cli, start, lib))
    return [
        {"name": f"mlgate round compare, {TICKETS} tickets x {RUNS} runs (CLI)",
         "median_s": med_cli, "baseline": "mlgate --version", "ratio": med_cli / med_start,
         "goal": "<= 1 s", "met": med_cli <= 1.0,
         "note": f"CLI start-up {med_start:.3f} s; {TICKETS} worktrees"},
        {"name": f"rounds.compare.compare(), {TICKETS} x {RUNS} (in process)",
         "median_s": med_lib, "baseline": None, "ratio": None, "goal": "informational",
         "met": None, "note": f"{med_lib / TICKETS * 1e3:.1f} ms per ticket"},
    ]


if __name__ == "__main__":
    for row in run():
        ratio = f"{row['ratio']:.2f}x" if row.get("ratio") is not None else "-"
        print(f"{row['name']:<52} {row['median_s'] * 1000:9.1f} ms  {ratio:>7}  "
              f"{row['goal']:<14} {row.get('note', '')}")
