"""``mlgate hooks install|uninstall``: put the lock's adapters where the tools look for them.

* **git**: a ``pre-commit`` script in the *common* hooks dir (``git rev-parse
  --git-common-dir``/hooks), so every worktree of the repository runs it. It runs
  ``<this interpreter> -m mlgate hook pre-commit`` (an absolute path: it works from every
  worktree, whatever the PATH). A hook that was there before is kept as
  ``pre-commit.mlgate-chained`` and run first (its failure fails the commit); uninstall puts it
  back. Not ``pre-commit.legacy``: the pre-commit framework uses that name for its own
  migration mode, and its script run under that name would call itself. A repository with
  ``core.hooksPath`` set is refused, with what to do.
* **claude**: ``PreToolUse`` (every file tool and every tool with a shell ``command``:
  ``CLAUDE_MATCHER``) and ``PreSkillShellCommand`` entries running ``mlgate hook claude``,
  and a ``PostToolUse`` entry running ``mlgate hook claude-post`` (the tripwire), each with
  ``"onFailure": "block"`` (else Claude Code runs the tool when the hook cannot start or
  times out), merged into ``.claude/settings.local.json``: the command holds this machine's
  path to ``mlgate``, so it goes to the per-machine file, never to the ``settings.json`` a
  team commits (entries an older mlgate put there are moved);
* **codex**: ``PreToolUse`` (``mlgate hook codex``) and ``PostToolUse`` (``mlgate hook
  codex-post``) in ``.codex/hooks.json``. Codex runs them only once a person has reviewed
  and trusted them in Codex.

The agent settings go into every checkout of the workspace (the main one and each ticket
worktree, and ``mlgate new`` adds them to a new one), because Claude Code and Codex read the
project settings of the folder they run in; the files are listed in the common
``info/exclude``, so they are never a change of the ticket. Other settings and other hooks in
those files are left as they are; installing twice changes nothing; uninstall removes only
mlgate's entries.
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
from mlgate.errors import GitError, MlgateError, Refused, UsageError
from mlgate.util import atomic_write

__all__ = ["install", "uninstall", "hook_script", "agent_command", "installed_agents",
           "sync_checkout", "MARKER", "CHAINED", "CLAUDE_MATCHER", "CODEX_MATCHER",
           "GIT_HOOKS", "git_hook_problems", "installed"]

MARKER = "# mlgate-managed-hook: pre-commit"
HOOK = "pre-commit"
INSTALLED_FILE = "installed.json"  # beside the registry: what was installed where
CHAINED = "pre-commit.mlgate-chained"  # the hook that was there before ours
REPLACED = "pre-commit.mlgate-replaced"  # kept (not run) after `install --force`
FRAMEWORK_LEGACY = "pre-commit.legacy"  # where the pre-commit framework moves a foreign hook
# every tool that edits files or carries a shell `command` (Monitor, PowerShell, MCP tools)
CLAUDE_MATCHER = "Edit|Write|MultiEdit|NotebookEdit|Bash|Monitor|PowerShell|mcp__.*"
CODEX_MATCHER = "apply_patch|Bash|shell|local_shell|exec_command|shell_command|unified_exec"
HOOK_TIMEOUT = 30  # seconds; the hook takes well under one
_AGENTS = {
    # per machine (the command names this machine's venv): never the shared settings.json
    "claude": (Path(".claude") / "settings.local.json", CLAUDE_MATCHER, "Claude Code"),
    "codex": (Path(".codex") / "hooks.json", CODEX_MATCHER, "Codex"),
}


def agent_settings(agent: str) -> Path:
    """The file (relative to a checkout) that holds mlgate's hooks for ``agent``
    (``claude``: ``.claude/settings.local.json``; ``codex``: ``.codex/hooks.json``)."""
    return _AGENTS[agent][0]


_LEGACY = {"claude": Path(".claude") / "settings.json"}  # where mlgate wrote it before
CLAUDE_LOCAL = Path(".claude") / "settings.local.json"
# (event, matcher, `mlgate hook` kind) per agent: the refusal before, the tripwire after
_EVENTS = {
    "claude": (("PreToolUse", CLAUDE_MATCHER, "claude"),
               ("PreSkillShellCommand", None, "claude"),
               ("PostToolUse", CLAUDE_MATCHER, "claude-post")),
    "codex": (("PreToolUse", CODEX_MATCHER, "codex"),
              ("PostToolUse", CODEX_MATCHER, "codex-post")),
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
                _record_installed(root, **{agent: (str(checkout), True)})
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
                _record_installed(root, **{agent: (str(checkout), False)})
    return msgs


# -- git -------------------------------------------------------------------------------------

GIT_HOOKS = (HOOK, "pre-merge-commit", "reference-transaction")
_WHAT = {
    HOOK: "It refuses a commit of files that the ticket's current stage does not allow (the "
          "edit lock).",
    "pre-merge-commit": "It refuses a merge commit that brings files the ticket's current "
                        "stage does not allow.",
    "reference-transaction": "It aborts any update of a ticket's branch that brings source "
                             "changes while the ticket is Locked (commit --no-verify, merge, "
                             "cherry-pick, update-ref...). Refs no ticket governs pass in the "
                             "shell, without starting Python.",
}


def marker(name: str) -> str:
    """The line that marks mlgate's own ``name`` hook."""
    return f"# mlgate-managed-hook: {name}"


