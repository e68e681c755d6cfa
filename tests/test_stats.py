"""Seeds and significance (issue 18): a criterion with ``min_seeds`` is closed on the mean and
confidence interval of real runs of several seeds, tested against the baseline's per-seed
values (paired or Welch t-test), and the report shows mean ± CI and the p-value."""
from __future__ import annotations

import json
import math
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from mlgate.errors import MissingExtra
from mlgate.evidence.results import HandlerContext
from mlgate.handlers.runner import run_handler
from mlgate.handlers.train import TrainHandler
from mlgate.runs import baselines, closure, criteria, stats
from mlgate.state.mdparse import Document

sys.path.insert(0, str(Path(__file__).parent))
from seeded_runs import copy_runs, launch_seeds  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
REQ_TEMPLATE = (REPO / "stages" / "02-requirements-and-success-criteria" /
                "requirements-template.md").read_text()
HEADER = ("| Success Criteria ID | Requirement ID | Metric | Comparator | Threshold | Split | "
          "Notes | Min Seeds |\n| --- | --- | --- | --- | --- | --- | --- | --- |\n")


# -- the statistics themselves ------------------------------------------------------------


def test_interval_of_the_mean_is_student_t() -> None:
    s = stats.summarize([1.0, 2.0, 3.0])
    # mean 2, sd 1, t(0.975, 2 dof) = 4.3027: half width 4.3027 / sqrt(3) = 2.4841
    assert s.mean == 2 and s.std == 1
    assert s.half_width == pytest.approx(2.4841, abs=1e-4)
    assert stats.summarize([0.5]).lo == stats.summarize([0.5]).hi == 0.5


def test_verdict_follows_the_interval() -> None:
    assert stats.verdict(">=", 0.01, 0.05) == "Passed"
    assert stats.verdict(">=", -0.01, 0.05) == "Inconclusive"
    assert stats.verdict(">=", -0.05, -0.01) == "Failed"
    assert stats.verdict("<=", -0.05, -0.01) == "Passed"
    assert stats.verdict("<", -0.05, 0.0) == "Inconclusive"


def test_paired_when_the_seeds_match_else_welch() -> None:
    cand = [0.90, 0.91, 0.92]
    paired = stats.compare_seeds(cand, ">=", baseline={0: 0.80, 1: 0.805, 2: 0.81},
                                 seeds=[0, 1, 2], offset=0.01)
    assert paired.test == "paired t" and paired.decision == "Passed" and paired.p < 0.01
    assert paired.diff == pytest.approx(0.91 - (0.805 + 0.01), abs=1e-9)
    welch = stats.compare_seeds(cand, ">=", baseline={7: 0.80, 8: 0.805, 9: 0.81},
                                seeds=[0, 1, 2], offset=0.01)
    assert welch.test == "Welch t" and welch.decision == "Passed"
    # the same numbers: the paired test has the narrower interval here
    assert (paired.hi - paired.lo) < (welch.hi - welch.lo)


def test_without_scipy_the_extra_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "scipy", None)
    with pytest.raises(MissingExtra) as info:
        stats.compare_seeds([0.9, 0.91, 0.92], ">=", 0.9)
    assert "mlgate[stats]" in str(info.value)


# -- real runs ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pool(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Path]]:
    """Real runs of the seeded script, seeds 0, 1, 2 (launched once for the module):
    ``noisy`` val/acc 0.91 ± 0.03 z, ``clear`` 0.90 ± 0.005 z, ``base`` 0.80 ± 0.005 z."""
    root = tmp_path_factory.mktemp("pool")
    out = {}
    for name, acc, spread in (("noisy", 0.91, 0.03), ("clear", 0.90, 0.005),
                              ("base", 0.80, 0.005)):
        folder = root / name
        folder.mkdir()
        out[name] = launch_seeds(folder, root, acc, spread)
    return out


def workspace(tmp_path: Path, rows: list[str], min_seeds: int | None = None
              ) -> tuple[Path, Path, dict[str, Any]]:
    root = tmp_path / "ws"
    folder = root / "tickets" / "in-progress" / "demo"
    folder.mkdir(parents=True)
    old = REQ_TEMPLATE[REQ_TEMPLATE.index("| Success Criteria ID"):]
    old = old[:old.index("\n\n") + 1]
    (folder / "requirements.md").write_text(REQ_TEMPLATE.replace(old, HEADER + "".join(
        r + "\n" for r in rows)))
    config = {"stage5_policy": "strict", "wandb": {"mode": "offline"},
              "baseline_file": "baselines.yaml",
              "stats": {"min_seeds": min_seeds or 1, "confidence": 0.95}}
    return root, folder, config


