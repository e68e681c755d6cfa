"""The edit lock: one decision for every adapter (SPEC §7).

``decide(paths, cwd, root) -> Decision``. Standard library only (the hooks call it on every
tool use and every commit), reading the state files directly; nothing here writes.

Who governs a path (resolved against ``cwd``, symlinks followed: a link in the ticket folder
that points into ``src/`` is judged as ``src/``):

1. The checkout holding it (the innermost of the main checkout and the worktrees). A path in
   no checkout is outside the workspace: ``outside_tickets`` decides (``allow`` by default).
2. Inside ``tickets/in-progress/<name>/`` of a ticket's own checkout: that ticket's folder,
   always editable while the ticket is in progress. ``tickets/done/<name>/`` is not: an
   archived ticket is changed only after ``mlgate reopen <name>`` (a commit may still record
   the move, so that ``mlgate archive``'s own commit passes the commit hook).
3. Otherwise every ticket governing the checkout: the ticket whose own worktree it is (branch
   ``codex/<name>``), and every in-progress ticket made without a worktree (non-git mode,
   ``--no-worktree``), which governs the whole workspace. The most restrictive wins. No
   governing ticket: ``outside_tickets``.

What a ticket allows: stage 4 with ``Code Edit Permission: Unlocked`` and a valid seal:
everything; stage 5: also the ``run_outputs`` globs; stage 7: also the ``docs`` globs (both
read from the ``mlgate.yaml`` of the checkout being edited, which the same lock protects).
A state file without a seal (hand-written) is read as it is but never Unlocked; a broken seal
(a hand edit of what mlgate owns) locks everything but the ticket folder; a state file that
cannot be read or parsed denies (fail closed), naming the file and line.

For agent edits (``purpose="edit"``, the default) mlgate's own machinery is also refused at
every stage and in every checkout (the main one at stage 0 too): the git common dir (hooks,
config, refs, the seal key) and any ``.git`` folder, the agent settings that load or can turn
off the hooks (``.claude/settings*.json``, ``.codex/hooks.json``, ``.codex/config.toml``,
``.mcp.json``) and git's global configuration, and, while a ticket is in progress,
``mlgate.yaml`` and ``baselines.yaml`` (a person decides those).

:func:`locked_tickets` lists the tickets that are Locked: the hooks refuse a write they cannot
place (a target only known at run time) while it is not empty.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from mlgate.record import record
from pathlib import Path
TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs import time on the hook path
    from typing import Any

from mlgate import constants as C
from mlgate import tickets
from mlgate.config import raw as rawconfig
from mlgate.errors import EditDenied, MlgateError, StateFileError
from mlgate.lock import governance
from mlgate.state.statefile import StateDoc
from mlgate.state.seal import load_key, seal_state

__all__ = ["Decision", "decide", "locked_tickets", "PURPOSES", "Governed", "LockView",
           "lock_view"]

PURPOSES = ("edit", "commit")
_PROBE = "\0source"  # a path that is source at every stage (no glob matches it)
# the agent settings that load (or can turn off) mlgate's hooks: never an agent's to edit
_AGENT_SETTINGS = (".claude/settings.json", ".claude/settings.local.json",
                   ".codex/hooks.json", ".codex/config.toml", ".mcp.json", ".gitconfig",
                   ".config/git/config")
# what a person decides: no agent edits these while a ticket is in progress
_HUMAN_FILES = (C.CONFIG_FILE, "baselines.yaml")


@record(frozen=True)
class Decision:
    """The answer of :func:`decide`. ``paths``: the denied paths when denied, else every path
    judged (as given, made relative to their checkout where possible)."""

    allowed: bool
    reason: str
    ticket: str | None = None
    stage: int | None = None
    paths: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """What ``mlgate can-edit --json`` prints (and the MCP ``can_edit`` tool answers): a
        denial also carries the error fields every refusal has."""
        out = {"allowed": self.allowed, "reason": self.reason, "ticket": self.ticket,
               "stage": self.stage, "paths": list(self.paths)}
        if not self.allowed:
            out |= EditDenied(self.reason).to_dict()
        return out


@record
class _Verdict:
    allowed: bool
    why: str  # the reason, without the path
    ticket: str | None = None
    stage: int | None = None


@record
class _TicketState:
    stage: int | None
    permission: str | None
    seal: str  # valid | missing | broken
    error: str | None = None  # why the state could not be read


@record
class Governed:
    """A checkout that a ticket governs, as the tripwire sees it (:func:`lock_view`)."""

    ticket: tickets.TicketLocation  # the ticket (its folder receives quarantined changes)
    checkout: Path  # the checkout (it exists)
    locked: bool  # source edits are refused here now
    stage: int | None
    reason: str  # why it is locked (the reason an edit of source would get)
    branch: str | None  # the branch this checkout must stay on (None: not checked)
    registered: bool  # the registry knows the ticket (its head can be checked)


class LockView:
    """The lock's picture of a workspace for the tripwire: every governed checkout, the
    registry, and :meth:`allows` for a path of a checkout."""

    def __init__(self, judge: "_Judge") -> None:
        self._judge = judge
        self.root = judge.root
        self.gdir = judge.gdir
        self.registry = judge.registry
        self.config = judge.config
        self.tickets = judge.tickets
        self.checkouts = [co for co, _ in judge.real_checkouts]
        self.governed = judge.governed()

    def allows(self, g: Governed, rel: str) -> bool:
        """May ``rel`` (a path of ``g.checkout``) differ from HEAD at the ticket's stage?"""
        return self._judge.allows_rel(g.checkout, rel)

    def state(self, t: tickets.TicketLocation) -> tuple[int | None, str | None, str | None]:
        """(stage, permission, why the lock cannot honour the file or None) of a ticket."""
        st = self._judge._state(t)
        return st.stage, st.permission, st.error


