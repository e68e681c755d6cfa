"""The ``mlgate`` command line: a thin layer over :mod:`mlgate.workspace`.

Each command parses its arguments, calls the API and prints (text, or JSON with ``--json``).
:func:`main` is the one place that turns errors into exit codes (SPEC §12):
0 done, 1 refused, 2 usage, 3 state file invalid / seal broken, 4 environment.
"""
from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click

from mlgate import __version__
from mlgate import constants as C
from mlgate.errors import MlgateError, TransitionNotAllowed, UsageError
from mlgate.util import fsync_mode


class Classification(click.ParamType):
    """A re-entry classification, any letter case, returned in its canonical spelling."""

    name = "classification"

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "CLASS"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None
                ) -> str:
        for c in C.CLASSIFICATIONS:
            if str(value).strip().lower() == c.lower():
                return c
        self.fail(f"{value!r} is not a classification; use one of: "
                  + ", ".join(f'"{c}"' for c in C.CLASSIFICATIONS), param, ctx)


class Obj:
    def __init__(self, as_json: bool, directory: str | None) -> None:
        self.json = as_json
        self.dir = Path(directory).resolve() if directory else Path(os.getcwd())

    def ws(self) -> Any:
        from mlgate.workspace import Workspace

        return Workspace.discover(self.dir)

    def ticket(self, name: str | None) -> Any:
        return self.ws().ticket(name, cwd=self.dir)


pass_obj = click.make_pass_decorator(Obj)


LONG_LIST = 50  # a longer JSON array prints one compact element per line


def emit(obj: Obj, data: Any, text: str | Callable[[], str] | None = None) -> None:
    """Print ``data`` as JSON with ``--json``, else ``text`` (a callable is called only
    then: the text of 1,000 statuses is not built for a JSON reader)."""
    if obj.json:
        if isinstance(data, list) and len(data) > LONG_LIST:
            # json's C encoder is used only without indent: ~4x faster on `status` of
            # 1,000 tickets, and one ticket per line reads (and greps) better at that size
            click.echo("[\n" + ",\n".join("  " + json.dumps(d, default=str) for d in data)
                       + "\n]")
        else:
            click.echo(json.dumps(data, indent=2, default=str))
    elif text is not None:
        click.echo(text() if callable(text) else text)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@click.option("-C", "directory", metavar="PATH", help="Run as if started in PATH.")
@click.version_option(__version__, prog_name="mlgate")
@click.pass_context
def cli(ctx: click.Context, as_json: bool, directory: str | None) -> None:
    """mlgate: a stage-gated ML experiment workflow, made mechanical.

    Each ticket moves through stages 0 Bootstrap ... 8 Handoff. A stage advances only when
    its gate holds; source edits are allowed only in stage 4. NAME defaults to the ticket of
    the worktree you are in.
    """
    fsync_mode()  # a bad MLGATE_FSYNC is refused before anything runs, not at the first write
    ctx.obj = Obj(as_json, directory)


# -- workspace -------------------------------------------------------------------------


@cli.command()
@pass_obj
def init(obj: Obj) -> None:
    """Create tickets/ folders and a commented mlgate.yaml here."""
    from mlgate.workspace import Workspace

    ws, made = Workspace.init(obj.dir)
    emit(obj, {"root": str(ws.root), "created": made},
         f"mlgate workspace at {ws.root}\n" + ("".join(f"  created {m}\n" for m in made)
                                                or "  (already initialised)\n").rstrip())


@cli.command()
@click.argument("name")
@click.option("--base", metavar="BRANCH", help="Base branch (default: the remote default, "
              "else main/master).")
@click.option("--no-worktree", is_flag=True, help="Work in the current checkout instead of "
              "a worktree on codex/NAME.")
