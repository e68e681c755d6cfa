"""Find tickets across the workspace and all of its git worktrees.

A ticket lives in ``tickets/in-progress/<name>/`` (with its ``workflow-state.md``) or, once
archived, in ``tickets/done/<name>/``. In git mode each ticket normally has its own worktree
on branch ``<branch_prefix><name>``, and the ticket folder lives there; the main checkout may
hold older copies. Discovery reads the worktree list from git's own files
(:func:`mlgate.git.read_worktrees`; one ``git worktree list`` only for an unusual repository)
and scans a directory per checkout: no subprocess at all in the common case.

Standard library only: the hook path imports this module.
"""
from __future__ import annotations

import functools
import os
from mlgate.record import record
from pathlib import Path

from mlgate import git
from mlgate.constants import (
    CONFIG_FILE, DONE, IN_PROGRESS, STATE_FILE, TICKET_NAME_RE, TICKET_NAME_RULE, TICKETS_DIR)
from mlgate.errors import GitError, InvalidTicketName, WorkspaceNotFound

__all__ = [
    "Checkout", "TicketLocation", "validate_name", "workspace_root", "discover", "is_git",
    "checkouts", "find_tickets", "find_tickets_in", "ticket_for_path", "key_dir",
    "DEFAULT_BRANCH_PREFIX", "KEY_DIR_NAME",
]

DEFAULT_BRANCH_PREFIX = "codex/"
KEY_DIR_NAME = "mlgate"  # <git common dir>/mlgate
NON_GIT_KEY_DIR = ".mlgate"  # <workspace>/.mlgate


@record(frozen=True)
class Checkout:
    """A working copy of the workspace: the main checkout or a linked worktree."""

    path: Path
    branch: str | None
    is_main: bool


@record(frozen=True)
class TicketLocation:
    name: str
    folder: Path  # <checkout>/tickets/<in-progress|done>/<name>
    location: str  # "in-progress" | "done"
    checkout: Path
    branch: str | None  # the checkout's branch
    own_worktree: bool  # the checkout's branch is <branch_prefix><name>

    @property
    def state_file(self) -> Path:
        return self.folder / STATE_FILE


# --- names --------------------------------------------------------------------------


def validate_name(name: str, branch_prefix: str = DEFAULT_BRANCH_PREFIX) -> None:
    """Raise :class:`InvalidTicketName` unless ``name`` is a valid ticket name.

    The rule (``constants.TICKET_NAME_RULE``): 1-63 characters of ``a-z``, ``0-9`` and
    ``-``, starting with a letter or digit, not ending in ``-`` (nor ``.lock``); plain
    ASCII only (no look-alike letters); and ``<branch_prefix><name>`` must pass
    ``git check-ref-format --branch`` when git is installed.
    """
    if not isinstance(name, str) or not _valid_name(name, branch_prefix):
        raise InvalidTicketName(name if isinstance(name, str) else repr(name), TICKET_NAME_RULE)


@functools.lru_cache(maxsize=1024)
def _valid_name(name: str, branch_prefix: str) -> bool:
    if not name.isascii():
        return False
    if TICKET_NAME_RE.fullmatch(name) is None:
        return False
    if name.endswith(("-", ".lock")) or name in (".", "..") or "/" in name or "\\" in name:
        return False
    try:
        return git.check_ref_format(f"{branch_prefix}{name}")
    except GitError:  # git is not installed: the regex is the rule
        return True


# --- workspace ----------------------------------------------------------------------


def _existing_dir(path: str | Path) -> Path:
    p = Path(os.path.abspath(path))
    while not p.is_dir():
        if p.parent == p:
            break
        p = p.parent
    return p


def _root_from_worktrees(start: Path, entries: list[git.Worktree]) -> Path:
    main = entries[0] if entries else None
    if main is not None and not main.bare:
        return main.path
    # a bare main repository: the worktree holding `start` is the workspace
    best: Path | None = None
    for entry in entries:
        if not entry.bare and _contains(entry.path, start):
            if best is None or len(entry.path.parts) > len(best.parts):
                best = entry.path
    if best is None:
        raise WorkspaceNotFound(
            f"{start} is inside a bare git repository, not a working tree\n"
            f"hint: run mlgate inside a worktree of the repository", path=str(start))
    return best


def _non_git_root(start: Path) -> Path | None:
    for candidate in (start, *start.parents):
        if (candidate / CONFIG_FILE).is_file() or (candidate / TICKETS_DIR).is_dir():
            return candidate
    return None


def workspace_root(path: str | Path) -> Path:
    """The workspace containing ``path``.

    In a git repository: the root of the *main* worktree (also from inside a linked
    worktree). Elsewhere: the nearest ancestor holding ``mlgate.yaml`` or ``tickets/``.
    """
    return discover(path)[0]


def discover(path: str | Path) -> tuple[Path, list[Checkout]]:
    """:func:`workspace_root` and :func:`checkouts` together, with one git call."""
    start = _existing_dir(path)
    entries = git.try_worktrees(start)
    if entries:
        root = _root_from_worktrees(start, entries)
        return root, _to_checkouts(entries)
    root = _non_git_root(start)
    if root is None:
        raise WorkspaceNotFound(
            f"no mlgate workspace at or above {start}: not a git repository, and no "
            f"{CONFIG_FILE} or {TICKETS_DIR}/ folder found\nhint: run `mlgate init` in the "
            f"project's root folder", path=str(start))
    return root, [Checkout(root, None, True)]


def is_git(root: str | Path) -> bool:
    """True when ``root`` is the top of a git working tree (``.git`` folder or file)."""
    return os.path.lexists(Path(root) / ".git")


