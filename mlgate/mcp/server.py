"""The MCP server (``mlgate mcp``), on the official ``mcp`` SDK's ``MCPServer``, over stdio.

Every tool answers with one text block holding the JSON ``mlgate --json`` prints for the same
command (``structuredContent`` holds the same object; a list is ``{"result": [...]}``), and
``isError`` is true exactly when the CLI would exit non-zero; ``_meta["mlgate/exit_code"]``
is that exit code. A refused ``advance`` is such a result, carrying every failing check; it is
never a protocol error.

Blocking work runs on worker threads. ``run`` and ``watch`` send each progress line of the
handler or the watchdog as a ``notifications/progress`` message (to a client that gave a
progress token). When the client cancels a ``run``, the training runs it launched are stopped
and recorded as ``cancelled``; a cancelled ``watch`` stops following (the run goes on) unless
it was asked to ``stop_on_cancel``. Handler runs are taken one at a time per server.
"""
from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

import anyio
import anyio.from_thread
import anyio.to_thread
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError
from mcp_types import CallToolResult, Resource, TextContent, ToolAnnotations
from pydantic import Field

from mlgate import __version__
from mlgate import constants as C
from mlgate.errors import MlgateError, UsageError
from mlgate.mcp import SERVER_NAME
from mlgate.mcp import content
from mlgate.mcp.ops import Api, Progress, Reply

__all__ = ["build", "serve", "INSTRUCTIONS"]

INSTRUCTIONS = """\
mlgate makes a stage-gated ML experiment workflow mechanical. Each ticket moves through
stages 0 Bootstrap ... 8 Handoff; a stage advances only when its gate holds, and source
edits are allowed only in stage 4 (the edit lock). Start with the `next-step` prompt or the
`status` tool; `check` lists what the current gate is missing (file, line, reason); fill
the ticket's artifacts, then `advance`. Ask `can_edit` before editing a file. Evidence
comes only from `run` (torch-smoke in stage 4, train in stage 5). The user's verification,
archiving, clearing violations and baseline changes are done by a person, not through
these tools. The ticket argument may be left out inside a ticket's worktree, or when only
one ticket is in progress."""

TicketArg = Annotated[str | None, Field(
    description="Ticket name (kebab-case). Leave out for the ticket of the server's "
                "worktree, or the only ticket in progress.",
    pattern=C.TICKET_NAME_RE.pattern)]
ReasonArg = Annotated[str, Field(min_length=1, description="Why: written to the Transition "
                                                           "Log.")]
Classification = Literal[C.CLASSIFICATIONS]  # type: ignore[valid-type]  # an enum schema

READ = ToolAnnotations(read_only_hint=True, open_world_hint=False)
MOVE = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False,
                       open_world_hint=False)
EXIT_KEY = "mlgate/exit_code"


def result(reply: Reply) -> CallToolResult:
    """The tool result of a :class:`Reply` (see the module docstring)."""
    text = json.dumps(reply.data, indent=2, default=str)
    data = json.loads(text)  # JSON-safe (paths, dates) exactly as the text shows it
    return CallToolResult(content=[TextContent(type="text", text=text)],
                          structured_content=data if isinstance(data, dict) else
                          {"result": data},
                          is_error=not reply.ok, _meta={EXIT_KEY: reply.exit_code})


