"""Quarantine: what the tripwire took out of a Locked worktree, kept so that nothing is lost.

``<ticket folder>/quarantine/Q-NNN/`` holds:

* ``changes.patch`` — a binary-safe git patch (``git diff --binary``) from the commit HEAD
  was at to the worktree as it was found, for every path taken out: modified, deleted,
  created, renamed (a deletion plus a creation), mode changes, symlinks, binary files;
* ``staged.patch`` — the same for the index, when something had been staged (``git add``);
* ``files/`` — the new (untracked) files themselves, moved here as they were (symlinks stay
  symlinks), and any state file mlgate replaced;
* ``meta.json`` — when, which ticket and stage, why, the commit, and every path with what
  happened to it.

A person re-applies an entry with ``mlgate quarantine apply Q-NNN`` once the ticket is in
stage 4 (:func:`apply`): ``git apply --binary`` of the patch, then the files that the patch
could not carry. Standard library only (the tripwire runs in the PostToolUse hook).
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
from pathlib import Path

from mlgate.errors import GitError, Refused, UsageError
from mlgate.record import record
from mlgate.util import Completed, Started, atomic_write, now_iso, spawn

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["Change", "Entry", "QUARANTINE_DIR", "capture", "entries", "load", "apply",
           "git_env", "run_git", "new_entry_dir", "MAX_PATCH_FILE"]

QUARANTINE_DIR = "quarantine"
META = "meta.json"
PATCH = "changes.patch"
STAGED_PATCH = "staged.patch"
FILES = "files"
MAX_PATCH_FILE = 64 * 1024 * 1024  # a new file larger than this is kept in files/ only
_REPO_ENV = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_PREFIX", "GIT_COMMON_DIR",
             "GIT_OBJECT_DIRECTORY", "GIT_ALTERNATE_OBJECT_DIRECTORIES")


@record
class Change:
    """One path outside what the stage allows. ``kind``: ``modified``, ``deleted``,
    ``created``, ``mode``, ``type`` (file <-> symlink), ``staged`` (only in the index)."""

    path: str  # relative to the checkout, /-separated
    kind: str
    in_head: bool  # the path exists in HEAD (restore = check it out again)
    in_index: bool = True  # the index has an entry that differs from HEAD (or is new)

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "kind": self.kind, "in_head": self.in_head}


@record
class Entry:
    id: str
    folder: Path
    meta: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "folder": str(self.folder)} | {
            k: self.meta.get(k) for k in ("ticket", "stage", "created", "reason", "violation",
                                          "commit", "checkout", "changes", "applied")}


# -- git ---------------------------------------------------------------------------------


def git_env(**extra: str) -> dict[str, str]:
    """The environment for git calls of the tripwire: git's hook variables dropped (a hook
    would otherwise point them at another checkout), pathspecs literal, and neither an
    fsmonitor (the repository's config may name one that reports nothing) nor the untracked
    cache (it trusts folder mtimes, so a file made in the same second as the last scan stays
    unseen)."""
    env = {k: v for k, v in os.environ.items()
           if k not in _REPO_ENV and not k.startswith("GIT_CONFIG_")}
    env.update({"GIT_LITERAL_PATHSPECS": "1", "GIT_CONFIG_COUNT": "2",
                "GIT_CONFIG_KEY_0": "core.fsmonitor", "GIT_CONFIG_VALUE_0": "false",
                "GIT_CONFIG_KEY_1": "core.untrackedCache", "GIT_CONFIG_VALUE_1": "false"})
    env.update(extra)
    return env


def run_git(cwd: str | Path, *args: str, ok: tuple[int, ...] = (0,),
            env: dict[str, str] | None = None) -> str:
    """``git -C cwd ARGS`` through :func:`mlgate.util.spawn`; its stdout, or
    :class:`GitError`."""
    cmd = ["git", "-C", str(cwd), *args]
    try:
        proc = spawn(cmd, env if env is not None else git_env())
    except FileNotFoundError:
        raise GitError(cmd, -1, "git: command not found", "install git") from None
    except UnicodeDecodeError as exc:
        raise GitError(cmd, -1, f"git printed text that is not UTF-8 ({exc.reason})",
                       "rename files whose names are not valid UTF-8") from None
    return checked(proc, ok)


def checked(proc: Completed, ok: tuple[int, ...] = (0,)) -> str:
    if proc.returncode not in ok:
        raise GitError(proc.args, proc.returncode, proc.stderr or proc.stdout,
                       "see git's message")
    return proc.stdout


# What the tripwire asks git about a checkout: every difference from HEAD, untracked
# folders whole. Not git's untracked cache: it trusts a folder's mtime, and a file created
# in the same second as the last scan stays unseen (a miss, not only a slow answer). Not an
# fsmonitor either: the repository's config can name one that reports nothing (git_env
# turns both off). No optional index write: the agent's own git commands may hold the lock.
STATUS_ARGS = ("status", "--porcelain=v2", "-z", "--no-renames", "--untracked-files=normal",
               "--ignore-submodules=none")


def status(checkout: str | Path) -> str:
    return run_git(checkout, *STATUS_ARGS, env=git_env(GIT_OPTIONAL_LOCKS="0"))


def start_status(checkout: str | Path) -> Started:
    """:func:`status`, started now and read later (:func:`checked` of ``.wait()``)."""
    return Started(["git", "-C", str(checkout), *STATUS_ARGS],
                   git_env(GIT_OPTIONAL_LOCKS="0"))


# -- entries ------------------------------------------------------------------------------


def _root(folder: Path) -> Path:
    return Path(folder) / QUARANTINE_DIR


def entries(folder: str | Path) -> list[Entry]:
    """The quarantine entries of a ticket folder, oldest first."""
    out = []
    base = _root(Path(folder))
    if not base.is_dir():
        return []
    for d in sorted(base.iterdir()):
        if d.is_dir() and d.name.startswith("Q-"):
            try:
                meta = json.loads((d / META).read_text(encoding="utf-8"))
            except (OSError, ValueError):
                meta = {"error": f"{d / META} is missing or not JSON"}
            out.append(Entry(d.name, d, meta))
    return out


def load(folder: str | Path, qid: str) -> Entry:
    for e in entries(folder):
        if e.id == qid:
            return e
    known = ", ".join(e.id for e in entries(folder)) or "none"
    raise UsageError(f"no quarantine entry {qid!r} in {_root(Path(folder))} (entries: "
                     f"{known})\nhint: `mlgate quarantine list` shows them", id=qid)


def new_entry_dir(folder: str | Path) -> tuple[str, Path]:
    """A new, empty ``quarantine/Q-NNN`` folder (the next free number)."""
    base = _root(Path(folder))
    base.mkdir(parents=True, exist_ok=True)
    n = max([int(d.name[2:]) for d in base.iterdir()
             if d.name.startswith("Q-") and d.name[2:].isdigit()] or [0]) + 1
    while True:
        qid = f"Q-{n:03d}"
        try:
            (base / qid).mkdir()
            return qid, base / qid
        except FileExistsError:
            n += 1


def write_meta(qdir: Path, meta: dict[str, Any]) -> None:
    atomic_write(qdir / META, json.dumps(meta, indent=2, sort_keys=True) + "\n")


# -- capture ------------------------------------------------------------------------------


def capture(checkout: Path, qdir: Path, changes: list[Change], commit: str | None,
            scratch: Path) -> dict[str, Any]:
    """Save ``changes`` (paths of ``checkout``) into ``qdir``: the patches against
    ``commit`` and the new files (moved, not copied: the caller restores the rest). Returns
    what to put into ``meta.json``. ``scratch``: a folder outside every worktree for the
    temporary index."""
    paths = [c.path for c in changes]
    info: dict[str, Any] = {"patch": None, "staged_patch": None, "files": []}
    if commit and paths:
        if any(c.in_index and c.kind != "created" for c in changes):
            staged = qdir / STAGED_PATCH
            run_git(checkout, "diff", "--cached", "--binary", "--no-renames", "--no-ext-diff",
                    "--no-textconv", f"--output={staged}", commit, "--", *paths)
            if staged.stat().st_size:
                info["staged_patch"] = STAGED_PATCH
            else:
                staged.unlink()
        big = [c.path for c in changes if c.kind == "created" and _size(checkout / c.path)
               > MAX_PATCH_FILE]
        # In a scratch index that starts as HEAD's tree, `git add --all` of each path records
        # the worktree as it is (a path gone from the disk is a deletion); a staged-only file
        # that is gone from the disk as well is in staged.patch alone.
        in_patch = [c.path for c in changes if c.path not in big and
                    (c.in_head or os.path.lexists(checkout / c.path))]
        scratch.mkdir(parents=True, exist_ok=True)
        index = scratch / f"quarantine-{os.getpid()}.index"
        try:
            env = git_env(GIT_INDEX_FILE=str(index))
            run_git(checkout, "read-tree", commit, env=env)
            if in_patch:
                run_git(checkout, "add", "--all", "--force", "--", *in_patch, env=env)
                patch = qdir / PATCH
                run_git(checkout, "diff", "--cached", "--binary", "--no-renames",
                        "--no-ext-diff", "--no-textconv", "--full-index", f"--output={patch}",
                        commit, "--", *in_patch, env=env)
                info["patch"] = PATCH
        finally:
            with contextlib.suppress(OSError):
                index.unlink()
        info["too_large_for_patch"] = big
    for c in changes:
        if c.kind != "created":
            continue
        src = checkout / c.path
        if not os.path.lexists(src):
            continue
        dst = qdir / FILES / c.path
        dst.parent.mkdir(parents=True, exist_ok=True)
        os.replace(src, dst)  # moved: the file itself, with its mode, or the symlink
        info["files"].append(c.path)
    return info


def _size(path: Path) -> int:
    try:
        return path.lstat().st_size
    except OSError:
        return 0


def restore(checkout: Path, changes: list[Change]) -> None:
    """Put ``checkout`` back to HEAD for ``changes`` (new files were moved out already):
    the index entries first, then the files."""
    indexed = [c.path for c in changes if c.in_index]
    if indexed:
        run_git(checkout, "reset", "-q", "HEAD", "--", *indexed, ok=(0, 1))
    emptied: set[Path] = set()
    for c in changes:
        p = checkout / c.path
        if c.kind == "created" or c.in_head:
            if os.path.lexists(p) and not os.path.islink(p) and p.is_dir():
                shutil.rmtree(p)
            elif os.path.lexists(p):
                os.unlink(p)
            emptied.add(p.parent)
    tracked = [c.path for c in changes if c.in_head]
    if tracked:
        run_git(checkout, "checkout", "-q", "HEAD", "--", *tracked)
    for d in sorted(emptied, key=lambda p: len(p.parts), reverse=True):
        while d != checkout and checkout in d.parents:
            try:
                os.rmdir(d)
            except OSError:
                break
            d = d.parent


# -- apply --------------------------------------------------------------------------------


def apply(checkout: str | Path, folder: str | Path, qid: str,
          allowed: Any = None) -> list[str]:
    """Re-apply quarantine entry ``qid`` of the ticket folder ``folder`` to ``checkout``
    (working tree only: nothing is staged or committed). ``allowed(paths) -> reason | None``
    is asked first (the ticket must allow the paths now, i.e. be in stage 4). Returns what
    was done."""
    checkout = Path(checkout)
    e = load(folder, qid)
    paths = [c["path"] for c in e.meta.get("changes", []) if isinstance(c, dict)]
    if allowed is not None:
        why = allowed(paths)
        if why:
            raise Refused(f"quarantine entry {qid} cannot be applied now: {why}", id=qid)
    done = []
    patch = e.folder / PATCH
    if e.meta.get("patch") and patch.is_file() and patch.stat().st_size:
        try:
            run_git(checkout, "apply", "--binary", "--whitespace=nowarn", str(patch))
        except GitError as exc:
            raise GitError(exc.cmd, exc.returncode, exc.stderr, hint=(
                f"the files changed since {qid} was taken; apply it by hand (`git apply "
                f"--3way {patch}`), or look at the files in {e.folder / FILES}")) from None
        done.append(f"applied {patch}")
    in_patch = set(paths) - set(e.meta.get("too_large_for_patch") or [])
    for rel in e.meta.get("files") or []:
        src = e.folder / FILES / rel
        dst = checkout / rel
        if rel in in_patch and os.path.lexists(dst):
            continue  # the patch made it
        if os.path.lexists(dst):
            raise Refused(f"{dst} exists; {qid} would overwrite it\nhint: move it away, "
                          f"then apply again", path=str(dst))
        dst.parent.mkdir(parents=True, exist_ok=True)
        if os.path.islink(src):
            os.symlink(os.readlink(src), dst)
        else:
            shutil.copy2(src, dst)
        done.append(f"restored {rel} from {src}")
    e.meta["applied"] = now_iso()
    write_meta(e.folder, e.meta)
    return done
