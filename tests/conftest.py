"""Shared fixtures: every test runs against real git in a temp dir, isolated from the
developer's own git config, hooks templates, HOME and wandb settings."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _isolate(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path_factory.mktemp("home")
    gitconfig = home / ".gitconfig"
    gitconfig.write_text("[init]\n\tdefaultBranch = main\n[user]\n\tname = Test\n\temail = test@example.com\n")
    templates = tmp_path_factory.mktemp("git-templates")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(gitconfig))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_TEMPLATE_DIR", str(templates))
    for var in ("GIT_AUTHOR_NAME", "GIT_COMMITTER_NAME"):
        monkeypatch.setenv(var, "Test")
    for var in ("GIT_AUTHOR_EMAIL", "GIT_COMMITTER_EMAIL"):
        monkeypatch.setenv(var, "test@example.com")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    for var in ("WANDB_DIR", "WANDB_CACHE_DIR", "WANDB_CONFIG_DIR", "WANDB_DATA_DIR"):
        monkeypatch.setenv(var, str(tmp_path_factory.mktemp(var.lower())))
    monkeypatch.delenv("MLGATE_TODAY", raising=False)
    monkeypatch.delenv("GIT_DIR", raising=False)
    monkeypatch.delenv("GIT_WORK_TREE", raising=False)


def git(cwd: Path, *args: str) -> str:
    out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return out.stdout.strip()


def seed_repo(repo: Path) -> Path:
    """A real git repository at ``repo`` with one commit on ``main`` (README, src/model.py)."""
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "README.md").write_text("# demo\n")
    (repo / "src").mkdir()
    (repo / "src" / "model.py").write_text("x = 1\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "initial")
    return repo


def mlgate(cwd: Path, *args: str, input: str | None = None, timeout: float = 120
           ) -> subprocess.CompletedProcess[str]:
    """The real CLI in a subprocess (``python -m mlgate``)."""
    return subprocess.run([sys.executable, "-m", "mlgate", *args], cwd=cwd, capture_output=True,
                          text=True, input=input, timeout=timeout)


@pytest.fixture
def git_repo(tmp_path: Path) -> Path:
    """A real git repository with one commit on ``main`` (a README and a source file)."""
    return seed_repo(tmp_path / "repo")


@pytest.fixture
def cloned_repo(tmp_path: Path) -> Path:
    """A clone of a bare "remote" in a temp dir, so origin/HEAD and fetch are real."""
    seed = seed_repo(tmp_path / "seed")
    bare = tmp_path / "remote.git"
    git(tmp_path, "clone", "-q", "--bare", str(seed), str(bare))
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(bare), str(clone))
    return clone


@pytest.fixture
def git_workspace(cloned_repo: Path):  # type: ignore[no-untyped-def]
    """An initialised mlgate workspace in a clone of a bare remote, pushed."""
    from mlgate.workspace import Workspace

    ws, _ = Workspace.init(cloned_repo)
    git(cloned_repo, "add", "-A")
    git(cloned_repo, "commit", "-q", "-m", "mlgate init")
    git(cloned_repo, "push", "-q", "origin", "main")
    return ws


# --- a real Slurm cluster (tests/slurm_cluster.py) ------------------------------------------


@pytest.fixture(scope="session")
def slurm_cluster():  # type: ignore[no-untyped-def]
    """munged, slurmctld and two slurmd (nodes n1, n2) on this machine, started once per test
    session and stopped by pid at its end. Skips where Slurm is not installed or this is not
    root; a cluster that is installed but does not start fails the tests that need it."""
    import slurm_cluster as sc

    reason = sc.unavailable()
    if reason:
        pytest.skip(reason)
    try:
        cluster = sc.start()
    except sc.ClusterError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def slurm(slurm_cluster, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """The session's cluster, with ``SLURM_CONF`` set for this test; the jobs a test leaves
    behind are cancelled after it."""
    monkeypatch.setenv("SLURM_CONF", str(slurm_cluster.conf))
    yield slurm_cluster
    slurm_cluster.cancel_all()
