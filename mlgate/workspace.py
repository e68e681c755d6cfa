"""The Python API of SPEC §12: ``Workspace`` and ``Ticket``. No printing; errors are
:class:`~mlgate.errors.MlgateError` subclasses with structured data.

>>> ws = Workspace.discover(".")                        # doctest: +SKIP
>>> t = ws.new_ticket("digits-baseline")                # doctest: +SKIP
>>> t.check().ok, t.state.stage                         # doctest: +SKIP

Every command that changes a ticket takes the ticket's file lock, re-reads the state file,
runs the move on the engine, seals, and writes atomically.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlgate import constants as C
from mlgate import git as G
from mlgate import human, resources, tickets
from mlgate.config import raw as rawconfig
from mlgate.errors import (
    GateFailed,
    HandlerNotConfigured,
    HumanRequired,
    MlgateError,
    GitError,
    SealBroken,
    StateFileError,
    TicketExists,
    TicketNotFound,
    TransitionNotAllowed,
)
from mlgate.state.mdparse import Document, render_field_line
from mlgate.lock import governance
from mlgate.lock.policy import Decision, decide
from mlgate.state.statefile import StateDoc, ViolationRow
from mlgate.state.seal import effective_permission, load_key, seal_state
from mlgate.util import atomic_write, file_lock, today

if TYPE_CHECKING:  # pragma: no cover
    from mlgate.evidence import results as ev
    from mlgate.config.schema import Config
    from mlgate.engine import Engine, Outcome
    from mlgate.gates import GateContext, GateReport
    from mlgate.profiles import Profile
    from mlgate.state.model import WorkflowState

# The config (pydantic), the engine, the gates and the evidence are imported where they are
# used: `mlgate status` with a warm status cache needs none of them, and the hooks none.

STATUS_CACHE_FILE = "status-cache.json"
STATUS_CACHE_VERSION = 1


class _GitFacts:
    """Git facts for the gates, read in the ticket's checkout."""

    def __init__(self, checkout: Path) -> None:
        self.repo_root = checkout

    def head(self) -> str | None:
        return G.head(self.repo_root)

    def branch_exists(self, name: str) -> bool:
        return G.branch_exists(self.repo_root, name)

    def worktree_for_branch(self, name: str) -> Path | None:
        for wt in G.worktrees(self.repo_root):
            if wt.branch == name:
                return wt.path
        return None

    def changed_files(self, since: str) -> list[str]:
        return G.changed_files(self.repo_root, since)

    def dirty_files(self) -> list[str]:
        return G.dirty_files(self.repo_root)

    def untracked_files(self) -> list[str]:
        """Untracked files git does not ignore (they make evidence dirty)."""
        return G.untracked_files(self.repo_root)

    def commit_exists(self, sha: str) -> bool:
        return G.commit_exists(self.repo_root, sha)

    def is_ancestor(self, a: str, b: str) -> bool:
        return G.is_ancestor(self.repo_root, a, b)

    def merge_base(self, a: str, b: str) -> str | None:
        return G.merge_base(self.repo_root, a, b)


@dataclass
class DoctorReport:
    ticket: str
    problems: list[dict[str, Any]] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not [p for p in self.problems if not p.get("repaired")]

    def to_dict(self) -> dict[str, Any]:
        return {"ticket": self.ticket, "ok": self.ok, "problems": self.problems,
                "repaired": self.repaired}


