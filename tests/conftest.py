"""Shared fixtures: every test runs against real git in a temp dir, isolated from the
developer's own git config, hooks templates, HOME and wandb settings."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


#: Variables agent clients set in the environment of the commands they run (mlgate refuses
#: human-only actions where it sees one): a test run started by an agent must not inherit them.
AGENT_VARS = ("CLAUDECODE", "CLAUDE_CODE_ENTRYPOINT", "CODEX_THREAD_ID", "CODEX_SANDBOX",
              "CODEX_SANDBOX_NETWORK_DISABLED", "CODEX_CI", "MLGATE_AGENT")


@pytest.fixture(autouse=True)
def _isolate(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    isolate(tmp_path_factory, monkeypatch)


def isolate(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Real git and wandb, isolated from the developer's own settings and agent session."""
    for var in AGENT_VARS:
        monkeypatch.delenv(var, raising=False)
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


@pytest.fixture(scope="session")
def golden(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The good digits ticket (tests/data/artifacts/good) made the way a user makes it, in a
    non-git workspace: walked to stage 5 through the API, its stage-4 evidence from the real
    torch-smoke handler, its two runs from the real train handler (the replay script logs the
    numbers the good report quotes), so mlgate wrote and registered every evidence file and
    run record; then on to stage 8 (every gate passed on the way), not verified. Copy it
    (``evidence_kit.copy_workspace``), never change it."""
    import shutil

    import evidence_kit as kit
    from mlgate.workspace import Workspace
    from test_walk import fill

    with pytest.MonkeyPatch.context() as mp:
        isolate(tmp_path_factory, mp)
        root = tmp_path_factory.mktemp("golden") / "ws"
        root.mkdir()
        Workspace.init(root)
        (root / "mlgate.yaml").write_text(
            "handlers:\n  4: [torch-smoke]\n"
            "torch-smoke:\n  factory: \"smokezoo.factories:make\"\n")
        shutil.copytree(REPO_ROOT / "tests" / "data" / "smoke" / "smokezoo", root / "smokezoo")
        (root / "README.md").write_text("# digits\n")
        t = Workspace(root).new_ticket("digits-cnn")
        for s in range(4):
            fill(t.folder, s)
            t.advance()
        impl = (kit.GOOD / "implementation.md").read_text()
        (t.folder / "implementation.md").write_text(impl)
        res = t.run_handlers()[0]  # the real torch-smoke: evidence/4-torch-smoke-1.json
        assert res.status == "Pass" and res.evidence == "evidence/4-torch-smoke-1.json", res
        (t.folder / "implementation.md").write_text(impl)  # the good file cites the same
        t.advance()
        for s in range(5, 8):  # stage 5: the two runs (evidence_kit.good_runs)
            fill(t.folder, s)
            t.advance()
        fill(t.folder, 8)  # stage 8, not verified
    return root
