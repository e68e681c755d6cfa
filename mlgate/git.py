"""Every git query and command mlgate needs, as small functions over :func:`mlgate.util.run`.

Each function takes the directory to run in (``cwd``) first. A failing git command raises
:class:`mlgate.errors.GitError` carrying the command, its exit code, git's stderr and a hint
saying what to do. Paths that git reports are relative to the repository root unless a
function says otherwise.

Standard library only: the hook path imports this module.

Environment: git exports ``GIT_DIR``, ``GIT_INDEX_FILE`` and friends to the hooks it runs
(``GIT_DIR`` points at ``.git/worktrees/<name>`` inside a linked worktree). Passed on, they
would make a query about *another* worktree read the committing worktree's repository or
index, so every call here drops them and lets git discover the repository from ``cwd``.
:func:`staged_files` alone keeps ``GIT_INDEX_FILE`` when it belongs to ``cwd``'s repository,
because during ``git commit -a`` / ``git commit PATH`` the index being committed is that
temporary file.
"""
from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from mlgate.record import record
from pathlib import Path

from mlgate.errors import GitError
from mlgate.util import Completed, run, spawn

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    import subprocess

__all__ = [
    "Worktree", "is_repo", "toplevel", "git_dir", "common_dir", "hooks_dir", "config_get",
    "current_branch", "head", "rev_parse", "worktrees", "try_worktrees", "read_worktrees",
    "main_worktree",
    "parse_worktree_list", "remotes", "remote_default_branch", "fetch", "push",
    "branch_exists", "ref_exists", "check_ref_format", "create_branch", "add_worktree",
    "remove_worktree", "prune_worktrees", "delete_branch", "merge_base", "is_ancestor",
    "commit_exists", "changed_files", "dirty_files", "is_dirty", "staged_files", "add",
    "commit", "merge_no_ff", "merge_ff_only", "switch", "move",
]

# Variables with which git points a hook at "its" repository / index; see the module docstring.
_REPO_ENV = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_PREFIX", "GIT_COMMON_DIR")
FETCH_TIMEOUT = 120.0
_NO_GIT_HINT = "install git (https://git-scm.com) and make sure it is on PATH"
_NOT_REPO_HINT = "run this inside a git repository (or `git init` one)"
_ZERO_SHA = "0" * 40
_GENERIC_HINT = "see git's message above"


@record(frozen=True)
class Worktree:
    """One entry of ``git worktree list --porcelain``."""

    path: Path
    head: str | None  # None: no commit yet
    branch: str | None  # short name ("codex/x"); None when detached or bare
    bare: bool = False
    detached: bool = False
    is_main: bool = False
    locked: bool = False
    prunable: bool = False  # its folder is gone; `git worktree prune` would drop it


# --- plumbing ---------------------------------------------------------------------


def _env(keep_index: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _REPO_ENV}
    if keep_index is not None:
        env["GIT_INDEX_FILE"] = keep_index
    return env


def _run(cwd: str | Path | None, args: Sequence[str], *, env: dict[str, str] | None = None,
         input: str | None = None, timeout: float | None = None,
         ) -> subprocess.CompletedProcess[str] | Completed:
    cmd = ["git", *args]
    if cwd is not None and not os.path.isdir(cwd):
        if os.path.exists(cwd):
            raise GitError(cmd, -1, f"not a directory: {cwd}", "pass a directory")
        raise GitError(cmd, -1, f"no such directory: {cwd}", "pass an existing directory")
    try:
        if input is None and timeout is None:  # the common case: posix_spawn, `git -C cwd`
            where = [] if cwd is None else ["-C", os.fspath(cwd)]
            return spawn(["git", *where, *args], env if env is not None else _env())
        return run(cmd, cwd=cwd, env=env if env is not None else _env(), input=input,
                   timeout=timeout)
    except FileNotFoundError as exc:
        if cwd is not None and not Path(cwd).is_dir():
            raise GitError(cmd, -1, f"no such directory: {cwd}",
                           "pass an existing directory") from exc
        raise GitError(cmd, -1, "git: command not found", _NO_GIT_HINT) from exc
    except NotADirectoryError as exc:
        raise GitError(cmd, -1, f"not a directory: {cwd}", "pass a directory") from exc
    except UnicodeDecodeError as exc:
        raise GitError(cmd, -1, f"git printed text that is not valid in the locale's "
                                f"encoding ({exc.reason})",
                       "rename files whose names are not valid UTF-8, or run with a UTF-8 "
                       "locale (e.g. LC_ALL=C.UTF-8)") from exc


