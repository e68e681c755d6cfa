"""mlgate.git against real repositories, linked worktrees and a clone of a bare remote."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO_ROOT, git
from mlgate import git as g
from mlgate.errors import GitError


def commit_file(repo: Path, rel: str, text: str, msg: str | None = None) -> str:
    path = repo / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    git(repo, "add", rel)
    git(repo, "commit", "-q", "-m", msg or f"edit {rel}")
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture
def with_worktree(git_repo: Path) -> tuple[Path, Path]:
    wt = git_repo.parent / "repo.worktrees" / "alpha"
    git(git_repo, "worktree", "add", "-q", "-b", "codex/alpha", str(wt))
    return git_repo, wt


# --- repository queries --------------------------------------------------------------


def test_is_repo(git_repo: Path, tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    assert g.is_repo(git_repo)
    assert g.is_repo(git_repo / "src")
    assert not g.is_repo(plain)
    assert not g.is_repo(tmp_path / "missing")
    assert not g.is_repo(git_repo / ".git")  # inside the git dir is not a working tree


def test_dirs_in_main_and_linked_worktree(with_worktree: tuple[Path, Path]) -> None:
    repo, wt = with_worktree
    assert g.toplevel(repo / "src") == repo
    assert g.toplevel(wt) == wt
    assert g.git_dir(repo) == repo / ".git"
    assert g.git_dir(wt) == repo / ".git" / "worktrees" / "alpha"
    assert g.common_dir(repo / "src") == repo / ".git"
    assert g.common_dir(wt) == repo / ".git"
    assert g.hooks_dir(wt) == repo / ".git" / "hooks"


def test_not_a_repo_raises_git_error_with_hint(tmp_path: Path) -> None:
    with pytest.raises(GitError) as info:
        g.toplevel(tmp_path)
    assert info.value.returncode == 128
    assert "not a git repository" in info.value.stderr
    assert "hint: run this inside a git repository" in str(info.value)
    assert info.value.exit_code == 4


def test_hooks_dir_follows_core_hookspath(git_repo: Path) -> None:
    assert g.config_get(git_repo, "core.hooksPath") is None
    git(git_repo, "config", "core.hooksPath", ".githooks")
    assert g.config_get(git_repo, "core.hooksPath") == ".githooks"
    assert g.hooks_dir(git_repo / "src") == git_repo / ".githooks"
    git(git_repo, "config", "core.hooksPath", "~/hooks")
    assert g.hooks_dir(git_repo) == Path(os.environ["HOME"]) / "hooks"


def test_branch_head_and_refs(git_repo: Path, tmp_path: Path) -> None:
    assert g.current_branch(git_repo) == "main"
    sha = g.head(git_repo)
    assert sha is not None and len(sha) == 40
    assert g.rev_parse(git_repo, "main") == sha
    assert g.rev_parse(git_repo, "no-such-ref") is None
    assert g.rev_parse(git_repo, "--all") is None
    assert g.ref_exists(git_repo, "HEAD") and not g.ref_exists(git_repo, "nope")
    assert g.branch_exists(git_repo, "main") and not g.branch_exists(git_repo, "codex/x")
    assert g.commit_exists(git_repo, sha)
    assert not g.commit_exists(git_repo, "0" * 40)
    tree = git(git_repo, "rev-parse", "HEAD^{tree}")
    assert not g.commit_exists(git_repo, tree)  # an object, but not a commit
    git(git_repo, "checkout", "-q", "--detach")
    assert g.current_branch(git_repo) is None

    empty = tmp_path / "empty"
    empty.mkdir()
    git(empty, "init", "-q", "-b", "trunk")
    assert g.head(empty) is None
    assert g.current_branch(empty) == "trunk"  # unborn, but checked out


def test_check_ref_format() -> None:
    assert g.check_ref_format("codex/good-name")
    for bad in ("codex/a..b", "codex/a b", "-x", "codex/x.lock", "codex/", "a~b", "a@{1}", ""):
        assert not g.check_ref_format(bad), bad


def test_git_dir_env_of_a_hook_does_not_leak(with_worktree: tuple[Path, Path],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    repo, wt = with_worktree
    # git sets these for hooks it runs inside the worktree; queries about the main checkout
    # must still see the main checkout.
    monkeypatch.setenv("GIT_DIR", str(repo / ".git" / "worktrees" / "alpha"))
    monkeypatch.setenv("GIT_INDEX_FILE", str(repo / ".git" / "worktrees" / "alpha" / "index"))
    assert g.current_branch(repo) == "main"
    assert g.current_branch(wt) == "codex/alpha"
    assert g.toplevel(repo) == repo


# --- worktrees ---------------------------------------------------------------------


def test_worktrees_lists_main_first(with_worktree: tuple[Path, Path]) -> None:
    repo, wt = with_worktree
    detached = repo.parent / "det"
    git(repo, "worktree", "add", "-q", "--detach", str(detached))
    entries = g.worktrees(wt)
    assert entries[0].path == repo  # the main worktree first; git orders the rest
    by_path = {e.path: e for e in entries}
    assert set(by_path) == {repo, wt, detached}
    main, alpha, det = by_path[repo], by_path[wt], by_path[detached]
    assert main.is_main and main.branch == "main" and not main.detached
    assert not alpha.is_main and alpha.branch == "codex/alpha"
    assert alpha.head == g.head(repo)
    assert det.detached and det.branch is None
    assert g.main_worktree(wt) == repo
    assert g.main_worktree(repo / "src") == repo


def test_worktrees_in_fresh_repo_has_no_head(tmp_path: Path) -> None:
    repo = tmp_path / "fresh"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    [entry] = g.worktrees(repo)
    assert entry.head is None and entry.branch == "main" and entry.is_main


def test_worktree_with_odd_path(git_repo: Path) -> None:
    wt = git_repo.parent / "wt with spaces ü"
    git(git_repo, "worktree", "add", "-q", "-b", "codex/odd", str(wt))
    paths = [e.path for e in g.worktrees(git_repo)]
    assert wt in paths


def test_add_worktree_creates_reuses_and_refuses(git_repo: Path) -> None:
    base = g.head(git_repo)
    commit_file(git_repo, "later.txt", "x\n")
    wt = git_repo.parent / "wts" / "deep" / "beta"
    got = g.add_worktree(git_repo, wt, "codex/beta", start=base)
    assert got == wt and (wt / "README.md").is_file()
    assert g.current_branch(wt) == "codex/beta"
    assert g.head(wt) == base  # made from start, not from HEAD
    assert g.config_get(git_repo, "branch.codex/beta.merge") is None  # no upstream
    # the same call again reuses the worktree
    assert g.add_worktree(git_repo, wt, "codex/beta", start="main") == wt
    # an existing branch is reused as it is (start ignored)
    git(git_repo, "branch", "codex/gamma", base)
    wt2 = g.add_worktree(git_repo, git_repo.parent / "gamma", "codex/gamma", start="main")
    assert g.head(wt2) == base
    # a branch already checked out elsewhere
    with pytest.raises(GitError) as info:
        g.add_worktree(git_repo, git_repo.parent / "other", "codex/beta")
    assert "already checked out" in str(info.value) and str(wt) in str(info.value)
    # no start: from HEAD
    wt3 = g.add_worktree(git_repo, "../delta", "codex/delta")
    assert wt3 == git_repo.parent / "delta" and g.head(wt3) == g.head(git_repo)


def test_add_worktree_on_bad_name(git_repo: Path) -> None:
    with pytest.raises(GitError) as info:
        g.add_worktree(git_repo, git_repo.parent / "bad", "codex/a..b")
    assert "not a valid branch name" in str(info.value)


def test_remove_and_prune_worktrees(git_repo: Path) -> None:
    wt = g.add_worktree(git_repo, git_repo.parent / "w1", "codex/w1")
    (wt / "README.md").write_text("changed\n")
    with pytest.raises(GitError) as info:
        g.remove_worktree(git_repo, wt)
    assert "hint:" in str(info.value)
    assert wt.exists()
    g.remove_worktree(git_repo, wt, force=True)
    assert not wt.exists()
    assert [e.path for e in g.worktrees(git_repo)] == [git_repo]

    wt2 = g.add_worktree(git_repo, git_repo.parent / "w2", "codex/w2")
    wt3 = g.add_worktree(git_repo, git_repo.parent / "w3", "codex/w3")
    subprocess.run(["rm", "-rf", str(wt2), str(wt3)], check=True)
    assert all(e.prunable for e in g.worktrees(git_repo)[1:])
    g.prune_worktrees(git_repo)
    assert [e.path for e in g.worktrees(git_repo)] == [git_repo]
    # a worktree deleted by hand does not block making it again
    wt4 = g.add_worktree(git_repo, git_repo.parent / "w4", "codex/w4")
    subprocess.run(["rm", "-rf", str(wt4)], check=True)
    again = g.add_worktree(git_repo, git_repo.parent / "w4b", "codex/w4")
    assert again.is_dir() and g.current_branch(again) == "codex/w4"
    assert [e.path for e in g.worktrees(git_repo)] == [git_repo, again]
    # a locked one is kept and the message says how to free it
    wt5 = g.add_worktree(git_repo, git_repo.parent / "w5", "codex/w5")
    git(git_repo, "worktree", "lock", str(wt5))
    subprocess.run(["rm", "-rf", str(wt5)], check=True)
    with pytest.raises(GitError) as info:
        g.add_worktree(git_repo, git_repo.parent / "w5b", "codex/w5")
    assert "git worktree unlock" in str(info.value)


# --- branches ----------------------------------------------------------------------


def test_create_and_delete_branch(git_repo: Path) -> None:
    g.create_branch(git_repo, "codex/one", "main")
    assert g.branch_exists(git_repo, "codex/one")
    with pytest.raises(GitError):
        g.create_branch(git_repo, "codex/one", "main")
    wt = g.add_worktree(git_repo, git_repo.parent / "one", "codex/one")
    commit_file(wt, "new.txt", "n\n")
    g.remove_worktree(git_repo, wt)
    with pytest.raises(GitError) as info:
        g.delete_branch(git_repo, "codex/one")
    assert "git branch -D codex/one" in str(info.value)
    g.create_branch(git_repo, "codex/two", "main")
    g.delete_branch(git_repo, "codex/two")
    assert not g.branch_exists(git_repo, "codex/two")


def test_merge_base_and_ancestry(git_repo: Path) -> None:
    root = g.head(git_repo)
    assert root is not None
    git(git_repo, "checkout", "-q", "-b", "side")
    side = commit_file(git_repo, "side.txt", "s\n")
    git(git_repo, "checkout", "-q", "main")
    main = commit_file(git_repo, "main.txt", "m\n")
    assert g.merge_base(git_repo, "side", "main") == root
    assert g.is_ancestor(git_repo, root, side)
    assert not g.is_ancestor(git_repo, side, main)
    git(git_repo, "checkout", "-q", "--orphan", "lonely")
    git(git_repo, "commit", "-q", "--allow-empty", "-m", "unrelated")
    assert g.merge_base(git_repo, "lonely", "main") is None
    with pytest.raises(GitError):
        g.is_ancestor(git_repo, "nope", "main")


# --- remotes -----------------------------------------------------------------------


def test_remotes_default_branch_and_fetch(cloned_repo: Path, tmp_path: Path) -> None:
    assert g.remotes(cloned_repo) == ["origin"]
    assert g.remote_default_branch(cloned_repo) == "main"
    assert g.remote_default_branch(cloned_repo, "upstream") is None
    before = g.rev_parse(cloned_repo, "origin/main")
    ok, msg = g.fetch(cloned_repo, "origin")
    assert ok and "up to date" in msg
    # someone else pushes to the remote
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(tmp_path / "remote.git"), str(other))
    pushed = commit_file(other, "x.txt", "x\n")
    git(other, "push", "-q", "origin", "main")
    ok, msg = g.fetch(cloned_repo, "origin")
    assert ok and "1 ref(s) updated" in msg
    assert g.rev_parse(cloned_repo, "origin/main") == pushed != before


def test_fetch_failure_never_raises(cloned_repo: Path, tmp_path: Path) -> None:
    git(cloned_repo, "remote", "set-url", "origin", str(tmp_path / "gone.git"))
    ok, msg = g.fetch(cloned_repo, "origin")
    assert not ok
    assert msg.startswith("git fetch origin failed") and "\n" not in msg
    ok, msg = g.fetch(cloned_repo, "nosuchremote")
    assert not ok and "nosuchremote" in msg
    ok, msg = g.fetch(tmp_path / "missing-dir", "origin")
    assert not ok


def test_remote_default_branch_without_remote(git_repo: Path) -> None:
    assert g.remotes(git_repo) == []
    assert g.remote_default_branch(git_repo) is None


def test_push(cloned_repo: Path, tmp_path: Path) -> None:
    sha = commit_file(cloned_repo, "p.txt", "p\n")
    ok, msg = g.push(cloned_repo, "origin", "main")
    assert ok, msg
    assert git(tmp_path / "remote.git", "rev-parse", "main") == sha


# --- files ---------------------------------------------------------------------------


def test_changed_files(git_repo: Path) -> None:
    start = g.head(git_repo)
    assert start is not None
    (git_repo / "src" / "big.py").write_text("".join(f"line {i}\n" for i in range(50)))
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-q", "-m", "big")
    mid = g.head(git_repo)
    commit_file(git_repo, "src/new file ü.py", "y = 2\n")
    (git_repo / "src" / "model.py").write_text("x = 2\n")
    git(git_repo, "mv", "src/big.py", "src/renamed.py")
    git(git_repo, "rm", "-q", "README.md")
    git(git_repo, "commit", "-q", "-am", "changes")
    assert sorted(g.changed_files(git_repo / "src", mid)) == [
        "README.md", "src/model.py", "src/new file ü.py", "src/renamed.py"]
    assert g.changed_files(git_repo, start, mid) == ["src/big.py"]
    assert g.changed_files(git_repo, "HEAD") == []
    with pytest.raises(GitError):
        g.changed_files(git_repo, "not-a-commit")


def test_dirty_and_staged_files(git_repo: Path) -> None:
    assert g.dirty_files(git_repo) == [] and not g.is_dirty(git_repo)
    (git_repo / "src" / "model.py").write_text("x = 3\n")
    (git_repo / "untracked dir").mkdir()
    (git_repo / "untracked dir" / "n.txt").write_text("n\n")
    commit_file(git_repo, "old.txt", "o\n")
    git(git_repo, "mv", "old.txt", "moved.txt")
    (git_repo / "staged.py").write_text("s\n")
    git(git_repo, "add", "staged.py")
    assert sorted(g.dirty_files(git_repo / "src")) == ["moved.txt", "src/model.py", "staged.py"]
    assert sorted(g.dirty_files(git_repo, untracked=True)) == [
        "moved.txt", "src/model.py", "staged.py", "untracked dir/n.txt"]
    assert g.is_dirty(git_repo)
    # staged: what the next commit holds; a rename gives both names
    assert sorted(g.staged_files(git_repo)) == ["moved.txt", "old.txt", "staged.py"]


def test_staged_files_inside_a_real_pre_commit_hook(with_worktree: tuple[Path, Path]) -> None:
    """git runs hooks with GIT_DIR/GIT_INDEX_FILE set; with `commit -a` or `commit PATH`
    the index being committed is a temporary file that staged_files must read."""
    repo, wt = with_worktree
    out = wt.parent / "staged.txt"
    hook = repo / ".git" / "hooks" / "pre-commit"
    hook.parent.mkdir(exist_ok=True)
    hook.write_text(
        f"#!/bin/sh\nPYTHONPATH={REPO_ROOT} exec {sys.executable} -c "
        f"\"import sys; from mlgate import git; "
        f"open('{out}', 'a').write(','.join(sorted(git.staged_files('.'))) + '|' + "
        f"str(git.current_branch('{repo}')) + chr(10))\"\n")
    hook.chmod(0o755)
    (wt / "README.md").write_text("changed\n")
    (wt / "src" / "model.py").write_text("x = 9\n")
    git(wt, "commit", "-q", "-a", "-m", "all")
    (wt / "README.md").write_text("again\n")
    (wt / "src" / "model.py").write_text("x = 10\n")
    git(wt, "commit", "-q", "-m", "only", "--", "src/model.py")
    lines = out.read_text().splitlines()
    assert lines == ["README.md,src/model.py|main", "src/model.py|main"]


def test_add_and_commit(git_repo: Path) -> None:
    (git_repo / "a.txt").write_text("a\n")
    (git_repo / "b.txt").write_text("b\n")
    sha = g.commit(git_repo, "#1 add a\n\nbody", paths=["a.txt"])
    assert sha == g.head(git_repo)
    assert git(git_repo, "log", "-1", "--format=%B").startswith("#1 add a")
    assert g.dirty_files(git_repo, untracked=True) == ["b.txt"]  # b was not committed
    with pytest.raises(GitError) as info:
        g.commit(git_repo, "nothing")
    assert "nothing to commit" in str(info.value)
    g.add(git_repo, ["b.txt"])
    assert g.staged_files(git_repo) == ["b.txt"]
    g.commit(git_repo, "add b")
    assert g.dirty_files(git_repo, untracked=True) == []


def test_commit_respects_hooks_unless_no_verify(git_repo: Path) -> None:
    hook = git_repo / ".git" / "hooks" / "pre-commit"
    hook.parent.mkdir(exist_ok=True)
    hook.write_text("#!/bin/sh\necho 'refused by hook' >&2\nexit 1\n")
    hook.chmod(0o755)
    (git_repo / "a.txt").write_text("a\n")
    with pytest.raises(GitError) as info:
        g.commit(git_repo, "try", paths=["a.txt"])
    assert "refused by hook" in str(info.value)
    sha = g.commit(git_repo, "skip hooks", paths=["a.txt"], no_verify=True)
    assert sha == g.head(git_repo)


def test_move_then_commit_both_paths(git_repo: Path) -> None:
    commit_file(git_repo, "tickets/in-progress/t1/workflow-state.md", "state\n")
    g.move(git_repo, "tickets/in-progress/t1", "tickets/done/t1")
    assert (git_repo / "tickets" / "done" / "t1" / "workflow-state.md").is_file()
    (git_repo / "src" / "model.py").write_text("unrelated\n")
    g.commit(git_repo, "archive t1", paths=["tickets/in-progress/t1", "tickets/done/t1"])
    assert g.changed_files(git_repo, "HEAD~1") == ["tickets/done/t1/workflow-state.md"]
    assert g.dirty_files(git_repo) == ["src/model.py"]  # not swept into the commit
    with pytest.raises(GitError):
        g.move(git_repo, "no-such-file", "x")


def test_merge_no_ff(git_repo: Path) -> None:
    git(git_repo, "checkout", "-q", "-b", "codex/feat")
    feat = commit_file(git_repo, "feat.txt", "f\n")
    git(git_repo, "checkout", "-q", "main")
    main = commit_file(git_repo, "main.txt", "m\n")
    sha = g.merge_no_ff(git_repo, "codex/feat", "Merge codex/feat")
    parents = git(git_repo, "rev-list", "--parents", "-n", "1", sha).split()[1:]
    assert parents == [main, feat]
    assert git(git_repo, "log", "-1", "--format=%s") == "Merge codex/feat"


def test_merge_conflict_aborts_and_names_files(git_repo: Path) -> None:
    git(git_repo, "checkout", "-q", "-b", "codex/c")
    commit_file(git_repo, "src/model.py", "x = 'branch'\n")
    git(git_repo, "checkout", "-q", "main")
    before = commit_file(git_repo, "src/model.py", "x = 'main'\n")
    with pytest.raises(GitError) as info:
        g.merge_no_ff(git_repo, "codex/c", "merge")
    assert info.value.data["conflicts"] == ["src/model.py"]
    assert "src/model.py" in str(info.value) and "aborted" in str(info.value)
    assert g.head(git_repo) == before
    assert g.dirty_files(git_repo, untracked=True) == []
    assert g.rev_parse(git_repo, "MERGE_HEAD") is None
    assert (git_repo / "src" / "model.py").read_text() == "x = 'main'\n"


def test_merge_ff_only_and_switch(git_repo: Path) -> None:
    git(git_repo, "branch", "codex/ff")
    g.switch(git_repo, "codex/ff")
    assert g.current_branch(git_repo) == "codex/ff"
    tip = commit_file(git_repo, "ff.txt", "f\n")
    g.switch(git_repo, "main")
    assert g.merge_ff_only(git_repo, "codex/ff") == tip
    with pytest.raises(GitError):
        g.switch(git_repo, "no-such-branch")


def test_missing_git_binary(git_repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(git_repo))  # no git on PATH
    with pytest.raises(GitError) as info:
        g.toplevel(git_repo)
    assert "install git" in str(info.value)
    assert not g.is_repo(git_repo)
    ok, msg = g.fetch(git_repo, "origin")
    assert not ok and "not found" in msg


# --- worktrees read from git's files ---------------------------------------------------


def _same_as_git(path: Path) -> list[g.Worktree]:
    """read_worktrees(path) answers, and says exactly what `git worktree list` says (the
    order of linked worktrees aside: git lists them in directory order)."""
    fast = g.read_worktrees(path)
    assert fast is not None, f"read_worktrees gave up on {path}"
    slow = g.parse_worktree_list(g.worktree_list_output(path))
    assert fast[0] == slow[0]
    assert sorted(fast[1:], key=lambda w: str(w.path)) == sorted(slow[1:], key=lambda w: str(w.path))
    return fast


def test_read_worktrees_matches_git(with_worktree: tuple[Path, Path], tmp_path: Path) -> None:
    repo, wt = with_worktree
    detached = tmp_path / "detached"
    git(repo, "worktree", "add", "-q", "--detach", str(detached))
    locked = tmp_path / "locked"
    git(repo, "worktree", "add", "-q", "-b", "codex/locked", str(locked))
    git(repo, "worktree", "lock", str(locked))
    gone = tmp_path / "gone"
    git(repo, "worktree", "add", "-q", "-b", "codex/gone", str(gone))
    git(gone, "commit", "-q", "--allow-empty", "-m", "on gone")
    import shutil

    shutil.rmtree(gone)  # deleted by hand: prunable
    for start in (repo, repo / "src", wt, wt / "src", detached, locked):
        entries = _same_as_git(start)
    by_path = {e.path: e for e in entries}
    assert by_path[detached].detached and by_path[detached].branch is None
    assert by_path[locked].locked and by_path[locked].branch == "codex/locked"
    assert by_path[gone].prunable
    git(repo, "pack-refs", "--all")  # refs now only in packed-refs
    entries = _same_as_git(wt)
    assert by_path[gone].head == {e.path: e for e in entries}[gone].head is not None


def test_read_worktrees_unborn_branch_and_odd_paths(tmp_path: Path) -> None:
    repo = tmp_path / "fresh repo ü"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "trunk")
    [entry] = _same_as_git(repo)
    assert entry.head is None and entry.branch == "trunk"


def test_read_worktrees_defers_to_git_when_unsure(git_repo: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Outside a repository, in a bare one, with core.worktree, an include, or a discovery
    variable set, it returns None, and try_worktrees asks git instead (same answer)."""
    assert g.read_worktrees(tmp_path) is None
    bare = tmp_path / "b.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    assert g.read_worktrees(bare) is None
    assert g.try_worktrees(bare)[0].bare
    git(git_repo, "config", "include.path", "extra.cfg")
    assert g.read_worktrees(git_repo) is None
    assert g.try_worktrees(git_repo)[0].path == git_repo
    git(git_repo, "config", "--unset", "include.path")
    assert g.read_worktrees(git_repo) is not None
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    assert g.read_worktrees(git_repo) is None
    assert g.try_worktrees(git_repo)[0].path == git_repo