def collect(root: Path, folder: Path, config: dict[str, Any]) -> dict[str, dict[str, str]]:
    ctx = HandlerContext(workspace=root, ticket="demo", stage=5, folder=folder, worktree=root,
                         options={}, config=config, commit=None,
                         run_options={"collect": True})
    result = run_handler(TrainHandler(), ctx)
    assert result.status == "Pass", result.checks
    doc = Document.load(folder / "training-validation-report.md")
    return {r["Success Criteria ID"]: r
            for r in doc.section("Success Criteria Closure").table.as_dicts()}


@pytest.mark.slow
def test_mean_passes_but_interval_crosses_threshold_is_inconclusive(
        pool: dict[str, list[Path]], tmp_path: Path) -> None:
    root, folder, config = workspace(tmp_path, [
        "| SC-001 | R-001 | val/acc | >= | 0.9 | val |  |  |"], min_seeds=3)
    copy_runs(pool["noisy"], folder)
    row = collect(root, folder, config)["SC-001"]
    values = [json.loads((d / "summary.json").read_text())["last"]["val/acc"]
              for d in pool["noisy"]]
    assert sum(values) / 3 > 0.9  # the mean passes ...
    assert row["Decision"] == "Inconclusive"  # ... but its interval crosses 0.9
    assert row["Evidence Run(s)"] == "RUN-001, RUN-002, RUN-003"
    assert row["Observed Result"].startswith("mean 0.91 ± ")
    assert "95% CI" in row["Observed Result"] and "3 seeds" in row["Observed Result"]
    assert "p = " in row["Observed Result"]
    assert "crosses the threshold 0.9: inconclusive" in row["Notes"]
    assert row["Expected Outcome"] == "val/acc >= 0.9 (mean of >= 3 seeds) on val"
    report = Document.load(folder / "training-validation-report.md")
    assert report.section("Gate Decision").value("Stage 5 Decision") == "Fail"

    # with one seed deciding, the best run would have passed: the statistics are what stop it
    config["stats"]["min_seeds"] = 1
    assert collect(root, folder, config)["SC-001"]["Decision"] == "Passed"


@pytest.mark.slow
def test_clear_improvement_passes_with_p_below_005(pool: dict[str, list[Path]],
                                                   tmp_path: Path) -> None:
    root, folder, config = workspace(tmp_path, [
        "| SC-001 | R-001 | val/acc | >= | baseline + 0.01 | val |  | 3 |"])
    b = baselines.load(root)
    entry = b.promote_runs(pool["base"], ticket="prod")
    b.save()
    assert set(entry.seeds["val/acc"]) == {0, 1, 2}
    assert entry.metrics["val/acc"] == pytest.approx(0.80, abs=1e-9)
    copy_runs(pool["clear"], folder)
    row = collect(root, folder, config)["SC-001"]
    assert row["Decision"] == "Passed", row
    assert "paired t" in row["Observed Result"]
    p = float(row["Observed Result"].rsplit("p ", 1)[1].lstrip("=< ").split()[0])
    assert p < 0.05
    assert "baseline + 0.01 = 0.81" in row["Notes"] and "lies on the passing side" in row["Notes"]

    # the JSON closure carries the numbers
    records = closure.load_runs(folder)
    [c] = closure.evaluate(closure.read_success_criteria(folder / "requirements.md"),
                           records, baselines.load(root))
    assert c.stats is not None and c.stats["test"] == "paired t" and c.stats["p"] < 0.05
    assert c.stats["seeds"] == [0, 1, 2] and c.stats["paired_seeds"] == [0, 1, 2]
    assert c.value == pytest.approx(0.90, abs=1e-9)


@pytest.mark.slow
def test_baseline_seeds_that_differ_use_welch(pool: dict[str, list[Path]],
                                             tmp_path: Path) -> None:
    root, folder, config = workspace(tmp_path, [
        "| SC-001 | R-001 | val/loss | <= | 0.95 * baseline | val |  | 3 |"])
    b = baselines.load(root)
    b.set({"val/loss": 0.4}, seeds={"val/loss": {10: 0.41, 11: 0.39, 12: 0.40}})
    b.save()
    copy_runs(pool["clear"], folder)  # val/loss 0.3 ± ...: far below 0.95 x 0.4
    row = collect(root, folder, config)["SC-001"]
    assert row["Decision"] == "Passed"
    assert "Welch t" in row["Observed Result"]