def lock_view(root: str | Path) -> LockView:
    """What the lock governs in the workspace at ``root`` (the tripwire's starting point)."""
    judge = _Judge(Path(os.path.abspath(root)), root, "edit")
    return LockView(judge)


def decide(paths: Sequence[str | Path], cwd: str | Path | None = None,
           root: str | Path | None = None, *, purpose: str = "edit") -> Decision:
    """May ``paths`` be changed now? ``purpose``: ``"edit"`` (an agent or a person editing,
    the default) or ``"commit"`` (the commit hook judging staged files)."""
    if purpose not in PURPOSES:
        raise ValueError(f"purpose must be one of {PURPOSES}, not {purpose!r}")
    if not paths:
        return Decision(True, "no path to judge", paths=())
    base = Path(os.path.abspath(cwd if cwd is not None else os.getcwd()))
    given = [str(p) for p in paths]
    try:
        judge = _Judge(base, root, purpose)
        if judge.root is not None or root is not None:
            return judge.decide(given)
        return _decide_by_path(base, given, purpose, judge)
    except (MlgateError, OSError) as exc:  # fail closed, with the error as the reason
        return Decision(False, f"mlgate cannot decide, so the edit is refused: {exc}",
                        paths=tuple(given))


def locked_tickets(cwd: str | Path, places: Sequence[str] = ()) -> list[tuple[str, str]]:
    """Every ticket that is Locked (source edits refused) in the workspace of ``cwd`` and of
    each of ``places``, as ``(ticket, why)``. A write whose target cannot be known is refused
    while this is not empty. A workspace that cannot be read counts as Locked."""
    out: list[tuple[str, str]] = []
    seen: set[str] = set()
    for where in [str(cwd), *places]:
        try:
            judge = _Judge(Path(os.path.abspath(where)), None, "edit")
        except (MlgateError, OSError) as exc:
            out.append(("?", f"mlgate cannot read the workspace of {where}: {exc}"))
            continue
        if judge.root is None or str(judge.root) in seen:
            continue
        seen.add(str(judge.root))
        for t in judge.tickets:
            if not (t.own_worktree or t.location == C.IN_PROGRESS):
                continue
            verdict = judge._judge_ticket(t, "\0a file mlgate cannot name")
            if not verdict.allowed:
                out.append((t.name, verdict.why))
    return out