def chained(name: str) -> str:
    return f"{name}.mlgate-chained"


def replaced(name: str) -> str:
    return f"{name}.mlgate-replaced"


def hook_script(python: str | None = None, name: str = HOOK) -> str:
    """The text of mlgate's git hook ``name`` (``pre-commit``, ``pre-merge-commit`` or
    ``reference-transaction``)."""
    py = shlex.quote(python or sys.executable)
    head = f"""#!/bin/sh
{marker(name)}
# Written by `mlgate hooks install --git`; `mlgate hooks uninstall --git` removes it and puts
# back the hook that was here before (kept as {chained(name)}, run first).
# {_WHAT[name]}
"""
    gone = (f'    echo "mlgate: the interpreter of the mlgate hook ($python) is gone, so the '
            f'{"ref update" if name == "reference-transaction" else "commit"} is" >&2\n'
            f'    echo "refused. Reinstall the hook with: mlgate hooks install --git" >&2\n'
            f'    exit 1\n')
    if name != "reference-transaction":
        return head + f"""hook_dir=$(dirname -- "$0")
if [ -x "$hook_dir/{chained(name)}" ]; then
    "$hook_dir/{chained(name)}" "$@" || exit $?
fi
python={py}
if [ ! -x "$python" ]; then
{gone}fi
exec "$python" -m mlgate hook {name} "$@"
"""
    return head + f"""hook_dir=$(dirname -- "$0")
input=$(cat)
if [ -x "$hook_dir/{chained(name)}" ]; then
    printf '%s\n' "$input" | "$hook_dir/{chained(name)}" "$@" || exit $?
fi
[ "$1" = prepared ] || exit 0
gov="$hook_dir/../{tickets.KEY_DIR_NAME}"
governed=
if [ -e "$gov/registry.json" ] && [ ! -d "$gov/governed" ]; then
    governed=1  # the markers are gone: let mlgate decide (fail closed)
fi
while read -r old new ref; do
    if [ -n "$ref" ] && [ -e "$gov/governed/$ref" ]; then
        governed=1
    fi
done <<MLGATE_EOF
$input
MLGATE_EOF
[ -n "$governed" ] || exit 0
python={py}
if [ ! -x "$python" ]; then
{gone}fi
printf '%s\n' "$input" | "$python" -m mlgate hook reference-transaction "$hook_dir" "$@"
"""


def _is_ours(path: Path, name: str = HOOK) -> bool:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return marker(name) in fh.read(4096)
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
    msgs: list[str] = []
    for name in GIT_HOOKS:
        msgs += _install_one(hooks, name, force)
    _record_installed(root, git=True, includes=include_snapshot(root))
    return msgs


def include_snapshot(root: Path) -> list[str]:
    """The ``include.*`` / ``includeIf.*`` entries in effect now (kept at install time, so
    that the tripwire can tell the ones added later)."""
    from mlgate.lock.quarantine import run_git

    try:
        raw = run_git(root, "config", "-z", "--get-regexp", r"^(include\..*|includeif\..*)$",
                      ok=(0, 1))
    except GitError:
        return []
    return sorted("=".join(item.split("\n", 1)) for item in raw.split("\0") if item)


