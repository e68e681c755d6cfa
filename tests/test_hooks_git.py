"""The commit-level lock: `mlgate hooks install --git` in the common hooks dir, real `git commit`
from ticket worktrees, chaining of an existing hook, core.hooksPath, and the pre-commit
framework (real `pre-commit install` with a `repo: local` config)."""
from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from mlgate.errors import Refused
from mlgate.lock import install as I
from test_hooks_helpers import MLGATE, add_ticket, git, set_stage

SRC = "src/model.py"


def commit(checkout: Path, *paths: str, msg: str = "change") -> subprocess.CompletedProcess[str]:
    for p in paths:
        f = checkout / p
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(f.read_text() + "# more\n" if f.exists() else "new\n")
    git(checkout, "add", "-A")
    return git(checkout, "commit", "-m", msg, check=False)


def hooks_dir(repo: Path) -> Path:
    return repo / ".git" / "hooks"


@pytest.fixture
def hooked(git_repo: Path) -> Path:
    msgs = I.install(git_repo, git=True)
    assert any("installed the git pre-commit hook" in m for m in msgs)
    return git_repo


def test_commit_of_source_refused_in_stage_3_allowed_in_stage_4(hooked: Path) -> None:
    wt = add_ticket(hooked, "exp", 3)
    proc = commit(wt, SRC)
    assert proc.returncode != 0
    assert "commit refused by the edit lock (ticket exp, stage 3)" in proc.stderr
    assert "stage 3 Experiment Plan" in proc.stderr and "`mlgate advance exp`" in proc.stderr
    git(wt, "reset", "-q")
    set_stage(wt, "exp", 4, "Unlocked", root=hooked)
    proc = commit(wt, SRC)
    assert proc.returncode == 0, proc.stderr
    assert "model.py" in git(wt, "show", "--name-only", "--format=").stdout


def test_ticket_files_always_commit_and_main_checkout_is_free(hooked: Path) -> None:
    wt = add_ticket(hooked, "exp", 1)
    proc = commit(wt, "tickets/in-progress/exp/investigation-notes.md",
                  "tickets/in-progress/exp/runs/RUN-001/meta.json")
    assert proc.returncode == 0, proc.stderr
    assert commit(hooked, SRC).returncode == 0  # no ticket governs the main checkout


def test_docs_commit_in_stage_7_and_run_outputs_in_stage_5(hooked: Path) -> None:
    wt = add_ticket(hooked, "exp", 7)
    assert commit(wt, "docs/usage.md", "README.md").returncode == 0
    proc = commit(wt, "results_v1/metrics.json")
    assert proc.returncode != 0 and "results_v1/metrics.json" in proc.stderr
    git(wt, "reset", "-q")
    set_stage(wt, "exp", 5, root=hooked)
    assert commit(wt, "results_v1/metrics.json", "checkpoints/best.txt").returncode == 0
    proc = commit(wt, "docs/usage.md")
    assert proc.returncode != 0 and 'mlgate reenter "Local Fix" exp' in proc.stderr


def test_deletion_and_rename_of_source_are_judged(hooked: Path) -> None:
    wt = add_ticket(hooked, "exp", 3)
    git(wt, "rm", "-q", SRC)
    proc = git(wt, "commit", "-m", "rm", check=False)
    assert proc.returncode != 0 and SRC in proc.stderr
    git(wt, "reset", "-q", "--hard")
    git(wt, "mv", SRC, "tickets/in-progress/exp/model.py")
    proc = git(wt, "commit", "-m", "mv", check=False)
    assert proc.returncode != 0 and SRC in proc.stderr


def test_commit_all_and_commit_paths_use_the_hook_index(hooked: Path) -> None:
    wt = add_ticket(hooked, "exp", 3)
    (wt / SRC).write_text("x = 3\n")
    assert git(wt, "commit", "-am", "all", check=False).returncode != 0
    (wt / "tickets/in-progress/exp/n.md").write_text("n\n")
    git(wt, "add", "tickets")
    # `git commit PATH` commits only PATH (a temporary index): the ticket file passes
    assert git(wt, "commit", "-m", "n", "--", "tickets/in-progress/exp/n.md",
               check=False).returncode == 0


def test_archive_move_commits(hooked: Path) -> None:
    wt = add_ticket(hooked, "exp", 8)
    (wt / "tickets" / "done").mkdir()
    git(wt, "mv", "tickets/in-progress/exp", "tickets/done/exp")
    proc = git(wt, "commit", "-m", "mlgate: archive ticket exp to tickets/done", check=False)
    assert proc.returncode == 0, proc.stderr
    proc = commit(wt, SRC)  # the archived ticket's worktree stays locked
    assert proc.returncode != 0 and "`mlgate reopen exp`" in proc.stderr