def _to_checkouts(entries: list[git.Worktree]) -> list[Checkout]:
    return [Checkout(e.path, e.branch, e.is_main) for e in entries
            if not e.bare and not e.prunable]


def checkouts(root: str | Path) -> list[Checkout]:
    """Every checkout of the workspace, the main one first (see :func:`git.try_worktrees`).
    Worktrees whose folder is gone are left out. Non-git: the workspace itself."""
    root = Path(root)
    if not is_git(root):
        return [Checkout(root, None, True)]
    entries = git.try_worktrees(root)
    if entries is None:
        # `.git` exists but git cannot read it (or is not installed): report why
        git.worktrees(root)
        return [Checkout(root, None, True)]  # pragma: no cover - worktrees() raised
    return _to_checkouts(entries)


# --- tickets ------------------------------------------------------------------------


def _scan(checkout: Checkout, include_done: bool) -> list[tuple[str, str, Path]]:
    """(name, location, folder) of the ticket folders of one checkout."""
    found: list[tuple[str, str, Path]] = []
    base = checkout.path / TICKETS_DIR
    for location in (IN_PROGRESS, DONE) if include_done else (IN_PROGRESS,):
        folder = base / location
        try:
            with os.scandir(folder) as it:
                entries = [e for e in it if not e.name.startswith(".")]
        except (FileNotFoundError, NotADirectoryError, PermissionError):
            continue
        for entry in entries:
            try:
                if not entry.is_dir():
                    continue
            except OSError:
                continue
            path = Path(entry.path)
            if location == IN_PROGRESS and not (path / STATE_FILE).is_file():
                continue
            found.append((entry.name, location, path))
    return found


def find_tickets_in(checkout_list: list[Checkout], branch_prefix: str = DEFAULT_BRANCH_PREFIX,
                    include_done: bool = True) -> list[TicketLocation]:
    """:func:`find_tickets` over an already known list of checkouts."""
    best: dict[str, tuple[tuple[int, int], TicketLocation]] = {}
    for checkout in checkout_list:
        for name, location, folder in _scan(checkout, include_done):
            own = checkout.branch is not None and checkout.branch == f"{branch_prefix}{name}"
            tier = 0 if own else 1 if checkout.is_main else 2
            rank = (tier, 0 if location == IN_PROGRESS else 1)
            if name in best and best[name][0] <= rank:
                continue
            best[name] = (rank, TicketLocation(
                name=name, folder=folder, location=location, checkout=checkout.path,
                branch=checkout.branch, own_worktree=own))
    return [best[name][1] for name in sorted(best)]


def find_tickets(root: str | Path, branch_prefix: str = DEFAULT_BRANCH_PREFIX,
                 include_done: bool = True) -> list[TicketLocation]:
    """Every ticket of the workspace, each name once, sorted by name.

    Scans ``tickets/in-progress/*/workflow-state.md`` and ``tickets/done/*/`` in every
    checkout. A name found in several places resolves to its own worktree (branch
    ``<branch_prefix><name>``) first, then the main checkout, then any other worktree;
    within one checkout ``in-progress`` wins over ``done``.
    """
    return find_tickets_in(checkouts(root), branch_prefix, include_done)


def _contains(folder: Path, path: Path) -> bool:
    return path == folder or folder in path.parents


def _real(path: str | Path) -> Path:
    try:
        return Path(path).resolve()
    except OSError:
        return Path(os.path.abspath(path))


def ticket_for_path(root: str | Path, path: str | Path,
                    branch_prefix: str = DEFAULT_BRANCH_PREFIX,
                    checkout_list: list[Checkout] | None = None) -> TicketLocation | None:
    """The ticket governing ``path``: the one whose own worktree contains it, else the one
    whose folder (in any checkout) contains it; None when no ticket does.

    ``path`` may be relative (to the current directory). The innermost checkout containing
    ``path`` is the one that counts (worktrees may be nested inside the main checkout).
    """
    cos = checkout_list if checkout_list is not None else checkouts(root)
    target = _real(path)
    holder: Checkout | None = None
    holder_real: Path | None = None
    for co in cos:
        real = _real(co.path)
        if _contains(real, target) and (holder_real is None
                                        or len(real.parts) > len(holder_real.parts)):
            holder, holder_real = co, real
    if holder is None or holder_real is None:
        return None
    branch = holder.branch or ""
    rel = target.relative_to(holder_real).parts
    in_folder = len(rel) >= 3 and rel[0] == TICKETS_DIR and rel[1] in (IN_PROGRESS, DONE)
    if not branch.startswith(branch_prefix) and not in_folder:
        return None  # (no ticket can govern it: spare the scan of every ticket folder)
    tickets = {t.name: t for t in find_tickets_in(cos, branch_prefix)}
    if branch.startswith(branch_prefix):
        own = tickets.get(branch[len(branch_prefix):])
        if own is not None and own.own_worktree:
            return own
    if in_folder:
        return tickets.get(rel[2])
    return None


def key_dir(root: str | Path) -> Path:
    """The folder of the seal key: ``<git common dir>/mlgate`` in git mode (outside every
    worktree, shared by all), ``<root>/.mlgate`` otherwise. Not created here."""
    root = Path(root)
    dot_git = root / ".git"
    if dot_git.is_dir():
        return dot_git / KEY_DIR_NAME
    if os.path.lexists(dot_git):  # a linked worktree or a separate git dir
        return git.common_dir(root) / KEY_DIR_NAME
    return root / NON_GIT_KEY_DIR
