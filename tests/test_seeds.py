"""``train.seeds``: one run per seed. On this machine they run one after another, or up to
``train.parallel`` at once (real processes); the Slurm array job is in tests/test_slurm.py."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from mlgate.errors import ConfigError, UsageError
from mlgate.runs import core as runs
from mlgate.runs import watch

sys.path.insert(0, str(Path(__file__).parent / "data" / "train_scripts"))
from train_script_helpers import command, meta, metrics  # noqa: E402
from train_script_helpers import _fast_writer, ticket  # noqa: E402,F401 (fixtures)


def cfg(*args: str, **over: Any) -> dict[str, Any]:
    return {"command": command("complete_light.py", *args), "env": {"TEST_NO_WANDB": "1"},
            "stall_after": 120, "timeout": 120, **over}


def spans(infos: list[runs.RunInfo]) -> list[tuple[float, float]]:
    return [(meta(i.run_dir)["running_since"], meta(i.run_dir)["finished_ts"]) for i in infos]


def most_at_once(intervals: list[tuple[float, float]]) -> int:
    events = sorted([(a, 1) for a, _ in intervals] + [(b, -1) for _, b in intervals])
    now = best = 0
    for _, d in events:
        now += d
        best = max(best, now)
    return best


def test_one_run_per_seed_one_after_another_by_default(ticket: Path, tmp_path: Path) -> None:
    infos = watch.run_seeds(ticket, "demo", cfg("--sleep", "0.2", seeds=[0, 1, 2]), tmp_path,
                            poll=0.1)
    assert [i.run for i in infos] == ["RUN-001", "RUN-002", "RUN-003"]
    assert [i.failure_class for i in infos] == ["completed"] * 3
    metas = [meta(i.run_dir) for i in infos]
    assert [m["seed"] for m in metas] == [0, 1, 2]
    assert {m["seed_group"] for m in metas} == {metas[0]["seed_group"]}
    assert metas[0]["seeds"] == [0, 1, 2]
    assert [metrics(i.run_dir)[0]["train/loss"] for i in infos] == [1.0, 1.01, 1.02]
    assert "seed 2" in (infos[2].run_dir / "train.log").read_text()
    assert most_at_once(spans(infos)) == 1


def test_seeds_run_in_parallel_up_to_train_parallel(ticket: Path, tmp_path: Path) -> None:
    infos = watch.run_seeds(ticket, "demo", cfg("--sleep", "0.5", seeds=[3, 4, 5], parallel=2),
                            tmp_path, poll=0.1)
    assert sorted(meta(i.run_dir)["seed"] for i in infos) == [3, 4, 5]
    assert all(i.failure_class == "completed" for i in infos)
    assert most_at_once(spans(infos)) == 2


def test_a_failed_seed_fails_the_train_handler(ticket: Path, tmp_path: Path) -> None:
    from mlgate.evidence.results import HandlerContext
    from mlgate.handlers.runner import run_handler
    from mlgate.handlers.train import TrainHandler

    ctx = HandlerContext(workspace=tmp_path, ticket="demo", stage=5, folder=ticket,
                         worktree=tmp_path, options=cfg("--fail-seed", "1", seeds=[0, 1]),
                         config={"wandb": {"mode": "offline"}, "stage5_policy": "strict"})
    result = run_handler(TrainHandler(), ctx)
    assert result.status == "Fail"
    got = {c.id: (c.status, c.detail) for c in result.checks}
    assert got["seeds"] == ("fail", "1 of 2 seed run(s) did not complete: seed 1: RUN-002 "
                                    "crashed")
    assert [r["run"] for r in result.to_dict()["runs"]] == ["RUN-001", "RUN-002"]


def test_detached_seeds_need_parallel_for_all_of_them(ticket: Path, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="train.parallel: 2"):
        runs.launch_detached(ticket, "demo", cfg(seeds=[0, 1]), tmp_path)
    assert not (ticket / "runs").exists()
    handles = runs.launch_detached(ticket, "demo", cfg(seeds=[0, 1], parallel=2), tmp_path)
    assert [h.run_id for h in handles] == ["RUN-001", "RUN-002"]
    assert [watch.watch(h.run_dir, poll=0.1) for h in handles] == ["completed"] * 2


@pytest.mark.parametrize("seeds,message", [
    ([0, 0], "repeats a seed"), ([], "non-empty list"), (["a"], "non-empty list"),
    ([-1], "non-empty list")])
def test_bad_seeds_are_refused_before_any_run(ticket: Path, tmp_path: Path, seeds: Any,
                                              message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        watch.run_seeds(ticket, "demo", cfg(seeds=seeds), tmp_path)
    assert not (ticket / "runs").exists()