def test_unreadable_state_fails_the_commit_closed(hooked: Path) -> None:
    wt = add_ticket(hooked, "exp", 4, "Unlocked")
    state = wt / "tickets/in-progress/exp/workflow-state.md"
    state.write_text(state.read_text().replace("## Stage Gates", "## Gates"))
    proc = commit(wt, SRC)
    assert proc.returncode != 0 and str(state) in proc.stderr


def test_install_is_idempotent_and_shared_by_worktrees(hooked: Path) -> None:
    hook = hooks_dir(hooked) / "pre-commit"
    text = hook.read_text()
    assert I.MARKER in text and f"{sys.executable}" in text
    assert os.access(hook, os.X_OK)
    msgs = I.install(hooked, git=True)
    assert msgs == [f"the git {name} hook is already installed: {hook.parent / name}"
                    for name in I.GIT_HOOKS]
    assert hook.read_text() == text
    wt = add_ticket(hooked, "exp", 3)
    assert git(wt, "rev-parse", "--git-path", "hooks").stdout.strip() == str(hooks_dir(hooked))


def test_existing_hook_is_chained_and_restored(git_repo: Path) -> None:
    hooks = hooks_dir(git_repo)
    hooks.mkdir(exist_ok=True)
    foreign = hooks / "pre-commit"
    original = "#!/bin/sh\necho ran >> \"$(git rev-parse --git-common-dir)/foreign.log\"\n" \
               "[ ! -f \"$(git rev-parse --show-toplevel)/FAIL\" ]\n"
    foreign.write_text(original)
    foreign.chmod(0o755)
    msgs = I.install(git_repo, git=True)
    assert any(I.CHAINED in m for m in msgs)
    wt = add_ticket(git_repo, "exp", 4, "Unlocked")
    assert commit(wt, SRC).returncode == 0
    log = git_repo / ".git" / "foreign.log"
    assert log.read_text().count("ran") == 1  # the chained hook ran first
    (wt / "FAIL").write_text("")
    proc = commit(wt, SRC)  # its failure fails the commit although mlgate allows it
    assert proc.returncode != 0
    # reinstall does not chain our own hook
    I.install(git_repo, git=True)
    assert (hooks / I.CHAINED).read_text() == original
    msgs = I.uninstall(git_repo, git=True)
    assert any("restored" in m for m in msgs)
    assert foreign.read_text() == original and not (hooks / I.CHAINED).exists()
    assert stat.S_IMODE(foreign.stat().st_mode) & 0o100
    assert I.uninstall(git_repo, git=True) == [f"no mlgate git hook in {hooks}: nothing to remove"]


def test_force_sets_the_foreign_hook_aside(git_repo: Path) -> None:
    hooks = hooks_dir(git_repo)
    hooks.mkdir(exist_ok=True)
    (hooks / "pre-commit").write_text("#!/bin/sh\nexit 1\n")
    (hooks / "pre-commit").chmod(0o755)
    I.install(git_repo, git=True, force=True)
    assert (hooks / I.REPLACED).exists() and not (hooks / I.CHAINED).exists()
    assert commit(git_repo, SRC).returncode == 0  # the foreign `exit 1` no longer runs
    I.uninstall(git_repo, git=True)
    assert (hooks / "pre-commit").read_text() == "#!/bin/sh\nexit 1\n"


def test_core_hooks_path_is_refused_politely(git_repo: Path) -> None:
    git(git_repo, "config", "core.hooksPath", ".husky")
    with pytest.raises(Refused) as err:
        I.install(git_repo, git=True)
    assert "git config --unset core.hooksPath" in str(err.value)
    assert "mlgate-lock" in str(err.value)
    assert not (hooks_dir(git_repo) / "pre-commit").exists()
    proc = subprocess.run([MLGATE, "hooks", "install", "--git"], cwd=git_repo,
                          capture_output=True, text=True)
    assert proc.returncode == 1 and "core.hooksPath" in proc.stdout + proc.stderr


