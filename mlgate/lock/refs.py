"""The commit side of the lock for every git route: the ``reference-transaction`` hook.

``git commit --no-verify``, merges, cherry-picks, rebases, ``git update-ref``, ``git
commit-tree`` followed by ``update-ref``, ``git branch -f``: every one of them ends in a ref
transaction, and git runs ``reference-transaction prepared`` before it commits one; a
non-zero exit aborts it. The installed script lets every ref that no ticket governs through
from the shell (a marker file per governed branch, :mod:`mlgate.lock.governance`), so
fetches, tags and other branches cost no Python; for a governed branch this module decides:

* the update moves the branch to a commit whose tree differs from the *baseline* in paths
  the ticket's stage does not allow (the same rule as the ``pre-commit`` hook, SPEC §7):
  refused while Locked. The baseline is the commit the ticket entered its current stage at
  (from the state mlgate last wrote), so that a change let in earlier (with the hooks
  removed) cannot ride along later; without one, the branch's current tip.
* deleting a governed branch is refused while its ticket is in progress or archived (a
  rename is a deletion). ``git pack-refs`` (``git gc``), which drops a loose ref that
  ``packed-refs`` already holds at the same commit, passes.
* an update that changes nothing (same commit) passes.

A hook that cannot decide refuses (fail closed), saying why. Standard library only.
"""
from __future__ import annotations

import os
from pathlib import Path

from mlgate import tickets
from mlgate.errors import GitError, MlgateError
from mlgate.lock import governance
from mlgate.lock.quarantine import run_git

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import IO

__all__ = ["reference_transaction", "judge_update"]

ZERO = "0" * 40
ZEROS = {"0" * 40, "0" * 64}


def _packed(common: Path, ref: str) -> str | None:
    try:
        with open(common / "packed-refs", encoding="utf-8") as fh:
            for line in fh:
                if line.rstrip("\n").endswith(" " + ref) and not line.startswith(("#", "^")):
                    return line.split(" ", 1)[0]
    except (FileNotFoundError, UnicodeDecodeError):
        return None
    return None


def _loose(common: Path, ref: str) -> str | None:
    try:
        with open(common.joinpath(*ref.split("/")), encoding="utf-8") as fh:
            text = fh.read().strip()
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError, UnicodeDecodeError):
        return None
    return text if len(text) in (40, 64) else None


def _baseline(b: governance.Binding, head: governance.Head | None, current: str | None
              ) -> str | None:
    """The commit the branch is judged against: the stage entry of the state mlgate last
    wrote, else the branch's tip, else the commit the ticket started from."""
    if head is not None:
        from mlgate.state.statefile import StateDoc

        try:
            doc = StateDoc.parse(head.state, head.path)
            stage = doc.snapshot.current_stage
            entry = doc.stage_entries.get(stage) if stage is not None else None
            if entry:
                return entry
        except MlgateError:
            pass
    return current or b.base


def judge_update(root: Path, common: Path, gdir: Path, old: str, new: str, ref: str,
                 cwd: str) -> str | None:
    """Why the update of ``ref`` from ``old`` to ``new`` is refused (None: allowed)."""
    reg = governance.load(gdir)
    b = reg.by_ref(ref)
    if b is None:
        return None
    current = _loose(common, ref) or _packed(common, ref)
    if new in ZEROS:
        if current is None:
            return None  # nothing to delete
        if old not in ZEROS and _packed(common, ref) == old == _loose(common, ref):
            return None  # `git pack-refs`: the loose copy goes, packed-refs keeps the ref
        return (f"{ref} is the branch of ticket {b.ticket!r} "
                f"({'in progress' if b.status == governance.IN_PROGRESS else 'archived'}); "
                f"deleting or renaming it is refused. It is removed by `mlgate archive "
                f"{b.ticket} --finalize` once the ticket is merged")
    if new == current:
        return None
    head = governance.read_head(gdir, b.ticket)
    base = _baseline(b, head, current)
    if base is None:
        return (f"{ref} is the branch of ticket {b.ticket!r}, and mlgate cannot tell what "
                f"it is compared with (no stage-entry commit, no tip, no start commit "
                f"recorded); the update is refused (fail closed). Run `mlgate doctor "
                f"{b.ticket}`")
    if base == new:
        return None
    try:
        out = run_git(cwd, "diff", "--name-only", "-z", "--no-renames", "--no-ext-diff",
                      base, new, "--")
    except GitError as exc:
        return (f"{ref} is the branch of ticket {b.ticket!r}, and git could not compare "
                f"{base[:12]} with {new[:12]} ({exc.stderr.strip() or exc}); the update is "
                f"refused (fail closed)")
    changed = [p for p in out.split("\0") if p]
    if not changed:
        return None
    from mlgate.lock.policy import decide

    worktree = b.worktree
    decision = decide([os.path.join(worktree, p) for p in changed], cwd=worktree, root=root,
                      purpose="commit")
    if decision.allowed:
        return None
    where = f" (ticket {decision.ticket}, stage {decision.stage})" if decision.ticket else ""
    since = f"since {base[:12]}, the commit the ticket entered its stage at" \
        if base != current else f"from {base[:12]}"
    return (f"the update of {ref} to {new[:12]} is refused by the edit lock{where}: it "
            f"changes, {since}:\n{decision.reason}")


def reference_transaction(argv: list[str], stdin: IO[str], stderr: IO[str]) -> int:
    """``mlgate hook reference-transaction HOOK_DIR STATE`` with git's lines on stdin;
    exit 1 (reason on stderr) refuses the transaction in its ``prepared`` state."""
    try:
        hook_dir, state = argv[0], argv[1]
    except IndexError:
        stderr.write("mlgate: usage: mlgate hook reference-transaction HOOK_DIR STATE\n")
        return 2
    if state != "prepared":
        return 0
    try:
        common = Path(os.path.abspath(os.path.join(hook_dir, os.pardir)))
        gdir = common / tickets.KEY_DIR_NAME
        root = _workspace_root(common)
        cwd = os.getcwd()
        refused = []
        for line in stdin.read().splitlines():
            parts = line.split()
            if len(parts) != 3:
                continue
            old, new, ref = parts
            why = judge_update(root, common, gdir, old, new, ref, cwd)
            if why:
                refused.append(why)
    except BaseException as exc:  # noqa: BLE001 - fail closed
        stderr.write(f"mlgate: the reference-transaction hook failed ({type(exc).__name__}: "
                     f"{exc}); the ref update is refused (fail closed). Run `mlgate doctor` "
                     f"to find the cause.\n")
        return 1
    if not refused:
        return 0
    stderr.write("mlgate: " + "\n".join(refused) + "\nThe ref update was aborted: "
                 "`--no-verify`, `update-ref`, merges and cherry-picks are judged alike. "
                 "Follow the workflow (`mlgate status`), or re-enter stage 4 to change "
                 "source.\n")
    return 1


def _workspace_root(common: Path) -> Path:
    """The main checkout of the repository whose common dir is ``common``."""
    if common.name == ".git":
        return common.parent
    try:  # a separate git dir: ask git
        out = run_git(common, "rev-parse", "--path-format=absolute", "--show-toplevel",
                      ok=(0, 128))
        return Path(out.strip()) if out.strip() else common.parent
    except GitError:
        return common.parent

