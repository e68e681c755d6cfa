"""`mlgate demo DIR`: the whole workflow on a real model, end to end, as CI runs it.

The demo runs the real CLI, git, torch and wandb (offline) as subprocesses; it takes a
minute or two on 2 CPU cores, hence `slow`.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mlgate.runs import closure
from mlgate import demo as D

TICKET = D.TICKET


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True,
                          check=True).stdout


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess]:
    home = tmp_path_factory.mktemp("demo")
    # Module-scoped, so conftest's per-test isolation is not active yet: isolate here.
    user = tmp_path_factory.mktemp("demo-home")
    (user / ".gitconfig").write_text("[init]\n\tdefaultBranch = main\n[user]\n\tname = Test\n"
                                     "\temail = test@example.com\n")
    templates = tmp_path_factory.mktemp("demo-git-templates")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GIT_", "WANDB_", "MLGATE_"))}
    env.update({"HOME": str(user), "GIT_CONFIG_GLOBAL": str(user / ".gitconfig"),
                "GIT_CONFIG_NOSYSTEM": "1", "GIT_TEMPLATE_DIR": str(templates),
                "WANDB_MODE": "offline", "WANDB_SILENT": "true"})
    proc = subprocess.run([sys.executable, "-m", "mlgate", "demo", str(home)],
                          capture_output=True, text=True, timeout=900, env=env,
                          cwd=str(home))
    return home, proc


@pytest.mark.slow
def test_demo_plays_the_ticket_to_the_end(demo_run) -> None:
    home, proc = demo_run
    out = proc.stdout
    assert proc.returncode == 0, (out[-6000:], proc.stderr[-3000:])
    repo = home / D.REPO_NAME

    # archived in tickets/done on main after the finalize merge; worktree and branch gone
    done = repo / "tickets" / "done" / TICKET
    assert (done / "workflow-state.md").is_file()
    assert not (repo / "tickets" / "in-progress" / TICKET).exists()
    assert _git(repo, "branch", "--show-current").strip() == "main"
    assert f"codex/{TICKET}" not in _git(repo, "branch", "--list")
    assert f"Merge codex/{TICKET}" in _git(repo, "log", "--oneline", "-n", "5")
    assert _git(repo, "status", "--porcelain").strip() == ""
    assert f"tickets/done/{TICKET}/workflow-state.md" in _git(repo, "ls-files")

    # two runs: the under-trained one and the fixed one; the second was promoted
    runs = sorted(p.name for p in (done / "runs").iterdir() if p.name.startswith("RUN-"))
    assert len(runs) >= 2, runs
    records = closure.load_runs(done)
    assert [r.status for r in records][:2] == ["Completed", "Completed"]
    first, last = records[0].last["val/acc"], records[-1].last["val/acc"]
    assert first < 0.95 <= last
    assert all(r.plots for r in records)
    baseline = (repo / "baselines.yaml").read_text()
    assert f"run: {records[-1].run}" in baseline

    # the state file tells the whole story: every gate passed, one Local Fix re-entry
    state = (done / "workflow-state.md").read_text()
    assert "| 5 | 4 |" in state and "Local Fix" in state
    assert "User verification received from Demo User" in state

    # the report exists and names the runs
    report = home / "report.html"
    assert report.is_file()
    html = report.read_text()
    assert TICKET in html and all(r in html for r in runs[:2])

    # the transcript shows the refused advance and the commit refused by the hook
    assert "$ mlgate advance" in out
    i = out.index("Stage 1 - Investigation")
    stage1 = out[i:out.index("Stage 2 - ", i)]
    assert "gate not met" in stage1 and "[s1." in stage1
    j = out.index("Stage 3 - ")
    stage3 = out[j:out.index("Stage 4 - ", j)]
    assert "$ git commit" in stage3 and "commit refused by the edit lock" in stage3
    assert "$ mlgate reenter 'Local Fix'" in out
    assert "$ mlgate run torch-smoke" in out and "$ mlgate run train" in out
    assert "Summary" in out and str(report) in out


@pytest.mark.slow
def test_demo_refuses_a_directory_that_already_has_the_project(demo_run) -> None:
    home, proc = demo_run
    again = subprocess.run([sys.executable, "-m", "mlgate", "demo", str(home)],
                           capture_output=True, text=True, timeout=120, cwd=str(home))
    assert again.returncode == 2
    assert "already exists" in again.stderr