@pass_obj
def new(obj: Obj, name: str, base: str | None, no_worktree: bool) -> None:
    """Bootstrap a ticket (stage 0): branch, worktree, Draft requirements, state file."""
    ws = obj.ws()
    t = ws.new_ticket(name, base=base, worktree=not no_worktree)
    b = t.doc().bootstrap
    data = {"ticket": t.name, "worktree": str(t.checkout), "branch": b.get("Ticket Branch"),
            "folder": str(t.folder), "bootstrap": b}
    emit(obj, data, f"created ticket {t.name} (stage 0 Bootstrap, code edits Locked)\n"
                    f"  folder:   {t.folder}\n  worktree: {t.checkout}\n"
                    f"  branch:   {b.get('Ticket Branch')}\n"
                    f"next: fill requirements.md (Draft), then `mlgate advance {t.name}`")


def _ticket_row(t: Any) -> dict[str, Any]:
    try:
        st = t.state
        return {"ticket": t.name, "stage": st.stage, "permission": st.effective_permission,
                "location": "done" if t.archived else "in-progress", "folder": str(t.folder),
                "gate": st.gates[st.stage].status if st.stage is not None else None}
    except MlgateError as exc:
        return {"ticket": t.name, "stage": None, "permission": "Locked",
                "location": "done" if t.archived else "in-progress", "folder": str(t.folder),
                "error": str(exc)}


@cli.command("list")
@click.option("--all", "show_all", is_flag=True, help="Include archived tickets.")
@pass_obj
def list_cmd(obj: Obj, show_all: bool) -> None:
    """List tickets with their stage and code-edit permission."""
    rows = [_ticket_row(t) for t in obj.ws().tickets(include_done=show_all)]
    lines = [f"{'TICKET':<28} {'STAGE':<34} {'EDITS':<9} LOCATION"]
    for r in rows:
        stage = "?" if r["stage"] is None else C.STAGES[r["stage"]].label
        lines.append(f"{r['ticket']:<28} {stage:<34} {r['permission']:<9} {r['location']}")
    if not rows:
        lines.append("(no tickets; create one with `mlgate new NAME`)")
    emit(obj, rows, "\n".join(lines))


def _status_text(d: dict[str, Any]) -> str:
    stage = "?" if d["stage"] is None else f"{d['stage']} {d['stage_name']}"
    lines = [f"ticket {d['ticket']}  ({d['location']}: {d['folder']})",
             f"  stage:      {stage}   next: {d['next_stage'] if d['next_stage'] is not None else '-'}",
             f"  code edits: {d['permission']}" + (
                 f" (file says {d['recorded_permission']}; seal {d['seal']})"
                 if d["permission"] != d["recorded_permission"] else ""),
             f"  re-entry:   " + (f"{d['classification']} path {d['return_path']}"
                                  if d["active_reentry"] else "none"),
             "  gates:"]
    for g in d["gates"]:
        mark = ">" if g["stage"] == d["stage"] else " "
        lines.append(f"   {mark} {g['stage']} {g['name']:<32} {g['status'] or '-':<12} "
                     f"{g['evidence']}")
    for v in d["violations"]:
        lines.append(f"  violation {v['id']}: {v['violation']} (not cleared)")
    lines.append("  next moves:")
    lines += [f"    {a}" for a in d["allowed"]]
    return "\n".join(lines)


@cli.command()
@click.argument("name", required=False)
@pass_obj
def status(obj: Obj, name: str | None) -> None:
    """Stage, permission, gates and re-entry of a ticket (all tickets when run from the main
    checkout without NAME)."""
    ws = obj.ws()
    if name is None:
        from mlgate import tickets

        here = tickets.ticket_for_path(ws.root, obj.dir, ws.branch_prefix)
        if here is None:
            data = ws.statuses()
            emit(obj, data, lambda: "\n\n".join(
                _status_text(d) if "error" not in d else f"ticket {d['ticket']}: {d['error']}"
                for d in data) or "(no tickets; create one with `mlgate new NAME`)")
            return
    t = ws.ticket(name, cwd=obj.dir)
    d = t.status()
    emit(obj, d, _status_text(d))