def _decide_by_path(base: Path, given: list[str], purpose: str, outside: "_Judge") -> Decision:
    """The cwd is in no workspace: each path is judged by the workspace that holds it (an
    absolute path into a locked ticket worktree must not slip through from ``/tmp``)."""
    groups: dict[Path | None, list[str]] = {}
    for raw in given:
        real = os.path.realpath(os.path.normpath(os.path.join(base, os.path.expanduser(raw))))
        probe = real
        while probe and not os.path.isdir(probe):
            parent = os.path.dirname(probe)
            if parent == probe:
                break
            probe = parent
        try:
            ws_root, _ = tickets.discover(Path(probe))
        except MlgateError:
            ws_root = None
        groups.setdefault(ws_root, []).append(raw)
    if list(groups) == [None]:
        return outside.decide(given)
    decisions = [outside.decide(ps) if r is None else _Judge(base, r, purpose).decide(ps)
                 for r, ps in groups.items()]
    denied = [d for d in decisions if not d.allowed]
    if denied:
        first = denied[0]
        return Decision(False, " ".join(d.reason for d in denied), first.ticket, first.stage,
                        tuple(p for d in denied for p in d.paths))
    owners = {d.ticket for d in decisions if d.ticket}
    ticket = next(iter(owners)) if len(owners) == 1 else None
    stage = next((d.stage for d in decisions if d.ticket == ticket and ticket), None)
    return Decision(True, " ".join(d.reason for d in decisions), ticket, stage,
                    tuple(given))


