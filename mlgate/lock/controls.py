"""The lock's own controls, checked by the tripwire after every tool call.

An agent that cannot change source may try to switch the lock off instead. What is checked
(and, with ``repair``, put back):

* the git hooks ``mlgate hooks install --git`` installed (``pre-commit``,
  ``pre-merge-commit``, ``reference-transaction``): present, mlgate's, unchanged, executable;
  a foreign script found in their place is kept as the chained hook, so nothing is lost;
* the effective git config: ``core.hooksPath`` (git would run no hook of the common hooks
  dir) and ``include.*`` / ``includeIf.*`` entries that were not there at install time (they
  can set anything); removed again when they sit in the repository's own config files;
* the registry (:mod:`mlgate.lock.governance`): readable, a marker for every governed branch
  (the ``reference-transaction`` hook's fast path), every ticket in progress registered;
* the agent config files of every checkout: ``.claude/settings*.json`` (``disableAllHooks``,
  the mlgate hooks where they were installed, valid JSON), ``.codex/hooks.json`` (the mlgate
  hooks), ``.codex/config.toml`` (``codex_hooks = false`` under ``[features]``), ``.mcp.json``
  (a new MCP server acts outside the tool hooks: a change is reported once).

Standard library only (it runs in the PostToolUse hook).
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

from mlgate import tickets
from mlgate.errors import GitError, MlgateError
from mlgate.lock import governance, install
from mlgate.lock.quarantine import run_git
from mlgate.record import record
from mlgate.util import atomic_write, now_iso

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from mlgate.lock.policy import LockView

__all__ = ["Problem", "check", "AGENT_FILES", "GUARD_STATE"]

AGENT_FILES = (".claude/settings.json", ".claude/settings.local.json", ".codex/hooks.json",
               ".codex/config.toml", ".mcp.json")
GUARD_STATE = "guard.json"  # beside the registry: what the tripwire has seen and reported
_CODEX_OFF = re.compile(r"^\s*codex_hooks\s*=\s*false\s*(#.*)?$", re.MULTILINE)


@record
class Problem:
    key: str  # stable: the same problem found twice is reported (and recorded) once
    message: str
    repaired: bool = False


def check(view: LockView, repair: bool) -> list[Problem]:
    """Every control of the workspace of ``view``; with ``repair`` what can be put back is."""
    root = view.root
    assert root is not None and view.gdir is not None
    out: list[Problem] = []
    done = install.installed(root)
    if tickets.is_git(root):
        if done.get("git"):
            hooks = view.gdir.parent / "hooks"  # (the common dir holds the governance dir)
            out += [Problem(k, m, fixed)
                    for k, m, fixed in install.git_hook_problems(root, repair, hooks)]
        entries = _config_entries(root)
        if isinstance(entries, Problem):
            out.append(entries)
            entries = []
        out += _git_config(root, done, repair, entries)
        out += _excludes(root, view.gdir, repair, entries)
    out += _registry(view, repair)
    out += _agent_files(view, done, repair)
    return out


# -- git config ----------------------------------------------------------------------------


def _config_entries(root: Path) -> list[tuple[str, str, str, str]] | Problem:
    """(scope, origin, key, value) of the config entries the controls look at, with one git
    call: ``core.hooksPath``, ``core.excludesFile``, ``include.*``, ``includeIf.*``."""
    try:
        raw = run_git(root, "config", "--show-origin", "--show-scope", "-z", "--get-regexp",
                      r"^(core\.hookspath|core\.excludesfile|include\..*|includeif\..*)$",
                      ok=(0, 1))
    except GitError as exc:
        return Problem("git-config", f"git cannot read its config ({exc.stderr.strip()}); the "
                                     f"hooks may not run")
    fields = raw.split("\0")
    out = []
    for i in range(0, len(fields) - 2, 3):
        key, _, value = fields[i + 2].partition("\n")
        out.append((fields[i], fields[i + 1], key, value))
    return out


def _git_config(root: Path, done: dict[str, Any], repair: bool,
                entries: list[tuple[str, str, str, str]]) -> list[Problem]:
    known = set(done.get("includes") or [])
    out: list[Problem] = []
    for scope, origin, key, value in entries:
        if key == "core.excludesfile":
            continue
        where = origin[5:] if origin.startswith("file:") else origin
        local = scope in ("local", "worktree") and origin.startswith("file:")
        if key == "core.hookspath":
            msg = (f"core.hooksPath is set to {value!r} ({scope} config {where}): git would "
                   f"run none of mlgate's hooks")
            pkey = f"git-config:core.hookspath:{where}"
        elif f"{key}={value}" not in known:
            msg = (f"git config {key} = {value!r} was added ({scope} config {where}) after "
                   f"the hooks were installed: an included file can switch the hooks off")
            pkey = f"git-config:{key}={value}:{where}"
        else:
            continue
        fixed = False
        if repair and local:
            path = where if os.path.isabs(where) else str(root / where)
            try:
                run_git(root, "config", "--file", path, "--unset-all", key,
                        "^" + re.escape(value) + "$", ok=(0, 5))
                fixed = True
            except GitError:
                fixed = False
        out.append(Problem(pkey, msg + ("; removed" if fixed else ""), fixed))
    return out


def _excludes(root: Path, gdir: Path, repair: bool,
              entries: list[tuple[str, str, str, str]]) -> list[Problem]:
    """The ignore files outside the worktree (``info/exclude`` of the common dir, the file
    of ``core.excludesFile``): a pattern added there hides a new file from the tripwire. The
    content first seen is kept; ``info/exclude`` is put back, the user's own file reported."""
    state = _guard_state(gdir)
    seen: dict[str, str] = dict(state.get("excludes") or {})
    files = [(gdir.parent / "info" / "exclude", True)]
    custom = next((v for _, _, k, v in reversed(entries) if k == "core.excludesfile"), "")
    if custom:
        files.append((Path(os.path.expanduser(custom)), False))
    else:
        xdg = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"),
                                                                ".config")
        files.append((Path(xdg) / "git" / "ignore", False))
    out: list[Problem] = []
    changed = False
    for path, ours in files:
        try:
            text = path.read_text(encoding="utf-8", errors="surrogateescape")
        except OSError:
            text = ""
        key = str(path)
        if key not in seen:
            seen[key] = text
            changed = True
            continue
        if text == seen[key]:
            continue
        fixed = False
        if repair and ours:
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(path, seen[key].encode("utf-8", "surrogateescape"))
            fixed = True
        else:
            seen[key] = text  # reported once; the new content is the baseline from now on
            changed = True
        out.append(Problem(f"excludes:{path}:{_digest_text(text)}",
                           f"{path} was changed: ignore patterns there hide new files from "
                           f"the tripwire" + ("; put back as it was" if fixed else ""),
                           fixed))
    if changed and repair:
        state["excludes"] = seen
        save_guard_state(gdir, state)
    return out