def _git(cwd: str | Path | None, *args: str, hint: str = "", ok: Iterable[int] = (0,),
         env: dict[str, str] | None = None, input: str | None = None,
         timeout: float | None = None) -> subprocess.CompletedProcess[str] | Completed:
    """Run ``git ARGS`` in ``cwd``; raise :class:`GitError` unless the exit code is in ``ok``."""
    proc = _run(cwd, args, env=env, input=input, timeout=timeout)
    if proc.returncode not in tuple(ok):
        specific = _hint_for(proc.stderr)
        raise GitError(["git", *args], proc.returncode, proc.stderr or proc.stdout,
                       specific if specific != _GENERIC_HINT else hint or specific)
    return proc


def _out(cwd: str | Path | None, *args: str, hint: str = "") -> str:
    return _git(cwd, *args, hint=hint).stdout.strip()


def _hint_for(stderr: str) -> str:
    low = stderr.lower()
    if "not a git repository" in low:
        return _NOT_REPO_HINT
    if "please tell me who you are" in low or "user.email" in low:
        return ("set your identity: `git config --global user.name NAME` and "
                "`git config --global user.email EMAIL`")
    if "index.lock" in low:
        return ("another git process is running in this repository; wait for it, or remove "
                "the stale .git/index.lock if none is")
    return _GENERIC_HINT


def _abs(cwd: str | Path, out: str) -> Path:
    p = Path(out)
    return p if p.is_absolute() else (Path(cwd) / p).resolve()


def _z(out: str) -> list[str]:
    return [p for p in out.split("\0") if p]


# --- repository -------------------------------------------------------------------


def is_repo(path: str | Path) -> bool:
    """True when ``path`` (an existing directory) is inside a git working tree."""
    if not Path(path).is_dir():
        return False
    try:
        proc = _run(path, ["rev-parse", "--is-inside-work-tree"])
    except GitError:
        return False
    return proc.returncode == 0 and proc.stdout.strip() == "true"


def toplevel(path: str | Path) -> Path:
    """The root of the working tree containing ``path`` (a linked worktree's own root)."""
    return Path(_out(path, "rev-parse", "--show-toplevel", hint=_NOT_REPO_HINT))


def git_dir(path: str | Path) -> Path:
    """The absolute git dir (``.git``, or ``.git/worktrees/<name>`` in a linked worktree)."""
    return Path(_out(path, "rev-parse", "--absolute-git-dir", hint=_NOT_REPO_HINT))


def common_dir(path: str | Path) -> Path:
    """The absolute common dir shared by all worktrees (the main ``.git``)."""
    return _abs(path, _out(path, "rev-parse", "--git-common-dir", hint=_NOT_REPO_HINT))


def config_get(path: str | Path, key: str, is_path: bool = False) -> str | None:
    """``git config --get KEY`` (``--path`` expands ``~`` when ``is_path``); None when unset."""
    args = ["config", *(["--path"] if is_path else []), "--get", key]
    proc = _git(path, *args, ok=(0, 1), hint=f"check the value of {key} in your git config")
    return proc.stdout.rstrip("\n") if proc.returncode == 0 else None


def hooks_dir(path: str | Path) -> Path:
    """Where git runs hooks from: ``core.hooksPath`` when set (relative to the working tree
    root), else ``<common dir>/hooks`` (shared by every worktree)."""
    custom = config_get(path, "core.hooksPath", is_path=True)
    if custom:
        p = Path(custom)
        return p if p.is_absolute() else (toplevel(path) / p).resolve()
    return common_dir(path) / "hooks"


def current_branch(path: str | Path) -> str | None:
    """Short name of the checked-out branch; None when HEAD is detached."""
    proc = _git(path, "symbolic-ref", "--quiet", "HEAD", ok=(0, 1), hint=_NOT_REPO_HINT)
    ref = proc.stdout.strip()
    if proc.returncode != 0 or not ref.startswith("refs/heads/"):
        return None
    return ref[len("refs/heads/"):]


def rev_parse(path: str | Path, ref: str) -> str | None:
    """The object name ``ref`` resolves to, or None when it does not resolve."""
    if not ref or ref.startswith("-"):
        return None
    proc = _git(path, "rev-parse", "--verify", "--quiet", ref, ok=(0, 1, 128),
                hint=_NOT_REPO_HINT)
    return proc.stdout.strip() or None if proc.returncode == 0 else None


def head(path: str | Path) -> str | None:
    """The sha of HEAD; None when the branch has no commit yet."""
    return rev_parse(path, "HEAD")


def ref_exists(path: str | Path, ref: str) -> bool:
    return rev_parse(path, ref) is not None


def branch_exists(path: str | Path, name: str) -> bool:
    """True when the local branch ``refs/heads/<name>`` exists."""
    if not name or name.startswith("-"):
        return False
    proc = _git(path, "show-ref", "--verify", "--quiet", f"refs/heads/{name}", ok=(0, 1),
                hint=_NOT_REPO_HINT)
    return proc.returncode == 0


def commit_exists(path: str | Path, sha: str) -> bool:
    """True when ``sha`` names a commit in this repository."""
    if not sha or sha.startswith("-"):
        return False
    proc = _git(path, "cat-file", "-e", f"{sha}^{{commit}}", ok=(0, 1, 128),
                hint=_NOT_REPO_HINT)
    return proc.returncode == 0