class _Judge:
    def __init__(self, cwd: Path, root: str | Path | None, purpose: str) -> None:
        self.cwd = cwd
        self.purpose = purpose
        self.root: Path | None
        if root is not None:
            self.root = Path(os.path.abspath(root))
            self.checkouts = tickets.checkouts(self.root)
        else:
            try:
                self.root, self.checkouts = tickets.discover(cwd)
            except MlgateError:  # not inside any workspace (WorkspaceNotFound)
                self.root, self.checkouts = None, []
        self.config = rawconfig.load_raw(self.root) if self.root is not None else \
            dict(rawconfig.DEFAULTS)
        prefix = self.config.get("branch_prefix") or tickets.DEFAULT_BRANCH_PREFIX
        found = tickets.find_tickets_in(self.checkouts, str(prefix)) if self.checkouts else []
        self.gdir: Path | None = None
        self.registry = governance.Registry(Path(os.devnull), {}, False)
        if self.root is not None:
            self.gdir = tickets.key_dir(self.root)
            self.registry = governance.load(self.gdir)
        if self.registry.bindings:
            found = governance.merge_locations(found, self.registry)
            self.checkouts = self.checkouts + _registered_checkouts(self.checkouts,
                                                                    self.registry)
        self.tickets = found
        self.real_checkouts = [(co, os.path.realpath(co.path)) for co in self.checkouts]
        self._states: dict[str, _TicketState] = {}
        self._configs: dict[str, dict[str, Any]] = {}
        self._key: bytes | None | bool = False  # False: not loaded yet
        self._guarded: list[tuple[str, str]] | None = None
        self._reals: dict[str, str] = {}
        self._allowed_cache: dict[tuple[str, str], bool] = {}

    # -- top ------------------------------------------------------------------------

    def decide(self, given: list[str]) -> Decision:
        if self.root is None:
            return Decision(True, f"{self.cwd} is not inside an mlgate workspace (no git "
                                  f"repository, {C.CONFIG_FILE} or {C.TICKETS_DIR}/ folder); "
                                  f"nothing is locked here", paths=tuple(given))
        verdicts: list[tuple[str, _Verdict]] = []
        for raw in given:
            shown, verdict = self.judge(raw)
            verdicts.append((shown, verdict))
            # a folder that holds checkouts (`rm -rf ..`): each checkout inside is written too
            real = os.path.realpath(os.path.join(self.cwd, os.path.expanduser(raw)))
            for co, co_real in self.real_checkouts:
                if co_real.startswith(real.rstrip(os.sep) + os.sep):
                    verdicts.append(self.judge(co_real))
        denied = [(p, v) for p, v in verdicts if not v.allowed]
        if denied:
            first = denied[0][1]
            return Decision(False, _reason(denied), first.ticket, first.stage,
                            tuple(p for p, _ in denied))
        owners = {v.ticket for _, v in verdicts if v.ticket}
        ticket = next(iter(owners)) if len(owners) == 1 else None
        stage = next((v.stage for _, v in verdicts if v.stage is not None), None) \
            if ticket else None
        return Decision(True, _reason(verdicts), ticket, stage, tuple(p for p, _ in verdicts))

    # -- one path -------------------------------------------------------------------

    def judge(self, raw: str) -> tuple[str, _Verdict]:
        expanded = os.path.expanduser(raw)
        absolute = os.path.normpath(os.path.join(self.cwd, expanded))
        real = os.path.realpath(absolute)
        if self.purpose == "edit":
            protected = self._protected(real)
            if protected:
                return raw, _Verdict(False, protected)
        holder = self._holder(real)
        if holder is None:
            return raw, self._outside(f"{real} is outside the workspace {self.root}")
        co, co_real = holder
        rel = os.path.relpath(real, co_real).replace(os.sep, "/")
        here = self._holder(os.path.realpath(self.cwd))
        shown = rel if rel != "." and here is not None and here[0] is co else real
        lexical = self._holder(absolute, lexical=True)
        if lexical is not None and real != absolute:
            lex_rel = os.path.relpath(absolute, lexical[1]).replace(os.sep, "/")
            if lex_rel != rel or lexical[0] is not co:
                shown = f"{lex_rel} (a link to {rel})"
        parts = rel.split("/")
        if len(parts) >= 3 and parts[0] == C.TICKETS_DIR and parts[1] in (C.IN_PROGRESS, C.DONE):
            owner = self._ticket_named(parts[2], co_real)
            if owner is not None:
                return shown, self._ticket_folder(owner, parts[1])
        governing = self._governing(co, co_real)
        if not governing:
            return shown, self._outside(f"no ticket governs {shown}")
        verdicts = [self._judge_ticket(t, rel) for t in governing]
        denied = [v for v in verdicts if not v.allowed]
        return shown, (denied[0] if denied else verdicts[0])

    # -- the tripwire's view ------------------------------------------------------------

    def governed(self) -> list[Governed]:
        """Every existing checkout that a ticket governs, with its ticket and whether source
        is locked there (one entry per checkout: its owner is the registered or own ticket,
        locked when any governing ticket locks it)."""
        out: list[Governed] = []
        for co, co_real in self.real_checkouts:
            if not os.path.isdir(co_real):
                continue
            governing = self._governing(co, co_real)
            if not governing:
                continue
            verdicts = [(t, self._judge_ticket(t, _PROBE)) for t in governing]
            denied = [(t, v) for t, v in verdicts if not v.allowed]
            owner = next((t for t in governing if self._real(t.checkout) == co_real),
                         governing[0])
            b = self.registry.get(owner.name)
            registered = b is not None and b.governs
            branch = b.branch if registered and b is not None and b.own_worktree else None
            if branch is None and owner.own_worktree and \
                    os.path.realpath(owner.checkout) == co_real:
                branch = owner.branch
            t0, v0 = denied[0] if denied else verdicts[0]
            out.append(Governed(ticket=owner, checkout=Path(co_real), locked=bool(denied),
                                stage=v0.stage, reason=v0.why, branch=branch,
                                registered=registered))
        return out

    def allows_rel(self, checkout: Path, rel: str) -> bool:
        co_real = self._real(checkout)
        co = next((c for c, r in self.real_checkouts if r == co_real), None)
        if co is None:
            return False
        parts = rel.split("/", 3)
        if len(parts) >= 3 and parts[0] == C.TICKETS_DIR and parts[1] in (C.IN_PROGRESS, C.DONE):
            if self._ticket_named(parts[2], co_real) is not None:
                return True  # a ticket's folder (in progress or archived: mlgate moves it)
        key = (co_real, rel)
        hit = self._allowed_cache.get(key)
        if hit is None:
            governing = self._governing(co, co_real)
            hit = all(self._judge_ticket(t, rel).allowed for t in governing)
            self._allowed_cache[key] = hit
        return hit

    def _real(self, path: str | Path) -> str:
        """``os.path.realpath``, once per path (the tripwire asks for many files)."""
        key = str(path)
        real = self._reals.get(key)
        if real is None:
            real = self._reals[key] = os.path.realpath(key)
        return real

    def _holder(self, path: str, lexical: bool = False) -> tuple[tickets.Checkout, str] | None:
        """The innermost checkout holding ``path`` and that checkout's root (its real path,
        or with ``lexical`` the path as git lists it)."""
        best: tuple[tickets.Checkout, str] | None = None
        for co, co_real in self.real_checkouts:
            top = str(co.path) if lexical else co_real
            if path == top or path.startswith(top.rstrip(os.sep) + os.sep):
                if best is None or len(top) > len(best[1]):
                    best = (co, top)
        return best

    def _outside(self, what: str) -> _Verdict:
        mode = str(self.config.get("outside_tickets") or "allow")
        if mode == "block":
            return _Verdict(False, f"{what}, and {C.CONFIG_FILE} sets `outside_tickets: block`; "
                                   f"edit inside a ticket's worktree (`mlgate new NAME`), or "
                                   f"set `outside_tickets: allow`")
        if mode != "allow":
            return _Verdict(False, f"{C.CONFIG_FILE}: outside_tickets is {mode!r}; expected "
                                   f"`allow` or `block` (refusing until it is fixed)")
        return _Verdict(True, f"{what}; allowed (`outside_tickets: allow`)")

    def _ticket_named(self, name: str, co_real: str) -> tickets.TicketLocation | None:
        for t in self.tickets:
            if t.name == name and self._real(t.checkout) == co_real:
                return t
        return None

    def _governing(self, co: tickets.Checkout, co_real: str) -> list[tickets.TicketLocation]:
        out = []
        for t in self.tickets:
            if t.own_worktree:
                if self._real(t.checkout) == co_real:
                    out.append(t)
                    continue
            elif t.location == C.IN_PROGRESS:
                out.append(t)  # made without a worktree: governs the whole workspace
                continue
            # the registry: a governed branch is governed wherever it is checked out (the
            # main checkout with --ignore-other-worktrees, an extra `git worktree add -f`)
            b = self.registry.get(t.name)
            if b is not None and b.governs and b.branch is not None and co.branch == b.branch:
                out.append(t)
        return out

    # -- rules ----------------------------------------------------------------------

    def _ticket_folder(self, t: tickets.TicketLocation, where: str) -> _Verdict:
        stage = self._state(t).stage if t.location == C.IN_PROGRESS else None
        if self.purpose == "commit":
            return _Verdict(True, f"files of ticket {t.name!r} always commit", t.name, stage)
        if t.location == C.DONE:
            return _Verdict(False, f"ticket {t.name!r} is archived (tickets/done/{t.name}); "
                                   f"run `mlgate reopen {t.name}` first", t.name)
        if where == C.DONE:
            return _Verdict(False, f"tickets/done/ holds archived tickets; ticket {t.name!r} "
                                   f"is in progress and is moved there by `mlgate archive "
                                   f"{t.name}`", t.name)
        return _Verdict(True, f"the folder of ticket {t.name!r} is always editable", t.name,
                        stage)

    def _judge_ticket(self, t: tickets.TicketLocation, rel: str) -> _Verdict:
        name = t.name
        if t.location == C.DONE:
            return _Verdict(False, f"ticket {name!r} is archived (tickets/done/{name}) and its "
                                   f"worktree is locked; run `mlgate reopen {name}` to change "
                                   f"it, or `mlgate archive {name} --finalize` to merge it",
                            name)
        st = self._state(t)
        if st.error is not None:
            return _Verdict(False, st.error, name, st.stage)
        stage = st.stage
        assert stage is not None
        label = C.stage_title(stage)
        if st.seal == "broken":
            return _Verdict(False, f"ticket {name!r}: {C.STATE_FILE} was edited by hand (seal "
                                   f"broken), so the lock treats it as Locked; run `mlgate "
                                   f"doctor {name} --repair`", name, stage)
        cfg = self._checkout_config(t)
        if stage == C.UNLOCK_STAGE:
            if st.permission == "Unlocked" and st.seal == "valid":
                return _Verdict(True, f"ticket {name!r} is in stage {label}, Unlocked", name,
                                stage)
            if st.permission == "Unlocked":
                why = (f"its {C.STATE_FILE} has no mlgate seal (written by hand), and a "
                       f"hand-written `Unlocked` is never honoured; run `mlgate unlock {name}` "
                       f"(it re-checks the stage-3 gate)")
            else:
                why = (f"Code Edit Permission is Locked; run `mlgate unlock {name}` (it "
                       f"re-checks the stage-3 gate)")
            return _Verdict(False, f"source edits are locked for ticket {name!r} in stage "
                                   f"{label}: {why}", name, stage)
        if stage == 5 and _match(rel, cfg.get("run_outputs")):
            return _Verdict(True, f"run outputs are editable in stage {label} (ticket "
                                  f"{name!r})", name, stage)
        if stage == 7 and _match(rel, cfg.get("docs")):
            return _Verdict(True, f"docs are editable in stage {label} (ticket {name!r})",
                            name, stage)
        return _Verdict(False, _locked_reason(name, stage, cfg, st.seal), name, stage)

    # -- data -----------------------------------------------------------------------

    def _state(self, t: tickets.TicketLocation) -> _TicketState:
        cached = self._states.get(t.name)
        if cached is not None:
            return cached
        path = t.folder / C.STATE_FILE
        binding = self.registry.get(t.name)
        governed = binding is not None and binding.governs
        head = governance.read_head(self.gdir, t.name) if governed and self.gdir else None
        try:
            doc = StateDoc.load(path)
        except StateFileError as exc:
            where = f"{exc.path}:{exc.line}" if exc.line else exc.path
            if governed and exc.line is None and not path.is_file():
                assert binding is not None
                gone = (f"its worktree {binding.worktree} is gone" if not
                        os.path.isdir(binding.worktree) else f"its {C.STATE_FILE} is gone "
                        f"from {t.folder} (moved or deleted)")
                why = (f"ticket {t.name!r} governs branch {binding.branch or '-'} and "
                       f"worktree {binding.worktree}, but {gone}; the ticket is Locked until "
                       f"its state is back: run `mlgate guard` or `mlgate doctor {t.name} "
                       f"--repair` (mlgate keeps the state it last wrote)")
            else:
                why = (f"ticket {t.name!r}: cannot read {where}: {exc.detail}; source edits "
                       f"stay locked until it parses (fix the file by hand, or run `mlgate "
                       f"doctor {t.name}`)")
            st = _TicketState(head.stage if head else None, None, "broken", why)
            self._states[t.name] = st
            return st
        snap = doc.snapshot
        st = _TicketState(snap.current_stage, snap.permission, seal_state(doc, self._seal_key()))
        if snap.current_stage is None:
            line = doc.line_of("Current Snapshot", "Current Stage")
            st.error = (f"ticket {t.name!r}: {path}:{line}: Current Stage is not set, so the "
                        f"lock cannot tell the stage; run `mlgate doctor {t.name}`")
        elif st.seal != "broken":
            behind = governance.head_mismatch(t.name, doc, self._seal_key(), head)
            if behind is not None:
                st.error = behind
        self._states[t.name] = st
        return st

    def _seal_key(self) -> bytes | None:
        if self._key is False:
            assert self.root is not None
            self._key = load_key(tickets.key_dir(self.root))
        return self._key  # type: ignore[return-value]

    def _checkout_config(self, t: tickets.TicketLocation) -> dict[str, Any]:
        """The docs/run_outputs globs come from the mlgate.yaml of the ticket's own checkout
        (the branch's config, which this lock protects), else the workspace's."""
        where = str(t.checkout) if t.own_worktree else str(self.root)
        cfg = self._configs.get(where)
        if cfg is None:
            cfg = self.config if Path(where) == self.root else rawconfig.load_raw(where)
            self._configs[where] = cfg
        return cfg

    def _protected(self, real: str) -> str | None:
        """Why ``real`` is mlgate's own machinery (agents may not change it), or None."""
        assert self.root is not None
        if self._guarded is None:
            key_dir = os.path.realpath(tickets.key_dir(self.root))
            self._guarded = [(key_dir, "mlgate's seal key")]
            if tickets.is_git(self.root):
                self._guarded.append((os.path.join(os.path.dirname(key_dir), "hooks"),
                                      "the git hooks"))
            if tickets.is_git(self.root):  # the whole git common dir: config, refs, hooks
                self._guarded.append((os.path.dirname(key_dir), "the git repository's own "
                                                                "folder (config, refs, hooks)"))
        for folder, what in self._guarded:
            if real == folder or real.startswith(folder + os.sep):
                return (f"{real} is part of {what} ({folder}), mlgate's own machinery; a person "
                        f"changes it with `mlgate hooks install|uninstall` or `mlgate doctor`")
        parts = real.split(os.sep)
        if ".git" in parts[:-1] or (parts[-1] == ".git"):
            return (f"{real} is inside a .git folder (git's config, refs and hooks); agents "
                    f"never write there")
        if any(real.endswith(os.sep + s) for s in _AGENT_SETTINGS):
            return (f"{real} is an agent or git setting that can turn mlgate's hooks off; a "
                    f"person edits it (`mlgate hooks install --claude` / `--codex` writes "
                    f"mlgate's entries)")
        if os.path.basename(real) in _HUMAN_FILES and any(
                t.location == C.IN_PROGRESS for t in self.tickets) and \
                self._holder(real) is not None and \
                os.path.dirname(real) == self._holder(real)[1]:  # type: ignore[index]
            return (f"{real} is decided by a person while a ticket is in progress "
                    f"(configuration, baselines); a person must edit it")
        return None