def _install_one(hooks: Path, name: str, force: bool) -> list[str]:
    hook, kept = hooks / name, hooks / chained(name)
    script = hook_script(name=name)
    what = f"installed the git {name} hook"
    if name == HOOK:
        legacy = hooks / FRAMEWORK_LEGACY
        if _is_ours(legacy) and os.path.lexists(hook) and not _is_ours(hook):
            # the pre-commit framework moved our hook aside and runs it (its migration mode)
            return [_write_hook(legacy, script, "updated mlgate's hook, run by the pre-commit "
                                                "framework's hook in migration mode", name)]
    if os.path.lexists(hook) and not _is_ours(hook, name):
        if force:
            os.replace(hook, hooks / replaced(name))
            msg = (f"moved the existing {name} hook to {hooks / replaced(name)} (not run: "
                   f"--force)")
        elif os.path.lexists(kept):
            raise Refused(
                f"{hook} is not mlgate's, and {kept} (an earlier hook mlgate chained) still "
                f"exists\nhint: merge the two by hand, remove one, then run `mlgate hooks "
                f"install --git` again (or `--force` to set {hook.name} aside unrun)",
                path=str(hook))
        else:
            os.replace(hook, kept)
            _make_executable(kept)
            msg = f"kept the existing {name} hook as {kept}; it runs first"
        return [msg, _write_hook(hook, script, what, name)]
    return [_write_hook(hook, script, what, name)]


def _write_hook(path: Path, script: str, what: str, name: str = HOOK) -> str:
    try:
        old = path.read_text(encoding="utf-8")
    except OSError:
        old = None
    if old == script and os.access(path, os.X_OK):
        return f"the git {name} hook is already installed: {path}"
    atomic_write(path, script, mode=0o755)
    return f"{what}: {path} (shared by every worktree)"


def _make_executable(path: Path) -> None:
    mode = path.stat().st_mode
    path.chmod(mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def _uninstall_git(root: Path) -> list[str]:
    if not tickets.is_git(root):
        return [f"{root} is not a git repository: no git hook to remove"]
    hooks = git.common_dir(root) / "hooks"
    msgs: list[str] = []
    for name in GIT_HOOKS:
        slots = (name, FRAMEWORK_LEGACY) if name == HOOK else (name,)
        slot = next((hooks / s for s in slots if _is_ours(hooks / s, name)), None)
        if slot is None:
            continue
        slot.unlink()
        msgs.append(f"removed mlgate's git hook {slot}")
        for kept in (hooks / chained(name), hooks / replaced(name)):
            if os.path.lexists(kept):
                os.replace(kept, slot)
                msgs.append(f"restored the previous hook from {kept} to {slot}")
                break
    if not msgs:
        return [f"no mlgate git hook in {hooks}: nothing to remove"]
    _record_installed(root, git=False)
    return msgs


def git_hook_problems(root: str | Path, repair: bool = False, hooks: Path | None = None
                      ) -> list[tuple[str, str, bool]]:
    """The installed git hooks as the tripwire checks them: each of :data:`GIT_HOOKS`
    present, mlgate's, executable, and its chained hook (if any) executable. Returns
    ``(key, problem, repaired)``; with ``repair`` mlgate's script is written back (a foreign
    script found in its place is kept as the chained hook, so nothing is lost)."""
    root = Path(root)
    hooks = hooks if hooks is not None else git.common_dir(root) / "hooks"
    out: list[tuple[str, str, bool]] = []
    for name in GIT_HOOKS:
        hook = hooks / name
        if name == HOOK and _is_ours(hooks / FRAMEWORK_LEGACY) and os.path.lexists(hook):
            hook = hooks / FRAMEWORK_LEGACY  # run by the pre-commit framework's own hook
        problem = None
        if not os.path.lexists(hook):
            problem = f"the git {name} hook {hook} is gone"
        elif not _is_ours(hook, name):
            problem = f"the git {name} hook {hook} is not mlgate's any more"
        elif hook.read_text(encoding="utf-8", errors="replace") != hook_script(name=name) \
                and hook.name == name:
            problem = f"the git {name} hook {hook} was changed"
        elif not os.access(hook, os.X_OK):
            problem = f"the git {name} hook {hook} is not executable any more"
        if problem is None:
            continue
        fixed = False
        if repair:
            if os.path.lexists(hook) and not _is_ours(hook, name):
                kept = hooks / chained(name)
                if os.path.lexists(kept):
                    os.replace(hook, hooks / replaced(name))
                else:
                    os.replace(hook, kept)
                    _make_executable(kept)
            atomic_write(hook, hook_script(name=name), mode=0o755)
            fixed = True
        out.append((f"git-hook:{name}", problem, fixed))
    return out


def installed(root: str | Path) -> dict[str, Any]:
    """What ``mlgate hooks install`` put in place (``{"git": bool, "claude": [checkout...],
    "codex": [...]}``), from ``installed.json`` beside the registry."""
    try:
        data = json.loads((tickets.key_dir(root) / INSTALLED_FILE).read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _record_installed(root: Path, **changes: Any) -> None:
    path = tickets.key_dir(root) / INSTALLED_FILE
    data = installed(root)
    for k, v in changes.items():
        if isinstance(v, tuple):  # (checkout, added?) for an agent
            checkout, add = v
            have = [c for c in data.get(k, []) if c != checkout]
            data[k] = sorted(have + [checkout]) if add else have
        else:
            data[k] = v
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, json.dumps(data, indent=1, sort_keys=True) + "\n")


# -- Claude Code / Codex ---------------------------------------------------------------------


def agent_command(agent: str) -> str:
    """``mlgate hook claude|codex[-post]``, with the absolute path of this environment's
    ``mlgate`` script when there is one (so the hook works without the venv on PATH). It is
    written only to per-machine files (``.claude/settings.local.json``, ignored by git)."""
    script = Path(sys.executable).parent / "mlgate"
    exe = shlex.quote(str(script)) if script.is_file() and os.access(script, os.X_OK) \
        else "mlgate"
    return f"{exe} hook {agent}"


def _kinds(agent: str) -> tuple[str, ...]:
    return (agent, f"{agent}-pretooluse", f"{agent}-post")


def _is_our_command(command: Any, agent: str) -> bool:
    if not isinstance(command, str):
        return False
    words = command.split()
    return len(words) >= 3 and os.path.basename(words[-3].strip("'\"")) == "mlgate" and \
        words[-2] == "hook" and words[-1] in _kinds(agent)


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


def _event_groups(path: Path, data: dict[str, Any], event: str) -> list[Any]:
    hooks = data.setdefault("hooks", {})
    if not isinstance(hooks, dict):
        raise UsageError(f"{path}: `hooks` is not an object; fix it by hand first",
                         path=str(path))
    groups = hooks.setdefault(event, [])
    if not isinstance(groups, list):
        raise UsageError(f"{path}: `hooks.{event}` is not a list; fix it by hand first",
                         path=str(path))
    return groups


def _save_settings(path: Path, data: dict[str, Any], before: str | None) -> bool:
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    if text == before:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, text)
    return True


