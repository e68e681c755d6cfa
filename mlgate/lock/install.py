"""``mlgate hooks install|uninstall``: put the lock's adapters where the tools look for them.

* **git**: a ``pre-commit`` script in the *common* hooks dir (``git rev-parse
  --git-common-dir``/hooks), so every worktree of the repository runs it. It runs
  ``<this interpreter> -m mlgate hook pre-commit`` (an absolute path: it works from every
  worktree, whatever the PATH). A hook that was there before is kept as
  ``pre-commit.mlgate-chained`` and run first (its failure fails the commit); uninstall puts it
  back. Not ``pre-commit.legacy``: the pre-commit framework uses that name for its own
  migration mode, and its script run under that name would call itself. A repository with
  ``core.hooksPath`` set is refused, with what to do.
* **claude**: a ``PreToolUse`` entry (matcher ``Edit|Write|MultiEdit|NotebookEdit|Bash``,
  command ``mlgate hook claude``) merged into ``.claude/settings.json``;
* **codex**: the same in ``.codex/hooks.json`` (matcher ``apply_patch|Bash``, ``mlgate hook
  codex``).

The agent settings go into every checkout of the workspace (the main one and each ticket
worktree), because Claude Code and Codex read the project settings of the folder they run in.
Other settings and other hooks in those files are left as they are; installing twice changes
nothing; uninstall removes only mlgate's entries.
"""
from __future__ import annotations

import json
import os
import shlex
import stat
import sys
from pathlib import Path
from typing import Any

from mlgate import git, tickets
from mlgate.errors import Refused, UsageError
from mlgate.util import atomic_write

__all__ = ["install", "uninstall", "hook_script", "agent_command", "MARKER", "CHAINED",
           "CLAUDE_MATCHER", "CODEX_MATCHER"]

MARKER = "# mlgate-managed-hook: pre-commit"
HOOK = "pre-commit"
CHAINED = "pre-commit.mlgate-chained"  # the hook that was there before ours
REPLACED = "pre-commit.mlgate-replaced"  # kept (not run) after `install --force`
FRAMEWORK_LEGACY = "pre-commit.legacy"  # where the pre-commit framework moves a foreign hook
CLAUDE_MATCHER = "Edit|Write|MultiEdit|NotebookEdit|Bash"
CODEX_MATCHER = "apply_patch|Bash"
HOOK_TIMEOUT = 30  # seconds; the hook takes well under one
_AGENTS = {
    "claude": (Path(".claude") / "settings.json", CLAUDE_MATCHER, "Claude Code"),
    "codex": (Path(".codex") / "hooks.json", CODEX_MATCHER, "Codex"),
}


def install(root: str | Path, git: bool = False, claude: bool = False, codex: bool = False,
            force: bool = False) -> list[str]:
    """Install the chosen adapters for the workspace at ``root``; returns what was done."""
    root = Path(root)
    msgs: list[str] = []
    if git:
        msgs += _install_git(root, force)
    for agent, wanted in (("claude", claude), ("codex", codex)):
        if wanted:
            for checkout in _checkouts(root):
                msgs.append(_install_agent(checkout, agent))
    return msgs


def uninstall(root: str | Path, git: bool = False, claude: bool = False,
              codex: bool = False) -> list[str]:
    """Remove mlgate's adapters (restoring a chained git hook); returns what was done. A
    person's decision: refused for agent-run code (:func:`mlgate.human.require_person`)."""
    from mlgate.human import require_person

    require_person("mlgate hooks uninstall")
    root = Path(root)
    msgs: list[str] = []
    if git:
        msgs += _uninstall_git(root)
    for agent, wanted in (("claude", claude), ("codex", codex)):
        if wanted:
            for checkout in _checkouts(root):
                msgs.append(_uninstall_agent(checkout, agent))
    return msgs


# -- git -------------------------------------------------------------------------------------


def hook_script(python: str | None = None) -> str:
    """The text of mlgate's git ``pre-commit`` hook."""
    py = python or sys.executable
    return f"""#!/bin/sh
{MARKER}
# Written by `mlgate hooks install --git`; `mlgate hooks uninstall --git` removes it and puts
# back the hook that was here before (kept as {CHAINED}, run first).
# It refuses a commit of files that the ticket's current stage does not allow (the edit lock).
hook_dir=$(dirname -- "$0")
if [ -x "$hook_dir/{CHAINED}" ]; then
    "$hook_dir/{CHAINED}" "$@" || exit $?
fi
python={shlex.quote(py)}
if [ ! -x "$python" ]; then
    echo "mlgate: the interpreter of the mlgate hook ($python) is gone, so the commit is" >&2
    echo "refused. Reinstall the hook with: mlgate hooks install --git" >&2
    exit 1
fi
exec "$python" -m mlgate hook pre-commit "$@"
"""


