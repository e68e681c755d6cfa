"""The MCP tools as plain functions over :mod:`mlgate.workspace` (no SDK here).

Each operation returns a :class:`Reply`: the JSON the CLI prints with ``--json`` for the same
command, and the CLI's exit code (0 done, 1 refused, 2 usage, 3 state file invalid, 4
environment). Errors are replies too, never exceptions: an :class:`~mlgate.errors.MlgateError`
becomes its ``to_dict()`` (a refused move: the gate report with every failing check at the top
level, plus ``error`` and ``message``), an ``OSError`` the CLI's ``environment`` object.

Paths and the default ticket are resolved from :attr:`Api.here`, the folder the server works
in (``mlgate mcp --workspace DIR``, else its working directory), as the CLI resolves them from
the folder it runs in.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlgate import constants as C
from mlgate.errors import EditDenied, GateFailed, MlgateError, os_error_object
from mlgate.workspace import Ticket, Workspace

__all__ = ["Reply", "Api", "Progress", "REPORT_NAME", "WATCH_INTERVAL"]

#: One progress line; the server turns each into a ``notifications/progress`` message.
Progress = Callable[[str], None]

REPORT_NAME = "report.html"  # default page of the report tool, in the ticket folder
WATCH_INTERVAL = 2.0  # seconds between two progress lines of a watched run
CANCEL_WAIT = 60.0  # seconds a cancelled run call waits for its worker to record the end


@dataclass
class Reply:
    """A tool's answer: ``data`` as ``--json`` prints it, ``exit_code`` as the CLI exits."""

    data: Any
    exit_code: int = 0

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


def _error(exc: BaseException) -> Reply:
    if isinstance(exc, MlgateError):
        return Reply(exc.to_dict(), exc.exit_code)
    assert isinstance(exc, OSError)
    return Reply(os_error_object(exc), 4)


def guarded(fn: Callable[[], Reply]) -> Reply:
    """``fn()``, with mlgate's errors and the file system's turned into replies."""
    try:
        return fn()
    except (MlgateError, OSError) as exc:
        return _error(exc)