def _digest_text(text: str) -> str:
    from _blake2 import blake2b

    return blake2b(text.encode("utf-8", "surrogateescape"), digest_size=8).hexdigest()


# -- registry ------------------------------------------------------------------------------


def _registry(view: LockView, repair: bool) -> list[Problem]:
    gdir = view.gdir
    assert gdir is not None
    reg = view.registry
    out: list[Problem] = []
    if reg.exists:
        if repair:
            for fixed in governance.sync_markers(reg):
                out.append(Problem(f"registry-marker:{fixed.rsplit(' ', 1)[-1]}",
                                   f"the governance registry's branch markers: {fixed}", True))
        else:
            for b in reg.active():
                if b.ref and not governance.marker_path(gdir, b.ref).is_file():
                    out.append(Problem(f"registry-marker:{b.ref}",
                                       f"the marker of the governed branch {b.ref} is gone: "
                                       f"the reference-transaction hook would let it pass"))
    prefix = str(view.config.get("branch_prefix") or tickets.DEFAULT_BRANCH_PREFIX)
    for t in view.tickets:
        if t.location != "in-progress" or reg.get(t.name) is not None:
            continue
        if not t.own_worktree and tickets.is_git(view.root or "."):
            continue  # a ticket folder in another checkout: nothing to bind
        fixed = False
        if repair and (t.folder / "workflow-state.md").is_file():
            governance.bind(gdir, governance.Binding(
                ticket=t.name, status=governance.IN_PROGRESS,
                worktree=os.path.realpath(t.checkout), folder=str(t.folder),
                branch=t.branch if t.own_worktree else None, own_worktree=t.own_worktree))
            fixed = True
        out.append(Problem(f"registry-unregistered:{t.name}",
                           f"ticket {t.name!r} ({prefix}{t.name}) was not in the governance "
                           f"registry" + ("; registered again" if fixed else ""), fixed))
    return out


# -- agent config files ----------------------------------------------------------------------


