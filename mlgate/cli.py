"""The ``mlgate`` command line: a thin layer over :mod:`mlgate.workspace`.

Each command parses its arguments, calls the API and prints (text, or JSON with ``--json``).
:func:`main` is the one place that turns errors into exit codes (SPEC §12):
0 done, 1 refused, 2 usage, 3 state file invalid / seal broken, 4 environment.
"""
from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click

from mlgate import __version__
from mlgate import constants as C
from mlgate.errors import GateFailed, MlgateError, UsageError, error_object, os_error_object
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


def _env_color() -> bool | None:
    """Colour on a terminal (click decides), never with ``NO_COLOR`` set (no-color.org),
    always with ``FORCE_COLOR`` / ``CLICOLOR_FORCE`` set (e.g. under a pager)."""
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR") or os.environ.get("CLICOLOR_FORCE", "0") != "0":
        return True
    return None


def style_warning(text: str) -> str:
    return click.style(text, fg="yellow")


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

#: ``mlgate --help`` lists the commands in these sections, in this order. A command that is
#: not listed here still appears, under "other"; add a new command to its section here.
SECTIONS: dict[str, tuple[str, ...]] = {
    "workflow": ("init", "new", "check", "advance", "reenter", "block", "unblock", "unlock",
                 "verify", "archive", "reopen", "round"),
    "evidence": ("run", "runs", "watch", "baseline", "rubric"),
    "hooks": ("hooks", "can-edit", "guard", "quarantine", "hook"),
    "inspection": ("status", "list", "graph", "report", "audit"),
    "admin": ("doctor", "demo", "mcp"),
}
SECTION_TITLES = {"workflow": "Workflow (a ticket through its stages)",
                  "evidence": "Evidence (handlers, training runs, baselines)",
                  "hooks": "Hooks (the edit lock)",
                  "inspection": "Inspection",
                  "admin": "Admin",
                  "other": "Other"}


def section_of(command: str) -> str:
    return next((s for s, names in SECTIONS.items() if command in names), "other")


