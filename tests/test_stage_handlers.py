"""Handler evidence at the gate: stage 4 -> 5 is refused without fresh torch-smoke evidence
for the current commit and accepted after `mlgate run` (real torch on CPU, real git)."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import git
from conftest import mlgate as run_cli
from mlgate.errors import GateFailed
from mlgate.workspace import Workspace
from test_walk import fill

ZOO = Path(__file__).parent / "data" / "smoke" / "smokezoo"

pytest.importorskip("torch")


def mlgate(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(cwd, *args, timeout=300)


@pytest.fixture
def ticket_at_4(git_repo: Path):
    shutil.copytree(ZOO, git_repo / "smokezoo")
    ws, _ = Workspace.init(git_repo)
    (git_repo / "mlgate.yaml").write_text(
        "handlers:\n  4: [torch-smoke]\n"
        "torch-smoke:\n  factory: \"smokezoo.factories:make\"\n")
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-q", "-m", "mlgate config and model")
    ws = Workspace(git_repo)
    t = ws.new_ticket("smoke")
    for s in range(4):
        fill(t.folder, s)
        t.advance()
    fill(t.folder, 4)
    # the implementation touched the model package (listed in the inventory)
    (t.checkout / "src" / "digits").mkdir(parents=True)
    (t.checkout / "src" / "digits" / "model.py").write_text("class DigitsCNN: ...\n")
    git(t.checkout, "add", "-A")
    git(t.checkout, "commit", "-q", "-m", "implementation")
    return t


@pytest.mark.slow
def test_gate_needs_fresh_smoke_evidence(ticket_at_4) -> None:
    t = ticket_at_4
    with pytest.raises(GateFailed) as exc:
        t.advance()
    reasons = " ".join(c.reason for c in exc.value.report.failing())
    assert "torch-smoke" in reasons and "no evidence yet" in reasons  # only quick-smoke's

    r = mlgate(t.checkout, "--json", "run", "torch-smoke")
    assert r.returncode == 0, r.stderr + r.stdout
    res = json.loads(r.stdout)[0]
    assert res["handler"] == "torch-smoke" and res["status"] == "Pass"
    assert {c["id"] for c in res["checks"]} >= {"forward", "loss", "gradients", "overfit",
                                                "determinism", "eval_mode", "checkpoint",
                                                "labels", "leakage", "anomaly", "device"}
    assert res["commit"] == git(t.checkout, "rev-parse", "HEAD")
    ev_path = res["evidence"]
    assert (t.folder / ev_path).exists()
    assert ev_path in t.state.gates[4].evidence  # Stage Gates evidence column
    impl = (t.folder / "implementation.md").read_text()
    assert f"| Smoke test or dry run passes | Pass | {ev_path}" in impl

    # evidence taken on a commit that is no longer HEAD is stale again
    git(t.checkout, "add", "-A")
    git(t.checkout, "commit", "-q", "-m", "record smoke evidence")
    (t.checkout / "src" / "digits" / "model.py").write_text("class DigitsCNN: pass\n")
    git(t.checkout, "commit", "-q", "-am", "a later change")
    with pytest.raises(GateFailed, match="stale"):
        t.advance()
    r = mlgate(t.checkout, "run", "torch-smoke")
    assert r.returncode == 0, r.stderr + r.stdout
    git(t.checkout, "add", "-A")
    git(t.checkout, "commit", "-q", "-m", "record smoke evidence")
    out = t.advance()
    assert out.to_stage == 5 and t.state.permission == "Locked"


@pytest.mark.slow
def test_run_refuses_without_configured_handlers(git_repo: Path) -> None:
    Workspace.init(git_repo)
    ws = Workspace(git_repo)
    t = ws.new_ticket("none")
    r = mlgate(t.checkout, "run")
    assert r.returncode == 1 and "no handlers are configured for stage 0" in r.stderr
    r = mlgate(t.checkout, "run", "no-such-handler")
    assert r.returncode == 4 and "no-such-handler" in r.stderr