def test_read_worktrees_separate_git_dir(tmp_path: Path) -> None:
    work = tmp_path / "work"
    git(tmp_path, "init", "-q", "--separate-git-dir", str(tmp_path / "store"), str(work))
    assert g.read_worktrees(work) is None  # git knows where this one's main worktree is
    assert g.try_worktrees(work) is not None


def test_spawn_captures_like_subprocess(tmp_path: Path) -> None:
    """util.spawn (posix_spawn, used for git calls) gives what subprocess.run gives: exit
    code, both streams in full (also when they are large and interleaved), CRLF as LF, stdin
    empty; a missing program raises FileNotFoundError."""
    from mlgate.util import spawn

    script = ("import sys\n"
              "sys.stdout.write('o' * 300000 + '\\r\\n'); sys.stderr.write('e' * 300000)\n"
              "sys.stdout.write(repr(sys.stdin.read())); sys.exit(7)\n")
    got = spawn([sys.executable, "-c", script])
    ref = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         stdin=subprocess.DEVNULL)
    assert (got.returncode, got.stdout, got.stderr) == (ref.returncode, ref.stdout, ref.stderr)
    assert got.returncode == 7 and got.stdout.endswith("o\n''")
    with pytest.raises(FileNotFoundError):
        spawn(["mlgate-no-such-program-xyz"])


def test_git_calls_in_missing_or_file_cwd_name_it(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(GitError, match="no such directory"):
        g.head(tmp_path / "missing")
    with pytest.raises(GitError, match="not a directory"):
        g.head(tmp_path / "f")
