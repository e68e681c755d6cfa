"""What the MCP server lets an agent read: the resources and the ``next-step`` prompt.

Resources (all text, read fresh at each request):

* ``mlgate://config`` -- the workspace's ``mlgate.yaml``;
* ``mlgate://tickets/{ticket}/{name}`` -- the ticket's ``workflow-state.md`` and its stage
  artifacts (``requirements.md`` ... ``handoff-summary.md``), and ``guide.md``: the guide
  (``stages/NN-*/README.md``, the workspace's own copy when it has one) of the stage the
  ticket is in now.

Only those names can be read: the URI never reaches the file system as a path, so nothing
else in the ticket folder, the worktree or the git directory (the seal key) is served. A file
is served only when it is a plain file where it is expected (a symbolic link, or a path that
leads outside its folder or into mlgate's key folder, is refused): an agent that can write
the ticket folder cannot turn a resource into a reader of other files.
Every ticket in progress is listed with the files it has; an archived ticket's files can
still be read by URI.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mlgate import constants as C
from mlgate import resources, tickets
from mlgate.errors import MlgateError, UsageError
from mlgate.workspace import Ticket, Workspace

__all__ = ["Entry", "CONFIG_URI", "TICKET_TEMPLATE", "GUIDE", "FILES", "ticket_uri",
           "list_resources", "read_config", "read_ticket_file", "guide", "next_step"]

CONFIG_URI = "mlgate://config"
TICKET_TEMPLATE = "mlgate://tickets/{ticket}/{name}"
GUIDE = "guide.md"
#: The files of a ticket folder a client may read, in stage order.
FILES: tuple[str, ...] = (C.STATE_FILE, *dict.fromkeys(s.artifact for s in C.STAGES
                                                       if s.artifact))


@dataclass(frozen=True)
class Entry:
    """One listed resource."""

    uri: str
    name: str
    description: str
    mime_type: str


def ticket_uri(ticket: str, name: str) -> str:
    return TICKET_TEMPLATE.format(ticket=ticket, name=name)


def list_resources(ws: Workspace) -> list[Entry]:
    """``mlgate.yaml`` (when the workspace has one), then per ticket in progress its state
    file, the guide of its current stage and each stage artifact it has."""
    out: list[Entry] = []
    if (ws.root / C.CONFIG_FILE).is_file():
        out.append(Entry(CONFIG_URI, C.CONFIG_FILE, "the workspace's mlgate configuration",
                         "application/yaml"))
    for t in ws.tickets():
        for name in FILES:
            if (t.folder / name).is_file():
                what = ("state: stage, permission, gates, transition log" if name == C.STATE_FILE
                        else "stage artifact")
                out.append(Entry(ticket_uri(t.name, name), f"{t.name}/{name}",
                                 f"ticket {t.name}: {what}", "text/markdown"))
                if name == C.STATE_FILE:
                    out.append(Entry(ticket_uri(t.name, GUIDE), f"{t.name}/{GUIDE}",
                                     f"ticket {t.name}: the guide of its current stage",
                                     "text/markdown"))
    return out


def read_config(ws: Workspace) -> str:
    path = ws.root / C.CONFIG_FILE
    if not path.is_file():
        raise UsageError(f"{path} does not exist\nhint: `mlgate init` writes a commented one",
                         path=str(path))
    return _read_plain(ws, path, ws.root)


def _read_plain(ws: Workspace, path: Path, within: Path) -> str:
    """``path``'s text, when it is a plain file inside ``within`` and outside mlgate's key
    folder; else :class:`UsageError`."""
    real = path.resolve()
    keys = tickets.key_dir(ws.root).resolve()
    if path.is_symlink() or not real.is_relative_to(within.resolve()) or \
            real.is_relative_to(keys):
        raise UsageError(f"{path} is a link or leads outside {within}; mlgate serves only "
                         f"plain files there", path=str(path))
    return real.read_text(encoding="utf-8")


def read_ticket_file(ws: Workspace, ticket: str, name: str) -> str:
    """The text of ``name`` (one of :data:`FILES`, or :data:`GUIDE`) of ``ticket``."""
    t = ws.ticket(ticket)  # validates the name; finds archived tickets too
    if name == GUIDE:
        return guide(t)[1]
    if name not in FILES:
        raise UsageError(f"{name!r} is not a ticket resource; readable: "
                         f"{', '.join((*FILES, GUIDE))}", name=name)
    path = t.folder / name
    if not path.is_file():
        raise UsageError(f"ticket {t.name} has no {name} yet ({path})", path=str(path))
    return _read_plain(ws, path, t.folder)


def guide(t: Ticket) -> tuple[int, str]:
    """``(stage, text)``: the README of the stage ``t`` is in now."""
    stage = t.doc().snapshot.current_stage
    if stage is None:
        raise UsageError(f"{t.state_path}: Current Stage is not set; no stage guide applies",
                         path=str(t.state_path))
    folder = resources.stage_dir(C.STAGES[stage].slug, root=t.checkout)
    return stage, _read_plain(t.ws, folder / "README.md", folder)


def next_step(ws: Workspace, ticket: str | None, here: Path) -> str:
    """The ``next-step`` prompt: where the ticket stands, what its gate is missing (every
    failing check, with file and line), the moves from here, and the stage's guide."""
    t = ws.ticket(ticket, cwd=here)
    st = t.status()
    stage = st["stage"]
    label = "?" if stage is None else C.STAGES[stage].label
    lines = [f"# Next step for ticket {t.name}", "",
             f"- stage: {label} (gate {_gate(st, stage)})",
             f"- code edits: {st['permission']}",
             "- re-entry: " + (f"{st['classification']}, path {st['return_path']}"
                               if st["active_reentry"] else "none")]
    for v in st["violations"]:
        lines.append(f"- open process violation {v['id']}: {v['violation']}")
    lines += ["", "## What the gate is missing", ""]
    try:
        rep = t.check()
    except MlgateError as exc:
        lines.append(f"The gate cannot be evaluated: {exc}")
    else:
        failing = rep.failing()
        if not failing:
            lines.append(f"Nothing: the stage-{rep.stage} gate holds. Call the `advance` tool "
                         "to move on." if stage != C.LAST_STAGE else
                         "Nothing the agent can add: the ticket waits for the user's "
                         "verification (`mlgate verify`, run by a person).")
        lines += [f"- [{c.id}] {c.reason}" for c in failing]  # the reason names file:line
        if failing:
            lines += ["", "Fix these in the ticket's files, then call `check` and `advance`."]
    lines += ["", "## Moves from here", ""] + [f"- {a}" for a in st["allowed"]]
    if stage is not None:
        _, text = guide(t)
        lines += ["", f"## Guide of stage {label} (resource {ticket_uri(t.name, GUIDE)})", "",
                  text.rstrip()]
    return "\n".join(lines) + "\n"


def _gate(st: dict[str, object], stage: int | None) -> str:
    gates = st.get("gates") or []
    for g in gates:  # type: ignore[attr-defined]
        if g["stage"] == stage:
            return str(g["status"] or "-")
    return "-"