def _registered_checkouts(known: list[tickets.Checkout], registry: governance.Registry
                          ) -> list[tickets.Checkout]:
    """The registered worktrees that git's list does not show where they are (the worktree's
    ``gitdir`` file was edited, or the folder is gone): still governed by their ticket."""
    reals = {os.path.realpath(co.path) for co in known}
    extra = []
    for b in registry.active():
        if b.own_worktree and os.path.realpath(b.worktree) not in reals:
            extra.append(tickets.Checkout(Path(b.worktree), b.branch, False))
            reals.add(os.path.realpath(b.worktree))
    return extra


def _reason(verdicts: list[tuple[str, _Verdict]]) -> str:
    """One line per distinct reason, naming the paths it is about."""
    groups: dict[str, list[str]] = {}
    for path, verdict in verdicts:
        groups.setdefault(verdict.why, []).append(path)
    return "\n".join(f"{', '.join(paths)}: {why}" for why, paths in groups.items())


def _match(rel: str, patterns: Any) -> bool:
    """A glob match of ``rel`` or of anything inside it (``docs`` matches ``docs/**``)."""
    if not isinstance(patterns, (list, tuple)):
        return False
    pats = [p for p in patterns if isinstance(p, str)]
    return rawconfig.glob_match(rel, pats) or rawconfig.glob_match(rel + "/x", pats)