class Api:
    """The operations of the MCP server, for the workspace holding :attr:`here`. A fresh
    :class:`Workspace` serves each call, so a change to ``mlgate.yaml`` counts at once."""

    def __init__(self, here: str | Path) -> None:
        self.here = Path(here).resolve()

    def workspace(self) -> Workspace:
        return Workspace.discover(self.here)

    def ticket(self, name: str | None, ws: Workspace | None = None) -> Ticket:
        return (ws or self.workspace()).ticket(name, cwd=self.here)

    # -- reading -------------------------------------------------------------------------

    def status(self, ticket: str | None = None) -> Reply:
        """``mlgate status [NAME]``: one ticket's status; every ticket's (a list) when no
        ticket is named and the server does not work inside a ticket's worktree."""
        def go() -> Reply:
            ws = self.workspace()
            if ticket is None:
                from mlgate import tickets

                if tickets.ticket_for_path(ws.root, self.here, ws.branch_prefix) is None:
                    return Reply(ws.statuses())
            return Reply(self.ticket(ticket, ws).status())
        return guarded(go)

    def list(self, include_done: bool = False) -> Reply:
        """``mlgate list [--all]``."""
        return guarded(lambda: Reply([t.row() for t in
                                      self.workspace().tickets(include_done=include_done)]))

    def check(self, ticket: str | None = None) -> Reply:
        """``mlgate check [NAME]``: exit 1 (and every failing check) when the gate fails."""
        def go() -> Reply:
            rep = self.ticket(ticket).check()
            return Reply(rep.to_dict() if rep.ok else GateFailed(rep).to_dict(),
                         0 if rep.ok else 1)
        return guarded(go)

    def can_edit(self, paths: list[str]) -> Reply:
        """``mlgate can-edit PATH...``: exit 1 when the lock denies."""
        def go() -> Reply:
            d = self.workspace().decide(list(paths), cwd=self.here)
            return Reply(d.to_dict(), 0 if d.allowed else 1)
        return guarded(go)

    def runs(self, ticket: str | None = None) -> Reply:
        """``mlgate runs [NAME]``."""
        def go() -> Reply:
            from mlgate.runs import core as R

            return Reply([i.to_dict() for i in R.list_runs(self.ticket(ticket).folder)])
        return guarded(go)

    # -- moves ---------------------------------------------------------------------------

    def advance(self, ticket: str | None = None, reason: str | None = None) -> Reply:
        """``mlgate advance``: a refused move is exit 1 with the gate's failing checks."""
        return guarded(lambda: Reply(self.ticket(ticket).advance(reason).to_dict()))

    def reenter(self, classification: str, reason: str, ticket: str | None = None) -> Reply:
        return guarded(lambda: Reply(self.ticket(ticket).reenter(classification, reason)
                                     .to_dict()))

    def block(self, reason: str, ticket: str | None = None) -> Reply:
        return guarded(lambda: Reply(self.ticket(ticket).block(reason).to_dict()))

    def unblock(self, ticket: str | None = None, reason: str | None = None) -> Reply:
        return guarded(lambda: Reply(self.ticket(ticket).unblock(reason).to_dict()))

    def new(self, name: str, base: str | None = None, no_worktree: bool = False) -> Reply:
        """``mlgate new NAME``: stage 0, with the ticket's branch and worktree in git mode."""
        return guarded(lambda: Reply(self.workspace().new_ticket(
            name, base=base, worktree=not no_worktree).created()))

    # -- handlers and runs ---------------------------------------------------------------

    def run(self, handler: str | None = None, ticket: str | None = None, detach: bool = False,
            collect: bool = False, purpose: str | None = None,
            progress: Progress | None = None) -> Reply:
        """``mlgate run [HANDLER]``: the saved results; exit 0 when every handler passed,
        1 when one failed or is blocked, 4 when one crashed."""
        def go() -> Reply:
            from mlgate.handlers.runner import exit_code

            options = {k: v for k, v in (("collect", collect), ("purpose", purpose)) if v}
            results = self.ticket(ticket).run_handlers([handler] if handler else None,
                                                       detach=detach, progress=progress,
                                                       options=options)
            return Reply([r.to_dict() | {"evidence": r.evidence} for r in results],
                         exit_code(results))
        return guarded(go)

    def watch(self, run: str, ticket: str | None = None, progress: Progress | None = None,
              poll: float = 1.0, stop: threading.Event | None = None) -> Reply:
        """``mlgate watch RUN``: follow the run to its end; exit 1 unless it completed.
        ``stop`` set: stop following (the reply says ``running``; the run goes on)."""
        def go() -> Reply:
            from mlgate.runs import core as R
            from mlgate.runs import watch as W

            t = self.ticket(ticket)
            train = t.ws.config.handler_options("train")
            cls = W.watch(R.resolve_run_dir(t.folder, run), train.get("stall_after"),
                          train.get("timeout"), poll, progress, interval=WATCH_INTERVAL,
                          stop=stop)
            return Reply({"run": run, "failure_class": cls}, 0 if cls == "completed" else 1)
        return guarded(go)

    def stop_run(self, run: str, ticket: str | None = None,
                 detail: str = "stopped through the MCP stop_run tool") -> Reply:
        """Stop a running training run; it is recorded as ``cancelled``. A run that already
        ended keeps its class (and nothing is stopped)."""
        def go() -> Reply:
            from mlgate.runs import core as R
            from mlgate.runs import watch as W

            run_dir = R.resolve_run_dir(self.ticket(ticket).folder, run)
            was_running = R.run_alive(run_dir)
            cls = W.cancel(run_dir, detail)
            return Reply({"run": run_dir.name, "failure_class": cls,
                          "stopped": was_running and cls == "cancelled"})
        return guarded(go)

    def run_dirs(self, ticket: str | None = None) -> set[str]:
        """The names of the ticket's run folders now (a cancelled ``run`` stops the new ones)."""
        try:
            folder = self.ticket(ticket).folder / C.RUNS_DIR
            return {p.name for p in folder.iterdir() if p.is_dir()} if folder.is_dir() \
                else set()
        except (MlgateError, OSError):
            return set()

    def cancel_new_runs(self, before: set[str], ticket: str | None, done: threading.Event,
                        detail: str, wait: float = CANCEL_WAIT) -> list[str]:
        """After a ``run`` call was cancelled: stop every run it launched (a run folder that
        was not in ``before``) until its worker thread is ``done`` (bounded by ``wait``
        seconds: a run launched late in the call is caught too). Returns the runs stopped."""
        from mlgate.runs import core as R
        from mlgate.runs import watch as W

        stopped: list[str] = []
        deadline = time.monotonic() + wait
        while True:
            try:
                folder = self.ticket(ticket).folder
            except (MlgateError, OSError):
                return stopped
            for name in sorted(self.run_dirs(ticket) - before - set(stopped)):
                run_dir = folder / C.RUNS_DIR / name
                if (run_dir / "meta.json").exists() and R.run_alive(run_dir):
                    W.cancel(run_dir, detail)
                    stopped.append(name)
            if done.wait(0.2) or time.monotonic() > deadline:
                return stopped

    # -- report --------------------------------------------------------------------------

    def report(self, ticket: str | None = None, html: str | None = None) -> Reply:
        """``mlgate report --html FILE``; the page goes to ``report.html`` in the ticket folder
        unless ``html`` names a file. The path must be one the edit lock allows now: the
        server writes it on the agent's behalf, so it is no way around the lock."""
        def go() -> Reply:
            from mlgate.report import html as R

            ws = self.workspace()
            t = self.ticket(ticket, ws)
            path = Path(html) if html else t.folder / REPORT_NAME
            if not path.is_absolute():
                path = self.here / path
            d = ws.decide([path], cwd=self.here)
            if not d.allowed:
                raise EditDenied(f"the report cannot be written to {path}: {d.reason}\n"
                                 f"hint: leave `html` out (the page then goes to "
                                 f"{t.folder / REPORT_NAME})", allowed=False, reason=d.reason,
                                 ticket=d.ticket, stage=d.stage, paths=list(d.paths))
            out = R.write_html(t, path)
            return Reply({"ticket": t.name, "html": str(out)})
        return guarded(go)