def _is_ours(path: Path) -> bool:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return MARKER in fh.read(4096)
    except OSError:
        return False


def _hooks_dir(root: Path) -> Path:
    if not tickets.is_git(root):
        raise UsageError(f"{root} is not a git repository, so there is no git hook to "
                         f"install\nhint: use `mlgate hooks install --claude` / `--codex`, or "
                         f"`git init` first", path=str(root))
    custom = git.config_get(root, "core.hooksPath")
    if custom:
        raise Refused(
            f"core.hooksPath is set to {custom!r} in this repository, so git does not run "
            f"hooks from {git.common_dir(root) / 'hooks'} and mlgate's pre-commit hook would "
            f"never run.\nhint: either `git config --unset core.hooksPath` (if your hooks "
            f"there can go) and run `mlgate hooks install --git` again, or add mlgate to the "
            f"tool that owns {custom!r}: with the pre-commit framework, a `repo: local` hook "
            f"`id: mlgate-lock`, `entry: mlgate hook pre-commit`, `language: system`, "
            f"`always_run: true` (see the Hooks section of the README)",
            hooks_path=custom)
    return git.common_dir(root) / "hooks"


def _install_git(root: Path, force: bool) -> list[str]:
    hooks = _hooks_dir(root)
    hooks.mkdir(parents=True, exist_ok=True)
    hook, chained = hooks / HOOK, hooks / CHAINED
    legacy = hooks / FRAMEWORK_LEGACY
    script = hook_script()
    if _is_ours(legacy) and os.path.lexists(hook) and not _is_ours(hook):
        # the pre-commit framework moved our hook aside and runs it (its migration mode)
        return [_write_hook(legacy, script, "updated mlgate's hook, run by the pre-commit "
                                            "framework's hook in migration mode")]
    if os.path.lexists(hook) and not _is_ours(hook):
        if force:
            os.replace(hook, hooks / REPLACED)
            msg = f"moved the existing pre-commit hook to {hooks / REPLACED} (not run: --force)"
        elif os.path.lexists(chained):
            raise Refused(
                f"{hook} is not mlgate's, and {chained} (an earlier hook mlgate chained) still "
                f"exists\nhint: merge the two by hand, remove one, then run `mlgate hooks "
                f"install --git` again (or `--force` to set {hook.name} aside unrun)",
                path=str(hook))
        else:
            os.replace(hook, chained)
            _make_executable(chained)
            msg = f"kept the existing pre-commit hook as {chained}; it runs first"
        return [msg, _write_hook(hook, script, "installed the git pre-commit hook")]
    return [_write_hook(hook, script, "installed the git pre-commit hook")]


def _write_hook(path: Path, script: str, what: str) -> str:
    try:
        old = path.read_text(encoding="utf-8")
    except OSError:
        old = None
    if old == script and os.access(path, os.X_OK):
        return f"the git pre-commit hook is already installed: {path}"
    atomic_write(path, script, mode=0o755)
    return f"{what}: {path} (shared by every worktree)"