class _Server(MCPServer[Any]):
    """``MCPServer`` whose resource list is read from the workspace at each request (the
    tickets, and the files each has now; ``mlgate.yaml`` only when it exists)."""

    def __init__(self, api: Api, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.api = api

    async def list_resources(self) -> list[Resource]:
        def entries() -> list[content.Entry]:
            try:
                return content.list_resources(self.api.workspace())
            except MlgateError:
                return []
        found = await anyio.to_thread.run_sync(entries)
        return [Resource(uri=e.uri, name=e.name, description=e.description,
                         mime_type=e.mime_type) for e in found]


class _Long:
    """Runs a blocking operation on a worker thread, turning its progress lines into
    progress notifications; on cancellation runs ``on_cancel`` (shielded) and re-raises."""

    def __init__(self, ctx: Context[Any, Any]) -> None:
        self.ctx = ctx
        self.count = 0
        self.done = threading.Event()

    def progress(self, line: str) -> None:
        """Called on the worker thread for each progress line."""
        self.count += 1
        try:
            anyio.from_thread.run(self.ctx.report_progress, float(self.count), None, line)
        except Exception:  # noqa: BLE001 - a lost progress line must not fail the work
            pass

    async def __call__(self, work: Callable[[Progress], Reply],
                       on_cancel: Callable[[threading.Event], object]) -> Reply:
        def body() -> Reply:
            try:
                return work(self.progress)
            finally:
                self.done.set()
        try:
            return await anyio.to_thread.run_sync(body, abandon_on_cancel=True)
        except anyio.get_cancelled_exc_class():
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(on_cancel, self.done)
            raise


def build(here: str | Path) -> MCPServer[Any]:
    """The server for the workspace holding ``here`` (the folder it works in)."""
    api = Api(here)
    app = _Server(api, name=SERVER_NAME, title="mlgate", version=__version__,
                  instructions=INSTRUCTIONS, log_level="WARNING")
    handler_lock = anyio.Lock()

    # -- reading -------------------------------------------------------------------------

    @app.tool(annotations=READ)
    def status(ticket: TicketArg = None) -> CallToolResult:
        """Stage, code-edit permission, seal, gates, re-entry, open violations and the moves
        allowed from here (`mlgate status`). Without a ticket, outside a ticket's worktree:
        every ticket in progress, as a list."""
        return result(api.status(ticket))

    @app.tool(name="list", annotations=READ)
    def list_tickets(all: Annotated[bool, Field(description="Include archived tickets.")]
                     = False) -> CallToolResult:
        """Tickets with their stage and code-edit permission (`mlgate list`)."""
        return result(api.list(all))

    @app.tool(annotations=READ)
    def check(ticket: TicketArg = None) -> CallToolResult:
        """Evaluate the current stage's gate and list every check with its reason (file,
        line, what is missing); writes nothing (`mlgate check`). isError when it fails."""
        return result(api.check(ticket))

    @app.tool(annotations=READ)
    def can_edit(paths: Annotated[list[str], Field(
            min_length=1, description="Files to edit, absolute or relative to the server's "
                                      "folder.")]) -> CallToolResult:
        """Would the edit lock allow editing these paths now? (`mlgate can-edit`; isError
        when denied, with the reason and what to do)."""
        return result(api.can_edit(paths))

    @app.tool(annotations=READ)
    def runs(ticket: TicketArg = None) -> CallToolResult:
        """The ticket's training runs: status, failure class, last metrics (`mlgate runs`)."""
        return result(api.runs(ticket))

    # -- moves ---------------------------------------------------------------------------

    @app.tool(annotations=MOVE)
    def advance(ticket: TicketArg = None,
                reason: Annotated[str | None, Field(description="Reason for the Transition "
                                                    "Log (default: generated).")] = None
                ) -> CallToolResult:
        """Pass the current gate and move to the next stage (or the next of an active
        re-entry path) (`mlgate advance`). A refusal is an isError result with the gate
        report: every failing check, with its reason."""
        return result(api.advance(ticket, reason))

    @app.tool(annotations=MOVE)
    def reenter(classification: Annotated[Classification, Field(
                    description="The re-entry classification; the stage the ticket is in "
                                "decides which are allowed and the return path.")],
                reason: ReasonArg, ticket: TicketArg = None) -> CallToolResult:
        """Declare a classified re-entry from stage 4-7 and take its return path; code edits
        are locked first (`mlgate reenter`)."""
        return result(api.reenter(classification, reason, ticket))

    @app.tool(annotations=MOVE)
    def block(reason: ReasonArg, ticket: TicketArg = None) -> CallToolResult:
        """Mark the current stage Blocked (stages 0, 5, 7, 8) (`mlgate block`)."""
        return result(api.block(reason, ticket))

    @app.tool(annotations=MOVE)
    def unblock(ticket: TicketArg = None,
                reason: Annotated[str | None, Field(description="What changed.")] = None
                ) -> CallToolResult:
        """Clear a Blocked stage (`mlgate unblock`)."""
        return result(api.unblock(ticket, reason))

    @app.tool(annotations=MOVE)
    def new(name: Annotated[str, Field(pattern=C.TICKET_NAME_RE.pattern,
                                       description="The new ticket's name (kebab-case).")],
            base: Annotated[str | None, Field(description="Base branch (default: the remote "
                                              "default, else main/master).")] = None,
            no_worktree: Annotated[bool, Field(description="Work in the current checkout "
                                               "instead of a worktree on codex/NAME.")] = False
            ) -> CallToolResult:
        """Bootstrap a ticket (stage 0): its branch and worktree in git mode, a Draft
        requirements.md and the state file (`mlgate new`)."""
        return result(api.new(name, base, no_worktree))

    # -- handlers and runs -----------------------------------------------------------------

    @app.tool(annotations=MOVE)
    async def run(ctx: Context[Any, Any],
                  handler: Annotated[str | None, Field(
                      description="Handler name, e.g. torch-smoke or train (default: the "
                                  "current stage's configured handlers).")] = None,
                  ticket: TicketArg = None,
                  detach: Annotated[bool, Field(description="train: return as soon as the "
                                                "run is launched; follow it with `watch`.")]
                  = False,
                  collect: Annotated[bool, Field(description="train: collect finished runs "
                                                 "into the report without launching one.")]
                  = False,
                  purpose: Annotated[str | None, Field(description="train: the Purpose of "
                                                       "the new run.")] = None
                  ) -> CallToolResult:
        """Run the current stage's handlers (or one) and record the evidence (`mlgate run`):
        the saved results. Sends each check or run line as a progress notification;
        cancelling the call stops the training runs it launched (recorded `cancelled`)."""
        async with handler_lock:
            before = await anyio.to_thread.run_sync(api.run_dirs, ticket)
            reply = await _Long(ctx)(
                lambda progress: api.run(handler, ticket, detach, collect, purpose, progress),
                lambda done: api.cancel_new_runs(before, ticket, done, "the MCP `run` call "
                                                 "that launched it was cancelled"))
        return result(reply)

    @app.tool(annotations=MOVE)
    async def watch(ctx: Context[Any, Any],
                    run: Annotated[str, Field(description="Run id: RUN-003, run-3 or 3.")],
                    ticket: TicketArg = None,
                    stop_on_cancel: Annotated[bool, Field(
                        description="Stop the run (recorded `cancelled`) when this call is "
                                    "cancelled. Otherwise cancelling the call (or a client's "
                                    "timeout) only stops following it.")] = False
                    ) -> CallToolResult:
        """Follow a run to its end and classify it (`mlgate watch`); progress notifications
        carry the step and latest metrics. A detached run goes on when the call is cancelled,
        unless `stop_on_cancel`; `stop_run` stops it at any time."""
        stop_watching = threading.Event()

        def stop(done: threading.Event) -> None:
            if stop_on_cancel:
                api.stop_run(run, ticket, detail="the MCP `watch` call following it (with "
                                                 "stop_on_cancel) was cancelled")
            else:
                stop_watching.set()
            done.wait(30.0)
        return result(await _Long(ctx)(
            lambda progress: api.watch(run, ticket, progress, stop=stop_watching), stop))

    @app.tool(annotations=ToolAnnotations(read_only_hint=False, destructive_hint=True,
                                          idempotent_hint=True, open_world_hint=False))
    def stop_run(run: Annotated[str, Field(description="Run id: RUN-003, run-3 or 3.")],
                 ticket: TicketArg = None) -> CallToolResult:
        """Stop a running training run (e.g. one launched with detach) and record it as
        `cancelled`. A run that already ended keeps its record."""
        return result(api.stop_run(run, ticket))

    @app.tool(annotations=MOVE)
    def report(ticket: TicketArg = None,
               html: Annotated[str | None, Field(description="Where to write the page "
                                                 "(default: report.html in the ticket "
                                                 "folder); the edit lock must allow it.")]
               = None) -> CallToolResult:
        """Write one self-contained HTML page about the ticket (stage timeline, gates, runs
        with plots) and return its path (`mlgate report`)."""
        return result(api.report(ticket, html))

    # -- resources and the prompt ------------------------------------------------------------

    @app.resource(content.CONFIG_URI, name=C.CONFIG_FILE, mime_type="application/yaml",
                  description="The workspace's mlgate.yaml.")
    def config() -> str:
        return _read(lambda: content.read_config(api.workspace()))

    @app.resource(content.TICKET_TEMPLATE, name="ticket-file", mime_type="text/markdown",
                  description="A ticket's workflow-state.md, a stage artifact "
                              "(requirements.md ... handoff-summary.md), or guide.md: the "
                              "guide of the stage the ticket is in now.")
    def ticket_file(ticket: str, name: str) -> str:
        return _read(lambda: content.read_ticket_file(api.workspace(), ticket, name))

    @app.prompt(name="next-step", title="What to do now",
                description="Where the ticket stands, every failing check of its gate, the "
                            "moves from here and the guide of its current stage.")
    def next_step(ticket: str | None = None) -> str:
        try:
            return content.next_step(api.workspace(), ticket, api.here)
        except MlgateError as exc:
            return f"mlgate cannot say what to do next: {exc}\n"

    return app


def _read(fn: Callable[[], str]) -> str:
    try:
        return fn()
    except UsageError as exc:
        raise ResourceNotFoundError(str(exc)) from None
    except (MlgateError, OSError) as exc:
        raise ResourceError(str(exc)) from None


def serve(here: str | Path) -> None:
    """Serve over stdio until the client closes the connection."""
    build(here).run("stdio")
