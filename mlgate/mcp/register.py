"""Register ``mlgate mcp`` in the agents' MCP configuration (``mlgate hooks install
--claude`` / ``--codex``, unless ``--no-mcp``).

* **Claude Code**: the ``mlgate`` entry of ``mcpServers`` in ``.mcp.json`` (the project's
  MCP servers) at the root of each checkout;
* **Codex**: the ``[mcp_servers.mlgate]`` table of ``.codex/config.toml`` in each checkout,
  written with ``tomlkit`` so that the rest of the file (comments included) stays as it was.

Each checkout's entry runs ``mlgate mcp --workspace <that checkout>`` with the absolute path
of this environment's ``mlgate`` (``python -m mlgate`` when there is no such script), like
the hooks. Other servers and settings in those files are kept; registering twice changes
nothing; a file that does not parse is never overwritten (the error names it). Without the
``mcp`` extra nothing is registered, and the message says how to install it.

:func:`unregister` (``mlgate hooks uninstall --claude`` / ``--codex``) removes the ``mlgate``
entry again and nothing else; a file left with nothing but an empty server table that mlgate
created is removed.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from mlgate import tickets
from mlgate.errors import UsageError
from mlgate.mcp import SERVER_NAME
from mlgate.util import atomic_write

__all__ = ["register", "unregister", "server_command", "CLAUDE_FILE", "CODEX_FILE"]

CLAUDE_FILE = Path(".mcp.json")
CODEX_FILE = Path(".codex") / "config.toml"


def server_command(checkout: str | Path) -> tuple[str, list[str]]:
    """``(command, args)`` that start the server for ``checkout``."""
    script = Path(sys.executable).parent / "mlgate"
    args = ["mcp", "--workspace", str(Path(checkout).resolve())]
    if script.is_file() and os.access(script, os.X_OK):
        return str(script), args
    return sys.executable, ["-m", "mlgate", *args]


def register(root: str | Path, claude: bool = False, codex: bool = False) -> list[str]:
    """Register the server for Claude Code and/or Codex in every checkout of the workspace at
    ``root``; returns what was done."""
    if not (claude or codex):
        return []
    try:
        import mcp  # noqa: F401  (the server needs the SDK)
        import tomlkit  # noqa: F401
    except ImportError:
        return ["the mlgate MCP server was not registered: it needs the extra, "
                "pip install 'mlgate[mcp]' (then install again; --no-mcp skips this)"]
    msgs: list[str] = []
    for checkout in _checkouts(Path(root)):
        if claude:
            msgs.append(_claude(checkout))
        if codex:
            msgs.append(_codex(checkout))
    return msgs


def _checkouts(root: Path) -> list[Path]:
    try:
        found = [co.path for co in tickets.checkouts(root)]
    except Exception:  # noqa: BLE001 - git unreadable: the workspace folder alone
        found = []
    return found or [root]


def _not_overwritten(path: Path, what: str, line: int | None = None) -> UsageError:
    return UsageError(f"{path}{f':{line}' if line else ''}: {what}; mlgate does not overwrite "
                      f"it\nhint: fix the file, then run the command again (or pass --no-mcp)",
                      path=str(path), line=line)


def _parse_json(path: Path, text: str | None) -> Any:
    """The JSON of ``path`` (``{}`` when empty); a file that does not parse is refused."""
    if not text or not text.strip():
        return {}
    try:
        return json.loads(text)
    except ValueError as exc:
        raise _not_overwritten(path, f"not valid JSON ({exc})",
                               getattr(exc, "lineno", None)) from None


def _parse_toml(path: Path, text: str | None) -> Any:
    """The tomlkit document of ``path``; a file that does not parse is refused."""
    import tomlkit
    from tomlkit.exceptions import TOMLKitError

    try:
        return tomlkit.parse(text or "")
    except TOMLKitError as exc:
        raise _not_overwritten(path, f"not valid TOML ({exc})",
                               getattr(exc, "line", None)) from None


def _claude(checkout: Path) -> str:
    path = checkout / CLAUDE_FILE
    before = path.read_text(encoding="utf-8") if path.exists() else None
    data = _parse_json(path, before)
    if not isinstance(data, dict):
        raise _not_overwritten(path, f"holds a JSON {type(data).__name__}, not an object")
    servers = data.setdefault("mcpServers", {})
    if not isinstance(servers, dict):
        raise _not_overwritten(path, "`mcpServers` is not an object")
    command, args = server_command(checkout)
    servers[SERVER_NAME] = {"type": "stdio", "command": command, "args": args, "env": {}}
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    if text == before:
        return f"the mlgate MCP server is already registered for Claude Code: {path}"
    atomic_write(path, text)
    return f"registered the mlgate MCP server for Claude Code in {path}"


def _codex(checkout: Path) -> str:
    import tomlkit

    path = checkout / CODEX_FILE
    before = path.read_text(encoding="utf-8") if path.exists() else None
    doc = _parse_toml(path, before)
    servers = doc.get("mcp_servers")
    if servers is None:
        servers = tomlkit.table(is_super_table=True)
        doc["mcp_servers"] = servers
    elif not isinstance(servers, dict):
        raise _not_overwritten(path, "`mcp_servers` is not a table")
    command, args = server_command(checkout)
    entry = tomlkit.table()
    entry["command"] = command
    entry["args"] = args
    old = servers.get(SERVER_NAME)
    if isinstance(old, dict) and old.get("command") == command and \
            list(old.get("args") or []) == args:
        return f"the mlgate MCP server is already registered for Codex: {path}"
    servers[SERVER_NAME] = entry
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, tomlkit.dumps(doc))
    return f"registered the mlgate MCP server for Codex in {path}"


def unregister(root: str | Path, claude: bool = False, codex: bool = False) -> list[str]:
    """Remove the server's entry for Claude Code and/or Codex from every checkout of the
    workspace at ``root``; returns what was done (nothing for a checkout without one)."""
    msgs: list[str] = []
    for checkout in _checkouts(Path(root)):
        if claude:
            msgs += _unclaude(checkout)
        if codex:
            msgs += _uncodex(checkout)
    return msgs


def _unclaude(checkout: Path) -> list[str]:
    path = checkout / CLAUDE_FILE
    if not path.is_file():
        return []
    data = _parse_json(path, path.read_text(encoding="utf-8"))
    servers = data.get("mcpServers") if isinstance(data, dict) else None
    if not isinstance(servers, dict) or SERVER_NAME not in servers:
        return []
    del servers[SERVER_NAME]
    if data == {"mcpServers": {}}:
        path.unlink()
        return [f"removed the mlgate MCP server for Claude Code: {path} (deleted: nothing "
                f"else was in it)"]
    atomic_write(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    return [f"removed the mlgate MCP server for Claude Code from {path}"]


def _uncodex(checkout: Path) -> list[str]:
    path = checkout / CODEX_FILE
    if not path.is_file():
        return []
    text = path.read_text(encoding="utf-8")
    if "mcp_servers" not in text:
        return []
    try:
        import tomlkit
    except ImportError:
        return [f"{path}: the mlgate MCP server entry was left in place: editing it needs "
                f"tomlkit (pip install 'mlgate[mcp]'), or delete [mcp_servers.{SERVER_NAME}] "
                f"by hand"]
    doc = _parse_toml(path, text)
    servers = doc.get("mcp_servers")
    if not isinstance(servers, dict) or SERVER_NAME not in servers:
        return []
    del servers[SERVER_NAME]
    if not servers:
        del doc["mcp_servers"]
    out = tomlkit.dumps(doc)
    if not out.strip():
        path.unlink()
        return [f"removed the mlgate MCP server for Codex: {path} (deleted: nothing else was "
                f"in it)"]
    atomic_write(path, out)
    return [f"removed the mlgate MCP server for Codex from {path}"]