def _locked_reason(name: str, stage: int, cfg: dict[str, Any], seal: str) -> str:
    label = C.stage_title(stage)
    head = f"source edits are locked for ticket {name!r} in stage {label}"
    if seal == "missing":
        head += f" (its {C.STATE_FILE} is not sealed yet: read as written, treated as Locked)"
    artifact = C.stage(stage).artifact
    finish = (f"complete {artifact}, run `mlgate check {name}`, then `mlgate advance {name}` "
              f"once the gate passes")
    if stage < C.UNLOCK_STAGE:
        return (f"{head}; they unlock on entering stage {C.stage_title(C.UNLOCK_STAGE)}. Next: "
                f"{finish}")
    extra = ""
    if stage == 5:
        extra = f"; in this stage only the ticket folder and run outputs " \
                f"({', '.join(map(str, cfg.get('run_outputs') or []))}) may change"
    elif stage == 7:
        extra = f"; in this stage only the ticket folder and docs " \
                f"({', '.join(map(str, cfg.get('docs') or []))}) may change"
    if stage in C.REENTRY_MATRIX:
        return (f"{head}{extra}. To change source, re-enter: `mlgate reenter \"Local Fix\" "
                f"{name} --reason \"...\"` (back to stage {C.UNLOCK_STAGE}; other "
                f"classifications: `mlgate reenter --help`). Otherwise {finish}")
    return (f"{head}: the ticket is in handoff. Finish it (`mlgate verify {name} --by NAME`, "
            f"`mlgate archive {name}`) and open a new ticket for further changes")
