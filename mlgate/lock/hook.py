"""``mlgate hook claude|codex|pre-commit``: the adapters between the tools and the lock.

Standard library only, and no click: ``mlgate/__main__.py`` calls :func:`main` directly, so
that a hook costs a few times a bare ``python -c pass``.

* ``claude`` / ``codex``: a ``PreToolUse`` (or Claude Code ``PreSkillShellCommand``) payload
  (JSON) on stdin. Edit/Write/MultiEdit/NotebookEdit name a file; ``apply_patch`` carries a
  patch envelope; any other tool whose input carries a shell ``command`` (Bash, Monitor,
  PowerShell, Codex's shell tools, an MCP tool) is a shell call, read by
  :mod:`mlgate.lock.shell.analyze`. A write whose target cannot be known is refused while
  any ticket of the workspace is Locked. Allowed: exit 0, no output. Denied: exit 0 with
  ``{"hookSpecificOutput": {"hookEventName": "<the event>", "permissionDecision": "deny",
  "permissionDecisionReason": "mlgate: ..."}}`` on stdout (the reason is also on stderr).
* ``pre-commit [FILES...]``: judges the staged changes of the checkout being committed (its
  branch tells the ticket); exit 1 with the reason on stderr when refused.

Every adapter fails closed: an exception, a malformed/empty/oversized payload or missing
fields deny, with the error in the reason. (For Claude Code a plain non-zero exit would *not*
block, so errors are turned into the deny JSON, or exit 2 when even that cannot be written.)
"""
from __future__ import annotations

import os
import sys
TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs import time on the hook path
    from typing import IO, Any

MAX_PAYLOAD = 4 * 1024 * 1024  # bytes of hook JSON read at most; more is refused
FILE_TOOLS = {"Edit": "file_path", "Write": "file_path", "MultiEdit": "file_path",
              "NotebookEdit": "notebook_path"}
SHELL_TOOLS = {"Bash", "shell", "local_shell", "exec_command", "shell_command",
               "container.exec", "unified_exec", "Monitor", "PowerShell"}
EVENTS = ("PreToolUse", "PreSkillShellCommand")
PATCH_TOOLS = {"apply_patch"}
USAGE = ("usage: mlgate hook claude|codex|claude-post|codex-post|pre-commit|pre-merge-commit|"
         "reference-transaction [ARGS...]\n"
         "  claude, codex: read a PreToolUse payload on stdin (installed by "
         "`mlgate hooks install --claude/--codex`)\n"
         "  claude-post, codex-post: the tripwire after a tool call (PostToolUse)\n"
         "  pre-commit, pre-merge-commit: judge the staged files, reference-transaction: judge "
         "ref updates (installed by `mlgate hooks install --git`)\n")
_GUIDANCE = ("Do not work around the lock (other tools, scripts, --no-verify): follow the "
             "steps above, or ask the user.")


class HookInputError(Exception):
    """The payload is not what a PreToolUse hook receives."""


def main(argv: list[str]) -> int:
    """Entry point of ``mlgate hook NAME ...``; returns the exit code."""
    kind = argv[0] if argv else ""
    if kind in ("claude", "claude-pretooluse"):
        return agent_hook("claude")
    if kind in ("codex", "codex-pretooluse"):
        return agent_hook("codex")
    if kind in ("claude-post", "codex-post"):
        return post_tool_use(kind[:-len("-post")])
    if kind in ("pre-commit", "check-lock", "pre-merge-commit"):
        return pre_commit(argv[1:])
    if kind == "reference-transaction":
        from mlgate.lock.refs import reference_transaction

        return reference_transaction(argv[1:], sys.stdin, sys.stderr)
    sys.stderr.write(USAGE if kind in ("", "-h", "--help") else
                     f"mlgate hook: unknown hook {kind!r}\n{USAGE}")
    return 0 if kind in ("-h", "--help") else 2


# -- Claude Code / Codex ------------------------------------------------------------------


def agent_hook(agent: str, stdin: IO[bytes] | None = None, stdout: IO[str] | None = None,
               stderr: IO[str] | None = None) -> int:
    """Judge one PreToolUse call. Always exit 0 with the deny JSON when refused (exit 2 when
    the JSON cannot be written), exit 0 silently when allowed."""
    stdin = stdin if stdin is not None else sys.stdin.buffer
    stdout = stdout if stdout is not None else sys.stdout
    stderr = stderr if stderr is not None else sys.stderr
    event = "PreToolUse"
    try:
        raw = stdin.read(MAX_PAYLOAD + 1)
        if b'"PreSkillShellCommand"' in raw:
            event = "PreSkillShellCommand"
        reason = judge_payload(agent, raw)
    except HookInputError as exc:
        reason = f"mlgate: the {agent} hook payload is not usable ({exc}); refusing the tool " \
                 f"call (fail closed)"
    except BaseException as exc:  # noqa: BLE001 - fail closed on anything, even ^C
        reason = (f"mlgate: the {agent} hook failed ({type(exc).__name__}: {exc}); refusing "
                  f"the tool call (fail closed). Run `mlgate doctor` to find the cause.")
    if reason is None:
        return 0
    return _deny(reason, stdout, stderr, event)