@pytest.mark.slow
def test_missing_seeds_are_inconclusive_and_named(pool: dict[str, list[Path]],
                                                  tmp_path: Path) -> None:
    root, folder, config = workspace(tmp_path, [
        "| SC-001 | R-001 | val/acc | >= | 0.85 | val |  |  |"], min_seeds=3)
    copy_runs(pool["clear"][:2], folder)
    row = collect(root, folder, config)["SC-001"]
    assert row["Decision"] == "Inconclusive"
    assert row["Observed Result"] == "2 of 3 seeds"
    assert "2 of the 3 seeds" in row["Notes"] and "RUN-002 seed 1" in row["Notes"]


@pytest.mark.slow
def test_a_clear_miss_fails(pool: dict[str, list[Path]], tmp_path: Path) -> None:
    root, folder, config = workspace(tmp_path, [
        "| SC-001 | R-001 | val/acc | >= | 0.9 | val |  |  |"], min_seeds=3)
    copy_runs(pool["base"], folder)
    row = collect(root, folder, config)["SC-001"]
    assert row["Decision"] == "Failed"
    assert "misses >= 0.9" in row["Notes"]


@pytest.mark.slow
def test_seeds_of_other_code_are_not_pooled(pool: dict[str, list[Path]],
                                            tmp_path: Path) -> None:
    folder = tmp_path / "t"
    ids = copy_runs(pool["clear"], folder)
    meta = folder / "runs" / ids[2] / "meta.json"
    data = json.loads(meta.read_text())
    data["commit"] = "f" * 40  # seed 2 ran on other code
    meta.write_text(json.dumps(data))
    sets = criteria.seed_sets(closure.load_runs(folder), "val/acc")
    assert sorted(s.n for s in sets) == [1, 2]
    # a rerun of the same seed replaces the earlier one in its set
    again = copy_runs(pool["clear"][:1], folder)
    sets = criteria.seed_sets(closure.load_runs(folder), "val/acc")
    big = max(sets, key=lambda s: s.n)
    assert big.seeds == [1, 0] and again[0] in big.runs and ids[0] not in big.runs
    assert all(math.isfinite(v) for v in big.values)


@pytest.mark.slow
def test_run_train_with_seeds_launches_one_real_run_per_seed(tmp_path: Path) -> None:
    """`mlgate run train --seed 0 --seed 1 --seed 2` (run_options seeds): three real runs,
    one after another, each recording its seed, closed together."""
    from seeded_runs import command

    root, folder, config = workspace(tmp_path, [
        "| SC-001 | R-001 | val/acc | >= | 0.85 | val |  | 3 |"])
    ctx = HandlerContext(workspace=root, ticket="demo", stage=5, folder=folder, worktree=root,
                         options={"command": command(0.9, 0.005), "timeout": 120,
                                  "env": {"TEST_NO_WANDB": "1"}},
                         config=config, commit=None, run_options={"seeds": [0, 1, 2]})
    result = run_handler(TrainHandler(), ctx)
    assert result.status == "Pass", result.checks
    launch = next(c for c in result.checks if c.id == "launch")
    assert launch.detail == "RUN-001, RUN-002, RUN-003 (local, seeds 0, 1, 2)"
    seeds = [json.loads((folder / "runs" / r / "meta.json").read_text())["seed"]
             for r in ("RUN-001", "RUN-002", "RUN-003")]
    assert seeds == [0, 1, 2]
    closure_check = next(c for c in result.checks if c.id == "closure")
    assert "SC-001 Passed" in closure_check.detail


@pytest.mark.slow
def test_html_report_shows_mean_interval_and_p_value(pool: dict[str, list[Path]],
                                                     tmp_path: Path) -> None:
    from mlgate.report import html
    from mlgate.workspace import Workspace

    ws, _ = Workspace.init(tmp_path / "proj")
    t = ws.new_ticket("noisy")
    root, folder, config = workspace(tmp_path / "scratch", [
        "| SC-001 | R-001 | val/acc | >= | 0.9 | val |  | 3 |"])
    shutil.copy(folder / "requirements.md", t.folder / "requirements.md")
    copy_runs(pool["noisy"], t.folder)
    ctx = HandlerContext(workspace=ws.root, ticket="noisy", stage=5, folder=t.folder,
                         worktree=ws.root, options={}, config=config, commit=None,
                         run_options={"collect": True})
    assert run_handler(TrainHandler(), ctx).status == "Pass"
    page = html.write_html(t, tmp_path / "report.html").read_text()
    assert "mean 0.91 ± " in page and "95% CI" in page and "p = " in page
    assert "crosses the threshold 0.9: inconclusive" in page and "Inconclusive" in page