def _agent_files(view: LockView, done: dict[str, Any], repair: bool) -> list[Problem]:
    gdir = view.gdir
    assert gdir is not None
    out: list[Problem] = []
    state = _guard_state(gdir)
    mcp_seen: dict[str, str] = dict(state.get("mcp") or {})
    mcp_changed = False
    for co in view.checkouts:
        base = Path(co.path)
        if not base.is_dir():
            continue
        for agent in ("claude", "codex"):
            if str(base) in (done.get(agent) or []) or os.path.realpath(base) in \
                    [os.path.realpath(p) for p in done.get(agent) or []]:
                out += _our_hooks(base, agent, repair)
        for rel in (".claude/settings.json", ".claude/settings.local.json"):
            out += _claude_settings(base / rel, repair)
        out += _codex_config(base / ".codex" / "config.toml", repair)
        mcp = base / ".mcp.json"
        digest = _digest(mcp)
        old = mcp_seen.get(str(base))
        if digest != old:
            if old is not None or (digest is not None and state.get("mcp") is not None):
                out.append(Problem(f"mcp:{base}:{digest}",
                                   f"{mcp} was {'removed' if digest is None else 'changed'}: "
                                   f"an MCP server acts outside the tool hooks; a person "
                                   f"should review it"))
            if digest is None:
                mcp_seen.pop(str(base), None)
            else:
                mcp_seen[str(base)] = digest
            mcp_changed = True
    if (mcp_changed or state.get("mcp") is None) and repair:
        state["mcp"] = mcp_seen
        save_guard_state(gdir, state)
    return out


def _our_hooks(base: Path, agent: str, repair: bool) -> list[Problem]:
    path = base / install.agent_settings(agent)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        text = ""
    if f"hook {agent}" in text:
        return []
    fixed = False
    if repair:
        try:
            install.install(base, **{agent: True})
            fixed = True
        except MlgateError:
            fixed = False
    return [Problem(f"agent-hooks:{path}", f"the mlgate {agent} hooks were removed from {path}"
                    + ("; installed again" if fixed else ""), fixed)]


def _claude_settings(path: Path, repair: bool) -> list[Problem]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return []
    try:
        data = json.loads(text) if text.strip() else {}
    except ValueError as exc:
        return [Problem(f"agent-json:{path}", f"{path} is not valid JSON ({exc}): Claude Code "
                                              f"then ignores it, and the hooks in it")]
    if not isinstance(data, dict) or data.get("disableAllHooks") is not True:
        return []
    fixed = False
    if repair:
        del data["disableAllHooks"]
        atomic_write(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")
        fixed = True
    return [Problem(f"agent-disable:{path}", f"{path} set `disableAllHooks: true` (every hook "
                                             f"of Claude Code off)" + ("; removed" if fixed
                                                                      else ""), fixed)]


def _codex_config(path: Path, repair: bool) -> list[Problem]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return []
    import tomllib

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return [Problem(f"agent-toml:{path}", f"{path} is not valid TOML ({exc})")]
    feats = data.get("features")
    if not (isinstance(feats, dict) and feats.get("codex_hooks") is False):
        return []
    fixed = False
    if repair and _CODEX_OFF.search(text):
        atomic_write(path, _CODEX_OFF.sub("", text))
        fixed = True
    return [Problem(f"agent-codex-off:{path}", f"{path} turned Codex's hooks off "
                                               f"(`codex_hooks = false`)"
                    + ("; removed" if fixed else ""), fixed)]


def _digest(path: Path) -> str | None:
    try:
        raw = path.read_bytes()
    except OSError:
        return None
    from _blake2 import blake2b

    return blake2b(raw, digest_size=16).hexdigest()


# -- what the tripwire has seen ----------------------------------------------------------------


def _guard_state(gdir: Path) -> dict[str, Any]:
    try:
        data = json.loads((gdir / GUARD_STATE).read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def save_guard_state(gdir: Path, state: dict[str, Any]) -> None:
    gdir.mkdir(parents=True, exist_ok=True)
    atomic_write(gdir / GUARD_STATE, json.dumps(state, indent=1, sort_keys=True) + "\n")


def new_problems(gdir: Path, problems: list[Problem], persist: bool = True) -> list[Problem]:
    """The problems not reported before (the same unrepaired problem is recorded once; a
    repaired one that comes back is new again). Updates the record when ``persist``."""
    state = _guard_state(gdir)
    seen: dict[str, str] = dict(state.get("seen") or {})
    fresh = [p for p in problems if p.key not in seen]
    now = {p.key for p in problems if not p.repaired}
    keep = {k: v for k, v in seen.items() if k in now}
    for p in fresh:
        if not p.repaired:
            keep[p.key] = now_iso()
    if keep != seen and persist:
        state["seen"] = keep
        save_guard_state(gdir, state)
    return fresh