class Workspace:
    """A directory (normally a git repository) with ``tickets/`` and an optional
    ``mlgate.yaml``."""

    def __init__(self, root: Path, config: Config | None = None) -> None:
        self.root = Path(root).resolve()
        self._config = config
        self.git = tickets.is_git(self.root)

    @property
    def config(self) -> Config:
        """The validated ``mlgate.yaml`` (loaded at first use; a mistake in it is raised
        then, as :class:`~mlgate.errors.ConfigError`)."""
        if self._config is None:
            from mlgate.config.schema import load_config

            self._config = load_config(self.root)
        return self._config

    @config.setter
    def config(self, value: Config) -> None:
        self._config = value
        self.__dict__.pop("_profile", None)
        self.__dict__.pop("_stages", None)

    @property
    def profile(self) -> Profile:
        """The domain profile ``profile:`` of ``mlgate.yaml`` selects (``dl`` by default),
        read without the validator while the file is unchanged since it last validated."""
        cached = self.__dict__.get("_profile")
        if cached is not None:
            return cached  # type: ignore[no-any-return]
        from mlgate import profiles

        raw = rawconfig.validated_raw(self.root) if self._config is None else None
        if raw is not None and isinstance(raw.get("profile"), str):
            name = profiles.domain_of(raw["profile"])
        else:
            name = self.config.gate_profile
        profile = profiles.get(name)
        self.__dict__["_profile"] = profile
        return profile

    @property
    def stages(self) -> tuple[C.Stage, ...]:
        """The stages of the active profile (names, artifacts, templates); the default
        profile's without loading anything."""
        stages = self.__dict__.get("_stages")
        if stages is None:
            raw = rawconfig.validated_raw(self.root) if self._config is None else None
            if "_profile" not in self.__dict__ and raw is not None and \
                    raw.get("profile") in (*C.STRICTNESS, C.DEFAULT_PROFILE):
                stages = C.STAGES
            else:
                stages = self.profile.stages
            self.__dict__["_stages"] = stages  # `status` asks this of every ticket
        return stages  # type: ignore[no-any-return]

    @property
    def branch_prefix(self) -> str:
        """``branch_prefix`` of ``mlgate.yaml``, without loading the validator when the file
        is unchanged since it last passed validation (``mlgate status`` reads only this)."""
        raw = rawconfig.validated_raw(self.root) if self._config is None else None
        if raw is not None and isinstance(raw.get("branch_prefix"), str):
            return raw["branch_prefix"]  # type: ignore[no-any-return]
        return self.config.branch_prefix

    # -- construction ----------------------------------------------------------------

    @classmethod
    def discover(cls, path: str | Path | None = None) -> "Workspace":
        start = Path(path or os.getcwd()).resolve()
        return cls(tickets.workspace_root(start))

    @classmethod
    def init(cls, path: str | Path | None = None) -> tuple["Workspace", list[str]]:
        """Create ``tickets/in-progress``, ``tickets/done`` and a commented ``mlgate.yaml``.
        Idempotent; returns the workspace and what was created."""
        from mlgate.config.schema import COMMENTED_TEMPLATE

        root = Path(path or os.getcwd()).resolve()
        if G.is_repo(root):
            root = G.main_worktree(root)
        made: list[str] = []
        for sub in (C.IN_PROGRESS, C.DONE):
            d = root / C.TICKETS_DIR / sub
            if not d.is_dir():
                d.mkdir(parents=True)
                (d / ".gitkeep").write_text("")
                made.append(f"{C.TICKETS_DIR}/{sub}/")
        cfg = root / C.CONFIG_FILE
        if not cfg.exists():
            atomic_write(cfg, COMMENTED_TEMPLATE)
            made.append(C.CONFIG_FILE)
        if not G.is_repo(root):
            (root / ".mlgate").mkdir(exist_ok=True)
            gi = root / ".gitignore"
            lines = gi.read_text().splitlines() if gi.exists() else []
            if ".mlgate/" not in lines:
                atomic_write(gi, "\n".join(lines + [".mlgate/"]) + "\n")
                made.append(".gitignore (.mlgate/)")
        ws = cls(root)
        load_key(tickets.key_dir(root), create=True)
        return ws, made

    def uncommitted_setup(self) -> list[str]:
        """Warnings for a git workspace whose ``mlgate.yaml`` or ``tickets/`` are not
        committed: ``mlgate new`` makes each ticket's branch from the base branch, so a
        branch made before the commit lacks them."""
        if not self.git:
            return []
        names = [p for p in (C.CONFIG_FILE, C.TICKETS_DIR) if (self.root / p).exists()]
        pending = G.uncommitted(self.root, names) if names else []
        missing = [n for n in names
                   if any(f == n or f.startswith(n + "/") for f in pending)]
        if not missing:
            return []
        what = " and ".join(f"{n}/" if n == C.TICKETS_DIR else n for n in missing)
        return [f"{what} {'is' if len(missing) == 1 else 'are'} not committed; a ticket's "
                f"branch starts from the base branch, so commit first: "
                f"git add {' '.join(missing)} && git commit -m \"Add mlgate\""]

    # -- seal key ----------------------------------------------------------------------

    def key(self) -> bytes:
        key = load_key(tickets.key_dir(self.root), create=True)
        assert key is not None
        self._known_key = key
        return key

    def known_key(self) -> bytes | None:
        """The seal key for checking seals (never created here); read once per Workspace
        (``status`` checks the seal of every ticket), re-read by :meth:`key`."""
        key = getattr(self, "_known_key", None)
        if key is None:
            key = load_key(tickets.key_dir(self.root))
            self._known_key = key
        return key

    # -- tickets -------------------------------------------------------------------------

    def _locations(self, include_done: bool = True) -> list[tickets.TicketLocation]:
        found = tickets.find_tickets(self.root, self.branch_prefix, include_done)
        reg = governance.load(self.gdir)
        if not reg.bindings:
            return found
        # a governed ticket is where the registry says, even when its folder or state file
        # is gone (then it is reported as unreadable, and `doctor --repair` puts it back)
        merged = governance.merge_locations(found, reg)
        return [t for t in merged if include_done or t.location == C.IN_PROGRESS]

    @property
    def gdir(self) -> Path:
        """The governance folder (registry, heads), beside the seal key."""
        return tickets.key_dir(self.root)

    def tickets(self, include_done: bool = False) -> list["Ticket"]:
        return [Ticket(self, loc) for loc in self._locations(include_done)]

    def ticket(self, name: str | None = None, cwd: str | Path | None = None) -> "Ticket":
        """A ticket by name, or the ticket of the worktree ``cwd`` is in."""
        locs = self._locations(include_done=True)
        if name is None:
            here = Path(cwd or os.getcwd()).resolve()
            loc = tickets.ticket_for_path(self.root, here, self.branch_prefix)
            if loc is None:
                active = [l for l in locs if l.location == C.IN_PROGRESS]
                if len(active) == 1:
                    return Ticket(self, active[0])
                raise TicketNotFound(None, [l.name for l in active],
                                     hint="name the ticket, e.g. `mlgate status NAME`")
            return Ticket(self, loc)
        tickets.validate_name(name)
        for loc in locs:
            if loc.name == name:
                return Ticket(self, loc)
        raise TicketNotFound(name, [l.name for l in locs],
                             hint=f"create it with `mlgate new {name}`")

    def reopen(self, name: str) -> "Ticket":
        t = self.ticket(name)
        return t.reopen()

    def statuses(self) -> list[dict[str, Any]]:
        """:meth:`Ticket.status` of every ticket in progress (``mlgate status`` from the main
        checkout). A ticket whose state file, location and seal key are unchanged since the
        last call is answered from a cache kept beside the seal key (never in a work tree),
        so a workspace with many tickets pays a read and a hash per ticket, not a parse."""
        import hashlib

        cache_path = tickets.key_dir(self.root) / STATUS_CACHE_FILE
        try:
            cache = json.loads(cache_path.read_text(encoding="utf-8"))
            entries = cache["entries"] if cache.get("version") == STATUS_CACHE_VERSION else {}
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            entries = {}
        key = self.known_key() or b""
        salt = "|".join([str(STATUS_CACHE_VERSION), hashlib.sha256(key).hexdigest(),
                         self.branch_prefix]).encode()
        out: list[dict[str, Any]] = []
        fresh: dict[str, Any] = {}
        for t in self.tickets():
            try:
                raw = t.state_path.read_bytes()
            except OSError as exc:
                out.append({"ticket": t.name, "error": f"{t.state_path}: {exc.strerror}"})
                continue
            try:  # (the head decides "behind" too: a new head is a new answer)
                hs = os.stat(self.gdir / governance.HEADS_DIR / f"{t.name}.json")
                head_id = f"{hs.st_mtime_ns}:{hs.st_size}"
            except OSError:
                head_id = "-"
            digest = hashlib.blake2b(raw + b"\0" + salt + b"\0" + "|".join(
                [str(t.folder), str(t.checkout), str(t.archived), head_id]).encode(),
                digest_size=16).hexdigest()
            hit = entries.get(str(t.folder))
            if isinstance(hit, dict) and hit.get("hash") == digest:
                data = hit["data"]
            else:
                try:
                    data = t.status(StateDoc.from_bytes(raw, t.state_path))  # (read once)
                except MlgateError as exc:
                    data = {"ticket": t.name, "error": str(exc)}
            fresh[str(t.folder)] = {"hash": digest, "data": data}
            out.append(data)
        if fresh != entries:
            try:
                cache_path.parent.mkdir(parents=True, exist_ok=True)
                atomic_write(cache_path, json.dumps({"version": STATUS_CACHE_VERSION,
                                                     "entries": fresh}, separators=(",", ":")))
            except MlgateError:
                pass  # a cache that cannot be written only costs speed
        return out

    def decide(self, paths: list[str | Path], cwd: str | Path | None = None) -> Decision:
        return decide(paths, Path(cwd) if cwd else None, root=self.root)

    # -- new ---------------------------------------------------------------------------

    def new_ticket(self, name: str, base: str | None = None, worktree: bool = True) -> "Ticket":
        """Stage 0 bootstrap (SPEC §8): worktree on ``codex/<name>`` in git mode."""
        tickets.validate_name(name)
        for loc in self._locations(include_done=True):
            if loc.name == name and (loc.folder / C.STATE_FILE).exists():
                raise TicketExists(f"ticket {name!r} already exists at {loc.folder}",
                                   name=name, folder=str(loc.folder))
        if self.git and worktree:
            checkout, record, blocked = self._bootstrap_git(name, base)
            if checkout != self.root:  # the agent hooks are per machine: not in git
                from mlgate.lock.install import sync_checkout

                sync_checkout(self.root, checkout)
        else:
            checkout = self.root
            record, blocked = self._bootstrap_plain(base)
        folder = checkout / C.TICKETS_DIR / C.IN_PROGRESS / name
        folder.mkdir(parents=True, exist_ok=True)
        req = folder / "requirements.md"
        profile = self.profile
        if not req.exists():
            text = profile.stage_template(0, root=checkout, ticket=name)
            atomic_write(req, _set_status(text, "Draft"))
        state_text = profile.state_template(root=checkout, ticket=name)
        doc = StateDoc.parse(state_text, folder / C.STATE_FILE)
        doc.set_snapshot(ticket=name, current_stage=0, next_stage=1, permission="Locked",
                         active_reentry=False, classification=None, last_updated=today())
        doc.set_bootstrap(record)
        for n in C.STAGE_NUMBERS:
            doc.set_gate(n, status="Blocked" if (n == 0 and blocked) else
                         ("In Progress" if n == 0 else "Not Started"), evidence="")
        doc.set_pre_edit(dict(zip(list(doc.pre_edit), ["No", "No", "No", "No", "Fail"])))
        key = self.key()
        own = self.git and worktree
        with file_lock(self.lock_path(name)):
            governance.write_state(self.gdir, name, folder / C.STATE_FILE, doc, key)
            # (registered after the state is written: a failed write leaves nothing behind)
            governance.bind(self.gdir, governance.Binding(
                ticket=name, status=governance.IN_PROGRESS,
                worktree=os.path.realpath(checkout), folder=str(folder),
                branch=str(record.get("Ticket Branch")) if own else None,
                own_worktree=own, base=G.head(checkout) if self.git else None))
        return self.ticket(name)

    def lock_path(self, name: str) -> Path:
        """The per-ticket lock file (outside the worktree, so it is never committed)."""
        return tickets.key_dir(self.root) / "locks" / f"{name}.lock"

    def _bootstrap_plain(self, base: str | None) -> tuple[dict[str, str | None], bool]:
        na = C.NA
        if self.git:  # git repository, but the ticket works in the current checkout
            branch = G.current_branch(self.root) or na
            return ({"Bootstrap Mode": "Git", "User-Specified Base Branch": base or na,
                     "Resolved Base Remote": "local", "Resolved Base Branch": branch,
                     "Default Finalization Target Remote": "local",
                     "Default Finalization Target Branch": branch,
                     "Remote Refresh Performed": "No",
                     "Remote Refresh Result": "no worktree requested (--no-worktree)",
                     "Ticket Worktree Path": str(self.root), "Ticket Branch": branch}, False)
        return ({k: na for k in ("User-Specified Base Branch", "Resolved Base Remote",
                                 "Resolved Base Branch", "Default Finalization Target Remote",
                                 "Default Finalization Target Branch",
                                 "Remote Refresh Performed", "Remote Refresh Result",
                                 "Ticket Worktree Path", "Ticket Branch")}
                | {"Bootstrap Mode": "Non-Git"}, False)

    def _bootstrap_git(self, name: str, base: str | None
                       ) -> tuple[Path, dict[str, str | None], bool]:
        root = self.root
        branch = f"{self.config.branch_prefix}{name}"
        if not G.check_ref_format(branch):
            from mlgate.errors import InvalidTicketName
            raise InvalidTicketName(name, f"'{branch}' is not a valid git branch name; "
                                          + C.TICKET_NAME_RULE)
        remotes = G.remotes(root)
        remote = "origin" if "origin" in remotes else (remotes[0] if remotes else None)
        refreshed, refresh_msg = "N/A", "no remote configured"
        if remote:
            ok, refresh_msg = G.fetch(root, remote)
            refreshed = "Yes" if ok else "No"
        # Resolve the base branch: --base, else the remote default, else main/master.
        base_remote, base_branch, start = None, None, None
        if base:
            if remote and G.ref_exists(root, f"refs/remotes/{remote}/{base}"):
                base_remote, base_branch, start = remote, base, f"{remote}/{base}"
            elif G.ref_exists(root, f"refs/heads/{base}"):
                base_remote, base_branch, start = "local", base, base
            else:
                raise GitError(["rev-parse", base], 1, f"base branch {base!r} not found",
                               hint="give an existing branch with --base")
        else:
            default = G.remote_default_branch(root, remote) if remote else None
            if default:
                base_remote, base_branch, start = remote, default, f"{remote}/{default}"
            else:
                for cand in ("main", "master"):
                    if remote and G.ref_exists(root, f"refs/remotes/{remote}/{cand}"):
                        base_remote, base_branch, start = remote, cand, f"{remote}/{cand}"
                        break
                    if G.ref_exists(root, f"refs/heads/{cand}"):
                        base_remote, base_branch, start = "local", cand, cand
                        break
        blocked = start is None or refreshed == "No"
        wt_path = self._worktree_path(name)
        existing = next((w for w in G.worktrees(root) if w.branch == branch), None)
        if existing is not None:
            wt_path = existing.path
        else:
            if wt_path.exists() and (not wt_path.is_dir() or any(wt_path.iterdir())):
                raise GitError(["worktree", "add", str(wt_path), branch], 1,
                               f"'{wt_path}' already exists and is not the worktree of {branch}",
                               hint="remove or move that folder, or set `worktrees:` in "
                                    "mlgate.yaml to another location; nothing was created")
            if not G.branch_exists(root, branch) and start is None:
                start = "HEAD" if G.head(root) else None
            if start is None and not G.branch_exists(root, branch):
                raise GitError(["worktree", "add"], 1, "the repository has no commit to "
                               "branch from", hint="make a first commit, then run `mlgate new` again")
            self._add_worktree(name, wt_path, branch, start)
        record: dict[str, str | None] = {
            "Bootstrap Mode": "Git",
            "User-Specified Base Branch": base or C.NA,
            "Resolved Base Remote": base_remote or "unresolved",
            "Resolved Base Branch": base_branch or "unresolved",
            "Default Finalization Target Remote": base_remote or "unresolved",
            "Default Finalization Target Branch": base_branch or "unresolved",
            "Remote Refresh Performed": refreshed,
            "Remote Refresh Result": refresh_msg,
            "Ticket Worktree Path": str(wt_path),
            "Ticket Branch": branch,
        }
        return wt_path, record, blocked

    def _add_worktree(self, name: str, wt_path: Path, branch: str, start: str | None) -> None:
        """``git worktree add``, all or nothing: when git fails half way (it creates the
        branch before the worktree), the new branch and any folder made for it are removed
        again, and the error says so."""
        root = self.root
        new_branch = not G.branch_exists(root, branch)
        made = [p for p in (wt_path.parent, wt_path) if not p.exists()]
        cmd = ["worktree", "add", str(wt_path), branch]
        try:
            wt_path.parent.mkdir(parents=True, exist_ok=True)
            G.add_worktree(root, wt_path, branch, start=start if new_branch else None)
        except (GitError, OSError) as exc:
            undone = []
            if new_branch and G.branch_exists(root, branch):
                G.force_delete_branch(root, branch)
                undone.append(f"the branch {branch} git had created was deleted")
            G.prune_worktrees(root)
            for folder in reversed(made):
                with contextlib.suppress(OSError):
                    folder.rmdir()  # only when empty
            why = exc.stderr if isinstance(exc, GitError) else \
                f"cannot create {exc.filename or wt_path}: {exc.strerror or exc}"
            raise GitError(exc.cmd if isinstance(exc, GitError) else cmd,
                           exc.returncode if isinstance(exc, GitError) else 1, why,
                           hint=f"fix the cause above (or set `worktrees:` in mlgate.yaml to "
                                f"another location), then run `mlgate new {name}` again; "
                                f"nothing was left behind"
                                + (f" ({'; '.join(undone)})" if undone else "")) from None

    def _worktree_path(self, name: str) -> Path:
        pattern = self.config.worktrees
        rel = pattern.format(repo=self.root.name, ticket=name)
        p = Path(rel)
        if not p.is_absolute():
            p = (self.root / p)
        return Path(os.path.normpath(p))