def test_cli_install_and_uninstall(git_repo: Path) -> None:
    proc = subprocess.run([MLGATE, "hooks", "install", "--git"], cwd=git_repo,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert (hooks_dir(git_repo) / "pre-commit").exists()
    # removing the hooks is a person's decision: typed at a terminal (a pseudo-terminal here)
    from mlgate.demo.terminal import run_in_terminal

    rc, out = run_in_terminal([MLGATE, "hooks", "uninstall", "--git"], git_repo.name, git_repo)
    assert rc == 0, out
    assert not (hooks_dir(git_repo) / "pre-commit").exists()


def test_missing_interpreter_refuses_the_commit(git_repo: Path) -> None:
    hook = hooks_dir(git_repo) / "pre-commit"
    hook.parent.mkdir(exist_ok=True)
    hook.write_text(I.hook_script(python="/nonexistent/venv/bin/python"))
    hook.chmod(0o755)
    proc = commit(git_repo, SRC)
    assert proc.returncode != 0 and "mlgate hooks install --git" in proc.stderr


def test_hook_run_by_hand(hooked: Path) -> None:
    wt = add_ticket(hooked, "exp", 3)
    env = {k: v for k, v in os.environ.items() if k != "GIT_INDEX_FILE"}
    clean = subprocess.run([MLGATE, "hook", "pre-commit", SRC], cwd=wt, capture_output=True,
                           text=True, env=env)
    assert clean.returncode == 0  # unchanged files are not edits
    (wt / SRC).write_text("x = 9\n")
    dirty = subprocess.run([MLGATE, "hook", "pre-commit", "model.py"], cwd=wt / "src",
                           capture_output=True, text=True, env=env)
    assert dirty.returncode == 1 and SRC in dirty.stderr


# -- the pre-commit framework ----------------------------------------------------------------

PRE_COMMIT = str(Path(sys.executable).parent / "pre-commit")
LOCAL_CONFIG = f"""repos:
  - repo: local
    hooks:
      - id: mlgate-lock
        name: mlgate source-edit lock
        entry: {MLGATE} hook pre-commit
        language: system
        pass_filenames: true
        always_run: true
        stages: [pre-commit]
"""


def _framework_repo(git_repo: Path) -> Path:
    (git_repo / ".pre-commit-config.yaml").write_text(LOCAL_CONFIG)
    git(git_repo, "add", ".pre-commit-config.yaml")
    git(git_repo, "commit", "-qm", "pre-commit config")
    proc = subprocess.run([PRE_COMMIT, "install"], cwd=git_repo, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return git_repo


def test_pre_commit_framework_refuses_and_accepts(git_repo: Path) -> None:
    repo = _framework_repo(git_repo)
    wt = add_ticket(repo, "exp", 3)
    proc = commit(wt, SRC)
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert "mlgate source-edit lock" in out and "Failed" in out
    assert "stage 3 Experiment Plan" in out
    git(wt, "reset", "-q", "--hard")
    proc = commit(wt, "tickets/in-progress/exp/notes.md")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Passed" in proc.stdout + proc.stderr
    # `pre-commit run --all-files` on a clean locked worktree passes: nothing is edited
    proc = subprocess.run([PRE_COMMIT, "run", "--all-files"], cwd=wt, capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("order", ["framework_first", "mlgate_first"])
def test_framework_and_git_hook_together(git_repo: Path, order: str) -> None:
    if order == "framework_first":
        _framework_repo(git_repo)
        I.install(git_repo, git=True)  # chains the framework's hook
    else:
        I.install(git_repo, git=True)
        _framework_repo(git_repo)  # the framework moves ours to pre-commit.legacy
    wt = add_ticket(git_repo, "exp", 4, "Unlocked")
    proc = commit(wt, SRC)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "mlgate source-edit lock" in proc.stdout + proc.stderr  # the framework ran
    set_stage(wt, "exp", 3, root=git_repo)
    proc = commit(wt, SRC)
    assert proc.returncode != 0 and "stage 3 Experiment Plan" in proc.stdout + proc.stderr
    git(wt, "reset", "-q", "--hard")
    set_stage(wt, "exp", 3, root=git_repo)
    I.install(git_repo, git=True)  # reinstalling keeps one copy of each hook
    I.uninstall(git_repo, git=True)
    hooks = hooks_dir(git_repo)
    assert not any(I.MARKER in p.read_text(errors="replace") for p in hooks.iterdir()
                   if p.is_file())
    proc = commit(wt, SRC)  # the framework alone still refuses
    assert proc.returncode != 0, proc.stdout + proc.stderr


def test_pre_commit_outside_a_repository_fails_closed(tmp_path: Path) -> None:
    proc = subprocess.run([MLGATE, "hook", "pre-commit"], cwd=tmp_path, capture_output=True,
                          text=True)
    assert proc.returncode == 1 and "fail closed" in proc.stderr
