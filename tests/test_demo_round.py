"""`mlgate demo --round DIR`: a round of two tickets over three seeds on the real digits
model, one winner merged, the other kept as a tag, and a fresh baseline (slow: a few
minutes of real training on CPU)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mlgate.demo import REPO_NAME


@pytest.mark.slow
def test_round_demo_plays_to_a_fresh_baseline(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("sklearn")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WANDB_", "MLGATE_"))}
    env.update({"WANDB_MODE": "offline", "WANDB_SILENT": "true"})
    proc = subprocess.run([sys.executable, "-m", "mlgate", "demo", "--round", str(tmp_path)],
                          capture_output=True, text=True, timeout=900, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    out = proc.stdout
    repo = tmp_path / REPO_NAME

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True,
                              check=True).stdout.strip()

    # the wide MLP passed over its three seeds, with the interval and a p-value
    wide = (repo / "tickets" / "in-progress" / "mlp-wide" / "training-validation-report.md"
            ).read_text()
    row = next(line for line in wide.splitlines() if line.startswith("| SC-001"))
    assert "| Passed |" in row and "95% CI" in row and "p = " in row and "3 seeds" in row
    # the quick one's interval crossed the threshold, and the person discarded it
    assert "crosses the threshold baseline + 0.05" in out
    rounds = yaml.safe_load((repo / "rounds.yaml").read_text())["rounds"]["digits-r1"]
    assert rounds["status"] == "merged" and rounds["merged"]["winners"] == ["mlp-wide"]
    assert "mlp-quick" in rounds["discarded"]
    assert git("log", "-1", "--format=%s") == \
        "Merge codex/mlp-wide: winner of round digits-r1 (chosen by Demo User)"
    assert len(git("log", "-1", "--format=%P").split()) == 2
    assert git("tag", "-l", "mlgate/*") == "mlgate/round/digits-r1/mlp-quick"
    assert not git("branch", "--list", "codex/mlp-quick")
    # the next round waited for the baseline measured on the merged code: 3 seeds
    base = yaml.safe_load((repo / "baselines.yaml").read_text())["current"]
    assert base["commit"] == git("rev-parse", "HEAD")
    assert sorted(base["seeds"]["val/acc"]) == [0, 1, 2]
    assert base["metrics"]["val/acc"] > 0.9
    assert "no baseline was measured on that code since" in out