def _entry(agent: str, kind: str) -> dict[str, Any]:
    entry: dict[str, Any] = {"type": "command", "command": agent_command(kind),
                             "timeout": HOOK_TIMEOUT}
    if agent == "claude":
        # Claude Code runs the tool when a hook cannot start, times out or fails, unless
        # told to block: mlgate's hooks fail closed
        entry["onFailure"] = "block"
    return entry


def _place(path: Path, data: dict[str, Any], agent: str, event: str, matcher: str | None,
           kind: str) -> None:
    """Put mlgate's one entry for ``event`` into ``data`` (replacing older ones)."""
    groups = _event_groups(path, data, event)
    entry = _entry(agent, kind)
    placed = False
    for group in list(groups):
        if not isinstance(group, dict) or not isinstance(group.get("hooks"), list):
            continue
        ours = [h for h in group["hooks"] if isinstance(h, dict)
                and _is_our_command(h.get("command"), agent)]
        if not ours:
            continue
        if not placed and len(ours) == len(group["hooks"]):
            if matcher is None:
                group.pop("matcher", None)
            else:
                group["matcher"] = matcher
            group["hooks"] = [entry]
            placed = True
        else:
            group["hooks"] = [h for h in group["hooks"] if h not in ours]
            if not group["hooks"]:
                groups.remove(group)
    if not placed:
        group = {"hooks": [entry]}
        if matcher is not None:
            group = {"matcher": matcher, "hooks": [entry]}
        groups.append(group)


def _remove(data: dict[str, Any], agent: str) -> int:
    """Remove mlgate's entries for ``agent`` from every event; how many went."""
    hooks = data.get("hooks")
    if not isinstance(hooks, dict):
        return 0
    removed = 0
    for event in list(hooks):
        groups = hooks[event]
        if not isinstance(groups, list):
            continue
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
        if not groups:
            del hooks[event]
    if not hooks:
        data.pop("hooks", None)
    return removed


