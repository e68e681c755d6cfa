"""Ticket discovery across the main checkout and real `git worktree add` worktrees."""
from __future__ import annotations

from pathlib import Path

import pytest

import mlgate.git
from conftest import git
from mlgate import tickets as tk
from mlgate.constants import TICKET_NAME_RULE
from mlgate.errors import InvalidTicketName, WorkspaceNotFound


def make_ticket(checkout: Path, name: str, location: str = "in-progress",
                state: bool = True) -> Path:
    folder = checkout / "tickets" / location / name
    folder.mkdir(parents=True, exist_ok=True)
    if state:
        (folder / "workflow-state.md").write_text(f"# Workflow State\n\nTicket: {name}\n")
    return folder


def add_worktree(repo: Path, name: str, prefix: str = "codex/") -> Path:
    wt = repo.parent / f"{repo.name}.worktrees" / name
    git(repo, "worktree", "add", "-q", "-b", f"{prefix}{name}", str(wt))
    return wt


class CallCounter:
    """Counts the subprocesses mlgate.git starts (the real ones still run)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[list[str]] = []
        for name in ("run", "spawn"):
            monkeypatch.setattr(mlgate.git, name, self._counting(getattr(mlgate.git, name)))

    def _counting(self, real):  # type: ignore[no-untyped-def]
        def counting(cmd, *args, **kwargs):  # type: ignore[no-untyped-def]
            self.calls.append(list(cmd))
            return real(cmd, *args, **kwargs)

        return counting


# --- names ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["a", "exp-1", "resnet50-lr-sweep", "0day", "a--b",
                                  "x" * 63])
def test_valid_names(name: str) -> None:
    tk.validate_name(name)


@pytest.mark.parametrize("name", [
    "", "A", "Exp", "a_b", "a.b", "-a", "a-", "a--", "x" * 64, "a/b", "a\\b", ".", "..",
    "a b", "a\n", "\u0430bc",  # Cyrillic a
    "\uff41bc",  # fullwidth a
    "e\u0301", "a.lock", "a@{1}", "codex/a",
])
def test_invalid_names_are_refused_with_the_rule(name: str) -> None:
    with pytest.raises(InvalidTicketName) as info:
        tk.validate_name(name)
    assert info.value.rule == TICKET_NAME_RULE
    assert TICKET_NAME_RULE in str(info.value)
    assert info.value.exit_code == 2


def test_non_string_name() -> None:
    with pytest.raises(InvalidTicketName):
        tk.validate_name(None)  # type: ignore[arg-type]


def test_name_checked_against_git_with_the_prefix() -> None:
    # a prefix that makes the branch name invalid in git refuses every name
    with pytest.raises(InvalidTicketName):
        tk.validate_name("fine", branch_prefix="bad..prefix/")
    tk.validate_name("fine", branch_prefix="exp/")


# --- workspace ------------------------------------------------------------------------


def test_workspace_root_is_the_main_checkout(git_repo: Path) -> None:
    wt = add_worktree(git_repo, "alpha")
    assert tk.workspace_root(git_repo) == git_repo
    assert tk.workspace_root(git_repo / "src") == git_repo
    assert tk.workspace_root(git_repo / "src" / "not-yet-written.py") == git_repo
    assert tk.workspace_root(wt) == git_repo
    assert tk.workspace_root(wt / "src" / "model.py") == git_repo
    assert tk.is_git(git_repo) and tk.is_git(wt)


def test_workspace_root_without_git(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    (ws / "deep" / "er").mkdir(parents=True)
    (ws / "mlgate.yaml").write_text("")
    assert tk.workspace_root(ws / "deep" / "er") == ws
    other = tmp_path / "other"
    (other / "tickets" / "in-progress").mkdir(parents=True)
    (other / "src").mkdir()
    assert tk.workspace_root(other / "src") == other
    assert not tk.is_git(other)
    assert tk.checkouts(other) == [tk.Checkout(other, None, True)]


def test_no_workspace_says_to_run_init(tmp_path: Path) -> None:
    lonely = tmp_path / "lonely"
    lonely.mkdir()
    with pytest.raises(WorkspaceNotFound) as info:
        tk.workspace_root(lonely)
    assert "mlgate init" in str(info.value) and str(lonely) in str(info.value)
    assert info.value.exit_code == 2


def test_checkouts_main_first_and_gone_worktrees_skipped(git_repo: Path) -> None:
    a = add_worktree(git_repo, "alpha")
    b = add_worktree(git_repo, "beta")
    cos = tk.checkouts(git_repo)
    assert cos[0] == tk.Checkout(git_repo, "main", True)
    assert set(cos[1:]) == {tk.Checkout(a, "codex/alpha", False),
                            tk.Checkout(b, "codex/beta", False)}
    for part in sorted(b.rglob("*"), reverse=True):
        part.unlink() if part.is_file() or part.is_symlink() else part.rmdir()
    b.rmdir()
    assert [c.path for c in tk.checkouts(git_repo)] == [git_repo, a]


def test_discover_reads_git_files_not_git(git_repo: Path, monkeypatch: pytest.MonkeyPatch
                                          ) -> None:
    """An ordinary repository is discovered from git's files (no subprocess: the hooks do
    this on every tool call); with a discovery variable set, git is asked, once."""
    wt = add_worktree(git_repo, "alpha")
    counter = CallCounter(monkeypatch)
    root, cos = tk.discover(wt / "src")
    assert root == git_repo and [c.path for c in cos] == [git_repo, wt]
    assert counter.calls == []
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(git_repo.parent.parent))
    assert tk.discover(wt / "src") == (root, cos)
    assert len(counter.calls) == 1


# --- finding tickets ---------------------------------------------------------------------


def test_find_tickets_across_worktrees(git_repo: Path) -> None:
    alpha = add_worktree(git_repo, "alpha")
    beta = add_worktree(git_repo, "beta")
    make_ticket(alpha, "alpha")
    make_ticket(git_repo, "alpha")  # a stale copy in the main checkout
    make_ticket(beta, "beta", "done")  # archived on its branch, not merged yet
    make_ticket(git_repo, "beta")  # main still has it in progress
    make_ticket(git_repo, "solo")  # --no-worktree ticket in the main checkout
    make_ticket(beta, "solo")  # another worktree's copy loses to the main checkout
    make_ticket(git_repo, "old", "done", state=False)  # done/ needs no state file
    make_ticket(git_repo, "broken", state=False)  # in-progress without a state file
    (git_repo / "tickets" / "in-progress" / ".gitkeep").write_text("")
    (git_repo / "tickets" / "done" / ".hidden").mkdir()

    found = {t.name: t for t in tk.find_tickets(git_repo)}
    assert list(found) == ["alpha", "beta", "old", "solo"]
    assert found["alpha"] == tk.TicketLocation(
        "alpha", alpha / "tickets" / "in-progress" / "alpha", "in-progress", alpha,
        "codex/alpha", True)
    assert found["beta"].folder == beta / "tickets" / "done" / "beta"
    assert found["beta"].location == "done" and found["beta"].own_worktree
    assert found["solo"].checkout == git_repo and not found["solo"].own_worktree
    assert found["solo"].branch == "main"
    assert found["old"].location == "done"
    assert found["alpha"].state_file.is_file()

    assert [t.name for t in tk.find_tickets(git_repo, include_done=False)] == [
        "alpha", "beta", "solo"]
    # from inside a worktree the result is the same
    assert tk.find_tickets(tk.workspace_root(alpha)) == list(found.values())


def test_in_progress_wins_over_done_in_the_same_checkout(git_repo: Path) -> None:
    make_ticket(git_repo, "twice", "done")
    make_ticket(git_repo, "twice", "in-progress")
    [t] = tk.find_tickets(git_repo)
    assert t.location == "in-progress"


def test_custom_branch_prefix(git_repo: Path) -> None:
    wt = add_worktree(git_repo, "gamma", prefix="exp/")
    make_ticket(wt, "gamma")
    make_ticket(git_repo, "gamma")
    [t] = tk.find_tickets(git_repo, branch_prefix="exp/")
    assert t.checkout == wt and t.own_worktree
    [t] = tk.find_tickets(git_repo)  # with codex/ the worktree is not its own
    assert t.checkout == git_repo and not t.own_worktree


def test_find_tickets_without_git(tmp_path: Path) -> None:
    make_ticket(tmp_path, "one")
    make_ticket(tmp_path, "two", "done")
    found = tk.find_tickets(tmp_path)
    assert [(t.name, t.location, t.branch, t.own_worktree) for t in found] == [
        ("one", "in-progress", None, False), ("two", "done", None, False)]


def test_find_tickets_starts_no_git_per_ticket(
        git_repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for i in range(3):
        make_ticket(add_worktree(git_repo, f"w{i}"), f"w{i}")
    for i in range(1000):
        make_ticket(git_repo, f"t{i:04d}")
    counter = CallCounter(monkeypatch)
    found = tk.find_tickets(git_repo)  # its speed is measured by `make bench`, not here
    assert len(found) == 1003
    assert counter.calls == []  # the worktrees come from git's files
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", "/nonexistent")  # git must be asked: once
    assert len(tk.find_tickets(git_repo)) == 1003
    assert len(counter.calls) == 1 and counter.calls[0][3:5] == ["worktree", "list"]


# --- which ticket governs a path ---------------------------------------------------------


def test_ticket_for_path(git_repo: Path) -> None:
    alpha = add_worktree(git_repo, "alpha")
    make_ticket(alpha, "alpha")
    make_ticket(git_repo, "solo")
    make_ticket(git_repo, "old", "done")
    stray = add_worktree(git_repo, "stray")  # a codex/ worktree without a ticket folder

    t = tk.ticket_for_path(git_repo, alpha / "src" / "model.py")
    assert t is not None and t.name == "alpha" and t.own_worktree
    for inside in (alpha / "new" / "file.py", alpha):  # not yet written; the root itself
        t = tk.ticket_for_path(git_repo, inside)
        assert t is not None and t.name == "alpha"
    t = tk.ticket_for_path(git_repo, git_repo / "tickets" / "in-progress" / "solo" / "x.md")
    assert t is not None and t.name == "solo"
    t = tk.ticket_for_path(git_repo, git_repo / "tickets" / "done" / "old" / "notes.md")
    assert t is not None and t.name == "old"
    # the main checkout's stale copy of alpha's folder is still alpha's
    t = tk.ticket_for_path(git_repo, git_repo / "tickets" / "in-progress" / "alpha" / "a.md")
    assert t is not None and t.folder == alpha / "tickets" / "in-progress" / "alpha"
    assert tk.ticket_for_path(git_repo, git_repo / "src" / "model.py") is None
    assert tk.ticket_for_path(git_repo, git_repo / "tickets" / "in-progress") is None
    assert tk.ticket_for_path(git_repo, stray / "src" / "model.py") is None
    assert tk.ticket_for_path(git_repo, git_repo.parent / "elsewhere.py") is None


def test_ticket_for_path_in_nested_worktree(git_repo: Path) -> None:
    """Worktrees configured inside the repository (".worktrees/{ticket}"): the innermost
    checkout decides."""
    wt = git_repo / ".worktrees" / "inner"
    git(git_repo, "worktree", "add", "-q", "-b", "codex/inner", str(wt))
    make_ticket(wt, "inner")
    t = tk.ticket_for_path(git_repo, wt / "src" / "model.py")
    assert t is not None and t.name == "inner"
    assert tk.ticket_for_path(git_repo, git_repo / "src" / "model.py") is None


def test_ticket_for_relative_path(git_repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    alpha = add_worktree(git_repo, "alpha")
    make_ticket(alpha, "alpha")
    monkeypatch.chdir(alpha)
    t = tk.ticket_for_path(git_repo, Path("src/model.py"))
    assert t is not None and t.name == "alpha"


# --- seal key dir ----------------------------------------------------------------------


def test_key_dir(git_repo: Path, tmp_path: Path) -> None:
    wt = add_worktree(git_repo, "alpha")
    assert tk.key_dir(git_repo) == git_repo / ".git" / "mlgate"
    assert tk.key_dir(wt) == git_repo / ".git" / "mlgate"  # outside every worktree
    plain = tmp_path / "plain"
    plain.mkdir()
    assert tk.key_dir(plain) == plain / ".mlgate"
    assert not (git_repo / ".git" / "mlgate").exists()  # not created here