def _json_flag(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:
        obj = ctx.find_object(Obj)
        if obj is not None:
            obj.json = True


def _add_json_option(cmd: click.Command) -> None:
    """``--json`` after the command name too (``mlgate status --json``), not only before."""
    if any(p.name == "json_flag" for p in cmd.params):
        return
    cmd.params.append(click.Option(["--json", "json_flag"], is_flag=True, expose_value=False,
                                   callback=_json_flag, is_eager=True,
                                   help="Print machine-readable JSON."))


class MlgateGroup(click.Group):
    """A click group whose commands all take ``--json`` and whose help lists them by section."""

    #: commands that take their arguments raw (the hook adapters read their own)
    RAW = ("hook",)

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        super().add_command(cmd, name)
        if (name or cmd.name) not in self.RAW:
            _add_json_option(cmd)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        if self is not ctx.find_root().command:
            return super().format_commands(ctx, formatter)
        rows: dict[str, list[tuple[str, str]]] = {}
        for name in self.list_commands(ctx):
            cmd = self.get_command(ctx, name)
            if cmd is None or cmd.hidden:
                continue
            rows.setdefault(section_of(name), []).append((name, cmd.get_short_help_str(200)))
        for section in (*SECTIONS, "other"):
            if section in rows:
                order = SECTIONS.get(section, ())
                items = sorted(rows[section], key=lambda r: (order.index(r[0])
                                                             if r[0] in order else 99, r[0]))
                with formatter.section(click.style(SECTION_TITLES[section], bold=True)):
                    formatter.write_dl(items)


def _workspace_dir(ctx: click.Context) -> Path:
    root = ctx.find_root()
    return Path(root.params.get("directory") or os.getcwd())


def complete_ticket(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
    """Shell completion of ticket names (every checkout, archived tickets included)."""
    from click.shell_completion import CompletionItem

    try:
        from mlgate import tickets as T

        root = T.workspace_root(_workspace_dir(ctx))
        names = [loc.name for loc in T.find_tickets(root)]
    except Exception:  # noqa: BLE001 - completion must never print a traceback
        return []
    return [CompletionItem(n, help="ticket") for n in names if n.startswith(incomplete)]


def handler_names(directory: Path) -> list[str]:
    """Handlers known to this installation (entry points) and named in ``mlgate.yaml``."""
    from mlgate.handlers.registry import Registry

    names = set(Registry().discover().names())
    try:
        from mlgate import tickets as T
        from mlgate.config import raw as rawconfig

        cfg = rawconfig.load_raw(T.workspace_root(directory))
        for value in (cfg.get("handlers") or {}).values():
            names.update([value] if isinstance(value, str) else list(value or []))
    except Exception:  # noqa: BLE001 - a broken mlgate.yaml is reported by the commands
        pass
    return sorted(names)


def complete_handler_or_ticket(ctx: click.Context, param: click.Parameter, incomplete: str
                               ) -> list[Any]:
    """``mlgate run <TAB>``: handler names, then ticket names (``mlgate run TICKET`` works)."""
    from click.shell_completion import CompletionItem

    try:
        handlers = [CompletionItem(n, help="handler") for n in handler_names(_workspace_dir(ctx))
                    if n.startswith(incomplete)]
    except Exception:  # noqa: BLE001
        handlers = []
    return handlers + complete_ticket(ctx, param, incomplete)


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


@click.group(cls=MlgateGroup,
             context_settings={"help_option_names": ["-h", "--help"], "color": _env_color()})
@click.option("--json", "as_json", is_flag=True,
              help="Print machine-readable JSON (also accepted after the command).")
@click.option("-C", "directory", metavar="PATH", help="Run as if started in PATH.")
@click.version_option(__version__, prog_name="mlgate")
@click.pass_context
def cli(ctx: click.Context, as_json: bool, directory: str | None) -> None:
    """mlgate: a stage-gated ML experiment workflow, made mechanical.

    Each ticket moves through stages 0 Bootstrap ... 8 Handoff. A stage advances only when
    its gate holds; source edits are allowed only in stage 4. NAME defaults to the ticket of
    the worktree you are in.

    \b
    Start:      mlgate init; mlgate hooks install --git; mlgate new NAME
    Exit codes: 0 done, 1 refused, 2 usage, 3 state file invalid, 4 environment
    Docs:       https://mlgate.github.io/mlgate/
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
    warnings = ws.uncommitted_setup()
    steps = ["mlgate hooks install --git   (add --claude / --codex for agents)",
             "mlgate new NAME"]
    data = {"root": str(ws.root), "created": made, "warnings": warnings, "next": steps}

    def text() -> str:
        lines = [f"mlgate workspace at {ws.root}"]
        lines += [f"  created {m}" for m in made] or ["  (already initialised)"]
        for w in warnings:
            lines.append(style_warning(f"warning: {w}"))
        lines.append("next:")
        lines += [f"  {i}. {s}" for i, s in enumerate(steps, 1)]
        return "\n".join(lines)

    emit(obj, data, text)


@cli.command()
@click.argument("name")
@click.option("--base", metavar="BRANCH", help="Base branch (default: the remote default, "
              "else main/master).")
@click.option("--no-worktree", is_flag=True, help="Work in the current checkout instead of "
              "a worktree on codex/NAME.")
@click.option("--round", "round_name", metavar="ROUND", help="Add the ticket to this open "
              "round (`mlgate round new`).")
@pass_obj
def new(obj: Obj, name: str, base: str | None, no_worktree: bool,
        round_name: str | None) -> None:
    """Bootstrap a ticket (stage 0): branch, worktree, Draft requirements, state file."""
    ws = obj.ws()
    if round_name:
        from mlgate.rounds import lifecycle as L

        rnd = L.pick(L.load(ws), round_name)
        if rnd.status != "open":
            from mlgate.errors import Refused

            raise Refused(f"round {rnd.name} is {rnd.status}; a ticket joins an open round "
                          f"(mlgate round new ...)", round=rnd.name)
        base = base or rnd.base_branch
    t = ws.new_ticket(name, base=base, worktree=not no_worktree)
    if round_name:
        L.add_ticket(ws, round_name, t.name)
    data = t.created(cwd=obj.dir)

    def text() -> str:
        lines = [f"created ticket {t.name} (stage 0 Bootstrap, code edits Locked)",
                 f"  folder:   {t.folder}", f"  worktree: {t.checkout}",
                 f"  branch:   {data['branch']}"]
        lines += [style_warning(f"warning: {w}") for w in data["warnings"]]
        return "\n".join(lines + ["next:"] + [f"  {s}" for s in data["next"]])

    emit(obj, data, text)


@cli.command("list")
@click.option("--all", "show_all", is_flag=True, help="Include archived tickets.")
@pass_obj
def list_cmd(obj: Obj, show_all: bool) -> None:
    """List tickets with their stage and code-edit permission."""
    rows = [t.row() for t in obj.ws().tickets(include_done=show_all)]
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
             "  re-entry:   " + (f"{d['classification']} path {d['return_path']}"
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
@click.argument("name", required=False, shell_complete=complete_ticket)
@pass_obj
def status(obj: Obj, name: str | None) -> None:
    """Stage, permission, gates and next moves of a ticket.

    With NAME: that ticket (JSON: one object). Without NAME: the ticket of the worktree you
    are in, or every ticket in progress from the main checkout (JSON: always a list)."""
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
        d = ws.ticket(None, cwd=obj.dir).status()
        emit(obj, [d], lambda: _status_text(d))
        return
    d = ws.ticket(name, cwd=obj.dir).status()
    emit(obj, d, lambda: _status_text(d))


def _report_text(rep: Any, verbose: bool = False) -> str:
    """Failing checks first; passing ones only with ``-v``."""
    failing = [c for c in rep.checks if not c.ok]
    passing = [c for c in rep.checks if c.ok]
    domain = getattr(rep, "domain", "dl")
    which = rep.profile if domain == "dl" else f"{domain}, {rep.profile}"
    head = f"stage {rep.stage} gate for {rep.ticket} ({which}): "
    if rep.ok:
        head += click.style("PASS", fg="green", bold=True) + f" ({len(passing)} checks"
        head += ")" if verbose else "; -v lists them)"
    else:
        head += click.style(f"{len(failing)} failing check(s)", fg="red", bold=True)
    lines = [head]
    lines += [f"  {click.style('FAIL', fg='red', bold=True)} [{c.id}] {c.reason}"
              for c in failing]
    if verbose:
        lines += [f"  {click.style('ok  ', fg='green')} [{c.id}] {c.reason}" for c in passing]
    elif failing and passing:
        lines.append(click.style(f"  ({len(passing)} passing; -v lists them)", dim=True))
    return "\n".join(lines)


@cli.command()
@click.argument("name", required=False, shell_complete=complete_ticket)
@click.option("-v", "--verbose", is_flag=True, help="Also list the passing checks.")
@pass_obj
def check(obj: Obj, name: str | None, verbose: bool) -> None:
    """Evaluate the current gate: failing checks first (writes nothing; exit 1 when failing)."""
    rep = obj.ticket(name).check()
    data = rep.to_dict() if rep.ok else GateFailed(rep).to_dict()
    emit(obj, data, lambda: _report_text(rep, verbose))
    if not rep.ok:
        sys.exit(1)


def _outcome(obj: Obj, outcome: Any) -> None:
    emit(obj, outcome.to_dict(), outcome.message)


@cli.command()
@click.argument("name", required=False, shell_complete=complete_ticket)
@click.option("--reason", help="Reason for the Transition Log (default: generated).")
@pass_obj
def advance(obj: Obj, name: str | None, reason: str | None) -> None:
    """Pass the current gate and move to the next stage (or the next stage of an active
    re-entry path)."""
    _outcome(obj, obj.ticket(name).advance(reason))


@cli.command()
@click.argument("classification", type=Classification())
@click.argument("name", required=False, shell_complete=complete_ticket)
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
@click.argument("name", required=False, shell_complete=complete_ticket)
@click.option("--reason", required=True, help="What blocks the stage.")
@pass_obj
def block(obj: Obj, name: str | None, reason: str) -> None:
    """Mark the current stage Blocked (stages 0, 5, 7, 8)."""
    _outcome(obj, obj.ticket(name).block(reason))


@cli.command()
@click.argument("name", required=False, shell_complete=complete_ticket)
@click.option("--reason", help="What changed.")
@pass_obj
def unblock(obj: Obj, name: str | None, reason: str | None) -> None:
    """Clear a Blocked stage."""
    _outcome(obj, obj.ticket(name).unblock(reason))


@cli.command()
@click.argument("name", required=False, shell_complete=complete_ticket)
@pass_obj
def unlock(obj: Obj, name: str | None) -> None:
    """Re-unlock code edits in stage 4 (re-checks the stage-3 gate first)."""
    _outcome(obj, obj.ticket(name).unlock())


@cli.command()
@click.argument("name", required=False, shell_complete=complete_ticket)
@click.option("--by", "by", required=True, metavar="WHO", help="The person who verified.")
@pass_obj
def verify(obj: Obj, name: str | None, by: str) -> None:
    """Record the user's explicit verification (stage 8). Only a person can: it asks you to
    type the ticket's name at the terminal (refused for an agent, or without a terminal)."""
    t = obj.ticket(name)
    signed = " and sign the tag mlgate/verified/" + t.name if t.ws.config.verify == "signed" \
        else ""
    _person(f"mlgate verify", t.name, f"mlgate verify: you, {by}, record that you checked "
                                      f"ticket '{t.name}' and accept its result{signed}.")
    _outcome(obj, t.verify(by))


def _person(action: str, phrase: str, what: str) -> None:
    """A person's decision: the confirmation typed at the controlling terminal."""
    from mlgate import human

    human.confirm(action, phrase, what)


@cli.command()
@click.argument("sc_id", metavar="SC")
@click.argument("name", required=False, shell_complete=complete_ticket)
@click.option("--result", required=True, type=click.Choice(["Passed", "Failed"],
              case_sensitive=False), help="The person's verdict on the rubric.")
@click.option("--by", "by", required=True, metavar="WHO", help="The person who judged it.")
@click.option("--note", default="", help="What was judged and how (kept with the record).")
@click.option("--run", "runs", multiple=True, metavar="RUN", help="The run(s) judged "
              "(default: the newest completed run).")
@pass_obj
def rubric(obj: Obj, sc_id: str, name: str | None, result: str, by: str, note: str,
           runs: tuple[str, ...]) -> None:
    """Record a person's result for a rubric-defined success criterion (stage 5).

    A human decision, like `mlgate verify`: typed at the person's terminal, refused for an
    agent; the record is bound to the ticket with the workspace's seal key, and stage 5
    closes the criterion with it."""
    t = obj.ticket(name)
    t.rubric_target(sc_id, list(runs))  # what is wrong is said before the person is asked
    _person("mlgate rubric", t.name, f"mlgate rubric: you, {by}, record that {sc_id} of "
            f"ticket '{t.name}' {result.capitalize()} on its rubric.")
    rec = t.record_rubric(sc_id, result, by, note, list(runs))
    emit(obj, rec.to_dict() | {"ticket": t.name},
         f"{t.name}: {rec.sc} {rec.result} by {rec.by} (runs: {', '.join(rec.runs) or '-'})"
         f"\nnext: `mlgate run train --collect` closes it in the report")


@cli.command()
@click.argument("name", required=False, shell_complete=complete_ticket)
@click.option("--finalize", is_flag=True, help="Merge the ticket branch into the recorded "
              "target, remove the worktree and delete the branch.")
@click.option("--promote", metavar="RUN", help="Make this run the new baseline.")
@pass_obj
def archive(obj: Obj, name: str | None, finalize: bool, promote: str | None) -> None:
    """Move a verified ticket to tickets/done/NAME (stage 8)."""
    t = obj.ticket(name)
    if promote:
        t.check_promote(promote)  # a refusal is said before the person is asked
        _person("mlgate archive --promote", t.name, f"mlgate archive --promote: {promote} of "
                f"ticket '{t.name}' becomes the baseline every later ticket is compared with.")
    out = t.archive(finalize=finalize, promote=promote)
    data = out.to_dict() | {"folder": str(t.folder)}
    emit(obj, data, out.message + f"\n  folder: {t.folder}")


@cli.command()
@click.argument("name", required=False, shell_complete=complete_ticket)
@click.option("--branch", metavar="BRANCH", help="Audit this branch or commit (default: the "
              "ticket's branch; give NAME too when the branch name does not say the ticket).")
@click.option("--no-registry", is_flag=True, help="Do not use this clone's evidence registry "
              "and seal key (check what CI can check).")
@pass_obj
def audit(obj: Obj, name: str | None, branch: str | None, no_registry: bool) -> None:
    """Replay a ticket branch's history: source commits only in stage-4 windows, legal
    transitions whose gates held, evidence registered and bound, verification (signed where
    configured). Exit 1 with one line per finding."""
    from mlgate.evidence.audit import audit as run_audit

    if name is None and branch is None:
        name = obj.ticket(None).name
    try:
        root = obj.ws().root
    except MlgateError:  # a bare repository (a server-side hook): no workspace, just git
        root = obj.dir
    rep = run_audit(root, name, branch, use_registry=not no_registry,
                    use_key=not no_registry)
    emit(obj, rep.to_dict(), rep.text())
    if not rep.ok:
        sys.exit(1)


@cli.command()
@click.argument("name", shell_complete=complete_ticket)
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
    emit(obj, d.to_dict(), (click.style("allowed: ", fg="green", bold=True) if d.allowed else
                     click.style("denied: ", fg="red", bold=True)) + d.reason)
    if not d.allowed:
        sys.exit(1)


@cli.command()
@click.argument("name", required=False, shell_complete=complete_ticket)
@click.option("--svg", "svg_path", metavar="FILE",
              help="Also draw the stages as an SVG picture into FILE (no network needed).")
@pass_obj
def graph(obj: Obj, name: str | None, svg_path: str | None) -> None:
    """Print the ticket's stages as a mermaid diagram: the path taken, the current stage."""
    t = obj.ticket(name)
    text = t.graph()
    data: dict[str, Any] = {"ticket": t.name, "mermaid": text}
    if svg_path:
        from mlgate.report import html as R
        from mlgate.util import atomic_write

        out = Path(svg_path).expanduser().resolve()
        out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(out, R.diagram_svg(t))
        data["svg"] = str(out)
    emit(obj, data, text.rstrip() + (f"\nsvg written to {data['svg']}" if svg_path else ""))


@cli.command()
@click.argument("name", required=False, shell_complete=complete_ticket)
@click.option("--repair", is_flag=True, help="Re-seal a hand-edited or unsealed file "
              "(recording a process violation for a broken seal).")
@click.option("--clear-violations", is_flag=True, help="Mark open process violations cleared "
              "(after the upstream artifacts were fixed).")
@pass_obj
def doctor(obj: Obj, name: str | None, repair: bool, clear_violations: bool) -> None:
    """Validate state files, seals, worktrees and evidence."""
    ws = obj.ws()
    ts = [ws.ticket(name, cwd=obj.dir)] if name else ws.tickets()
    if clear_violations:
        names = ", ".join(t.name for t in ts)
        _person("mlgate doctor --clear-violations", ts[0].name if len(ts) == 1 else
                ws.root.name, f"mlgate doctor --clear-violations: you confirm the process "
                f"violations of {names or 'no ticket'} were looked into and fixed.")
    reports = []
    for t in ts:
        rep = t.doctor(repair=repair)
        if clear_violations:
            rep.repaired += [f"cleared {v}" for v in t.clear_violations()]
        reports.append(rep)
    from mlgate.lock.install import hook_problems

    hook_report = hook_problems(ws.root)  # agent hooks installed but not in force
    lines = []
    for rep in reports:
        lines.append(f"{rep.ticket}: " + ("ok" if rep.ok else "problems"))
        lines += [f"  - [{p['id']}] {p['message']}" + (" (repaired)" if p.get("repaired") else "")
                  for p in rep.problems]
        lines += [f"  repaired: {r}" for r in rep.repaired]
    if hook_report:
        lines.append("agent hooks: problems")
        lines += [f"  - [{p['id']}] {p['message']}" for p in hook_report]
    emit(obj, [r.to_dict() for r in reports] + ([{
        "ticket": None, "ok": False, "problems": hook_report, "repaired": []}]
        if hook_report else []), "\n".join(lines) or "no tickets")
    if hook_report and not any(not r.ok for r in reports):
        sys.exit(1)
    if any(not r.ok for r in reports):
        sys.exit(3 if any(p["id"] in ("seal", "parse", "behind-head", "registry")
                          and not p.get("repaired")
                          for r in reports for p in r.problems) else 1)


# -- handlers and runs ------------------------------------------------------------------


@cli.command("run")
@click.argument("handler", required=False, shell_complete=complete_handler_or_ticket)
@click.argument("name", required=False, shell_complete=complete_ticket)
@click.option("--detach", is_flag=True, help="Return as soon as a training run is launched.")
@click.option("--collect", is_flag=False, flag_value="all", default=None, metavar="[RUN]",
              help="train: collect finished runs into the report without launching a new one "
                   "(after a --detach run ended); with RUN, first import that run's metrics "
                   "again from its metric source.")
@click.option("--metrics", "metrics_source", metavar="SOURCE",
              type=click.Choice(["track", "wandb", "csv", "tensorboard", "stdout"]),
              help="train --collect RUN: import from this source instead of train.metrics.")
@click.option("--purpose", metavar="TEXT", help="train: the Purpose of the new run in the "
              "Run Registry.")
@click.option("--seed", "seeds", type=int, multiple=True, metavar="N", help="train: one run "
              "per --seed (instead of train.seed), e.g. --seed 0 --seed 1 --seed 2.")
@pass_obj
def run_cmd(obj: Obj, handler: str | None, name: str | None, detach: bool,
            collect: str | None, metrics_source: str | None, purpose: str | None,
            seeds: tuple[int, ...]) -> None:
    """Run the current stage's configured handlers (or HANDLER) and record the evidence.

    \b
    mlgate run                   the handlers mlgate.yaml lists for the ticket's stage
    mlgate run torch-smoke       one of them (refused when not listed for this stage)
    mlgate run my-ticket         the handlers of that ticket's stage
    mlgate run train my-ticket   one handler of that ticket
    mlgate run train --seed 1    one run per --seed (instead of train.seeds)
    mlgate run train --collect   collect finished runs without launching a new one
    """
    from mlgate.errors import TicketNotFound

    ws = obj.ws()
    if handler is not None and name is None and handler not in handler_names(ws.root):
        try:  # `mlgate run TICKET`: a ticket, not a handler
            ws.ticket(handler, cwd=obj.dir)
            handler, name = None, handler
        except TicketNotFound:
            pass
    t = ws.ticket(name, cwd=obj.dir)
    progress = None if obj.json else (lambda line: click.echo(f"  {line}"))
    options: dict[str, Any] = {k: v for k, v in (("collect", collect), ("purpose", purpose),
                                                   ("metrics", metrics_source),
                                                   ("seeds", list(seeds))) if v}
    if options.get("collect") == "all":
        options["collect"] = True
    results = t.run_handlers([handler] if handler else None, detach=detach, progress=progress,
                             options=options)
    data = [r.to_dict() | {"evidence": r.evidence} for r in results]
    emit(obj, data, lambda: "\n".join(_result_text(r, t.folder) for r in results))
    from mlgate.handlers.runner import exit_code

    sys.exit(exit_code(results))


_STATUS_COLOURS = {"Pass": "green", "Fail": "red", "Blocked": "yellow"}


def _result_text(r: Any, folder: Path) -> str:
    """``train: Fail  (evidence/5-train-1.json)`` and, under it, why: every failing check
    with its reason (a crashed run's ``train.log`` with its full path), or the error."""
    lines = [f"{r.handler}: {click.style(r.status, fg=_STATUS_COLOURS.get(r.status), bold=True)}"
             f"  ({r.evidence})"]
    for c in r.checks:
        if c.status == "fail" or (r.status == "Blocked" and c.status != "pass"):
            detail = re.sub(r"(?<![\w/])runs/(RUN-\d+)/train\.log",
                            lambda m: str(folder / "runs" / m.group(1) / "train.log"), c.detail)
            first, *rest = detail.splitlines() or [""]
            lines.append(f"  - [{c.id}] {first}")
            lines += [f"      {x}" for x in rest]
    if r.error:
        lines.append(f"  error: {r.error.strip().splitlines()[-1]}")
    return "\n".join(lines)


@cli.command()
@click.argument("name", required=False, shell_complete=complete_ticket)
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
@click.argument("name", required=False, shell_complete=complete_ticket)
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
    tail = W.failure_tail(t.folder, run_id) if cls != "completed" else ""
    emit(obj, {"run": run_id, "failure_class": cls, "log_tail": tail or None},
         f"{run_id}: {cls}" + (f"\nlast lines of its log:\n{tail}" if tail else ""))
    if cls != "completed":
        sys.exit(1)


# -- hooks ---------------------------------------------------------------------------------


@cli.command("hook", context_settings={"ignore_unknown_options": True})
@click.argument("kind", type=click.Choice(["pre-commit", "claude", "codex", "claude-post",
                                           "codex-post", "pre-merge-commit",
                                           "reference-transaction"]))
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def hook_cmd(kind: str, args: tuple[str, ...]) -> None:
    """Hook adapters (called by git, Claude Code, Codex); they read stdin/arguments."""
    from mlgate.lock import hook as fast

    sys.exit(fast.main([kind, *args]))


@cli.command("guard")
@click.option("--check", "check_only", is_flag=True,
              help="Only report: quarantine, restore and record nothing.")
@click.option("--every", metavar="SECONDS", type=float,
              help="Run again every SECONDS until interrupted (for an agent without hooks).")
@pass_obj
def guard_cmd(obj: Obj, check_only: bool, every: float | None) -> None:
    """The tripwire: compare every Locked worktree with its baseline and check the lock's
    controls; changes outside what the stage allows are quarantined, undone and recorded
    (exit 1 when something was caught)."""
    import time

    from mlgate.lock.tripwire import guard as run_guard

    while True:
        rep = run_guard(obj.dir, repair=not check_only)
        if rep.root is None:
            raise UsageError(rep.notes[0] + "\nhint: run it inside the project (or -C PATH)")

        def text() -> str:
            if rep.ok:
                return (f"ok: {len(rep.checked)} Locked checkout(s) compared, controls in "
                        f"place ({rep.seconds * 1000:.0f} ms)"
                        + "".join(f"\n  note: {n}" for n in rep.notes))
            return rep.reason() + "".join(f"\n  note: {n}" for n in rep.notes)

        if every is None or not rep.ok:
            emit(obj, rep.to_dict(), text)
        if every is None:
            break
        time.sleep(max(every, 0.1))
    if not rep.ok:
        sys.exit(1)


@cli.group(cls=MlgateGroup)
def quarantine() -> None:
    """Changes the tripwire took out of a Locked worktree (nothing is lost)."""


@quarantine.command("list")
@click.argument("name", required=False)
@pass_obj
def quarantine_list(obj: Obj, name: str | None) -> None:
    """List the quarantine entries of the ticket."""
    from mlgate.lock import quarantine as Q

    t = obj.ticket(name)
    entries = Q.entries(t.folder)
    data = [e.to_dict() for e in entries]

    def text() -> str:
        if not entries:
            return f"{t.name}: nothing in quarantine"
        lines = []
        for e in entries:
            m = e.meta
            paths = ", ".join(c.get("path", "?") for c in m.get("changes") or []) or \
                (m.get("state_file") and "workflow-state.md") or "-"
            lines.append(f"{e.id}  {m.get('created', '?')}  stage {m.get('stage')}  "
                         f"{m.get('violation') or ''}  {'applied ' + m['applied'] if m.get('applied') else ''}"
                         f"\n    {paths}\n    {m.get('reason', '')}")
        return "\n".join(lines)

    emit(obj, data, text)


@quarantine.command("apply")
@click.argument("qid", metavar="ID")
@click.argument("name", required=False)
@pass_obj
def quarantine_apply(obj: Obj, qid: str, name: str | None) -> None:
    """Re-apply quarantine entry ID to the ticket's worktree (stage 4, Unlocked)."""
    from mlgate.lock import quarantine as Q

    ws = obj.ws()
    t = ws.ticket(name, cwd=obj.dir)

    def allowed(paths: list[str]) -> str | None:
        if not paths:
            return None
        d = ws.decide([str(t.checkout / p) for p in paths], cwd=t.checkout)
        return None if d.allowed else d.reason

    done = Q.apply(t.checkout, t.folder, qid, allowed)
    emit(obj, {"ticket": t.name, "id": qid, "done": done}, "\n".join(done) or "nothing to do")


@cli.group(cls=MlgateGroup)
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
@click.option("--no-mcp", is_flag=True, help="With --claude/--codex: do not register the "
              "mlgate MCP server (.mcp.json / .codex/config.toml).")
@pass_obj
def hooks_install(obj: Obj, git_: bool, claude: bool, codex: bool, force: bool,
                  no_mcp: bool) -> None:
    """Install hooks (default: --git); --claude/--codex also register the MCP server."""
    from mlgate.lock import install as I

    if not (git_ or claude or codex):
        git_ = True
    msgs = I.install(obj.ws().root, git=git_, claude=claude, codex=codex, force=force)
    if not no_mcp:
        from mlgate.mcp import register

        msgs += register.register(obj.ws().root, claude=claude, codex=codex)
    emit(obj, {"messages": msgs}, "\n".join(msgs))


@hooks.command("uninstall")
@_hook_flags
@pass_obj
def hooks_uninstall(obj: Obj, git_: bool, claude: bool, codex: bool) -> None:
    """Remove mlgate's hooks (restores a chained previous git hook), and with --claude/--codex
    the MCP server registration."""
    from mlgate.lock import install as I

    if not (git_ or claude or codex):
        git_ = claude = codex = True
    root = obj.ws().root
    _person("mlgate hooks uninstall", root.name, f"mlgate hooks uninstall: the edit lock of "
            f"{root} stops working (git hooks and agent hooks); type the repository folder's "
            "name.")
    msgs = I.uninstall(root, git=git_, claude=claude, codex=codex)
    from mlgate.mcp import register

    msgs += register.unregister(root, claude=claude, codex=codex)
    emit(obj, {"messages": msgs}, "\n".join(msgs))


@cli.command("mcp")
@click.option("--workspace", metavar="DIR", help="The folder to serve (a workspace, or a "
              "ticket's worktree: then that ticket is the default). Default: here.")
@pass_obj
def mcp_cmd(obj: Obj, workspace: str | None) -> None:
    """Serve mlgate to agents over the Model Context Protocol (stdio): tools, the ticket
    files as resources, and the next-step prompt. Needs `pip install 'mlgate[mcp]'`."""
    here = Path(workspace).resolve() if workspace else obj.dir
    if not here.is_dir():
        raise UsageError(f"--workspace {workspace}: no such folder", path=str(here))
    obj.dir = here
    obj.ws()  # not a workspace: refused now (exit 2), not at the first tool call
    from mlgate.mcp import require_sdk

    require_sdk()
    from mlgate.mcp.server import serve

    serve(here)


# -- baselines -------------------------------------------------------------------------------


@cli.group(cls=MlgateGroup)
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
    root = obj.ws().root
    _person("mlgate baseline set", root.name, f"mlgate baseline set: every later ticket of "
            f"{root} is compared with {', '.join(f'{k}={v:g}' for k, v in values.items())}; "
            "type the repository folder's name.")
    b.set(values, direction=pairs(direction, "--direction") or None, note=note)
    b.save()
    emit(obj, b.current.to_dict(), B.format_show(b))


@baseline.command("rollback")
@click.option("--steps", default=1, show_default=True, help="How many baselines back.")
@click.option("--by", "by", required=True, metavar="WHO", help="The person who decided it.")
@click.option("--no-revert", is_flag=True, help="Restore the numbers only; revert no merge.")
@pass_obj
def baseline_rollback(obj: Obj, steps: int, by: str, no_revert: bool) -> None:
    """Undo a baseline that regressed: revert the merges that promoted it (git revert, one
    commit each, never a reset) and restore the previous baseline's metrics (a human
    decision: typed at the person's terminal, refused for an agent)."""
    from mlgate.rounds import baseline as RB

    root = obj.ws().root

    def confirm() -> None:
        _person("mlgate baseline rollback", root.name, f"mlgate baseline rollback: you, {by}, "
                f"take the baseline of {root} {steps} step(s) back"
                + ("" if no_revert else " and revert the merges that promoted it")
                + "; type the repository folder's name.")

    out = RB.rollback(obj.ws(), by, steps, revert=not no_revert, confirm=confirm)
    reverted = out["reverted"]
    emit(obj, out, out["table"] + "\n" + (
        "reverted:\n" + "\n".join(f"  {r['merge'][:12]} {r['subject']} -> revert "
                                   f"{r['revert'][:12]}" for r in reverted)
        if reverted else "no merge reverted (--no-revert)")
        + f"\nbaseline {out['restored']['id']} is current (restored from baseline "
          f"{out['restored']['restored_from']}); commit {obj.ws().config.baseline_file}")


@baseline.command("check")
@click.option("--against", type=int, metavar="ID", help="Compare with this baseline id "
              "(default: the one the current baseline replaced).")
@pass_obj
def baseline_check(obj: Obj, against: int | None) -> None:
    """Compare the current baseline with the previous one, metric by metric in its
    direction (with the seeds' statistics when both have per-seed values); exit 1 on a
    regression."""
    from mlgate.rounds import baseline as RB
    from mlgate.runs import regression as RG

    _, old, new, rows = RB.check(obj.ws(), against)
    bad = [r.metric for r in rows if r.regression]
    emit(obj, {"baseline": new.id, "against": old.id, "rows": [r.to_dict() for r in rows],
               "regressions": bad},
         RG.table_text(rows, old, new) + ("\nregression: " + ", ".join(bad) + "; undo it "
                                           "with `mlgate baseline rollback --by NAME`"
                                           if bad else "\nno regression"))
    if bad:
        sys.exit(1)


@baseline.command("run")
@click.option("--seeds", metavar="0,1,2", help="Seeds to run (default: stats.min_seeds "
              "seeds from train.seed).")
@click.option("--note", help="Why this baseline is measured.")
@pass_obj
def baseline_run(obj: Obj, seeds: str | None, note: str | None) -> None:
    """Measure the base branch (the main checkout, committed code): train once per seed and
    make the runs the new baseline, then check it against the previous one."""
    from mlgate.rounds import baseline as RB

    chosen = None
    if seeds:
        try:
            chosen = [int(x) for x in seeds.split(",") if x.strip()]
        except ValueError:
            raise UsageError(f"--seeds {seeds!r}: give whole numbers, e.g. 0,1,2") from None
    progress = None if obj.json else (lambda line: click.echo(f"  {line}"))
    out = RB.run(obj.ws(), chosen, note, progress=progress)
    b = out["baseline"]
    text = (f"baseline {b['id']}: " + " ".join(f"{k}={v:.6g}" for k, v in b["metrics"].items())
            + f"\n  runs {', '.join(out['runs'])} on {str(b.get('commit') or '')[:12]}")
    if "check_text" in out:
        text += "\n" + out["check_text"]
    emit(obj, {k: v for k, v in out.items() if k != "check_text"}, text)
    if out.get("check", {}).get("regressions"):
        sys.exit(1)


# -- rounds ----------------------------------------------------------------------------------


@cli.group("round", cls=MlgateGroup)
def round_group() -> None:
    """Rounds of sibling tickets from one baseline: compare them, merge the winners."""


@round_group.command("new")
@click.argument("name")
@click.option("--tickets", required=True, metavar="A,B,C", help="The round's tickets (new "
              "ones are created from the base branch).")
@click.option("--base", metavar="BRANCH", help="Base branch (default: the main checkout's).")
@pass_obj
def round_new(obj: Obj, name: str, tickets: str, base: str | None) -> None:
    """Start a round: sibling tickets that all start from the same baseline."""
    from mlgate.rounds import lifecycle as L

    rnd, created = L.new_round(obj.ws(), name, tickets.split(","), base)
    emit(obj, {"round": rnd.name, **rnd.to_dict(), "created": created},
         f"round {rnd.name}: {', '.join(rnd.tickets)} from {rnd.base_branch} at "
         f"{str(rnd.base_commit)[:12]} (baseline {rnd.baseline or 'none'})"
         + (f"\n  created {', '.join(created)}" if created else ""))


def _round_ctx(obj: Obj, name: str | None) -> tuple[Any, Any, Any]:
    from mlgate.rounds import lifecycle as L

    ws = obj.ws()
    return ws, L, L.pick(L.load(ws), name)


@round_group.command("status")
@click.argument("name", required=False)
@pass_obj
def round_status(obj: Obj, name: str | None) -> None:
    """Each ticket's stage and latest finished run."""
    from mlgate.rounds import compare as RC

    ws, _, rnd = _round_ctx(obj, name)
    d = RC.status(ws.root, rnd, ws.branch_prefix)
    emit(obj, d, lambda: RC.status_text(d))


@round_group.command("compare")
@click.argument("name", required=False)
@click.option("--metrics", metavar="A,B", help="Metrics to compare (default: those every "
              "ticket logged).")
@pass_obj
def round_compare(obj: Obj, name: str | None, metrics: str | None) -> None:
    """Metrics against the baseline, wins per metric, the hyperparameter diff and the
    problematic runs; recommends winners once every ticket is finished or discarded."""
    from mlgate.config.raw import load_raw
    from mlgate.rounds import compare as RC
    from mlgate.rounds import store
    from mlgate.runs import baselines as B

    from mlgate.rounds.lifecycle import pick
    from mlgate.workspace import Workspace

    ws = Workspace.discover(obj.dir)
    raw = load_raw(ws.root)  # read only: no validation needed to compare
    rnd = pick(store.load(ws.root, raw.get("round_file") or store.DEFAULT_FILE), name)
    base = B.load(ws.root, raw.get("baseline_file") or B.DEFAULT_FILE)
    d = RC.compare(ws.root, rnd, base, ws.branch_prefix,
                   [m.strip() for m in metrics.split(",")] if metrics else None)
    emit(obj, d, lambda: RC.compare_text(d))


@round_group.command("discard")
@click.argument("ticket")
@click.argument("name", required=False)
@click.option("--reason", required=True, help="Why the ticket leaves the round.")
@pass_obj
def round_discard(obj: Obj, ticket: str, name: str | None, reason: str) -> None:
    """Take a ticket out of the winner selection (its branch is kept as a tag at the
    merge)."""
    ws, L, rnd = _round_ctx(obj, name)
    rnd = L.discard(ws, rnd.name, ticket, reason)
    emit(obj, {"round": rnd.name, **rnd.to_dict()},
         f"round {rnd.name}: {ticket} discarded ({reason})")


@round_group.command("merge")
@click.argument("name")
@click.argument("winners", nargs=-1, required=True)
@click.option("--by", "by", required=True, metavar="WHO", help="The person who chose them.")
@pass_obj
def round_merge(obj: Obj, name: str, winners: tuple[str, ...], by: str) -> None:
    """Merge the winners into the base branch (a human decision): conflicts checked first,
    --no-ff merges, the losers' worktrees and branches removed and kept as tags."""
    from mlgate.rounds import lifecycle as L

    def confirm(rnd: str) -> None:
        _person("mlgate round merge", rnd, f"mlgate round merge: you, {by}, choose "
                f"{', '.join(winners)} as the winner(s) of round {rnd}; they are merged "
                "into the base branch and the other tickets' worktrees removed.")

    out = L.merge(obj.ws(), name, list(winners), by, confirm=confirm)
    emit(obj, out, f"round {out['round']}: merged {', '.join(out['winners'])} "
                   f"({', '.join(c[:12] for c in out['commits'])}); base now at "
                   f"{out['head'][:12]}\n" + "".join(
                       f"  {t}: worktree and branch removed, kept as tag {tag}\n"
                       for t, tag in out["losers"].items() if tag) + f"next: {out['next']}")


# -- report and demo -----------------------------------------------------------------------


@cli.command()
@click.argument("name", required=False, shell_complete=complete_ticket)
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
@click.option("--round", "round_", is_flag=True, help="Play a round instead: two sibling "
              "tickets over three seeds, one winner merged, a fresh baseline.")
@pass_obj
def demo(obj: Obj, directory: str | None, round_: bool) -> None:
    """Play a ticket through the whole workflow on a small real model, end to end."""
    if round_:
        from mlgate.demo import round_story as DR

        sys.exit(DR.main(directory))
    from mlgate import demo as D

    sys.exit(D.main(directory))


def _error_data(exc: MlgateError) -> dict[str, Any]:
    return exc.to_dict()


def _fail(message: str, as_json: bool, data: dict[str, Any], code: int) -> None:
    if as_json:
        click.echo(json.dumps(data, indent=2, default=str))
    prefix = click.style("mlgate:", fg="red", bold=True)
    click.echo(f"{prefix} {message}", err=True, color=_env_color())
    sys.exit(code)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point: run the CLI and map errors to exit codes."""
    args = list(sys.argv[1:] if argv is None else argv)
    as_json = "--json" in args
    try:
        cli.main(args=args, prog_name="mlgate", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        if as_json:
            click.echo(json.dumps(error_object("usage", exc.format_message(), 2), indent=2))
        exc.show()
        sys.exit(2)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except MlgateError as exc:
        _fail(str(exc), as_json, _error_data(exc), exc.exit_code)
    except OSError as exc:  # the file system said no (disk full, read-only, permissions)
        data = os_error_object(exc)
        _fail(data["message"], as_json, data, 4)
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(130)
    sys.exit(0)