def _set_status(text: str, status: str) -> str:
    """Set ``Current Status`` and ``Last Updated`` of a freshly scaffolded artifact."""
    d = Document(text)
    s = d.section("Document Status")
    if s is None:
        return text
    for key, value in (("Current Status", f"`{status}`"), ("Last Updated", today())):
        f = s.field(key)
        if f is not None:
            d.lines[f.line - 1] = render_field_line(f, value, d.lines[f.line - 1])
    return d.render()


REFUTED_OUTCOME = ("`Refuted`: the runs refuted the hypothesis (stage-5 decision Refuted); "
                   "nothing is promoted to the baseline")


def _refuted_handoff(text: str) -> str:
    """The handoff template with the outcome of a refuted ticket said up front."""
    d = Document(text)
    sec = d.section("Outcome Summary")
    f = sec.field("Iteration outcome") if sec is not None else None
    if f is None or f.value:
        return text
    d.lines[f.line - 1] = render_field_line(f, REFUTED_OUTCOME, d.lines[f.line - 1])
    return d.render()


def _logged_stage(doc: StateDoc) -> int | None:
    """The stage the Transition Log says the ticket is in (0 before the first move)."""
    return doc.transitions[-1].to_stage if doc.transitions else 0


class Ticket:
    """One ticket: its folder, state and moves."""

    def __init__(self, ws: Workspace, loc: tickets.TicketLocation) -> None:
        self.ws = ws
        self.loc = loc
        self.name = loc.name
        self.folder = loc.folder
        self.checkout = loc.checkout
        self.archived = loc.location == C.DONE

    def __repr__(self) -> str:
        return f"Ticket({self.name!r}, folder={str(self.folder)!r})"

    def missing_setup(self) -> list[str]:
        """Warnings when the ticket's branch lacks the workspace's ``mlgate.yaml`` or
        ``tickets/`` (they were not committed on the base branch when it was made): the
        edit lock reads the ``docs`` and ``run_outputs`` globs from the branch's own
        ``mlgate.yaml``, and the defaults apply until the branch has it."""
        if not self.ws.git or self.checkout.resolve() == self.ws.root.resolve():
            return []
        branch = G.current_branch(self.checkout)
        if branch is None:
            return []
        names = [p for p in (C.CONFIG_FILE, f"{C.TICKETS_DIR}/{C.DONE}")
                 if (self.ws.root / p).exists()]
        have = G.files_in(self.checkout, "HEAD", names) if names else []
        missing = [n for n in names if not any(f == n or f.startswith(n + "/") for f in have)]
        if not missing:
            return []
        base = self.doc().bootstrap.get("Resolved Base Branch") or "the base branch"
        missing = [n if n == C.CONFIG_FILE else f"{C.TICKETS_DIR}/" for n in missing]
        return [f"branch {branch} has no {' or '.join(missing)} ({base} did not have "
                f"{'it' if len(missing) == 1 else 'them'} committed when the branch was made); "
                f"the lock uses the default docs/run_outputs globs until it does. Commit "
                f"{' and '.join(m.rstrip('/') for m in missing)} on {base} in {self.ws.root}, "
                f"then run "
                f"`git merge {base}` in {self.checkout}"]

    @property
    def state_path(self) -> Path:
        return self.folder / C.STATE_FILE

    def doc(self) -> StateDoc:
        return StateDoc.load(self.state_path)

    def seal_status(self, doc: StateDoc | None = None) -> str:
        doc = doc or self.doc()
        return seal_state(doc, self.ws.known_key())

    @property
    def state(self) -> WorkflowState:
        return self.state_of(self.doc())

    def row(self) -> dict[str, Any]:
        """One row of ``mlgate list`` (its ``--json``, and the MCP ``list`` tool): a ticket
        whose state file cannot be read is listed Locked, with the error."""
        try:
            st = self.state
            perm = st.effective_permission
            if perm == "Unlocked" and self.behind_head(self.doc(), registered_only=False):
                perm = "Locked"  # (an older or foreign state file: see `mlgate status`)
            return {"ticket": self.name, "stage": st.stage, "permission": perm,
                    "location": "done" if self.archived else "in-progress",
                    "folder": str(self.folder),
                    "gate": st.gates[st.stage].status if st.stage is not None else None}
        except MlgateError as exc:
            return {"ticket": self.name, "stage": None, "permission": "Locked",
                    "location": "done" if self.archived else "in-progress",
                    "folder": str(self.folder), "error": str(exc)}

    def created(self, cwd: str | Path | None = None) -> dict[str, Any]:
        """What ``mlgate new`` reports (its ``--json``, and the MCP ``new`` tool): where the
        ticket is, its bootstrap record, warnings about a setup missing from its branch, and
        the next steps (starting with a ``cd`` when ``cwd`` is not the ticket's checkout)."""
        b = self.doc().bootstrap
        req = (self.folder / "requirements.md").relative_to(self.checkout)
        here = Path(cwd).resolve() if cwd is not None else None
        steps = ([f"cd {self.checkout}"] if here != self.checkout.resolve() else []) + [
            f"write the goal in {req} in your own words, then `mlgate check`",
            "`mlgate advance` once the gate passes"]
        return {"ticket": self.name, "worktree": str(self.checkout),
                "branch": b.get("Ticket Branch"), "folder": str(self.folder), "bootstrap": b,
                "warnings": self.missing_setup(), "next": steps}

    def status(self, doc: StateDoc | None = None) -> dict[str, Any]:
        """Stage, permission, seal, gates, re-entry, open violations and the next moves, as
        the JSON of ``mlgate status`` (one parse of the state file serves every view)."""
        doc = doc if doc is not None else self.doc()
        seal = self.seal_status(doc)
        snap = doc.snapshot
        stage = snap.current_stage
        path = doc.reentry.return_path
        behind = None if self.archived else self.behind_head(doc, registered_only=False)
        # Straight from the parsed file (the fields of :class:`WorkflowState`, without
        # loading pydantic: `mlgate status` asks this of every ticket).
        return {
            "ticket": self.name, "stage": stage,
            "stage_name": None if stage is None else self.ws.stages[stage].name,
            "next_stage": snap.next_stage,
            "permission": "Locked" if behind else effective_permission(snap.permission, stage,
                                                                       seal),
            "recorded_permission": snap.permission, "seal": seal,
            "head": "behind" if behind else "ok",
            "active_reentry": snap.active_reentry, "classification": snap.classification,
            "return_path": list(path) if path else None,
            "location": "done" if self.archived else "in-progress",
            "folder": str(self.folder), "worktree": str(self.checkout),
            "last_transition": snap.last_transition_id,
            "gates": [{"stage": g.stage, "name": self.ws.stages[g.stage].name, "status": g.status,
                       "evidence": g.evidence} for _, g in sorted(doc.gates.items())],
            "violations": [{"id": v.id, "date": v.date, "violation": v.violation,
                            "stage": v.stage, "action": v.action, "cleared": v.cleared}
                           for v in doc.violations if v.cleared is False],
            "allowed": self.allowed(doc),
        }

    def state_of(self, doc: StateDoc) -> WorkflowState:
        """The public model of an already parsed state file (one parse serves several
        views, e.g. ``status``)."""
        from mlgate.state.model import WorkflowState

        return WorkflowState.from_doc(doc, self.seal_status(doc),  # type: ignore[arg-type]
                                      stages=self.ws.stages)

    @property
    def git(self) -> _GitFacts | None:
        return _GitFacts(self.checkout) if self.ws.git else None

    def head(self) -> str | None:
        return G.head(self.checkout) if self.ws.git else None

    # -- gate context -----------------------------------------------------------------

    def stage_entries(self, doc: StateDoc | None = None) -> dict[int, str]:
        """{stage: commit HEAD was at when the ticket entered it}: the sealed
        ``mlgate-stage-entry`` line of the state file."""
        doc = doc if doc is not None else self.doc()
        return dict(doc.stage_entries)

    def _record_entry(self, doc: StateDoc, stage: int, left: int | None = None) -> None:
        """Note HEAD as the commit the ticket entered ``stage`` at, in ``doc`` (written and
        sealed with the move: one atomic write, nothing to tear); entering or leaving stage 4
        opens or closes a stage-4 window (what ``mlgate audit`` checks source commits
        against)."""
        head = self.head()
        if head is None:
            return
        doc.set_stage_entry(stage, head)
        windows = list(doc.windows)
        if stage == C.UNLOCK_STAGE and left != C.UNLOCK_STAGE:
            doc.set_windows(windows + [(head, None)])
        elif left == C.UNLOCK_STAGE and stage != C.UNLOCK_STAGE and windows and \
                windows[-1][1] is None:
            doc.set_windows(windows[:-1] + [(windows[-1][0], head)])

    def _source_filter(self) -> Callable[[str], bool]:
        from mlgate.config.raw import glob_match

        outputs = list(self.ws.config.run_outputs)

        def is_source(path: str) -> bool:
            if path.startswith(f"{C.TICKETS_DIR}/"):
                return False
            if "/__pycache__/" in f"/{path}" or path.endswith((".pyc", ".pyo")):
                return False  # Python's byte-code caches are never source
            return not glob_match(path, outputs)

        return is_source

    def gate_context(self, doc: StateDoc, verified_by: str | None = None) -> GateContext:
        base_ref = None
        if self.ws.git:
            b = doc.bootstrap
            remote, branch = b.get("Resolved Base Remote"), b.get("Resolved Base Branch")
            if branch and branch not in (C.NA, "unresolved"):
                base_ref = branch if remote in (None, "local", C.NA) else f"{remote}/{branch}"
        from mlgate.gates import GateContext

        cfg = self.ws.config
        handlers = {k: list(v) for k, v in cfg.handlers.items()}
        ledger = self.evidence_registry(write=False)
        return GateContext(
            ticket=self.name, folder=self.folder, state=doc, profile=cfg.gate_strictness,
            domain=self.ws.profile, stage5_policy=cfg.stage5_policy, handlers=handlers,
            git=self.git, stage_entry_commits=self.stage_entries(doc), base_ref=base_ref,
            verified_by=verified_by, source_filter=self._source_filter(),
            registry=ledger,
            handler_options={n: cfg.handler_options(n) for names in handlers.values()
                             for n in names},
            baseline_file=cfg.baseline_file, workspace_root=self.ws.root,
            docs_globs=tuple(cfg.docs),
            reentry_baseline=self._reentry_baseline(doc, ledger),
            signed_verification=(self.signed_verification() if cfg.verify == "signed"
                                 and doc.snapshot.current_stage == C.LAST_STAGE else None),
            rubrics=self.rubric_results(), closure_decisions=self._closure_decisions)

    def _reentry_baseline(self, doc: StateDoc, ledger: Any) -> dict[str, str | None] | None:
        """The digests the active re-entry recorded of the upstream artifacts it names."""
        if not doc.snapshot.active_reentry:
            return None
        tid = next((r.id for r in reversed(doc.transitions) if r.classification), None)
        entry = ledger.reentry(tid) if tid else None
        return dict(entry.artifacts) if entry is not None else None

    def closures(self) -> list[Any]:
        """mlgate's closure of the success criteria from the ticket's runs (what
        ``mlgate run train --collect`` writes), with the configured seeds and baseline."""
        from mlgate.runs import baselines, closure, rubric

        criteria = closure.read_success_criteria(self.folder / C.STAGES[2].artifact)  # type: ignore[operator]
        base = baselines.load(self.ws.root, self.ws.config.baseline_file)
        rubrics = rubric.load(self.folder, self.name, self.ws.known_key()) \
            if rubric.path(self.folder).exists() else None
        st = self.ws.config.stats
        return closure.evaluate(criteria, closure.load_runs(self.folder), base,
                                min_seeds=st.min_seeds, confidence=st.confidence,
                                rubrics=rubrics)

    def _closure_decisions(self) -> dict[str, str]:
        try:
            return {c.sc_id: c.decision for c in self.closures()}
        except MlgateError:
            return {}

    def outcome(self) -> str | None:
        """The stage-5 decision written in the report (``Pass``, ``Refuted``, ...), or
        ``None`` when there is none yet."""
        from mlgate import artifacts as A

        try:
            art = A.load(self.folder, A.REPORT)
        except MlgateError:
            return None
        if art is None:
            return None
        return A.enum_value(art.value("Gate Decision", "Stage 5 Decision"),
                            A.STAGE5_DECISIONS)

    def rubric_results(self) -> dict[str, str]:
        """``{SC id: Passed | Failed}``: the rubric results a person recorded with
        ``mlgate rubric`` whose MAC verifies (a hand-written record counts for nothing)."""
        from mlgate.runs import rubric

        if not rubric.path(self.folder).exists():
            return {}
        found = rubric.load(self.folder, self.name, self.ws.known_key())
        return {sc: r.result for sc, r in found.records.items()}

    def record_rubric(self, sc_id: str, result: str, by: str, note: str = "",
                      runs: list[str] | None = None) -> Any:
        """A person's result for a rubric-defined criterion (stage 5). A human decision, like
        :meth:`verify`: refused for agent-run code (:func:`mlgate.human.require_person`)."""
        from mlgate.runs import rubric

        human.require_person("mlgate rubric")
        sc, chosen = self.rubric_target(sc_id, runs)
        with file_lock(self.ws.lock_path(self.name)):
            return rubric.record(self.folder, self.name, sc, result, by, self.ws.key(), note,
                                 chosen)

    def rubric_target(self, sc_id: str, runs: list[str] | None = None) -> tuple[str, list[str]]:
        """The criterion and the run(s) a rubric result would be recorded for, checked (no
        write): the ticket is in stage 5, ``sc_id`` is one of its rubric-defined criteria, and
        the runs exist (default: the newest completed run). Raises UsageError or
        TransitionNotAllowed naming what is wrong, so a person is asked only to decide
        something that can be recorded."""
        from mlgate import artifacts as A
        from mlgate.errors import UsageError
        from mlgate.runs import closure

        doc = self.doc()
        stage = doc.snapshot.current_stage
        if stage != 5:
            raise TransitionNotAllowed("rubric", stage, "rubric results close stage-5 "
                                       "criteria; the ticket is not in stage 5",
                                       ticket=self.name)
        sc = A.norm_id(sc_id, "SC")
        req = A.load(self.folder, A.REQUIREMENTS)
        rows = [c for c in A.success_criteria(req) if c.id == sc] if req else []
        if sc is None or not rows:
            known = [c.id for c in A.success_criteria(req) if c.id] if req else []
            raise UsageError(f"{sc_id!r} is not a success criterion of {self.name} "
                             f"(known: {', '.join(dict.fromkeys(known)) or 'none'})", sc=sc_id)
        if not any(r.rubric for r in rows):
            raise UsageError(f"{sc} is not rubric-defined (its Comparator is "
                             f"{rows[0].comparator!r}); mlgate closes it from the runs",
                             sc=sc)
        records = closure.load_runs(self.folder)
        known_runs = {r.run for r in records}
        chosen = list(runs or [])
        for r in chosen:
            if r not in known_runs:
                raise UsageError(f"--run {r}: no such run of {self.name} (runs: "
                                 f"{', '.join(sorted(known_runs)) or 'none'})", run=r)
        if not chosen:
            done = [r.run for r in records if r.completed]
            if not done:
                raise UsageError(f"{self.name} has no completed run for the rubric to judge; "
                                 f"name the run(s) judged with --run RUN-NNN", sc=sc)
            chosen = done[-1:]
        return sc, chosen

    def _engine(self, doc: StateDoc) -> Engine:
        from mlgate.engine import Engine

        engine: Engine
        engine = Engine(self.name, doc, self.folder, self.archived,
                        ctx_factory=lambda d: self.gate_context(d, engine.verified_by()),
                        head=self.head,
                        handlers={k: list(v) for k, v in self.ws.config.handlers.items()},
                        stages=self.ws.profile.stages)
        return engine

    # -- reading ---------------------------------------------------------------------------

    def check(self, stage: int | None = None) -> GateReport:
        """Evaluate the current gate (no write)."""
        doc = self.doc()
        return self._engine(doc).check(stage)

    def graph(self) -> str:
        from mlgate.engine import mermaid

        return mermaid(self.doc(), self.archived, self.ws.stages)

    def allowed(self, doc: StateDoc | None = None) -> list[str]:
        """The moves from here, in words. Reads the file only (no state machine is built:
        ``status`` asks this of every ticket)."""
        from mlgate.engine import allowed_moves

        return allowed_moves(self.name, doc if doc is not None else self.doc(), self.archived)

    # -- writing ---------------------------------------------------------------------------

    @contextmanager
    def _locked_doc(self, allow_broken: bool = False) -> Iterator[tuple[StateDoc, bytes]]:
        with file_lock(self.ws.lock_path(self.name)):
            # A writer killed between its temp file and the rename leaves the temp file
            # behind (state file, artifacts, evidence/): remove the stale ones.
            from mlgate.evidence import results as ev

            ev.remove_stale_temps(self.folder, self.ws.lock_path(self.name).with_suffix(".run"))
            doc = self.doc()
            # a state write cut off by a killed process did not happen: its head goes back
            governance.finish_pending(self.ws.gdir, self.name, self.state_path, doc.seal)
            key = self.ws.key()
            status = seal_state(doc, key)
            if status == "broken" and not allow_broken:
                raise SealBroken(str(self.state_path), doc.seal_line,
                                 "workflow-state.md was edited by hand where mlgate owns the "
                                 "fields (the seal no longer matches); the ticket is treated "
                                 f"as Locked. Run `mlgate doctor {self.name} --repair` to "
                                 "record a process violation and re-seal")
            if not allow_broken:
                behind = self.behind_head(doc)
                if behind is not None:
                    raise SealBroken(str(self.state_path), doc.seal_line, behind)
            if status == "missing" and doc.snapshot.permission == "Unlocked":
                doc.set_snapshot(permission="Locked")  # a hand-written Unlocked is not honoured
            yield doc, key

    def _write(self, doc: StateDoc, key: bytes) -> None:
        """Seal and write the state file, and its head in the governance folder (the caller
        holds the ticket lock). A ticket the registry does not know yet (made before it
        existed) is registered here, at mlgate's first write to it."""
        previous = doc.seal  # (the seal of the file as read: apply_seal replaces it)
        governance.write_state(self.ws.gdir, self.name, self.state_path, doc, key, previous)
        self._bind()

    def behind_head(self, doc: StateDoc, registered_only: bool = True) -> str | None:
        """Why the state file is not the one mlgate last wrote (None: it is, or mlgate has
        not written it since the registry existed). ``registered_only=False`` skips the
        registry (``status`` of many tickets: a head exists only for written tickets)."""
        if registered_only:
            b = governance.load(self.ws.gdir).get(self.name)
            if b is None or not b.governs:
                return None
        try:
            head = governance.read_head(self.ws.gdir, self.name)
        except StateFileError as exc:
            return str(exc)
        return governance.head_mismatch(self.name, doc, self.ws.known_key(), head)

    def _bind(self, **changes: Any) -> None:
        gdir = self.ws.gdir
        old = governance.load(gdir).get(self.name)
        if old is not None:
            if changes:
                governance.update(gdir, self.name, **changes)
            return
        own = self.loc.own_worktree
        fields: dict[str, Any] = {
            "status": governance.DONE if self.archived else governance.IN_PROGRESS,
            "worktree": os.path.realpath(self.checkout), "folder": str(self.folder),
            "branch": self.loc.branch if own else None, "own_worktree": own, "base": None}
        fields.update(changes)
        governance.bind(gdir, governance.Binding(ticket=self.name, **fields))

    def _move(self, action: Callable[[Engine], Outcome],
              before_write: Callable[[StateDoc, Outcome], None] | None = None) -> Outcome:
        with self._locked_doc() as (doc, key):
            engine = self._engine(doc)
            outcome = action(engine)
            if outcome.ok and outcome.to_stage is not None and \
                    outcome.to_stage != outcome.from_stage:
                self._record_entry(doc, outcome.to_stage, outcome.from_stage)
            if outcome.ok and before_write is not None:
                before_write(doc, outcome)
            self._write(doc, key)
            if outcome.ok:
                for stage in outcome.scaffold:
                    self._scaffold(stage)
        if not outcome.ok and outcome.report is not None:
            raise GateFailed(outcome.report)
        return outcome

    def _scaffold(self, stage: int) -> None:
        profile = self.ws.profile
        st = profile.stage(stage)
        if not st.artifact:
            return
        path = self.folder / st.artifact
        if path.exists():
            return
        text = profile.stage_template(stage, root=self.checkout, ticket=self.name)
        if st.statuses:
            text = _set_status(text, st.statuses[0])
        if stage == C.LAST_STAGE and self.outcome() == "Refuted":
            text = _refuted_handoff(text)
        atomic_write(path, text)

    def advance(self, reason: str | None = None) -> Outcome:
        return self._move(lambda e: e.advance(reason))

    def reenter(self, classification: str, reason: str) -> Outcome:
        """Declare a re-entry. The digests of the upstream artifacts it names are recorded in
        the evidence registry first (before the state file is written): the path is walked
        only once they changed."""
        from mlgate.gates.core import upstream_artifacts

        def record(doc: StateDoc, out: Outcome) -> None:
            names = upstream_artifacts(doc.reentry.upstream_artifacts)
            self.evidence_registry().record_reentry(self.folder, out.transition_id or "",
                                                    names, stage=out.from_stage)

        return self._move(lambda e: e.reenter(classification, reason), record)

    def block(self, reason: str) -> Outcome:
        return self._move(lambda e: e.block(reason))

    def unblock(self, reason: str | None = None) -> Outcome:
        return self._move(lambda e: e.unblock(reason))

    def unlock(self) -> Outcome:
        return self._move(lambda e: e.unlock())

    def verify(self, by: str) -> Outcome:
        """Record the person's verification (stage 8). A person's decision: refused for
        agent-run code (:func:`mlgate.human.require_person`; the CLI also asks the person to
        confirm at the terminal). With ``verify: signed`` in mlgate.yaml the verification is
        also the signed tag ``mlgate/verified/<ticket>`` at HEAD: made with the person's own
        signing key (``git tag -s``) unless it exists, and checked with ``git verify-tag``."""
        human.require_person("mlgate verify")
        if self.ws.config.verify == "signed":
            self._sign_verification(by)
        outcome = self._move(lambda e: e.verify(by))
        with file_lock(self.ws.lock_path(self.name)):
            self._set_handoff("User verification received", "Yes")
        return outcome

    @property
    def verified_tag(self) -> str:
        return G.VERIFIED_TAG.format(ticket=self.name)

    def _sign_verification(self, by: str) -> None:
        tag = self.verified_tag
        if not self.ws.git:
            raise HumanRequired("mlgate verify", "`verify: signed` needs a git repository "
                                "(the verification is a signed tag)",
                                hint="set `verify: record` in mlgate.yaml for a Non-Git "
                                     "workspace")
        if not G.ref_exists(self.checkout, f"refs/tags/{tag}"):
            G.create_signed_tag(self.checkout, tag, f"mlgate: ticket {self.name} verified by "
                                                    f"{by}")
        ok, why = self.signed_verification()
        if not ok:
            raise HumanRequired("mlgate verify", why, hint="sign with a key the allowed signers "
                                "list names (gpg.ssh.allowedSignersFile), or fix the tag: "
                                f"`git tag -d {tag}` and verify again")

    def signed_verification(self) -> tuple[bool, str]:
        """Whether the signed tag ``mlgate/verified/<ticket>`` verifies (``git verify-tag``)
        and covers the code: its commit is on the ticket branch and no source file changed
        since. ``(ok, reason)``."""
        tag = self.verified_tag
        if not self.ws.git:
            return False, "`verify: signed` needs a git repository"
        target = G.rev_parse(self.checkout, f"refs/tags/{tag}^{{commit}}")
        if target is None:
            return False, (f"no signed tag {tag}; the person runs `mlgate verify {self.name} "
                           "--by NAME` at a terminal (it signs the tag with their key)")
        ok, why = G.verify_tag(self.checkout, tag)
        if not ok:
            return False, f"`git verify-tag {tag}` failed: {why}"
        head = self.head()
        if head and not G.is_ancestor(self.checkout, target, head):
            return False, f"the signed tag {tag} names {target[:12]}, not a commit of this branch"
        if head and target != head:
            src = self._source_filter()
            changed = [f for f in G.changed_files(self.checkout, target, head) if src(f)]
            if changed:
                return False, (f"source files changed since the signed verification "
                               f"({target[:12]}): {', '.join(changed[:5])}; the person verifies "
                               "again")
        return True, f"signed tag {tag} verified ({why})"

    def _set_handoff(self, prefix: str, value: str) -> None:
        path = self.folder / "handoff-summary.md"
        if not path.exists():
            return
        d = Document.load(path)
        s = d.section("Finalization Status")
        if s is None:
            return
        for f in s.fields:
            if f.key.startswith(prefix):
                d.lines[f.line - 1] = render_field_line(f, f"`{value}`", d.lines[f.line - 1])
        atomic_write(path, d.render())

    def check_promote(self, run: str) -> None:
        """Raise what would refuse ``archive --promote RUN`` (no write): a refuted hypothesis
        never becomes the baseline, and the run must have a summary.json. The CLI asks it
        before the person is asked to confirm."""
        if self.outcome() == "Refuted":
            raise TransitionNotAllowed(
                "archive --promote", 8, f"the hypothesis of {self.name} was refuted (stage-5 "
                f"decision Refuted): a refuted result never becomes the baseline; archive it "
                f"without --promote", ticket=self.name)
        if not (self.folder / C.RUNS_DIR / run / "summary.json").exists():
            from mlgate.errors import UsageError
            raise UsageError(f"--promote {run}: no run {run} with a summary.json in "
                             f"{self.folder / C.RUNS_DIR}", run=run)

    def archive(self, finalize: bool = False, promote: str | None = None) -> Outcome:
        """Move the ticket to ``tickets/done/<name>/`` after verification (SPEC §6).

        Order: the stage-8 gate and the verification are checked first (a refusal changes
        nothing but the gate row); then the folder moves, the sealed state is written into it
        and, in git mode, the move is committed on the ticket branch. A failure after the
        move puts everything back."""
        if self.archived and finalize and self.ws.git and self.loc.own_worktree:
            return self._finish_finalize()  # archived earlier, not merged: audit and merge
        if self.archived:
            raise TransitionNotAllowed("archive", 8, "the ticket is already archived",
                                       ticket=self.name)
        if finalize and not self.ws.git:
            raise TransitionNotAllowed("archive --finalize", 8, "--finalize needs a git "
                                       "repository (this workspace is Non-Git)", ticket=self.name)
        if finalize and not self.loc.own_worktree:
            raise TransitionNotAllowed("archive --finalize", 8, "--finalize merges the ticket's "
                                       "own branch; this ticket has no worktree of its own",
                                       ticket=self.name)
        done_dir = self.checkout / C.TICKETS_DIR / C.DONE
        target = done_dir / self.name
        if target.exists():
            raise TicketExists(f"{target} already exists; remove it or reopen that ticket",
                               folder=str(target))
        if promote:
            human.require_person("mlgate archive --promote")
            self.check_promote(promote)
        with self._locked_doc() as (doc, key):
            old_text = self.state_path.read_text(encoding="utf-8")
            old_head = governance.read_head(self.ws.gdir, self.name)
            fin = self._finalize_target(doc) if finalize else None
            engine = self._engine(doc)
            outcome = engine.archive()
            if not outcome.ok:
                self._write(doc, key)
                raise GateFailed(outcome.report)
            source = self.folder
            done_dir.mkdir(parents=True, exist_ok=True)
            shutil.move(str(source), str(target))
            self.folder = target
            try:
                self._write(doc, key)
                self._bind(status=governance.DONE, folder=str(target))
                self._set_handoff("User verification received", "Yes")
                self._set_handoff("Ticket moved to", "Yes")
                self._set_handoff("Repository finalization complete when applicable",
                                  "N/A" if not self.ws.git else ("Yes" if finalize else "No"))
                if self.ws.git and self.loc.own_worktree:
                    self._commit_archive()
            except BaseException:
                shutil.move(str(target), str(source))
                self.folder = source
                atomic_write(self.state_path, old_text)
                governance.restore_head(self.ws.gdir, self.name, old_head)
                self._bind(status=governance.IN_PROGRESS, folder=str(source))
                raise
        self.archived = True
        if promote:
            from mlgate.runs import baselines

            from mlgate.runs import closure, criteria

            b = baselines.load(self.ws.root, self.ws.config.baseline_file)
            # a run of a seed set promotes the set: the mean, and each seed's value
            seeds = criteria.seed_set_of(closure.load_runs(target), promote)
            dirs = [target / C.RUNS_DIR / r.run for r in seeds] or \
                [target / C.RUNS_DIR / promote]
            b.promote_runs(dirs, self.name)  # the runs' own commit
            b.save()
        if fin is not None:
            self._audit_before_merge(fin[2])
            try:
                self._finalize(*fin)
            except GitError as exc:  # the archive itself is done and committed on the branch
                raise GitError(exc.cmd, exc.returncode, exc.stderr, hint=(
                    f"ticket {self.name} is archived and committed on {fin[2]}, but finalizing "
                    f"stopped here; fix the cause above, then finish by hand in {fin[0]}: "
                    f"`git merge --no-ff {fin[2]}` (if not merged yet), `git worktree remove "
                    f"{self.loc.checkout}`, `git branch -d {fin[2]}`")) from None
        return outcome

    def _audit_before_merge(self, branch: str) -> None:
        """``mlgate audit`` of the ticket branch; refuse to merge when it finds anything."""
        from mlgate.errors import AuditFailed
        from mlgate.evidence.audit import audit

        rep = audit(self.ws.root, self.name, branch)
        if not rep.ok:
            raise AuditFailed(rep, hint=(
                f"nothing was merged: {branch} stays as it is (the ticket is archived on it). "
                "Fix what the findings name (a source commit made outside stage 4 has to be "
                f"reverted and redone in stage 4), then run `mlgate archive {self.name} "
                "--finalize` again: it audits again and merges"))

    def _finish_finalize(self) -> Outcome:
        """``archive --finalize`` of a ticket archived earlier whose branch was not merged
        (the audit refused, or the merge stopped): audit again, then merge."""
        from mlgate.engine import Outcome

        with self._locked_doc() as (doc, _key):
            fin = self._finalize_target(doc)
        self._audit_before_merge(fin[2])
        self._finalize(*fin)
        return Outcome("archive", self.name, True, 8, 8, "Locked",
                       message=f"{self.name}: {fin[2]} audited and merged into {fin[1]}")

    def _commit_archive(self) -> None:
        G.add(self.checkout, [f"{C.TICKETS_DIR}/"])
        # mlgate's own sanctioned move: the edit lock would refuse edits under tickets/done/.
        G.commit(self.checkout, f"mlgate: archive ticket {self.name} to tickets/done",
                 no_verify=True)

    def _finalize_target(self, doc: StateDoc) -> tuple[Path, str, str]:
        """Where ``--finalize`` merges, checked before anything moves: the main checkout must
        be on the recorded target branch, clean, and the merge must not conflict."""
        target = doc.bootstrap.get("Default Finalization Target Branch")
        if not target or target in (C.NA, "unresolved"):
            raise GitError(["merge"], 1, "no finalization target branch is recorded in the "
                           "Stage 0 Bootstrap Record", hint="merge the ticket branch by hand")
        main = G.main_worktree(self.ws.root)
        branch = f"{self.ws.config.branch_prefix}{self.name}"
        if G.current_branch(main) != target:
            raise GitError(["merge", branch], 1, f"the main checkout {main} is not on {target}",
                           hint=f"run `git -C {main} switch {target}`, then "
                                f"`mlgate archive {self.name} --finalize` again")
        if G.dirty_files(main):
            raise GitError(["merge", branch], 1, f"the main checkout {main} has uncommitted "
                           "changes", hint="commit or stash them, then archive again")
        stray = [f for f in G.dirty_files(self.checkout, untracked=True)
                 if not f.startswith(f"{C.TICKETS_DIR}/")]
        if stray:  # `git worktree remove` would refuse after the merge: refuse now instead
            raise GitError(["worktree", "remove", str(self.checkout)], 1,
                           f"the ticket worktree {self.checkout} has uncommitted or untracked "
                           f"files outside tickets/: {', '.join(stray[:10])}",
                           hint="commit them on the ticket branch (or delete them), then "
                                f"`mlgate archive {self.name} --finalize` again; nothing was "
                                "changed")
        if self.outcome() == "Refuted":
            return main, target, branch  # the record alone goes to the target: no merge
        files = G.merge_conflicts(main, target, branch)
        if files is not None:
            raise GitError(["merge-tree", target, branch], 1,
                           f"merging {branch} into {target} would conflict"
                           + (f" in: {', '.join(files[:10])}" if files else ""),
                           hint=f"merge {target} into {branch} in the worktree and resolve the "
                                "conflicts, then archive again; nothing was changed")
        return main, target, branch

    def _finalize(self, main: Path, target: str, branch: str) -> None:
        if self.outcome() == "Refuted":
            return self._finalize_refuted(main, target, branch)
        G.merge_no_ff(main, branch, f"Merge {branch}: ticket {self.name}")
        # `git worktree remove` deletes ignored files without asking: carry the ignored run
        # outputs (wandb offline runs not yet synced, checkpoints, Slurm logs) across first
        from mlgate.runs.core import carry_run_outputs

        carry_run_outputs(self.folder, main / C.TICKETS_DIR / C.DONE / self.name)
        G.remove_worktree(main, self.checkout)
        G.prune_worktrees(main)
        self.checkout = main
        self.folder = main / C.TICKETS_DIR / C.DONE / self.name
        # merged: the branch is governed no more (its deletion must pass the ref hook)
        self._bind(status=governance.FINALIZED, worktree=os.path.realpath(main),
                   folder=str(self.folder), branch=None)
        G.delete_branch(main, branch)

    def _finalize_refuted(self, main: Path, target: str, branch: str) -> None:
        """A refuted ticket's code is not merged (it did not hold up): its record, the
        archived ticket folder, is committed on the target, and the branch is kept as the
        tag ``mlgate/refuted/<ticket>`` before the worktree and branch are removed."""
        tag = f"mlgate/refuted/{self.name}"
        done = f"{C.TICKETS_DIR}/{C.DONE}/{self.name}"
        G.tag(main, tag, branch, f"ticket {self.name}: hypothesis refuted; branch {branch} "
                                 f"kept here, not merged")
        G.checkout_paths(main, branch, [done])
        from mlgate.runs.core import carry_run_outputs

        carry_run_outputs(self.folder, main / done)
        G.commit(main, f"Record refuted ticket {self.name} (code not merged; branch kept as "
                       f"tag {tag})", no_verify=True)
        G.remove_worktree(main, self.checkout)
        G.prune_worktrees(main)
        G.force_delete_branch(main, branch)
        self.checkout = main
        self.folder = main / done

    def reopen(self) -> "Ticket":
        if not self.archived:
            raise TransitionNotAllowed("reopen", None, "the ticket is not archived",
                                       ticket=self.name)
        target = self.checkout / C.TICKETS_DIR / C.IN_PROGRESS / self.name
        if target.exists():
            raise TicketExists(f"{target} already exists", folder=str(target))
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(self.folder), str(target))
        self.folder = target
        own = self.loc.own_worktree
        self._bind(status=governance.IN_PROGRESS, folder=str(target), own_worktree=own,
                   worktree=os.path.realpath(self.checkout),
                   branch=self.loc.branch if own else None)
        with self._locked_doc() as (doc, key):
            engine = self._engine(doc)
            engine.reopen()
            self._write(doc, key)
            self._set_handoff("Ticket moved to", "No")
            self._set_handoff("User verification received", "No")
        self.archived = False
        if self.ws.git and G.is_tracked(self.checkout, f"{C.TICKETS_DIR}/{C.DONE}/{self.name}"):
            G.add(self.checkout, [f"{C.TICKETS_DIR}/"])
            G.commit(self.checkout, f"mlgate: reopen ticket {self.name} (back to "
                                    "tickets/in-progress)", no_verify=True)
        return self

    # -- handlers ----------------------------------------------------------------------------

    def run_handlers(self, names: list[str] | None = None, detach: bool = False,
                     progress: Callable[[str], None] | None = None,
                     registry: Any = None,
                     options: dict[str, Any] | None = None,
                     only_configured: bool = True) -> list[ev.HandlerResult]:
        """Run the current stage's configured handlers (or ``names``); save the evidence and
        record it in the Stage Gates evidence column. The state is never changed otherwise.

        A name that ``mlgate.yaml`` does not list for the current stage is refused
        (:class:`HandlerNotConfigured`) unless ``only_configured`` is false (tooling that runs
        an ad-hoc handler on purpose)."""
        from mlgate.handlers.registry import Registry
        from mlgate.handlers.runner import run_stage

        doc = self.doc()
        stage = doc.snapshot.current_stage or 0
        if names is None:
            names = self.ws.config.handlers_for(stage)
            if not names:
                raise TransitionNotAllowed(
                    "run", stage, f"no handlers are configured for stage {stage} "
                                  "(mlgate.yaml: handlers: {4: [torch-smoke], 5: [train]})",
                    ticket=self.name)
        reg = registry or Registry()
        if registry is None:
            reg.discover()
        if only_configured:
            configured = self.ws.config.handlers_for(stage)
            for name in names:
                reg.get(name)  # an unknown name fails first, with a did-you-mean
                if name not in configured:
                    raise HandlerNotConfigured(
                        name, self.name, stage, C.STAGES[stage].label, configured,
                        sorted(s for s, ns in self.ws.config.handlers.items() if name in ns))
        head = self.head()
        dirty_files = self.dirty_sources()
        config = self.ws.config.to_dict()
        ledger = self.evidence_registry()

        from mlgate.evidence import results as ev

        def make_ctx(name: str) -> ev.HandlerContext:
            return ev.HandlerContext(
                workspace=self.ws.root, ticket=self.name, stage=stage, folder=self.folder,
                worktree=self.checkout, options=self.ws.config.handler_options(name),
                config=config, commit=head, dirty=bool(dirty_files), dirty_files=dirty_files,
                progress=progress, detach=detach, evidence_registry=ledger,
                run_options={"detach": detach, **(options or {})})

        with file_lock(self.ws.lock_path(self.name).with_suffix(".run")):
            results = run_stage(reg, list(names), make_ctx)
        self._record_evidence(stage, results)
        return results

    def evidence_registry(self, write: bool = True) -> Any:
        """The ticket's :class:`~mlgate.evidence.registry.Registry` (in the git common dir,
        or ``.mlgate/``), with the seal key (created when ``write`` and missing)."""
        from mlgate.evidence.registry import Registry

        key = self.ws.key() if write else self.ws.known_key()
        return Registry(tickets.key_dir(self.ws.root), self.name, key)

    def dirty_sources(self) -> list[str]:
        """Source files (per the source filter) that are modified, staged, deleted or
        untracked (and not ignored): evidence taken now would not be reproducible from the
        commit it names. Agent-client settings files are not source."""
        if not self.ws.git:
            return []
        src = self._source_filter()
        return sorted(p for p in G.dirty_files(self.checkout, untracked=True)
                      if src(p) and not p.startswith(C.CLIENT_FILES))

    def _record_evidence(self, stage: int, results: list[ev.HandlerResult]) -> None:
        with self._locked_doc() as (doc, key):
            current = [e.strip() for e in doc.gates[stage].evidence.split(",") if e.strip()]
            for r in results:
                if r.evidence:
                    prefix = f"{C.EVIDENCE_DIR}/{stage}-{r.handler}-"
                    current = [c for c in current if not c.startswith(prefix)] + [r.evidence]
            doc.set_gate(stage, evidence=", ".join(current))
            self._write(doc, key)

    # -- doctor ------------------------------------------------------------------------------

    def _governance_problems(self, repair: bool) -> list[dict[str, Any]]:
        """The registry's view of this ticket: state file against its head, the branch
        checked out elsewhere, an unregistered ticket; with ``repair`` mlgate's own state is
        put back (Process Violation recorded) and a missing registration made."""
        from mlgate.lock import tripwire
        from mlgate.lock.policy import lock_view

        gdir = self.ws.gdir
        out: list[dict[str, Any]] = []
        try:
            reg = governance.load(gdir)
        except StateFileError as exc:
            return [{"id": "registry", "message": str(exc)}]
        b = reg.get(self.name)
        if b is None:
            if not self.archived and (self.loc.own_worktree or not self.ws.git):
                p: dict[str, Any] = {
                    "id": "unregistered", "message": "the ticket is not in the governance "
                    f"registry ({reg.path}): made before it existed, or its entry was removed; "
                    "the lock then cannot check its state against what mlgate last wrote"}
                if repair and self.state_path.is_file():
                    self._bind()
                    p["repaired"] = True
                out.append(p)
            return out
        if not b.governs:
            return out
        if b.own_worktree and not os.path.isdir(b.worktree):
            out.append({"id": "worktree-gone", "message": f"the ticket's worktree {b.worktree} "
                        f"is gone (moved or removed?); the ticket is Locked. If it was moved, "
                        f"run `git worktree repair` there, then `mlgate doctor {self.name} "
                        f"--repair`"})
        if self.ws.git and b.branch:
            elsewhere = [str(co.path) for co in tickets.checkouts(self.ws.root)
                         if co.branch == b.branch and
                         os.path.realpath(co.path) != os.path.realpath(b.worktree)]
            if elsewhere:
                out.append({"id": "branch-elsewhere", "message": f"branch {b.branch} is also "
                            f"checked out at {', '.join(elsewhere)}; the lock governs it there "
                            f"as in {b.worktree}. Remove that checkout (`git worktree remove "
                            f"PATH`) or switch it back to its own branch"})
        view = lock_view(self.ws.root)
        loc = next((t for t in view.tickets if t.name == self.name), None)
        if loc is not None:
            f = tripwire.check_state(view, loc, self.ws.known_key(), repair)
            if f is not None:
                out.append({"id": "behind-head", "message": f.message,
                            **({"repaired": True} if f.restored else {})})
        return out

    def doctor(self, repair: bool = False) -> DoctorReport:
        rep = DoctorReport(self.name)
        rep.problems += self._governance_problems(repair)
        try:
            doc = self.doc()
        except StateFileError as exc:
            rep.problems.append({"id": "parse", "message": str(exc), "line": exc.line})
            return rep
        status = self.seal_status(doc)
        if status == "broken":
            rep.problems.append({"id": "seal", "message": "the seal is broken: machine-owned "
                                 "fields were edited by hand; the ticket is treated as Locked"})
        elif status == "missing":
            rep.problems.append({"id": "seal-missing", "message": "the file has never been "
                                 "sealed by mlgate (hand-written); it is treated as Locked"})
        if not doc.sections_in_order:
            rep.problems.append({"id": "order", "message": "the workflow-state.md sections "
                                 "are not in the template order (rule 10)"})
        snap = doc.snapshot
        if snap.permission == "Unlocked" and snap.current_stage != C.UNLOCK_STAGE:
            rep.problems.append({"id": "unlocked-outside-4", "message": "Code Edit Permission "
                                 f"is Unlocked in stage {snap.current_stage} (rule 34)"})
        ids = [t.id for t in doc.transitions]
        want = [f"T-{i:03d}" for i in range(1, len(ids) + 1)]
        if ids != want:
            rep.problems.append({"id": "log", "message": f"Transition Log ids {ids} are not "
                                 "contiguous from T-001 (rule 18)"})
        if ids and snap.last_transition_id != ids[-1]:
            rep.problems.append({"id": "last-id", "message": "Last Transition ID "
                                 f"{snap.last_transition_id} != last log row {ids[-1]}"})
        logged = _logged_stage(doc)
        if snap.current_stage is not None and logged is not None and \
                snap.current_stage != logged:
            rep.problems.append({"id": "stage-log", "message": "Current Stage is "
                                 f"{snap.current_stage}, but the Transition Log ends in stage "
                                 f"{logged} ({ids[-1] if ids else 'no transition yet'}); only "
                                 "mlgate's moves change the stage"})
        if self.ws.git and self.loc.own_worktree is False and doc.bootstrap.get(
                "Ticket Branch", "").startswith(self.ws.config.branch_prefix):
            rep.problems.append({"id": "worktree", "message": "the ticket's worktree/branch "
                                 f"{doc.bootstrap.get('Ticket Branch')} was not found"})
        from mlgate.evidence import results as ev

        for n in self.ws.config.handlers_for(snap.current_stage or 0):
            res = ev.latest(self.folder, snap.current_stage or 0, n)
            ok, why = ev.freshness(res, self.head())
            if not ok and res is not None:
                rep.problems.append({"id": f"evidence-{n}", "message": why})
        self._doctor_registry(rep)
        if repair and status in ("broken", "missing"):
            with self._locked_doc(allow_broken=True) as (doc2, key):
                if status == "broken":
                    action = "Re-sealed by `mlgate doctor --repair`; permission Locked"
                    # the stage follows the (append-only) Transition Log, not a hand edit
                    logged2 = _logged_stage(doc2)
                    if logged2 is not None and doc2.snapshot.current_stage != logged2:
                        from mlgate.engine import next_on_path

                        doc2.set_snapshot(current_stage=logged2,
                                          next_stage=next_on_path(logged2, doc2))
                        action += f"; Current Stage restored to {logged2} from the Transition Log"
                    if doc2.transitions and \
                            doc2.snapshot.last_transition_id != doc2.transitions[-1].id:
                        doc2.set_snapshot(last_transition_id=doc2.transitions[-1].id)
                    if doc2.snapshot.permission == "Unlocked":
                        doc2.set_snapshot(permission="Locked")
                    from mlgate.engine import sync_pre_edit

                    sync_pre_edit(doc2)
                    doc2.append_violation(ViolationRow(
                        date=today(), id=doc2.next_violation_id(),
                        violation="workflow-state.md machine-owned fields edited by hand "
                                  "(seal broken)",
                        stage=doc2.snapshot.current_stage, action=action, cleared=False))
                self._write(doc2, key)
            rep.repaired.append("re-sealed" + (" and recorded a process violation"
                                               if status == "broken" else ""))
            for p in rep.problems:
                if p["id"] in ("seal", "seal-missing") or (
                        status == "broken" and p["id"] in ("stage-log", "last-id",
                                                          "unlocked-outside-4")):
                    p["repaired"] = True
        return rep

    def _doctor_registry(self, rep: DoctorReport) -> None:
        """Evidence files mlgate did not write (or that changed since): each is a problem,
        and a Process Violation is recorded for it (once per file and content), which blocks
        every forward move until a person clears it."""
        findings = self.evidence_registry(write=False).verify(self.folder)
        for f in findings:
            rep.problems.append({"id": f"evidence-{f.kind}", "message": f.message,
                                 "path": f.path})
        bad = [f for f in findings if f.violation]
        if not bad or self.archived or self.seal_status() == "broken":
            return  # a broken seal is repaired first (`doctor --repair`), then recorded
        from mlgate.evidence.registry import digest

        with self._locked_doc() as (doc, key):
            known = {v.violation for v in doc.violations}
            added = []
            for f in bad:
                d = (digest(self.folder / f.path) or "deleted").split(":")[-1][:12]
                text = (f"{f.path}: {f.kind} evidence (content {d}); gates count only "
                        "evidence mlgate wrote")
                if text in known:
                    continue
                doc.append_violation(ViolationRow(
                    date=today(), id=doc.next_violation_id(), violation=text,
                    stage=doc.snapshot.current_stage,
                    action="recorded by `mlgate doctor`; not counted as evidence",
                    cleared=False))
                added.append(f.path)
            if added:
                self._write(doc, key)
                rep.repaired.append("recorded a process violation for " + ", ".join(added))

    def clear_violations(self) -> list[str]:
        """Mark the open process violations cleared. A person's decision: refused for
        agent-run code (the CLI also asks the person to confirm at the terminal)."""
        human.require_person("mlgate doctor --clear-violations")
        with self._locked_doc() as (doc, key):
            ids = [v.id for v in doc.violations if v.cleared is False]
            for vid in ids:
                doc.clear_violation(vid)
            self._write(doc, key)
        return ids
