"""Real seeded runs for the statistics, criteria and rounds tests (not a test module).

:func:`launch_seeds` starts one real run per seed of ``tests/data/train_scripts/seeded.py``
through mlgate's own launcher (``runs.core.launch``, the supervisor, ``mlgate.track``), all
at once, and waits for each with the watchdog; the run folders are what ``mlgate run train``
with ``train.seed: N`` leaves behind. :func:`copy_runs` copies finished run folders into a
ticket (renumbered), so that tests can share the seconds a run costs.
"""
from __future__ import annotations

import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from mlgate.runs import core, watch

SCRIPT = Path(__file__).resolve().parent / "data" / "train_scripts" / "seeded.py"


def command(acc: float, spread: float, loss: float = 0.3) -> str:
    return f"{sys.executable} {SCRIPT} --acc {acc} --spread {spread} --loss {loss}"


def launch_seeds(folder: Path, worktree: Path, acc: float, spread: float,
                 seeds: Sequence[int] = (0, 1, 2), commit: str | None = None,
                 loss: float = 0.3) -> list[Path]:
    """One real run per seed into ``folder/runs/``; returns the run folders (completed)."""
    handles = []
    for seed in seeds:
        opts = {"command": command(acc, spread, loss), "seed": seed, "timeout": 120,
                "stall_after": 120, "env": {"TEST_NO_WANDB": "1"}}
        handles.append(core.launch(folder, folder.name, opts, worktree, commit=commit))
    out = []
    for h in handles:
        run_dir = folder / "runs" / h.run_id
        cls = watch.watch(run_dir, stall_after=120, timeout=120, poll=0.2)
        assert cls == "completed", (run_dir, (run_dir / "train.log").read_text())
        out.append(run_dir)
    return out


def copy_runs(run_dirs: Sequence[Path], folder: Path) -> list[str]:
    """Copy finished run folders into ``folder/runs/`` as the next RUN-NNN ids."""
    root = folder / "runs"
    root.mkdir(parents=True, exist_ok=True)
    ids = []
    for src in run_dirs:
        n = 1 + max([int(p.name[4:]) for p in root.glob("RUN-*")] or [0])
        rid = f"RUN-{n:03d}"
        shutil.copytree(src, root / rid)
        for name in ("meta.json", "summary.json"):
            f = root / rid / name
            f.write_text(f.read_text().replace(f'"{src.name}"', f'"{rid}"'))
        ids.append(rid)
    return ids