def _report_text(rep: Any) -> str:
    domain = getattr(rep, "domain", "dl")
    which = rep.profile if domain == "dl" else f"{domain}, {rep.profile}"
    lines = [f"stage {rep.stage} gate for {rep.ticket} ({which}): "
             + ("PASS" if rep.ok else f"{len(rep.failing())} failing check(s)")]
    for c in rep.checks:
        lines.append(f"  {'ok  ' if c.ok else 'FAIL'} [{c.id}] {c.reason}")
    return "\n".join(lines)


@cli.command()
@click.argument("name", required=False)
@pass_obj
def check(obj: Obj, name: str | None) -> None:
    """Evaluate the current gate and list every failing check (writes nothing)."""
    rep = obj.ticket(name).check()
    emit(obj, rep.to_dict(), _report_text(rep))
    if not rep.ok:
        sys.exit(1)


def _outcome(obj: Obj, outcome: Any) -> None:
    emit(obj, outcome.to_dict(), outcome.message)


@cli.command()
@click.argument("name", required=False)
@click.option("--reason", help="Reason for the Transition Log (default: generated).")
@pass_obj
def advance(obj: Obj, name: str | None, reason: str | None) -> None:
    """Pass the current gate and move to the next stage (or the next stage of an active
    re-entry path)."""
    _outcome(obj, obj.ticket(name).advance(reason))


@cli.command()
@click.argument("classification", type=Classification())
@click.argument("name", required=False)
@click.option("--reason", required=True, help="What failed and why.")
@pass_obj
def reenter(obj: Obj, classification: str, name: str | None, reason: str) -> None:
    """Declare a classified re-entry from stage 4-7 and take its return path (locks first).

    \b
    CLASS and the return path, by the stage the ticket is in:
      4: "Local Fix" (stay in 4), "Plan Impact" 1->3->4, "Requirement Gap" 2->3->4,
         "Investigation Gap" 1->2->3->4, "Unclear" 0->1->2->3->4
      5: "Local Fix" 4->5, "Plan Impact" 1->3->4->5, "Requirement Gap" 2->3->4->5,
         "Investigation Gap" 1->2->3->4->5, "Unclear" 0->...->5
      6: "Local Fix" 4->5->6, "Validation Gap" 5->6, "Plan Impact" 1->3->...->6,
         "Requirement Gap" 2->3->...->6, "Investigation Gap" 1->2->...->6, "Unclear" 0->...->6
      7: "Local Fix" 4->...->7, "Requirement Gap" 2->...->7, "Investigation Gap" 1->...->7,
         "Unclear" 0->...->7
    """
    _outcome(obj, obj.ticket(name).reenter(classification, reason))


@cli.command()
@click.argument("name", required=False)
@click.option("--reason", required=True, help="What blocks the stage.")
@pass_obj
def block(obj: Obj, name: str | None, reason: str) -> None:
    """Mark the current stage Blocked (stages 0, 5, 7, 8)."""
    _outcome(obj, obj.ticket(name).block(reason))


@cli.command()
@click.argument("name", required=False)
@click.option("--reason", help="What changed.")
@pass_obj
def unblock(obj: Obj, name: str | None, reason: str | None) -> None:
    """Clear a Blocked stage."""
    _outcome(obj, obj.ticket(name).unblock(reason))


@cli.command()
@click.argument("name", required=False)
@pass_obj
def unlock(obj: Obj, name: str | None) -> None:
    """Re-unlock code edits in stage 4 (re-checks the stage-3 gate first)."""
    _outcome(obj, obj.ticket(name).unlock())


@cli.command()
@click.argument("name", required=False)
@click.option("--by", "by", required=True, metavar="WHO", help="The person who verified.")
@pass_obj
def verify(obj: Obj, name: str | None, by: str) -> None:
    """Record the user's explicit verification (stage 8)."""
    _outcome(obj, obj.ticket(name).verify(by))


@cli.command()
@click.argument("name", required=False)
@click.option("--finalize", is_flag=True, help="Merge the ticket branch into the recorded "
              "target, remove the worktree and delete the branch.")