def check_ref_format(name: str) -> bool:
    """``git check-ref-format --branch NAME``: can ``name`` be a branch name?

    Raises :class:`GitError` only when git itself cannot run.
    """
    if not name or name.startswith("-") or "\0" in name or "@{" in name:
        return False
    proc = _run(None, ["check-ref-format", "--branch", name])
    return proc.returncode == 0


# --- worktrees --------------------------------------------------------------------


def parse_worktree_list(out: str) -> list[Worktree]:
    """Parse ``git worktree list --porcelain [-z]`` output; the first entry is the main one."""
    tokens = out.split("\0") if "\0" in out else out.split("\n")
    blocks: list[list[str]] = [[]]
    for tok in tokens:
        if tok:
            blocks[-1].append(tok)
        elif blocks[-1]:
            blocks.append([])
    result: list[Worktree] = []
    for lines in blocks:
        if not lines or not lines[0].startswith("worktree "):
            continue
        path = Path(lines[0][len("worktree "):])
        sha: str | None = None
        branch: str | None = None
        flags: set[str] = set()
        for ln in lines[1:]:
            word, _, rest = ln.partition(" ")
            if word == "HEAD":
                sha = rest if rest and rest != _ZERO_SHA else None
            elif word == "branch":
                branch = rest[len("refs/heads/"):] if rest.startswith("refs/heads/") else rest
            else:
                flags.add(word)
        result.append(Worktree(path=path, head=sha, branch=branch, bare="bare" in flags,
                               detached="detached" in flags, is_main=not result,
                               locked="locked" in flags, prunable="prunable" in flags))
    return result


_WORKTREE_Z: list[bool] = []  # [True] once `worktree list -z` worked, [False] if unsupported


def worktree_list_output(path: str | Path) -> str:
    """Raw ``git worktree list --porcelain -z`` (plain ``--porcelain`` on git < 2.36)."""
    if not _WORKTREE_Z or _WORKTREE_Z[0]:
        proc = _run(path, ["worktree", "list", "--porcelain", "-z"])
        if proc.returncode == 0:
            _WORKTREE_Z[:] = [True]
            return proc.stdout
        if proc.returncode != 129:  # 129: unknown option on an older git
            raise GitError(["git", "worktree", "list", "--porcelain", "-z"], proc.returncode,
                           proc.stderr, _hint_for(proc.stderr))
        _WORKTREE_Z[:] = [False]
    return _git(path, "worktree", "list", "--porcelain", hint=_NOT_REPO_HINT).stdout


def worktrees(path: str | Path) -> list[Worktree]:
    """Every worktree of the repository containing ``path``; the main one first."""
    return parse_worktree_list(worktree_list_output(path))


def try_worktrees(path: str | Path) -> list[Worktree] | None:
    """:func:`worktrees`, or None when ``path`` is not in a git repository (or git is not
    installed). Read from git's own files (:func:`read_worktrees`) when the repository is an
    ordinary one, else one ``git worktree list``."""
    fast = read_worktrees(path)
    if fast is not None:
        return fast
    try:
        return worktrees(path)
    except GitError:
        return None


# Variables that change how git finds the repository: with any of them set, ask git.
_DISCOVERY_ENV = ("GIT_CEILING_DIRECTORIES", "GIT_DISCOVERY_ACROSS_FILESYSTEM",
                  "GIT_CONFIG_PARAMETERS", "GIT_CONFIG_COUNT")
_HEX = frozenset("0123456789abcdef")


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read()
    except (OSError, UnicodeDecodeError):
        return None


def _is_sha(text: str) -> bool:
    return len(text) in (40, 64) and set(text) <= _HEX


def _resolve_head(common: str, head_text: str) -> tuple[str | None, str | None] | None:
    """(sha, short branch) of a HEAD file's text; None when it is something unusual."""
    head_text = head_text.strip()
    if _is_sha(head_text):
        return head_text, None
    if not head_text.startswith("ref: refs/"):
        return None
    ref = head_text[5:].strip()
    branch = ref[len("refs/heads/"):] if ref.startswith("refs/heads/") else ref
    loose = _read(os.path.join(common, *ref.split("/")))
    if loose is not None:
        sha = loose.strip()
        return (sha, branch) if _is_sha(sha) else None  # (a symbolic ref: ask git)
    packed = _read(os.path.join(common, "packed-refs")) or ""
    for line in packed.splitlines():
        if line.endswith(" " + ref) and _is_sha(line[: line.index(" ")]):
            return line[: line.index(" ")], branch
    return None, branch  # a branch with no commit yet