def _install_agent(checkout: Path, agent: str) -> str:
    rel, matcher, label = _AGENTS[agent]
    path = checkout / rel
    legacy = checkout / _LEGACY[agent] if agent in _LEGACY else None
    if legacy is not None and legacy.exists():  # an older mlgate wrote the shared file
        before = legacy.read_text(encoding="utf-8")
        data = _load_settings(legacy)
        if _remove(data, agent):
            _save_settings(legacy, data, before)
    before_text = path.read_text(encoding="utf-8") if path.exists() else None
    data = _load_settings(path)
    for event, event_matcher, kind in _EVENTS[agent]:
        _place(path, data, agent, event, event_matcher, kind)
    _ignore(checkout, rel)
    note = ""
    if agent == "codex":
        note = (" — Codex runs a project hook only after you review and trust it (`/hooks` "
                "in Codex, per hook: a hook installed again from another path needs the "
                "review again); until then it does not run. `mlgate doctor` says which are "
                "not trusted yet")
    if not _save_settings(path, data, before_text):
        return f"the {label} hooks are already installed: {path}{note}"
    events = ", ".join(e for e, _, _ in _EVENTS[agent])
    return f"installed the {label} hooks ({events}; {matcher}) in {path}{note}"


def _uninstall_agent(checkout: Path, agent: str) -> str:
    rel, _, label = _AGENTS[agent]
    removed = 0
    where = []
    for path in [checkout / rel] + ([checkout / _LEGACY[agent]] if agent in _LEGACY else []):
        if not path.exists():
            continue
        before = path.read_text(encoding="utf-8")
        data = _load_settings(path)
        n = _remove(data, agent)
        if n:
            _save_settings(path, data, before)
            removed += n
            where.append(str(path))
    if not removed:
        return f"no mlgate {label} hook in {checkout / rel}"
    return f"removed the mlgate {label} hooks from {', '.join(where)}"


def installed_agents(checkout: Path) -> list[str]:
    """The agents whose mlgate hooks are installed in ``checkout``."""
    out = []
    for agent, (rel, _, _) in _AGENTS.items():
        for path in [checkout / rel] + ([checkout / _LEGACY[agent]] if agent in _LEGACY
                                        else []):
            try:
                text = path.read_text(encoding="utf-8")
            except OSError:
                continue
            if any(_is_our_command(f"mlgate hook {k}", agent) and f"hook {k}" in text
                   for k in _kinds(agent)) and agent not in out:
                out.append(agent)
    return out


def sync_checkout(root: str | Path, checkout: str | Path) -> list[str]:
    """Install into a new ``checkout`` the agent hooks the main checkout has (the settings
    files are per machine, so a new worktree does not get them from git)."""
    root, checkout = Path(root), Path(checkout)
    return [_install_agent(checkout, agent) for agent in installed_agents(root)]


_EXCLUDE_MARK = "# mlgate: agent hook settings (per machine)"


def _ignore(checkout: Path, rel: Path) -> None:
    """Keep a settings file mlgate writes out of git's untracked files, in every worktree
    (``info/exclude`` of the common dir), so that it never shows up as a change of the
    ticket (stage-4 changed files, ``archive --finalize``)."""
    if not tickets.is_git(checkout):
        return
    try:
        exclude = git.common_dir(checkout) / "info" / "exclude"
        line = "/" + rel.as_posix()
        text = exclude.read_text(encoding="utf-8") if exclude.exists() else ""
        if line in text.splitlines():
            return
        add = ("" if not text or text.endswith("\n") else "\n")
        if _EXCLUDE_MARK not in text:
            add += _EXCLUDE_MARK + "\n"
        exclude.parent.mkdir(parents=True, exist_ok=True)
        with open(exclude, "a", encoding="utf-8") as fh:
            fh.write(add + line + "\n")
    except (OSError, MlgateError):
        pass  # not fatal: the file then shows as untracked, as before


# -- are the installed agent hooks in force? ---------------------------------------------------