@click.option("--promote", metavar="RUN", help="Make this run the new baseline.")
@pass_obj
def archive(obj: Obj, name: str | None, finalize: bool, promote: str | None) -> None:
    """Move a verified ticket to tickets/done/NAME (stage 8)."""
    t = obj.ticket(name)
    out = t.archive(finalize=finalize, promote=promote)
    data = out.to_dict() | {"folder": str(t.folder)}
    emit(obj, data, out.message + f"\n  folder: {t.folder}")


@cli.command()
@click.argument("name")
@pass_obj
def reopen(obj: Obj, name: str) -> None:
    """Move an archived ticket back to tickets/in-progress (stage 8)."""
    t = obj.ws().reopen(name)
    emit(obj, {"ticket": t.name, "folder": str(t.folder), "stage": 8},
         f"{t.name}: reopened in {t.folder}")


@cli.command("can-edit")
@click.argument("paths", nargs=-1, required=True)
@pass_obj
def can_edit(obj: Obj, paths: tuple[str, ...]) -> None:
    """Would the edit lock allow editing PATHS now? (exit 1 when denied)"""
    d = obj.ws().decide(list(paths), cwd=obj.dir)
    emit(obj, d.to_dict(), ("allowed: " if d.allowed else "denied: ") + d.reason)
    if not d.allowed:
        sys.exit(1)


@cli.command()
@click.argument("name", required=False)
@pass_obj
def graph(obj: Obj, name: str | None) -> None:
    """Print a mermaid stateDiagram-v2 of the ticket, current stage highlighted."""
    text = obj.ticket(name).graph()
    emit(obj, {"ticket": name, "mermaid": text}, text.rstrip())


@cli.command()
@click.argument("name", required=False)
@click.option("--repair", is_flag=True, help="Re-seal a hand-edited or unsealed file "
              "(recording a process violation for a broken seal).")
@click.option("--clear-violations", is_flag=True, help="Mark open process violations cleared "
              "(after the upstream artifacts were fixed).")
@pass_obj
def doctor(obj: Obj, name: str | None, repair: bool, clear_violations: bool) -> None:
    """Validate state files, seals, worktrees and evidence."""
    ws = obj.ws()
    ts = [ws.ticket(name, cwd=obj.dir)] if name else ws.tickets()
    reports = []
    for t in ts:
        rep = t.doctor(repair=repair)
        if clear_violations:
            rep.repaired += [f"cleared {v}" for v in t.clear_violations()]
        reports.append(rep)
    lines = []
    for rep in reports:
        lines.append(f"{rep.ticket}: " + ("ok" if rep.ok else "problems"))
        lines += [f"  - [{p['id']}] {p['message']}" + (" (repaired)" if p.get("repaired") else "")
                  for p in rep.problems]
        lines += [f"  repaired: {r}" for r in rep.repaired]
    emit(obj, [r.to_dict() for r in reports], "\n".join(lines) or "no tickets")
    if any(not r.ok for r in reports):
        sys.exit(3 if any(p["id"] in ("seal", "parse") and not p.get("repaired")
                          for r in reports for p in r.problems) else 1)


# -- handlers and runs ------------------------------------------------------------------


@cli.command("run")
@click.argument("handler", required=False)
@click.argument("name", required=False)
@click.option("--detach", is_flag=True, help="Return as soon as a training run is launched.")
@click.option("--collect", is_flag=True, help="train: collect finished runs into the report "
              "without launching a new one (after a --detach run ended).")
@click.option("--purpose", metavar="TEXT", help="train: the Purpose of the new run in the "
              "Run Registry.")
@pass_obj
def run_cmd(obj: Obj, handler: str | None, name: str | None, detach: bool, collect: bool,
            purpose: str | None) -> None:
    """Run the current stage's configured handlers (or HANDLER) and record the evidence."""
    ws = obj.ws()
    t = ws.ticket(name, cwd=obj.dir)
    progress = None if obj.json else (lambda line: click.echo(f"  {line}"))
    options = {k: v for k, v in (("collect", collect), ("purpose", purpose)) if v}
    results = t.run_handlers([handler] if handler else None, detach=detach, progress=progress,
                             options=options)
    data = [r.to_dict() | {"evidence": r.evidence} for r in results]
    text = "\n".join(f"{r.handler}: {r.status}  ({r.evidence})" +
                     (f"\n  error: {r.error.strip().splitlines()[-1]}" if r.error else "")
                     for r in results)
    emit(obj, data, text)
    from mlgate.handlers.runner import exit_code

    sys.exit(exit_code(results))