def read_worktrees(path: str | Path) -> list[Worktree] | None:
    """What ``git worktree list`` would say, read from git's files (no subprocess: the hooks
    call this on every tool use), or None when the repository is not an ordinary one and git
    itself should be asked.

    Ordinary: found by walking up from ``path`` to a ``.git`` folder (the main worktree) or a
    ``.git`` file naming ``<common>/worktrees/<id>`` (a linked one), a common dir called
    ``.git`` owned by this user, not bare, without ``core.worktree``, a ref storage other than
    files, or an environment variable that changes discovery. The layout read is git's
    documented one (gitrepository-layout(5)): ``worktrees/<id>/gitdir`` holds the path of the
    worktree's ``.git`` file, ``worktrees/<id>/HEAD`` its HEAD, ``worktrees/<id>/locked`` marks
    it locked; refs are loose files or ``packed-refs``."""
    if any(os.environ.get(v) for v in _DISCOVERY_ENV):
        return None
    d = os.path.abspath(os.fspath(path))
    while True:
        dotgit = os.path.join(d, ".git")
        if os.path.lexists(dotgit):
            break
        parent = os.path.dirname(d)
        if parent == d:
            return None
        d = parent
    if os.path.isdir(dotgit):
        common = dotgit
        if os.path.exists(os.path.join(common, "commondir")):
            return None
    else:
        text = _read(dotgit)
        if text is None or not text.startswith("gitdir: "):
            return None
        admin = os.path.normpath(os.path.join(d, text[8:].strip()))
        rel = _read(os.path.join(admin, "commondir"))
        if rel is None:
            return None  # `--separate-git-dir`: ask git
        common = os.path.normpath(os.path.join(admin, rel.strip()))
    try:
        owner_ok = os.stat(common).st_uid == os.getuid()  # (git's safe.directory check)
    except OSError:
        return None
    if os.path.basename(common) != ".git" or not owner_ok:
        return None
    config = _read(os.path.join(common, "config"))
    if config is None or not os.path.isdir(os.path.join(common, "objects")):
        return None
    for line in config.lower().splitlines():
        if line.lstrip().startswith("[include"):  # [include] / [includeIf]: ask git
            return None
        key, eq, value = line.strip().partition("=")
        key, value = key.strip(), value.strip()
        if eq and (key in ("worktree", "refstorage", "worktreeconfig")
                   or (key == "bare" and value == "true")):
            return None
    main_head = _read(os.path.join(common, "HEAD"))
    resolved = None if main_head is None else _resolve_head(common, main_head)
    if resolved is None:
        return None
    out = [Worktree(path=Path(os.path.realpath(os.path.dirname(common))), head=resolved[0],
                    branch=resolved[1], detached=resolved[1] is None, is_main=True)]
    admin_root = os.path.join(common, "worktrees")
    try:
        ids = sorted(os.listdir(admin_root))
    except FileNotFoundError:
        ids = []
    except OSError:
        return None
    for wt_id in ids:
        admin = os.path.join(admin_root, wt_id)
        if not os.path.isdir(admin):
            continue
        gitfile = _read(os.path.join(admin, "gitdir"))
        head_text = _read(os.path.join(admin, "HEAD"))
        if not gitfile or head_text is None:
            return None  # a damaged entry: git knows what to say
        target = os.path.normpath(os.path.join(admin, gitfile.strip()))
        resolved = _resolve_head(common, head_text)
        if resolved is None:
            return None
        wt_path = target[:-len("/.git")] if target.endswith("/.git") else target
        out.append(Worktree(path=Path(wt_path), head=resolved[0], branch=resolved[1],
                            detached=resolved[1] is None,
                            locked=os.path.exists(os.path.join(admin, "locked")),
                            prunable=not os.path.exists(target)))
    return out


def main_worktree(path: str | Path) -> Path:
    """The root of the main worktree, also when ``path`` is inside a linked worktree."""
    return worktrees(path)[0].path


def add_worktree(path: str | Path, wt_path: str | Path, branch: str,
                 start: str | None = None) -> Path:
    """Check ``branch`` out in a new worktree at ``wt_path`` and return its absolute path.

    An existing branch is reused as it is (``start`` is then ignored); a missing one is created
    from ``start`` (default: HEAD), without upstream tracking. A worktree that already exists
    at ``wt_path`` on ``branch`` is reused; one whose folder was deleted by hand is pruned
    first.
    """
    wt = Path(wt_path)
    if not wt.is_absolute():
        wt = Path(path) / wt
    wt = Path(os.path.abspath(wt))
    entries = worktrees(path)
    stale = [e for e in entries[1:] if not e.path.exists()
             and (e.branch == branch or _same_path(e.path, wt))]
    if stale:  # its folder was deleted by hand: forget it, as `git worktree prune` does
        prune_worktrees(path)
        entries = worktrees(path)
    for entry in entries:
        if _same_path(entry.path, wt):
            if entry.branch == branch:
                return entry.path
            raise GitError(["git", "worktree", "add", str(wt), branch], -1,
                           f"{wt} is already a worktree on {entry.branch or 'a detached HEAD'}",
                           f"pick another folder, or remove it with `git worktree remove {wt}`")
        if entry.branch == branch and not entry.bare:
            hint = (f"its folder is gone but the worktree is locked: run `git worktree "
                    f"unlock {entry.path}` and `git worktree prune`, then try again"
                    if not entry.path.exists() else
                    f"use that worktree, or remove it with `git worktree remove {entry.path}`")
            raise GitError(["git", "worktree", "add", str(wt), branch], -1,
                           f"branch {branch!r} is already checked out at {entry.path}", hint)
    if branch_exists(path, branch):
        args = ["worktree", "add", str(wt), branch]
    else:
        if not check_ref_format(branch):
            raise GitError(["git", "worktree", "add", "-b", branch], -1,
                           f"{branch!r} is not a valid branch name",
                           "see `git help check-ref-format` for the rules")
        args = ["worktree", "add", "--no-track", "-b", branch, str(wt), *([start] if start else [])]
    _git(path, *args, hint=f"check that {wt} does not exist yet or is an empty folder, "
                           f"and that the start point exists")
    return wt


