"""``mlgate mcp``: the Python API served over the Model Context Protocol (stdio).

An agent that loads this server can ask where its ticket is, what its gate is missing and
whether it may edit a file, and move the ticket, without running shell commands. Modules:

* :mod:`.ops` -- one function per tool, over :mod:`mlgate.workspace`, giving the same JSON
  as the CLI's ``--json`` and the CLI's exit code (a refused move carries its checks);
* :mod:`.content` -- the resources (each ticket's ``workflow-state.md`` and stage
  artifacts, the guide of its current stage, ``mlgate.yaml``) and the ``next-step`` prompt;
* :mod:`.server` -- the server itself, on the official ``mcp`` SDK (the extra
  ``mlgate[mcp]``): typed tool schemas, progress notifications and cancellation for the
  long-running tools;
* :mod:`.register` -- the server's entry in Claude Code's ``.mcp.json`` and Codex's
  ``.codex/config.toml`` (``mlgate hooks install --claude`` / ``--codex``).

Human-only actions (verify, archive, reopen, clearing violations, doctor repairs, baseline
changes, removing hooks) are not tools, and no tool runs arbitrary commands.

Layer 9: above :mod:`mlgate.workspace`; ``cli`` imports it only inside its ``mcp`` and
``hooks install`` commands. Importing this package, :mod:`.ops`, :mod:`.content` or
:mod:`.register` does not import the ``mcp`` SDK; only :mod:`.server` does.
"""
from __future__ import annotations

__all__ = ["SERVER_NAME", "TOOLS", "NOT_TOOLS", "require_sdk"]

SERVER_NAME = "mlgate"

#: Every tool the server offers, in the order it lists them.
TOOLS = ("status", "list", "check", "can_edit", "runs", "advance", "reenter", "block",
         "unblock", "new", "run", "watch", "stop_run", "report")

#: Human decisions (verify, clearing violations, baseline changes, removing hooks) and what
#: only follows them (archive, reopen), repairs of hand edits (doctor), and any generic way
#: to run a command: no tool's name may contain one of these words.
NOT_TOOLS = ("verify", "archive", "reopen", "doctor", "repair", "violation", "baseline",
             "promote", "hook", "uninstall", "shell", "exec", "command", "cli")


def require_sdk() -> None:
    """Raise :class:`~mlgate.errors.MissingExtra` (exit 4, with the pip command) when the
    ``mcp`` SDK is not installed."""
    try:
        import mcp.server.mcpserver  # noqa: F401
    except ImportError as exc:
        from mlgate.errors import MissingExtra

        raise MissingExtra("mcp", "mcp", what="`mlgate mcp`") from exc