def _deny(reason: str, stdout: IO[str], stderr: IO[str], event: str = "PreToolUse") -> int:
    import json

    payload = {"hookSpecificOutput": {"hookEventName": event,
                                      "permissionDecision": "deny",
                                      "permissionDecisionReason": reason}}
    try:
        stderr.write(reason + "\n")
        stderr.flush()
    except (OSError, ValueError):
        pass
    try:
        stdout.write(json.dumps(payload) + "\n")
        stdout.flush()
    except (OSError, ValueError):
        return 2  # exit 2 blocks too (stderr is the reason)
    return 0


def judge_payload(agent: str, raw: bytes) -> str | None:
    """The deny reason for one PreToolUse payload, or None when the call is allowed."""
    if len(raw) > MAX_PAYLOAD:
        raise HookInputError(f"payload over {MAX_PAYLOAD} bytes")
    if not raw.strip():
        raise HookInputError("empty stdin; expected the PreToolUse JSON")
    import json

    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise HookInputError(f"stdin is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise HookInputError(f"expected a JSON object, got {type(data).__name__}")
    event = data.get("hook_event_name")
    if event is not None and event not in EVENTS:
        return None  # wired to another event: nothing to block
    tool = data.get("tool_name")
    if not isinstance(tool, str) or not tool:
        raise HookInputError("missing `tool_name`")
    tool_input = data.get("tool_input")
    if not isinstance(tool_input, dict):
        raise HookInputError("missing `tool_input` object")
    cwd = data.get("cwd")
    if not isinstance(cwd, str) or not os.path.isabs(cwd):
        raise HookInputError("missing absolute `cwd`")

    if tool in FILE_TOOLS:
        key = FILE_TOOLS[tool]
        path = tool_input.get(key) or (tool_input.get("file_path") if key != "file_path"
                                       else None)
        if not isinstance(path, str) or not path:
            raise HookInputError(f"{tool} without `tool_input.{key}`")
        return _judge_paths(f"{tool} of {path}", [path], cwd)
    if tool in PATCH_TOOLS:
        return _judge_patch(tool_input, cwd)
    if tool == "Monitor" and tool_input.get("command") is None:
        return None  # a Monitor on a WebSocket (`ws`) runs no command
    if tool in SHELL_TOOLS or event == "PreSkillShellCommand" or \
            isinstance(tool_input.get("command"), (str, list)):
        return _judge_command(tool, tool_input, cwd)
    return None  # a tool that does not write files (Read, Grep, an MCP tool, ...)


def _judge_paths(action: str, paths: list[str], cwd: str, note: str = "") -> str | None:
    from mlgate.lock.policy import decide

    decision = decide(paths, cwd=cwd)
    if decision.allowed:
        return None
    where = f" (ticket {decision.ticket}, stage {decision.stage})" if decision.ticket else ""
    return (f"mlgate: {action} refused by the edit lock{where}.\n{decision.reason}"
            f"{note}\n{_GUIDANCE}")


def _judge_patch(tool_input: dict[str, Any], cwd: str) -> str | None:
    from mlgate.lock.patch import envelope_paths

    text: Any = None
    for key in ("command", "input", "patch"):
        if tool_input.get(key):
            text = tool_input[key]
            break
    if isinstance(text, list):
        text = "\n".join(str(x) for x in text)
    if not isinstance(text, str) or not text.strip():
        raise HookInputError("apply_patch without the patch text in `tool_input.command`")
    paths = envelope_paths(text)
    if not paths:
        raise HookInputError("the apply_patch envelope names no file (no `*** Add File:`, "
                             "`*** Update File:`, `*** Delete File:` or `*** Move to:` line)")
    return _judge_paths("apply_patch of " + ", ".join(paths), paths, cwd)


def _judge_command(tool: str, tool_input: dict[str, Any], cwd: str) -> str | None:
    from mlgate.lock.shell.analyze import analyze

    command = tool_input.get("command")
    if isinstance(command, list) and all(isinstance(x, str) for x in command):
        if len(command) >= 3 and os.path.basename(command[0]) in ("bash", "sh", "zsh") and \
                command[1] in ("-c", "-lc", "-ic"):
            command = command[2]
        else:
            import shlex

            command = shlex.join(command)
    if not isinstance(command, str):
        raise HookInputError(f"{tool} without `tool_input.command`")
    run_dir = tool_input.get("workdir") or tool_input.get("cwd")
    where = cwd
    if isinstance(run_dir, str) and run_dir:
        where = os.path.join(cwd, run_dir)
    found = analyze(command, where, branch_prefix=lambda: _branch_prefix(cwd))
    if tool == "PowerShell":
        _powershell(command, found)
    short = command if len(command) <= 120 else command[:117] + "..."
    if found.refusals:
        return (f"mlgate: `{short}` refused: " + "; ".join(found.refusals) + ". " + _GUIDANCE)
    if found.writes:
        reason = _judge_paths(f"`{short}`", found.writes, cwd)
        if reason is not None:
            return reason
    if found.unknown:
        from mlgate.lock.policy import locked_tickets

        places = [p for p in found.places if p != where]
        locked = locked_tickets(cwd, [where, *places])
        if locked:
            names = ", ".join(sorted({name for name, _ in locked}))
            first = locked[0][1]
            whys = "; ".join(found.unknown[:3]) + ("; ..." if len(found.unknown) > 3 else "")
            return (f"mlgate: `{short}` refused: mlgate cannot tell what it writes ({whys}), "
                    f"and ticket(s) {names} are Locked, so a write it cannot place is refused."
                    f"\n{first}\nWrite the command with literal paths (no variables, "
                    f"substitutions, unknown directories or inline interpreter code), run "
                    f"a script file instead, or finish the stage first. {_GUIDANCE}")
    return None


_PS_READ_VERBS = ("get-", "select-", "where-", "format-", "measure-", "test-", "resolve-",
                  "sort-", "group-", "compare-", "convertto-", "convertfrom-", "out-host",
                  "out-string", "write-output", "write-host", "foreach-object", "join-path",
                  "split-path")


def _powershell(command: str, found: Any) -> None:
    """PowerShell: cmdlets whose verb is not a read (Set-Content, Remove-Item, Invoke-…)
    cannot be placed."""
    import re

    for m in re.finditer(r"\b([A-Za-z]+-[A-Za-z]+)\b", command):
        if not m.group(1).lower().startswith(_PS_READ_VERBS):
            found.unknown.append(f"the PowerShell command {m.group(1)} may write files")
            return
    if re.search(r"(^|[\s;|(])(iex|sc|ac|ni|ri|rm|del|erase|cpi|copy|mi|move|rni|ren|"
                 r"saps|start|&)\s", command, re.IGNORECASE):
        found.unknown.append("a PowerShell alias that may write files or run code")


def _branch_prefix(cwd: str) -> str:
    try:
        from mlgate import tickets
        from mlgate.config import raw as rawconfig

        root = tickets.workspace_root(cwd)
        return str(rawconfig.load_raw(root).get("branch_prefix") or "codex/")
    except Exception:  # noqa: BLE001 - the default prefix
        return "codex/"


# -- PostToolUse: the tripwire ----------------------------------------------------------------


def post_tool_use(agent: str, stdin: IO[bytes] | None = None, stdout: IO[str] | None = None,
                  stderr: IO[str] | None = None) -> int:
    """Run the tripwire after one tool call (:func:`mlgate.lock.tripwire.guard`, from the
    payload's ``cwd``) and tell the agent what was caught, in its client's own shape
    (:func:`post_output`). Nothing caught: exit 0, no output. The tripwire failing is
    reported as a block too (fail closed: the agent is told to stop and ask)."""
    stdin = stdin if stdin is not None else sys.stdin.buffer
    stdout = stdout if stdout is not None else sys.stdout
    stderr = stderr if stderr is not None else sys.stderr
    cwd = os.getcwd()
    try:
        raw = stdin.read(MAX_PAYLOAD + 1)
        data = _post_payload(raw)
        event = data.get("hook_event_name")
        if event is not None and event != "PostToolUse":
            return 0
        if isinstance(data.get("cwd"), str) and os.path.isabs(data["cwd"]):
            cwd = data["cwd"]
        early = _start_status(cwd)  # (git works while Python loads the tripwire)
        from mlgate.lock.tripwire import guard

        report = guard(cwd, early=early)
        if report.ok:
            return 0
        reason = report.reason()
        summary = (f"mlgate's tripwire undid {len(report.findings)} change(s) this tool call "
                   f"made where the edit lock does not allow them (see the reason; nothing is "
                   f"lost: `mlgate quarantine list`)")
    except BaseException as exc:  # noqa: BLE001 - fail closed: the agent must stop
        reason = (f"mlgate: the edit lock's tripwire failed after this tool call "
                  f"({type(exc).__name__}: {exc}); changes it made may not have been checked. "
                  f"Stop and ask the user to run `mlgate guard` (and `mlgate doctor`).")
        summary = f"mlgate's tripwire failed: {type(exc).__name__}: {exc}"
    payload = post_output(agent, reason, summary)
    import json

    try:
        stderr.write(reason + "\n")
        stderr.flush()
    except (OSError, ValueError):
        pass
    try:
        stdout.write(json.dumps(payload) + "\n")
        stdout.flush()
    except (OSError, ValueError):
        return 2  # a blocking error for Claude Code (stderr is shown), feedback for Codex
    return 0


def _start_status(cwd: str) -> dict[str, Any]:
    """``git status`` of the checkout holding ``cwd``, started now (it is most often the
    Locked worktree the tripwire compares); {} when there is none."""
    d = os.path.realpath(cwd)
    while not os.path.lexists(os.path.join(d, ".git")):
        parent = os.path.dirname(d)
        if parent == d:
            return {}
        d = parent
    from mlgate.lock.quarantine import start_status

    try:
        return {d: start_status(d)}
    except OSError:
        return {}


def post_output(agent: str, reason: str, summary: str) -> dict[str, Any]:
    """The PostToolUse answer that makes each client show ``reason`` to the agent.

    Both take ``{"decision": "block", "reason": ...}`` (the tool already ran: "block" feeds
    the reason back to the model) plus ``hookSpecificOutput.additionalContext`` and a
    ``systemMessage`` for the person. Codex accepts ``decision`` only as ``"block"`` and
    rejects any other key in ``hookSpecificOutput`` (``additionalProperties: false``), so
    nothing Claude-only (``updatedToolOutput``, ``classifierContext``) is ever sent to it;
    Claude Code's answer is kept to the same fields, which its SDK types allow."""
    out: dict[str, Any] = {"decision": "block", "reason": reason,
                           "hookSpecificOutput": {"hookEventName": "PostToolUse",
                                                  "additionalContext": reason},
                           "systemMessage": summary}
    if agent not in ("claude", "codex"):
        raise ValueError(f"unknown agent {agent!r}")
    return out


def _post_payload(raw: bytes) -> dict[str, Any]:
    if len(raw) > MAX_PAYLOAD:
        raise HookInputError(f"payload over {MAX_PAYLOAD} bytes")
    if not raw.strip():
        return {}  # (run by hand, or a client that sends nothing: still check)
    import json

    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise HookInputError(f"stdin is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise HookInputError(f"expected a JSON object, got {type(data).__name__}")
    return data


# -- git pre-commit ---------------------------------------------------------------------------


def pre_commit(files: list[str], stderr: IO[str] | None = None) -> int:
    """Judge a commit: exit 0 when every staged change is allowed, 1 (reason on stderr) when
    one is refused or anything goes wrong."""
    stderr = stderr if stderr is not None else sys.stderr
    try:
        top, judged = _commit_files(files)
        if not judged:
            return 0
        from mlgate.lock.policy import decide

        decision = decide([os.path.join(top, f) for f in judged], cwd=top, purpose="commit")
    except BaseException as exc:  # noqa: BLE001 - fail closed
        stderr.write(f"mlgate: the pre-commit hook failed ({type(exc).__name__}: {exc}); the "
                     f"commit is refused (fail closed). Run `mlgate doctor` to find the "
                     f"cause.\n")
        return 1
    if decision.allowed:
        return 0
    where = f" (ticket {decision.ticket}, stage {decision.stage})" if decision.ticket else ""
    stderr.write(f"mlgate: commit refused by the edit lock{where}.\n{decision.reason}\n"
                 f"Unstage those files (`git restore --staged FILE`), or follow the steps "
                 f"above; `--no-verify` is not the way out.\n")
    return 1


def _commit_files(files: list[str]) -> tuple[str, list[str]]:
    """The checkout being committed and the files to judge (relative to it).

    Inside ``git commit`` (git sets ``GIT_INDEX_FILE`` for its hooks) the staged changes are
    judged; the FILES the pre-commit framework passes are among them. Run by hand, FILES are
    judged when they differ from HEAD (staged, modified or new), and the staged changes too,
    so that ``pre-commit run --all-files`` on a clean tree passes.
    """
    from mlgate import git

    cwd = os.getcwd()
    top = cwd if os.path.lexists(os.path.join(cwd, ".git")) else str(git.toplevel(cwd))
    # The index being committed: git's own (or its temporary one for `commit -a`/`commit
    # PATH`), or any file the caller named (`GIT_INDEX_FILE=/tmp/idx git commit`), which
    # git hands to its hooks; a relative one is relative to the checkout (the hook's cwd).
    index = os.environ.get("GIT_INDEX_FILE") or None
    if index is not None:
        index = os.path.join(cwd, index)
    judged = list(git.staged_files(top, index=index))
    if files and "GIT_INDEX_FILE" not in os.environ:
        changed = set(git.dirty_files(top, untracked=True))
        for f in files:
            rel = os.path.relpath(os.path.join(cwd, f), top).replace(os.sep, "/")
            if rel in changed and rel not in judged:
                judged.append(rel)
    return top, judged
