"""A real MCP client for the tests: ``mlgate mcp`` started as a subprocess and driven with the
``mcp`` SDK's own stdio client (``stdio_client`` + ``ClientSession``)."""
from __future__ import annotations

import json
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from mcp import ClientSession, StdioServerParameters, stdio_client


def server_params(workspace: Path, command: str | None = None,
                  args: list[str] | None = None) -> StdioServerParameters:
    """``python -m mlgate mcp --workspace DIR`` (or the given command), with the test's
    environment (the SDK passes only a safe subset by default: the tests' isolated git
    config and HOME must reach the server)."""
    return StdioServerParameters(
        command=command or sys.executable,
        args=args if args is not None else ["-m", "mlgate", "mcp", "--workspace",
                                            str(workspace)],
        env={k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")},
        cwd=str(workspace))


@asynccontextmanager
async def session(workspace: Path, log: Path | None = None, command: str | None = None,
                  args: list[str] | None = None) -> AsyncIterator[ClientSession]:
    """An initialised client session with a fresh server for ``workspace``; the server's
    stderr goes to ``log`` (default: ``<workspace>/../mcp-server.log``)."""
    log = log or workspace.parent / "mcp-server.log"
    with open(log, "a", encoding="utf-8") as errlog:
        async with stdio_client(server_params(workspace, command, args), errlog=errlog) as (r, w):
            async with ClientSession(r, w) as s:
                await s.initialize()
                yield s


def payload(result: Any) -> Any:
    """The JSON of a tool result's text block (what ``mlgate --json`` prints)."""
    assert result.content and result.content[0].type == "text", result
    return json.loads(result.content[0].text)


def exit_code(result: Any) -> int:
    return int((result.meta or {})["mlgate/exit_code"])