@cli.command()
@click.argument("name", required=False)
@pass_obj
def runs(obj: Obj, name: str | None) -> None:
    """List the ticket's training runs."""
    from mlgate.runs import core as R
    from mlgate.runs.watch import format_runs

    t = obj.ticket(name)
    infos = R.list_runs(t.folder)
    data = [i.to_dict() for i in infos]
    emit(obj, data, format_runs(infos) if infos else "(no runs yet: `mlgate run train`)")


@cli.command()
@click.argument("run_id", metavar="RUN")
@click.argument("name", required=False)
@pass_obj
def watch(obj: Obj, run_id: str, name: str | None) -> None:
    """Follow a run to its end and classify it (re-attaches by pid)."""
    from mlgate.runs import watch as W

    t = obj.ticket(name)
    train = t.ws.config.handler_options("train")
    progress = None
    if not obj.json:
        from rich.console import Console

        progress = Console(stderr=True)
    cls = W.watch_run(t.folder, run_id, stall_after=train.get("stall_after"),
                      timeout=train.get("timeout"), progress=progress)
    emit(obj, {"run": run_id, "failure_class": cls}, f"{run_id}: {cls}")
    if cls != "completed":
        sys.exit(1)


# -- hooks ---------------------------------------------------------------------------------


@cli.command("hook", context_settings={"ignore_unknown_options": True})
@click.argument("kind", type=click.Choice(["pre-commit", "claude", "codex"]))
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def hook_cmd(kind: str, args: tuple[str, ...]) -> None:
    """Hook adapters (called by git, Claude Code, Codex); they read stdin/arguments."""
    from mlgate.lock import hook as fast

    sys.exit(fast.main([kind, *args]))


@cli.group()
def hooks() -> None:
    """Install or remove the edit-lock hooks."""


def _hook_flags(f: Any) -> Any:
    f = click.option("--git", "git_", is_flag=True, help="git pre-commit hook (all worktrees).")(f)
    f = click.option("--claude", is_flag=True, help="Claude Code PreToolUse hook.")(f)
    f = click.option("--codex", is_flag=True, help="Codex PreToolUse hook.")(f)
    return f


@hooks.command("install")
@_hook_flags
@click.option("--force", is_flag=True, help="Replace a foreign hook instead of chaining it.")
@pass_obj
def hooks_install(obj: Obj, git_: bool, claude: bool, codex: bool, force: bool) -> None:
    """Install hooks (default: --git)."""
    from mlgate.lock import install as I

    if not (git_ or claude or codex):
        git_ = True
    msgs = I.install(obj.ws().root, git=git_, claude=claude, codex=codex, force=force)
    emit(obj, {"messages": msgs}, "\n".join(msgs))


@hooks.command("uninstall")
@_hook_flags
@pass_obj
def hooks_uninstall(obj: Obj, git_: bool, claude: bool, codex: bool) -> None:
    """Remove mlgate's hooks (restores a chained previous git hook)."""
    from mlgate.lock import install as I

    if not (git_ or claude or codex):
        git_ = claude = codex = True
    msgs = I.uninstall(obj.ws().root, git=git_, claude=claude, codex=codex)
    emit(obj, {"messages": msgs}, "\n".join(msgs))


# -- baselines -------------------------------------------------------------------------------


@cli.group()
def baseline() -> None:
    """Show and manage the baseline metrics (baselines.yaml)."""


def _baselines(obj: Obj) -> Any:
    from mlgate.runs import baselines as B

    ws = obj.ws()
    return B, B.load(ws.root, ws.config.baseline_file)


