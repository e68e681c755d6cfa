"""Shared fixtures: every test runs against real git in a temp dir, isolated from the
developer's own git config, hooks templates, HOME and wandb settings."""
from __future__ import annotations

import os
import re
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
    for var in ("NO_COLOR", "FORCE_COLOR", "CLICOLOR_FORCE"):  # colour is tested on purpose
        monkeypatch.delenv(var, raising=False)


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
    """The real CLI in a subprocess (``python -m mlgate``), in its own session: no controlling
    terminal, as an agent's tool or a script runs it (a person's decision is refused, never
    waits for a developer's keyboard)."""
    return subprocess.run([sys.executable, "-m", "mlgate", *args], cwd=cwd, capture_output=True,
                          text=True, input=input, timeout=timeout, start_new_session=True)


def person(cwd: Path, *args: str, answer: str | None, timeout: float = 300
           ) -> tuple[int, str]:
    """The real CLI at a terminal (a person's decision): ``answer`` is typed at the
    confirmation prompt. Returns ``(exit code, everything printed)`` (stdout and stderr
    together, as a terminal shows them)."""
    from mlgate.demo.terminal import run_in_terminal

    return run_in_terminal([sys.executable, "-m", "mlgate", *args], answer, cwd,
                           timeout=timeout)


def json_after_prompt(out: str) -> object:
    """The JSON document a command printed after its confirmation prompt."""
    import json

    start = out.find("\n{")
    if start < 0:
        start = out.find("\n[")
    assert start >= 0, out
    return json.JSONDecoder().raw_decode(out[start:].lstrip())[0]


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


GOAL = ("Find out whether a small CNN beats the naive-Bayes baseline on the fixed digits "
        "validation split.")


def write_goal(folder: Path) -> None:
    """State the goal in a fresh ticket's Draft requirements.md (the stage-0 gate needs it)."""
    path = Path(folder) / "requirements.md"
    text = path.read_text()
    new = re.sub(r"(## Goal / Problem Statement\n\n).*?(\n## )", lambda m: f"{m[1]}- {GOAL}\n{m[2]}",
                 text, count=1, flags=re.S)
    assert new != text, "the requirements template changed: update write_goal"
    path.write_text(new)


# -- leaked processes ----------------------------------------------------------------------


def live_children(pid: int | None = None) -> dict[int, str]:
    """The running (not zombie) child processes of ``pid`` (default: this process), with
    their command lines, read from /proc."""
    pid = os.getpid() if pid is None else pid
    out: dict[int, str] = {}
    task_dir = Path(f"/proc/{pid}/task")
    if not task_dir.is_dir():
        return out
    for task in task_dir.iterdir():
        try:
            kids = (task / "children").read_text().split()
        except OSError:
            continue
        for kid in map(int, kids):
            try:
                stat = Path(f"/proc/{kid}/stat").read_text()
                if stat.rsplit(")", 1)[1].split()[0] in ("Z", "X"):
                    continue  # exited; its parent only has to reap it
                cmd = Path(f"/proc/{kid}/cmdline").read_bytes().replace(b"\0", b" ")
                out[kid] = cmd.decode(errors="replace").strip()
            except OSError:
                continue
    return out


@pytest.fixture(autouse=True)
def _no_leaked_processes(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    """Fail a test that leaves a child process running (a training run, a wandb writer, a
    daemon) and stop what it left, so that the next test starts clean."""
    before = set(live_children())
    yield
    import signal
    import time

    deadline = time.monotonic() + 5.0  # a process that is just finishing gets a moment
    leaked = {p: c for p, c in live_children().items() if p not in before}
    while leaked and time.monotonic() < deadline:
        time.sleep(0.1)
        leaked = {p: c for p, c in live_children().items() if p not in before}
    if not leaked:
        return
    for pid in leaked:
        for kill in (lambda: os.killpg(os.getpgid(pid), signal.SIGKILL),
                     lambda: os.kill(pid, signal.SIGKILL)):
            try:
                kill()
            except (OSError, ProcessLookupError):
                pass
    pytest.fail("the test left processes running (stop what it starts):\n"
                + "\n".join(f"  {p}: {c}" for p, c in leaked.items()), pytrace=False)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A process still running when the suite ends fails the run (exit 1)."""
    leaked = live_children()
    if leaked:
        session.exitstatus = 1
        sys.stderr.write("processes still running at the end of the suite:\n" + "\n".join(
            f"  {p}: {c}" for p, c in leaked.items()) + "\n")


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
