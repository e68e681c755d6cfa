"""The commit side of the lock by every git route (issue 12 classes 8 and 9): the installed
`reference-transaction` and `pre-merge-commit` hooks beside `pre-commit`, with real git
commands against a real ticket walked to stage 5 (Locked): `commit --no-verify`, merges,
cherry-picks, `update-ref`, `commit-tree` + `update-ref`, `branch -f`, deletion,
`GIT_INDEX_FILE`, the branch checked out in the main checkout or an extra worktree, the
state file moved away. Ungoverned refs pass; a hook that cannot decide refuses."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from conftest import git
from mlgate.lock import install as I
from mlgate.workspace import Workspace
from test_governance import at_stage, from_template, step, ticket_template

SRC = "src/model.py"


def run(cwd: Path, *args: str, env: dict[str, str] | None = None
        ) -> subprocess.CompletedProcess[str]:
    full = dict(os.environ)
    full.update(env or {})
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, env=full)


def tip(cwd: Path, ref: str = "refs/heads/codex/exp") -> str:
    return git(cwd, "rev-parse", ref)


def source_commit(cwd: Path, base: str = "HEAD", path: str = SRC) -> str:
    """A commit on top of ``base`` that changes src/model.py, made without touching any
    branch (write-tree/commit-tree in a scratch index)."""
    env = {"GIT_INDEX_FILE": str(cwd / ".git-scratch-index")} if (cwd / ".git").is_dir() \
        else {"GIT_INDEX_FILE": "/tmp/mlgate-scratch-index-" + str(os.getpid())}
    run(cwd, "read-tree", base, env=env)
    blob = subprocess.run(["git", "hash-object", "-w", "--stdin"], cwd=cwd, input="x = 666\n",
                          capture_output=True, text=True, check=True).stdout.strip()
    r = run(cwd, "update-index", "--add", "--cacheinfo", f"100644,{blob},{path}", env=env)
    assert r.returncode == 0, r.stderr
    tree = run(cwd, "write-tree", env=env).stdout.strip()
    sha = subprocess.run(["git", "commit-tree", tree, "-p", base, "-m", "sneaky"], cwd=cwd,
                         capture_output=True, text=True, check=True).stdout.strip()
    os.unlink(env["GIT_INDEX_FILE"])
    return sha


def refused(proc: subprocess.CompletedProcess[str]) -> str:
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    assert "mlgate" in out, out
    return out


@pytest.fixture
def ws(git_workspace: Workspace) -> Workspace:
    I.install(git_workspace.root, git=True)
    return git_workspace


@pytest.fixture(scope="module")
def _template5(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return ticket_template(tmp_path_factory.mktemp("tpl"), 5, hooks=True)


@pytest.fixture
def t5(_template5: Path, tmp_path: Path):  # type: ignore[no-untyped-def]
    """Ticket ``exp`` walked to stage 5 (Locked), the git hooks installed (a copy of one
    walk per module)."""
    _ws, t = from_template(_template5, tmp_path / "w")
    return t


@pytest.fixture
def ws5(t5) -> Workspace:  # type: ignore[no-untyped-def]
    return t5.ws


def test_install_puts_three_hooks_in_the_common_dir(ws: Workspace) -> None:
    hooks = ws.root / ".git" / "hooks"
    for name in I.GIT_HOOKS:
        text = (hooks / name).read_text()
        assert I.marker(name) in text and os.access(hooks / name, os.X_OK)
    t = ws.new_ticket("wt")
    assert git(t.checkout, "rev-parse", "--git-path", "hooks") == str(hooks)


def test_commit_no_verify_is_refused_by_the_ref_hook(t5) -> None:  # type: ignore[no-untyped-def]
    wt = t5.checkout
    before = tip(wt)
    (wt / SRC).write_text("x = 2\n")
    git(wt, "add", SRC)
    out = refused(run(wt, "commit", "--no-verify", "-m", "sneaky"))
    assert "refused by the edit lock (ticket exp, stage 5)" in out
    assert "src/model.py" in out and "reference-transaction" not in out.split("\n")[0]
    assert tip(wt) == before
    # without --no-verify the pre-commit hook says it first
    out = refused(run(wt, "commit", "-m", "sneaky"))
    assert "commit refused by the edit lock (ticket exp, stage 5)" in out


def test_ticket_files_and_run_outputs_still_commit_at_stage_5(t5) -> None:  # type: ignore[no-untyped-def]
    wt = t5.checkout
    (t5.folder / "notes.md").write_text("more notes\n")
    (wt / "results_v2").mkdir()
    (wt / "results_v2" / "m.json").write_text("{}\n")
    git(wt, "add", "-A")
    r = run(wt, "commit", "--no-verify", "-m", "notes and results")
    assert r.returncode == 0, r.stderr


def test_update_ref_and_commit_tree_are_refused(t5, ws5: Workspace) -> None:  # type: ignore[no-untyped-def]
    ws = ws5
    wt = t5.checkout
    before = tip(wt)
    sneaky = source_commit(wt)
    out = refused(run(wt, "update-ref", "refs/heads/codex/exp", sneaky))
    assert "update of refs/heads/codex/exp" in out and "src/model.py" in out
    refused(run(ws.root, "update-ref", "refs/heads/codex/exp", sneaky, before))
    assert tip(wt) == before
    # the same commit on a branch no ticket governs goes through
    assert run(ws.root, "update-ref", "refs/heads/scratch", sneaky).returncode == 0
    assert run(ws.root, "tag", "v-sneaky", sneaky).returncode == 0


def test_merges_and_cherry_picks_are_refused(t5, ws5: Workspace) -> None:  # type: ignore[no-untyped-def]
    ws = ws5
    wt = t5.checkout
    before = tip(wt)
    sneaky = source_commit(wt)
    git(ws.root, "branch", "feature", sneaky)
    refused(run(wt, "merge", "--ff-only", "feature"))  # a fast-forward: no commit hook at all
    # (git has checked the files out before it tried the ref: the tripwire takes them back;
    # here the test does)
    git(wt, "reset", "-q", "--hard")
    refused(run(wt, "cherry-pick", "feature"))
    run(wt, "cherry-pick", "--abort")
    # a merge commit: pre-merge-commit refuses it, and with --no-verify the ref hook does
    other = source_commit(ws.root, "main")
    git(ws.root, "branch", "side", other)
    out = refused(run(wt, "merge", "--no-ff", "--no-edit", "side"))
    assert "commit refused by the edit lock" in out
    run(wt, "merge", "--abort")
    refused(run(wt, "merge", "--no-ff", "--no-edit", "--no-verify", "side"))
    run(wt, "merge", "--abort")
    assert tip(wt) == before


def test_deleting_or_renaming_the_ticket_branch_is_refused(t5, ws5: Workspace) -> None:  # type: ignore[no-untyped-def]
    ws = ws5
    out = refused(run(ws.root, "update-ref", "-d", "refs/heads/codex/exp"))
    assert "deleting or renaming it is refused" in out
    refused(run(t5.checkout, "branch", "-m", "codex/exp", "escaped"))
    assert tip(ws.root) and run(ws.root, "rev-parse", "--verify", "escaped").returncode != 0
    # `git pack-refs` (what `git gc` does) keeps the ref: it passes
    r = run(ws.root, "pack-refs", "--all")
    assert r.returncode == 0, r.stderr
    assert tip(ws.root)


def test_index_file_of_the_caller_is_judged(t5) -> None:  # type: ignore[no-untyped-def]
    wt = t5.checkout
    idx = wt.parent / "other-index"
    env = {"GIT_INDEX_FILE": str(idx)}
    run(wt, "read-tree", "HEAD", env=env)
    (wt / SRC).write_text("x = 5\n")
    assert run(wt, "update-index", SRC, env=env).returncode == 0
    assert git(wt, "diff", "--cached", "--name-only") == ""  # the real index is clean
    out = refused(run(wt, "commit", "-m", "via another index", env=env))
    assert "commit refused by the edit lock" in out and SRC in out  # pre-commit saw it
    refused(run(wt, "commit", "--no-verify", "-m", "again", env=env))
    rel = {"GIT_INDEX_FILE": "../other-index"}  # relative to the checkout
    refused(run(wt, "commit", "-m", "relative", env=rel))


def test_commits_from_any_checkout_of_the_branch(t5, ws5: Workspace, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ws = ws5
    before = tip(ws.root)
    git(ws.root, "checkout", "-q", "--ignore-other-worktrees", "codex/exp")
    (ws.root / SRC).write_text("x = 7\n")
    git(ws.root, "add", SRC)
    out = refused(run(ws.root, "commit", "-m", "from the main checkout"))
    assert "ticket exp, stage 5" in out
    refused(run(ws.root, "commit", "--no-verify", "-m", "from the main checkout"))
    git(ws.root, "reset", "-q", "--hard")
    git(ws.root, "checkout", "-q", "main")
    extra = tmp_path / "extra"
    git(ws.root, "worktree", "add", "-q", "-f", str(extra), "codex/exp")
    (extra / SRC).write_text("x = 8\n")
    git(extra, "add", SRC)
    refused(run(extra, "commit", "-m", "from an extra worktree"))
    refused(run(extra, "commit", "--no-verify", "-m", "from an extra worktree"))
    assert tip(ws.root) == before


def test_commit_while_the_state_file_is_moved_away(t5) -> None:  # type: ignore[no-untyped-def]
    wt = t5.checkout
    os.rename(t5.state_path, wt / "away.md")
    (wt / SRC).write_text("x = 9\n")
    git(wt, "add", SRC)
    out = refused(run(wt, "commit", "-m", "state gone"))
    assert "workflow-state.md is gone" in out
    out = refused(run(wt, "commit", "--no-verify", "-m", "state gone"))
    assert "workflow-state.md is gone" in out


def test_unlocked_stage_4_commits_source_by_every_route(ws: Workspace) -> None:
    t = at_stage(ws, "exp", 4)
    wt = t.checkout
    listed = "src/digits/model.py"  # (the file the ticket's inventory lists)
    (wt / listed).parent.mkdir(parents=True, exist_ok=True)
    (wt / listed).write_text("x = 11\n")
    git(wt, "add", listed)
    assert run(wt, "commit", "--no-verify", "-m", "fine in stage 4").returncode == 0
    sneaky = source_commit(wt, path=listed)
    assert run(wt, "update-ref", "refs/heads/codex/exp", sneaky).returncode == 0
    git(wt, "reset", "-q")  # (the index follows the moved branch; the files stay)
    git(wt, "checkout", "--", listed)
    step(t, 4)  # leaves stage 4: from here the commit of entry is the baseline
    assert t.state.stage == 5
    refused(run(wt, "update-ref", "refs/heads/codex/exp", source_commit(wt)))


def test_a_change_let_in_with_the_hooks_removed_is_caught_at_the_next_update(t5, ws5: Workspace) -> None:  # type: ignore[no-untyped-def]
    ws = ws5
    """The baseline is the stage-entry commit: a source commit that got in while the hooks
    were gone does not make later updates pass."""
    wt = t5.checkout
    hooks = ws.root / ".git" / "hooks"
    saved = (hooks / "reference-transaction").read_text()
    (hooks / "reference-transaction").unlink()
    assert run(wt, "update-ref", "refs/heads/codex/exp", source_commit(wt)).returncode == 0
    git(wt, "reset", "-q", "--hard")
    (hooks / "reference-transaction").write_text(saved)
    (hooks / "reference-transaction").chmod(0o755)
    (t5.folder / "notes.md").write_text("only notes\n")
    git(wt, "add", "-A")
    out = refused(run(wt, "commit", "--no-verify", "-m", "notes on top"))
    assert "since" in out and "the commit the ticket entered its stage at" in out


def test_ungoverned_refs_pass_and_a_damaged_registry_fails_closed(t5, ws5: Workspace,
                                                                  tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ws = ws5
    (ws.root / "README.md").write_text("# main moves on\n")
    git(ws.root, "commit", "-qam", "main moves")
    clone = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(ws.root), str(clone))
    assert run(ws.root, "fetch", "-q", str(clone), "main:refs/remotes/other/main").returncode == 0
    (ws.root / ".git" / "mlgate" / "registry.json").write_text("{damaged")
    out = refused(run(t5.checkout, "commit", "--allow-empty", "--no-verify", "-m", "x"))
    assert "fail closed" in out or "cannot" in out
    assert run(ws.root, "commit", "--allow-empty", "-qm", "main still works").returncode == 0


def test_existing_reference_transaction_hook_is_chained(git_repo: Path) -> None:
    hooks = git_repo / ".git" / "hooks"
    hooks.mkdir(exist_ok=True)
    foreign = hooks / "reference-transaction"
    foreign.write_text('#!/bin/sh\ncat >> "$(dirname "$0")/../seen.log"\necho "$1" >> '
                       '"$(dirname "$0")/../seen.log"\n')
    foreign.chmod(0o755)
    msgs = I.install(git_repo, git=True)
    assert any("reference-transaction.mlgate-chained" in m for m in msgs)
    git(git_repo, "commit", "--allow-empty", "-qm", "x")
    log = (git_repo / ".git" / "seen.log").read_text()
    assert "refs/heads/main" in log and "prepared" in log and "committed" in log
    I.uninstall(git_repo, git=True)
    assert foreign.read_text().startswith("#!/bin/sh\ncat")