@baseline.command("show")
@pass_obj
def baseline_show(obj: Obj) -> None:
    """The current baseline."""
    B, b = _baselines(obj)
    emit(obj, b.current.to_dict() if b.current else None, B.format_show(b))


@baseline.command("history")
@pass_obj
def baseline_history(obj: Obj) -> None:
    """Every baseline so far, newest last."""
    B, b = _baselines(obj)
    emit(obj, [h.to_dict() for h in b.history], B.format_history(b))


@baseline.command("set")
@click.argument("metrics", nargs=-1, required=True, metavar="KEY=VALUE...")
@click.option("--direction", multiple=True, metavar="KEY=min|max",
              help="Declare a metric's direction.")
@click.option("--note", help="Why this is the new baseline.")
@pass_obj
def baseline_set(obj: Obj, metrics: tuple[str, ...], direction: tuple[str, ...],
                 note: str | None) -> None:
    """Set the baseline by hand, e.g. `mlgate baseline set val/acc=0.91`."""
    B, b = _baselines(obj)

    def pairs(items: Sequence[str], what: str) -> dict[str, str]:
        out = {}
        for item in items:
            if "=" not in item:
                raise UsageError(f"{what} must be KEY=VALUE, got {item!r}")
            k, v = item.split("=", 1)
            out[k.strip()] = v.strip()
        return out

    try:
        values = {k: float(v) for k, v in pairs(metrics, "a metric").items()}
    except ValueError as exc:
        raise UsageError(f"metric values must be numbers: {exc}") from None
    b.set(values, direction=pairs(direction, "--direction") or None, note=note)
    b.save()
    emit(obj, b.current.to_dict(), B.format_show(b))


@baseline.command("rollback")
@click.option("--steps", default=1, show_default=True, help="How many baselines back.")
@pass_obj
def baseline_rollback(obj: Obj, steps: int) -> None:
    """Restore the previous baseline (recorded in the history, never deleted)."""
    B, b = _baselines(obj)
    b.rollback(steps)
    b.save()
    emit(obj, b.current.to_dict() if b.current else None, B.format_show(b))


# -- report and demo -----------------------------------------------------------------------


@cli.command()
@click.argument("name", required=False)
@click.option("--html", "html_path", required=True, metavar="FILE", help="Write the page here.")
@pass_obj
def report(obj: Obj, name: str | None, html_path: str) -> None:
    """Write one self-contained HTML page about the ticket."""
    from mlgate.report import html as R

    t = obj.ticket(name)
    path = R.write_html(t, Path(html_path))
    emit(obj, {"ticket": t.name, "html": str(path)}, f"report written to {path}")


@cli.command()
@click.argument("directory", required=False)
@pass_obj
def demo(obj: Obj, directory: str | None) -> None:
    """Play a ticket through the whole workflow on a small real model, end to end."""
    from mlgate import demo as D

    sys.exit(D.main(directory))


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point: run the CLI and map errors to exit codes."""
    args = list(sys.argv[1:] if argv is None else argv)
    as_json = "--json" in args
    try:
        cli.main(args=args, prog_name="mlgate", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(2)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except MlgateError as exc:
        if as_json:
            data = exc.to_dict()
            report = getattr(exc, "report", None)
            if report is not None:  # a refused advance: the gate report at the top level
                data = report.to_dict() | {"error": exc.kind, "message": exc.message}
            click.echo(json.dumps(data, indent=2, default=str))
        click.echo(f"mlgate: {exc}", err=True)
        sys.exit(exc.exit_code)
    except OSError as exc:  # the file system said no (disk full, read-only, permissions)
        where = f" ({exc.filename})" if exc.filename else ""
        msg = (f"{exc.strerror or exc}{where}\nhint: check free space and permissions there, "
               "then run the command again")
        if as_json:
            click.echo(json.dumps({"error": "environment", "message": msg,
                                   "path": exc.filename, "errno": exc.errno}, indent=2))
        click.echo(f"mlgate: {msg}", err=True)
        sys.exit(4)
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(130)
    sys.exit(0)