def remove_worktree(path: str | Path, wt_path: str | Path, force: bool = False) -> None:
    """``git worktree remove [--force]``. Without ``force`` a worktree with changes stays."""
    args = ["worktree", "remove", *(["--force"] if force else []), str(wt_path)]
    _git(path, *args, hint="commit or discard the changes in that worktree first "
                           "(or remove it with force=True, which loses them)")


def prune_worktrees(path: str | Path) -> None:
    """``git worktree prune``: forget worktrees whose folders are gone."""
    _git(path, "worktree", "prune")


def _same_path(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return os.path.abspath(a) == os.path.abspath(b)


# --- branches and refs ------------------------------------------------------------


def create_branch(path: str | Path, name: str, start: str) -> None:
    """Create local branch ``name`` at ``start`` (no upstream tracking)."""
    _git(path, "branch", "--no-track", name, start,
         hint=f"check that {name!r} is a valid, new branch name and that {start!r} exists")


def delete_branch(path: str | Path, name: str) -> None:
    """``git branch -d`` (refuses a branch that is not merged)."""
    _git(path, "branch", "-d", name,
         hint=f"merge {name!r} first, or delete it by hand with `git branch -D {name}` "
              f"(its commits are then only reachable from the reflog)")


def switch(path: str | Path, branch: str) -> None:
    """Check out an existing local branch in the worktree at ``path``."""
    _git(path, "checkout", "--quiet", branch, "--",
         hint="commit or stash your changes first, and check that the branch exists and "
              "is not checked out in another worktree")


def remotes(path: str | Path) -> list[str]:
    return _out(path, "remote", hint=_NOT_REPO_HINT).split()


def remote_default_branch(path: str | Path, remote: str = "origin") -> str | None:
    """The branch ``refs/remotes/<remote>/HEAD`` points at (e.g. ``main``); None if unset."""
    proc = _git(path, "symbolic-ref", "--quiet", f"refs/remotes/{remote}/HEAD", ok=(0, 1, 128),
                hint=_NOT_REPO_HINT)
    ref = proc.stdout.strip()
    prefix = f"refs/remotes/{remote}/"
    if proc.returncode != 0 or not ref.startswith(prefix):
        return None
    return ref[len(prefix):]


def fetch(path: str | Path, remote: str, timeout: float = FETCH_TIMEOUT) -> tuple[bool, str]:
    """``git fetch REMOTE``. Never raises: returns ``(ok, one-line message)``.

    Never prompts for credentials (``GIT_TERMINAL_PROMPT=0``); gives up after ``timeout``.
    """
    import subprocess

    env = _env()
    env["GIT_TERMINAL_PROMPT"] = "0"
    try:
        proc = _run(path, ["fetch", remote], env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        return False, f"git fetch {remote} timed out after {timeout:.0f}s"
    except GitError as exc:
        return False, f"git fetch {remote} failed: {exc.stderr.strip()}"
    if proc.returncode == 0:
        updated = sum(1 for ln in proc.stderr.splitlines() if " -> " in ln)
        return True, (f"git fetch {remote}: ok, {updated} ref(s) updated" if updated
                      else f"git fetch {remote}: ok, already up to date")
    return False, f"git fetch {remote} failed ({proc.returncode}): {_last_line(proc.stderr)}"


def push(path: str | Path, remote: str, refspec: str,
         timeout: float = FETCH_TIMEOUT) -> tuple[bool, str]:
    """``git push REMOTE REFSPEC``. Never raises: returns ``(ok, one-line message)``."""
    import subprocess

    env = _env()
    env["GIT_TERMINAL_PROMPT"] = "0"
    try:
        proc = _run(path, ["push", "--quiet", remote, refspec], env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        return False, f"git push {remote} {refspec} timed out after {timeout:.0f}s"
    except GitError as exc:
        return False, f"git push {remote} {refspec} failed: {exc.stderr.strip()}"
    if proc.returncode == 0:
        return True, f"git push {remote} {refspec}: ok"
    return False, (f"git push {remote} {refspec} failed ({proc.returncode}): "
                   f"{_last_line(proc.stderr)}")


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    fatal = [ln for ln in lines if ln.lower().startswith(("fatal:", "error:"))]
    return (fatal or lines or ["no output"])[0]


def merge_base(path: str | Path, a: str, b: str) -> str | None:
    """The best common ancestor of ``a`` and ``b``; None when they share no history."""
    proc = _git(path, "merge-base", a, b, ok=(0, 1),
                hint=f"check that {a!r} and {b!r} exist")
    return proc.stdout.strip() or None if proc.returncode == 0 else None


def is_ancestor(path: str | Path, a: str, b: str) -> bool:
    """True when commit ``a`` is an ancestor of (or equal to) ``b``."""
    proc = _git(path, "merge-base", "--is-ancestor", a, b, ok=(0, 1),
                hint=f"check that {a!r} and {b!r} exist")
    return proc.returncode == 0


# --- files --------------------------------------------------------------------------


def changed_files(path: str | Path, since: str, until: str = "HEAD") -> list[str]:
    """Files that differ between commits ``since`` and ``until`` (added, modified, deleted),
    relative to the repository root; a renamed file is listed under its new name."""
    out = _git(path, "diff", "--name-only", "-z", "-M", "--no-ext-diff", since, until,
               "--", hint=f"check that {since!r} and {until!r} are commits of this "
                          f"repository").stdout
    return _z(out)


def _status_entries(path: str | Path, untracked: bool,
                    pathspecs: Sequence[str] = ()) -> list[tuple[str, str]]:
    out = _git(path, "status", "--porcelain", "-z",
               f"--untracked-files={'all' if untracked else 'no'}",
               *(["--", *pathspecs] if pathspecs else []), hint=_NOT_REPO_HINT).stdout
    parts = out.split("\0")
    entries: list[tuple[str, str]] = []
    i = 0
    while i < len(parts):
        item = parts[i]
        i += 1
        if len(item) < 4:
            continue
        xy, name = item[:2], item[3:]
        if "R" in xy or "C" in xy:
            i += 1  # the next field is the original path
        entries.append((xy, name))
    return entries


def dirty_files(path: str | Path, untracked: bool = False) -> list[str]:
    """Tracked files that are modified, staged or deleted (and, with ``untracked``, the
    untracked files), relative to the repository root; a rename gives its new name."""
    return [name for xy, name in _status_entries(path, untracked)
            if xy != "!!" and (untracked or xy != "??")]


def uncommitted(path: str | Path, pathspecs: Sequence[str]) -> list[str]:
    """Files under ``pathspecs`` that are untracked, staged or modified (not ignored)."""
    return [name for xy, name in _status_entries(path, True, pathspecs) if xy != "!!"]


def files_in(path: str | Path, ref: str, pathspecs: Sequence[str]) -> list[str]:
    """The files under ``pathspecs`` in the tree of ``ref`` (empty when ``ref`` does not
    resolve, e.g. a repository without a commit)."""
    if rev_parse(path, ref) is None:
        return []
    return _z(_git(path, "ls-tree", "-r", "-z", "--name-only", ref, "--", *pathspecs).stdout)
VERIFIED_TAG = "mlgate/verified/{ticket}"


def create_signed_tag(path: str | Path, tag: str, message: str, commit: str = "HEAD") -> None:
    """``git tag -s``: an annotated tag signed with the user's key (``user.signingkey``,
    ``gpg.format ssh|openpgp``); a passphrase or a confirming key agent asks the person."""
    _git(path, "tag", "-s", "-m", message, tag, commit,
         hint="configure a signing key (e.g. `git config gpg.format ssh` and `git config "
              "user.signingkey ~/.ssh/id_ed25519.pub`), then run it again")


def verify_tag(path: str | Path, tag: str) -> tuple[bool, str]:
    """``git verify-tag``: ``(True, what git says of the signature)`` when the tag carries a
    good signature by an allowed key (SSH: ``gpg.ssh.allowedSignersFile``; GPG: the
    keyring), else ``(False, why)``."""
    proc = _run(path, ["verify-tag", tag])
    text = " ".join((proc.stderr + proc.stdout).split())
    if proc.returncode == 0:
        return True, text or "good signature"
    return False, text or f"git verify-tag exited {proc.returncode}"


def untracked_files(path: str | Path) -> list[str]:
    """Untracked files that git does not ignore, relative to the repository root."""
    return [name for xy, name in _status_entries(path, True) if xy == "??"]


def is_dirty(path: str | Path, untracked: bool = False) -> bool:
    return bool(dirty_files(path, untracked))


def staged_files(path: str | Path, index: str | None = None) -> list[str]:
    """Files whose staged content differs from HEAD (added, modified, deleted; a rename
    gives both names), relative to the repository root.

    Inside a pre-commit hook this is what the commit will contain: git's temporary index
    (``GIT_INDEX_FILE``) is used when it belongs to ``path``'s repository; ``index`` names
    the index file to read explicitly (the hook passes whatever git handed it).
    """
    index = index if index is not None else _hook_index(path)
    out = _git(path, "diff", "--cached", "--name-only", "-z", "--no-renames", "--no-ext-diff",
               env=_env(keep_index=index), hint=_NOT_REPO_HINT).stdout
    return _z(out)


def _hook_index(path: str | Path) -> str | None:
    index = os.environ.get("GIT_INDEX_FILE")
    if not index:
        return None
    absolute = Path(os.path.abspath(index))
    try:
        gd = git_dir(path).resolve()
    except GitError:
        return None
    try:
        absolute.resolve().relative_to(gd)
    except ValueError:
        return None
    return str(absolute)


def add(path: str | Path, paths: Sequence[str | Path]) -> None:
    """Stage additions, changes and deletions under each path (``git add -A``); a path that
    no longer exists has its removal staged (``git rm --cached``), or is skipped when git
    does not track it either."""
    present = [str(p) for p in paths if os.path.lexists(Path(path) / p)]
    missing = [str(p) for p in paths if str(p) not in present]
    if present:
        _git(path, "add", "-A", "--", *present,
             hint="check that every path is inside this repository and not ignored")
    if missing:
        _git(path, "rm", "-r", "--cached", "--ignore-unmatch", "--quiet", "--", *missing,
             hint="check that every path is inside this repository")


def commit(path: str | Path, message: str, paths: Sequence[str | Path] | None = None,
           no_verify: bool = False) -> str:
    """Commit and return the new sha. With ``paths`` they are staged (``add -A``) and only
    they are committed; without, the index is committed as it is."""
    args = ["commit", "--quiet", "--file=-", "--cleanup=whitespace"]
    if no_verify:
        args.append("--no-verify")
    if paths:
        add(path, paths)
        args += ["--", *[str(p) for p in paths]]
    proc = _run(path, args, input=message)
    if proc.returncode != 0:
        text = proc.stderr + proc.stdout
        hint = _hint_for(text)
        if ("nothing to commit" in text or "no changes added" in text
                or "nothing added to commit" in text):
            hint = "there is nothing to commit: stage changes first"
        elif "hook" in text.lower():
            hint = "a git hook refused the commit; see its message above"
        raise GitError(["git", *args], proc.returncode, text, hint)
    sha = head(path)
    assert sha is not None
    return sha


def merge_no_ff(path: str | Path, branch: str, message: str, no_verify: bool = False) -> str:
    """Merge ``branch`` into the current branch with a merge commit; return its sha.

    On a conflict the merge is aborted (the tree is left as before) and :class:`GitError`
    lists the conflicting files.
    """
    args = ["merge", "--no-ff", "--no-edit", "-m", message, *(
        ["--no-verify"] if no_verify else []), branch]
    proc = _run(path, args)
    if proc.returncode == 0:
        sha = head(path)
        assert sha is not None
        return sha
    conflicts: list[str] = []
    if rev_parse(path, "MERGE_HEAD") is not None:
        conflicts = _z(_run(path, ["diff", "--name-only", "-z", "--diff-filter=U"]).stdout)
        _run(path, ["merge", "--abort"])
    text = proc.stderr + proc.stdout
    if conflicts:
        text = "conflicting files: " + ", ".join(conflicts) + "\n" + text
        hint = (f"the merge was aborted and the tree is unchanged; merge the current branch "
                f"into {branch!r} and resolve the conflicts there, then try again")
    else:
        hint = ("commit or stash local changes that the merge would overwrite, and check "
                f"that {branch!r} exists")
    err = GitError(["git", *args], proc.returncode, text, hint)
    err.data["conflicts"] = conflicts
    raise err


def merge_ff_only(path: str | Path, ref: str) -> str:
    """Fast-forward the current branch to ``ref``; return the new HEAD."""
    _git(path, "merge", "--ff-only", "--quiet", ref,
         hint=f"the current branch has diverged from {ref!r}; reconcile them by hand")
    sha = head(path)
    assert sha is not None
    return sha


def move(path: str | Path, src: str | Path, dst: str | Path) -> None:
    """``git mv SRC DST`` (the parent folder of ``dst`` is created first)."""
    target = Path(dst) if Path(dst).is_absolute() else Path(path) / dst
    target.parent.mkdir(parents=True, exist_ok=True)
    _git(path, "mv", "--", str(src), str(dst),
         hint=f"check that {src} is tracked and {dst} does not exist yet")


def merge_conflicts(path: str | Path, target: str, branch: str) -> list[str] | None:
    """Would merging ``branch`` into ``target`` conflict? ``None`` when it merges cleanly,
    else the conflicting files (``git merge-tree --write-tree``: nothing is touched)."""
    proc = _run(path, ["merge-tree", "--write-tree", "--name-only", target, branch])
    if proc.returncode == 0:
        return None
    if proc.returncode != 1:
        raise GitError(["git", "merge-tree", target, branch], proc.returncode,
                       proc.stderr or proc.stdout, _hint_for(proc.stderr))
    return [ln for ln in proc.stdout.splitlines()[1:] if ln.strip()]


def is_tracked(path: str | Path, pathspec: str) -> bool:
    """True when git tracks any file under ``pathspec``."""
    return bool(_out(path, "ls-files", "--", pathspec).strip())


def force_delete_branch(path: str | Path, name: str) -> None:
    """``git branch -D``: only for undoing a branch mlgate itself just created."""
    _git(path, "branch", "-D", name)



# -- the branch/baseline loop: rounds, reverts, tags ------------------------------------------


def tag(path: str | Path, name: str, ref: str, message: str) -> None:
    """An annotated tag ``name`` on ``ref`` (refused by git when the tag exists)."""
    _git(path, "tag", "-a", "-m", message, "--", name, ref,
         hint=f"a tag {name!r} may exist already: `git tag -l {name}`")


def tag_exists(path: str | Path, name: str) -> bool:
    return ref_exists(path, f"refs/tags/{name}")


def checkout_paths(path: str | Path, ref: str, paths: Sequence[str]) -> None:
    """``git checkout REF -- PATHS``: take these paths as they are in ``ref`` (staged)."""
    _git(path, "checkout", ref, "--", *paths,
         hint=f"check that {', '.join(paths)} exist in {ref!r}")


def try_merge(path: str | Path, branch: str) -> list[str] | None:
    """The pre-check of a merge: ``git merge --no-commit --no-ff BRANCH``, then ``git merge
    --abort``. ``None`` when it merged cleanly, else the conflicting files (possibly empty
    when git refused for another reason, e.g. local changes). The tree is left as before."""
    proc = _run(path, ["merge", "--no-commit", "--no-ff", "--quiet", branch])
    conflicts: list[str] | None = None
    if proc.returncode != 0:
        conflicts = _z(_run(path, ["diff", "--name-only", "-z", "--diff-filter=U"]).stdout)
    if rev_parse(path, "MERGE_HEAD") is not None:
        _run(path, ["merge", "--abort"])
    return conflicts


def first_parent_merges(path: str | Path, since: str, until: str) -> list[str]:
    """The merge commits on the first-parent line from ``since`` (exclusive) to ``until``
    (inclusive), newest first."""
    out = _out(path, "rev-list", "--first-parent", "--merges", f"{since}..{until}")
    return [line for line in out.splitlines() if line.strip()]


def revert_merge(path: str | Path, sha: str, note: str = "") -> str:
    """``git revert -m 1 SHA`` (a merge, reverted against its first parent) as one new
    commit whose message is git's own plus ``note``; never a reset. On a conflict the
    revert is aborted (the tree is left as before) and :class:`GitError` names the files."""
    args = ["revert", "--no-commit", "-m", "1", sha]
    proc = _run(path, args)
    if proc.returncode != 0:
        conflicts = _z(_run(path, ["diff", "--name-only", "-z", "--diff-filter=U"]).stdout)
        _run(path, ["revert", "--abort"])
        raise GitError(["git", *args], proc.returncode,
                       ("conflicting files: " + ", ".join(conflicts) + "\n" if conflicts
                        else "") + proc.stderr + proc.stdout,
                       "later commits touch what the merge changed; nothing was reverted by "
                       "this step: revert it by hand")
    message = (f'Revert "{subject(path, sha)}"\n\nThis reverts commit {sha}, reversing changes '
               f"made to {rev_parse(path, sha + '^1')}." + (f"\n\n{note}" if note else ""))
    commit(path, message)
    sha_new = head(path)
    assert sha_new is not None
    return sha_new


def subject(path: str | Path, ref: str) -> str:
    return _out(path, "log", "-1", "--format=%s", ref)


def add_detached(path: str | Path, wt_path: str | Path, ref: str) -> None:
    """A scratch worktree at ``wt_path`` on a detached HEAD at ``ref``."""
    _git(path, "worktree", "add", "--detach", "--quiet", str(wt_path), ref,
         hint=f"check that {wt_path} does not exist and {ref!r} is a commit")


def ignored_files(path: str | Path, pathspec: str) -> list[str]:
    """Files under ``pathspec`` that git ignores (what ``git worktree remove`` deletes)."""
    out = _run(path, ["ls-files", "--others", "--ignored", "--exclude-standard", "-z", "--",
                      pathspec])
    return _z(out.stdout) if out.returncode == 0 else []