def hook_problems(root: str | Path) -> list[dict[str, str]]:
    """Agent hooks that are installed but not in force, wherever mlgate can tell, as
    ``{"id", "message"}``: Claude Code settings that turn hooks off (``disableAllHooks``) or a
    hook whose command is gone or that does not fail closed; a Codex project folder that is
    not trusted (Codex then loads none of its hooks) or mlgate hooks not yet reviewed in Codex
    (read from Codex's own ``config.toml``: ``projects.<path>.trust_level`` and the
    ``hooks.state`` entries; the hash itself is Codex's and is not checked here)."""
    root = Path(root)
    out: list[dict[str, str]] = []
    user_claude = Path(os.path.expanduser("~")) / ".claude" / "settings.json"
    codex_home = Path(os.environ.get("CODEX_HOME") or Path(os.path.expanduser("~")) / ".codex")
    codex_cfg = _read_toml(codex_home / "config.toml")
    for checkout in _checkouts(root):
        agents = installed_agents(checkout)
        if "claude" in agents:
            out += _claude_problems(checkout, user_claude)
        if "codex" in agents:
            out += _codex_problems(checkout, codex_cfg, codex_home)
    return out


def _claude_problems(checkout: Path, user_settings: Path) -> list[dict[str, str]]:
    out = []
    for path in (checkout / ".claude" / "settings.json", checkout / CLAUDE_LOCAL,
                 user_settings):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and data.get("disableAllHooks") not in (None, False,
                                                                         "false"):
            out.append({"id": "claude-hooks-disabled",
                        "message": f"{path} sets disableAllHooks: Claude Code runs no hook, "
                                   f"mlgate's included; remove the setting"})
    try:
        data = json.loads((checkout / CLAUDE_LOCAL).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return out
    for event, groups in (data.get("hooks") or {}).items():
        for group in groups if isinstance(groups, list) else []:
            for h in (group.get("hooks") or []) if isinstance(group, dict) else []:
                if not (isinstance(h, dict) and _is_our_command(h.get("command"), "claude")):
                    continue
                exe = shlex.split(h["command"])[0]
                if os.path.isabs(exe) and not os.access(exe, os.X_OK):
                    out.append({"id": "claude-hook-command",
                                "message": f"{checkout / CLAUDE_LOCAL}: the {event} hook runs "
                                           f"{exe}, which is gone; every tool call is blocked "
                                           f"until `mlgate hooks install --claude` is run again"})
                if h.get("onFailure") != "block":
                    out.append({"id": "claude-hook-fail-open",
                                "message": f"{checkout / CLAUDE_LOCAL}: the {event} hook does "
                                           f"not set onFailure: block, so Claude Code runs the "
                                           f"tool when the hook fails; run `mlgate hooks "
                                           f"install --claude`"})
    return out


def _codex_problems(checkout: Path, cfg: dict[str, Any] | None,
                    codex_home: Path) -> list[dict[str, str]]:
    where = codex_home / "config.toml"
    if cfg is None:
        return [{"id": "codex-untrusted",
                 "message": f"{checkout / '.codex/hooks.json'}: Codex has no {where} yet, so "
                            f"this project and its hooks are not trusted; Codex runs them only "
                            f"after you trust the project and review the hooks (`/hooks`)"}]
    out = []
    projects = cfg.get("projects") if isinstance(cfg.get("projects"), dict) else {}
    real = os.path.realpath(checkout)
    trusted = any(isinstance(v, dict) and v.get("trust_level") == "trusted" and (
        real == os.path.realpath(k) or real.startswith(os.path.realpath(k) + os.sep))
        for k, v in projects.items())
    if not trusted:
        out.append({"id": "codex-project-untrusted",
                    "message": f"{checkout}: Codex does not trust this project ({where} has no "
                               f"trust_level = \"trusted\" for it), so it loads none of its "
                               f".codex hooks"})
    hooks = cfg.get("hooks") if isinstance(cfg.get("hooks"), dict) else {}
    state = hooks.get("state") if isinstance(hooks.get("state"), dict) else {}
    hooks_file = str(checkout / ".codex" / "hooks.json")
    reviewed = [k for k, v in state.items() if (hooks_file in k or real in k) and
                isinstance(v, dict) and v.get("trusted_hash")]
    if not reviewed and not cfg.get("bypass_hook_trust"):
        out.append({"id": "codex-hooks-unreviewed",
                    "message": f"{hooks_file}: mlgate's hooks are installed but not reviewed "
                               f"in Codex ({where} holds no trusted hash for them); Codex "
                               f"does not run them until you trust them (`/hooks` in Codex)"})
    return out


def _read_toml(path: Path) -> dict[str, Any] | None:
    try:
        import tomllib

        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except (OSError, ValueError):
        return None