def _make_executable(path: Path) -> None:
    mode = path.stat().st_mode
    path.chmod(mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def _uninstall_git(root: Path) -> list[str]:
    if not tickets.is_git(root):
        return [f"{root} is not a git repository: no git hook to remove"]
    hooks = git.common_dir(root) / "hooks"
    slot = next((hooks / name for name in (HOOK, FRAMEWORK_LEGACY) if _is_ours(hooks / name)),
                None)
    if slot is None:
        return [f"no mlgate git hook in {hooks}: nothing to remove"]
    slot.unlink()
    msgs = [f"removed mlgate's git hook {slot}"]
    for name in (CHAINED, REPLACED):
        kept = hooks / name
        if os.path.lexists(kept):
            os.replace(kept, slot)
            msgs.append(f"restored the previous hook from {kept} to {slot}")
            break
    return msgs


# -- Claude Code / Codex ---------------------------------------------------------------------


def agent_command(agent: str) -> str:
    """``mlgate hook claude|codex``, with the absolute path of this environment's ``mlgate``
    script when there is one (so the hook works without the venv on PATH)."""
    script = Path(sys.executable).parent / "mlgate"
    exe = shlex.quote(str(script)) if script.is_file() and os.access(script, os.X_OK) \
        else "mlgate"
    return f"{exe} hook {agent}"


def _is_our_command(command: Any, agent: str) -> bool:
    if not isinstance(command, str):
        return False
    words = command.split()
    return len(words) >= 3 and os.path.basename(words[-3].strip("'\"")) == "mlgate" and \
        words[-2] == "hook" and words[-1] in (agent, f"{agent}-pretooluse")


def _checkouts(root: Path) -> list[Path]:
    try:
        found = [co.path for co in tickets.checkouts(root)]
    except Exception:  # noqa: BLE001 - git unreadable: the workspace folder alone
        found = []
    return found or [root]


def _load_settings(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    text = path.read_text(encoding="utf-8")
    if not text.strip():
        return {}
    try:
        data = json.loads(text)
    except ValueError as exc:
        line = getattr(exc, "lineno", None)
        raise UsageError(f"{path}{f':{line}' if line else ''} is not valid JSON ({exc}); "
                         f"mlgate does not overwrite it\nhint: fix the file, then run the "
                         f"command again", path=str(path), line=line) from None
    if not isinstance(data, dict):
        raise UsageError(f"{path} holds a JSON {type(data).__name__}, not an object; mlgate "
                         f"does not overwrite it\nhint: fix the file, then run the command "
                         f"again", path=str(path))
    return data


def _pre_tool_use(path: Path, data: dict[str, Any]) -> list[Any]:
    hooks = data.setdefault("hooks", {})
    if not isinstance(hooks, dict):
        raise UsageError(f"{path}: `hooks` is not an object; fix it by hand first",
                         path=str(path))
    groups = hooks.setdefault("PreToolUse", [])
    if not isinstance(groups, list):
        raise UsageError(f"{path}: `hooks.PreToolUse` is not a list; fix it by hand first",
                         path=str(path))
    return groups


def _save_settings(path: Path, data: dict[str, Any], before: str | None) -> bool:
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    if text == before:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, text)
    return True


def _install_agent(checkout: Path, agent: str) -> str:
    rel, matcher, label = _AGENTS[agent]
    path = checkout / rel
    before = path.read_text(encoding="utf-8") if path.exists() else None
    data = _load_settings(path)
    groups = _pre_tool_use(path, data)
    command = agent_command(agent)
    entry = {"type": "command", "command": command, "timeout": HOOK_TIMEOUT}
    placed = False
    for group in list(groups):
        if not isinstance(group, dict) or not isinstance(group.get("hooks"), list):
            continue
        ours = [h for h in group["hooks"] if isinstance(h, dict)
                and _is_our_command(h.get("command"), agent)]
        if not ours:
            continue
        if not placed and len(ours) == len(group["hooks"]):
            group["matcher"] = matcher
            group["hooks"] = [entry]
            placed = True
        else:
            group["hooks"] = [h for h in group["hooks"] if h not in ours]
            if not group["hooks"]:
                groups.remove(group)
    if not placed:
        groups.append({"matcher": matcher, "hooks": [entry]})
    if not _save_settings(path, data, before):
        return f"the {label} hook is already installed: {path}"
    return f"installed the {label} PreToolUse hook ({matcher}) in {path}"


def _uninstall_agent(checkout: Path, agent: str) -> str:
    rel, _, label = _AGENTS[agent]
    path = checkout / rel
    if not path.exists():
        return f"no {path}: no {label} hook to remove"
    before = path.read_text(encoding="utf-8")
    data = _load_settings(path)
    hooks = data.get("hooks")
    groups = hooks.get("PreToolUse") if isinstance(hooks, dict) else None
    if not isinstance(groups, list):
        return f"no mlgate {label} hook in {path}"
    removed = 0
    for group in list(groups):
        if not isinstance(group, dict) or not isinstance(group.get("hooks"), list):
            continue
        keep = [h for h in group["hooks"]
                if not (isinstance(h, dict) and _is_our_command(h.get("command"), agent))]
        removed += len(group["hooks"]) - len(keep)
        if len(keep) != len(group["hooks"]):
            if keep:
                group["hooks"] = keep
            else:
                groups.remove(group)
    if not removed:
        return f"no mlgate {label} hook in {path}"
    assert isinstance(hooks, dict)
    if not groups:
        del hooks["PreToolUse"]
    if not hooks:
        del data["hooks"]
    _save_settings(path, data, before)
    return f"removed the mlgate {label} hook from {path}"
