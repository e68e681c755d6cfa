"""A round's life: ``mlgate round new`` (sibling tickets from one base), ``discard``, and
``merge`` (the winners in, the losers out, kept as tags).

**Starting.** ``new NAME --tickets a,b,c`` records the base branch's head and the current
baseline, and creates the tickets that do not exist yet from that head (a ticket that exists
must have branched from it). A round cannot start while another is open, nor after a merged
round until a fresh baseline was measured on the merged code (``mlgate baseline run``): the
current baseline's commit must contain the round's merge.

**Merging** (a human decision: ``--by`` names the person). Refused unless every ticket is
finished or discarded, and each winner passed stage 5 with ``Pass`` (not ``Refuted``) and its
code review (stage 6). Then, all or nothing:

1. the main checkout must be on the base branch with no uncommitted change (``rounds.yaml``
   and ``baselines.yaml`` aside), and no loser worktree may hold uncommitted work outside
   its ticket folder (what mlgate left in the ticket folder is committed on the branch
   before it is tagged);
2. in a scratch worktree at the base branch's head, each winner in turn is checked with
   ``git merge --no-commit --no-ff`` and ``git merge --abort``, then merged with ``--no-ff``
   (so the next winner is checked against the ones before it); a conflict stops everything
   here, naming the winner and the files, with nothing changed;
3. the base branch is fast-forwarded to that result: its history gets one ``--no-ff`` merge
   commit per winner (never a reset, never a force);
4. each loser's branch is kept as the tag ``mlgate/round/<round>/<ticket>``, its ignored run
   outputs are moved under ``<git common dir>/mlgate/rounds/``, and its worktree and branch
   are removed;
5. ``rounds.yaml`` records the winners, the merge commits, the losers' tags, who and when.

The winners' worktrees stay: they finish docs sync and handoff, and ``mlgate archive
--finalize`` merges their remaining ticket changes later.
"""
from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

from mlgate import constants as C
from mlgate import human
from mlgate import git as G
from mlgate import tickets as T
from mlgate.errors import GitError, Refused, UsageError
from mlgate.rounds import compare as CMP
from mlgate.rounds import store
from mlgate.util import today

OWN_FILES = (store.DEFAULT_FILE, "baselines.yaml")


def _refused(action: str, reason: str) -> Refused:
    """A refusal (exit 1) of ``mlgate <action>``; nothing was changed."""
    return Refused(f"mlgate {action} refused: {reason}", action=action, reason=reason)


def _files(ws: Any) -> tuple[str, str]:
    cfg = ws.config
    return cfg.round_file, cfg.baseline_file


def load(ws: Any) -> store.Rounds:
    return store.load(ws.root, _files(ws)[0])


def pick(rounds: store.Rounds, name: str | None) -> store.Round:
    """The round called ``name``; without a name, the only open round, else the newest."""
    if name is not None:
        rnd = rounds.get(name)
        if rnd is None:
            raise UsageError(f"no round {name!r} in {rounds.path.name} (rounds: "
                             f"{', '.join(rounds.rounds) or 'none'})\nhint: mlgate round new "
                             f"{name} --tickets a,b,c", round=name)
        return rnd
    if not rounds.rounds:
        raise UsageError(f"no rounds in {rounds.path.name} yet\nhint: mlgate round new NAME "
                         f"--tickets a,b,c")
    opened = rounds.open()
    if len(opened) == 1:
        return opened[0]
    return list(rounds.rounds.values())[-1]


def fresh_baseline_missing(ws: Any, rounds: store.Rounds) -> str | None:
    """Why the next round cannot start yet (``None`` when it can): the last merged round
    needs a baseline measured on the merged code."""
    from mlgate.runs import baselines as B

    last = rounds.last_merged()
    if last is None or not last.merged:
        return None
    head = last.merged.get("head")
    cur = B.load(ws.root, _files(ws)[1]).current
    if cur is not None and cur.commit and cur.run and head and \
            G.commit_exists(ws.root, cur.commit) and G.is_ancestor(ws.root, head, cur.commit):
        return None
    return (f"round {last.name} merged {', '.join(last.merged.get('winners') or [])} into "
            f"{last.base_branch} at {str(head)[:12]}, and no baseline was measured on that "
            f"code since; run `mlgate baseline run` on the merged {last.base_branch} first")


def new_round(ws: Any, name: str, ticket_names: list[str], base: str | None = None
              ) -> tuple[store.Round, list[str]]:
    """Start round ``name`` with ``ticket_names``; returns the round and the tickets it
    created."""
    from mlgate.runs import baselines as B

    T.validate_name(name)
    if not ws.git:
        raise _refused("round new", "rounds merge ticket branches: they "
                                   "need a git repository (this workspace is Non-Git)")
    names = [n.strip() for n in ticket_names if n.strip()]
    if len(names) < 2 or len(set(names)) != len(names):
        raise UsageError(f"a round needs at least two distinct tickets, got {names}",
                         tickets=names)
    rounds = load(ws)
    if rounds.get(name) is not None:
        raise UsageError(f"round {name!r} exists already ({rounds.path.name})", round=name)
    if rounds.open():
        other = rounds.open()[0]
        raise _refused("round new", f"round {other.name} is still open; "
                                   f"merge its winners (`mlgate round merge {other.name} ...`) "
                                   f"before the next round starts")
    why = fresh_baseline_missing(ws, rounds)
    if why:
        raise _refused("round new", why)
    main = G.main_worktree(ws.root)
    branch = base or G.current_branch(main) or "main"
    head = G.rev_parse(main, f"refs/heads/{branch}")
    if head is None:
        raise GitError(["rev-parse", branch], 1, f"base branch {branch!r} not found",
                       hint="give an existing branch with --base")
    remotes = G.remotes(main)
    remote = "origin" if "origin" in remotes else (remotes[0] if remotes else None)
    if remote and G.ref_exists(main, f"refs/remotes/{remote}/{branch}"):
        G.fetch(main, remote)
        upstream = G.rev_parse(main, f"refs/remotes/{remote}/{branch}")
        if upstream != head:  # new tickets branch from the remote's branch
            raise _refused("round new", f"{branch} ({head[:12]}) and "
                                       f"{remote}/{branch} ({str(upstream)[:12]}) differ; "
                                       f"tickets branch from {remote}/{branch}: push or pull "
                                       f"{branch} first, so that every ticket of the round "
                                       f"starts from the same code")
    for n in names:
        T.validate_name(n)
    existing = {loc.name: loc for loc in T.find_tickets(ws.root, ws.branch_prefix)}
    for n in names:
        loc = existing.get(n)
        if loc is None:
            continue
        if loc.location == C.DONE:
            raise UsageError(f"ticket {n} is archived; a round groups tickets in progress",
                             ticket=n)
        other = rounds.of_ticket(n)
        if other is not None:
            raise UsageError(f"ticket {n} is already in round {other.name}", ticket=n)
        tb = f"{ws.branch_prefix}{n}"
        start = G.merge_base(ws.root, tb, branch) if G.branch_exists(ws.root, tb) else None
        if start != head:
            raise UsageError(f"ticket {n} did not start from {branch} at {head[:12]} (it "
                             f"branched at {str(start)[:12]}); the tickets of a round start "
                             f"from the same baseline: merge {branch} into {tb} first, or "
                             f"leave {n} out", ticket=n)
    created = []
    for n in names:
        if n not in existing:
            ws.new_ticket(n, base=branch)
            created.append(n)
    cur = B.load(ws.root, _files(ws)[1]).current
    rnd = store.Round(name=name, created=today(), base_branch=branch, base_commit=head,
                      baseline=cur.id if cur is not None else None, tickets=names)
    rounds = load(ws)  # re-read: creating tickets took time
    rounds.rounds[name] = rnd
    rounds.save()
    return rnd, created


def add_ticket(ws: Any, name: str, ticket: str) -> store.Round:
    """Tag an existing ticket with an open round (``mlgate new NAME --round R``)."""
    rounds = load(ws)
    rnd = pick(rounds, name)
    if rnd.status != "open":
        raise _refused("round add", f"round {rnd.name} is {rnd.status}")
    if ticket in rnd.tickets:
        return rnd
    tb = f"{ws.branch_prefix}{ticket}"
    if G.branch_exists(ws.root, tb) and rnd.base_commit and \
            G.merge_base(ws.root, tb, rnd.base_commit) != rnd.base_commit:
        raise UsageError(f"ticket {ticket} did not start from the round's base "
                         f"{rnd.base_commit[:12]}", ticket=ticket)
    rnd.tickets.append(ticket)
    rounds.save()
    return rnd


def discard(ws: Any, name: str | None, ticket: str, reason: str) -> store.Round:
    rounds = load(ws)
    rnd = pick(rounds, name)
    if rnd.status != "open":
        raise _refused("round discard", f"round {rnd.name} is {rnd.status}")
    if ticket not in rnd.tickets:
        raise UsageError(f"{ticket} is not in round {rnd.name} ({', '.join(rnd.tickets)})",
                         ticket=ticket)
    if not reason.strip():
        raise UsageError("--reason says why the ticket is discarded; it is empty")
    rnd.discarded[ticket] = reason.strip()
    rounds.save()
    return rnd


@contextlib.contextmanager
def scratch_worktree(ws: Any, ref: str, label: str) -> Iterator[Path]:
    """A detached worktree at ``ref`` under the git common dir, removed afterwards."""
    base = T.key_dir(ws.root) / "scratch"
    base.mkdir(parents=True, exist_ok=True)
    path = base / f"{label}-{os.getpid()}"
    if path.exists():
        with contextlib.suppress(GitError):
            G.remove_worktree(ws.root, path, force=True)
        shutil.rmtree(path, ignore_errors=True)
        G.prune_worktrees(ws.root)
    G.add_detached(ws.root, path, ref)
    try:
        yield path
    finally:
        with contextlib.suppress(GitError):
            G.remove_worktree(ws.root, path, force=True)
        shutil.rmtree(path, ignore_errors=True)
        G.prune_worktrees(ws.root)


def _dirty_outside_own(path: Path) -> list[str]:
    return [f for f in G.dirty_files(path) if f not in OWN_FILES]


def merge(ws: Any, name: str | None, winners: list[str], by: str,
          confirm: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Merge the winners of a round (see the module docs); returns what was done. A person's
    decision: refused for agent-run code (:func:`mlgate.human.require_person`). ``confirm``
    (the CLI's prompt at the person's terminal) is called with the round's name once every
    check has passed and the merges are known not to conflict, before anything is written."""
    human.require_person("mlgate round merge")
    if not by.strip():
        raise UsageError("--by names the person who chose the winners; it is empty")
    rounds = load(ws)
    rnd = pick(rounds, name)
    if rnd.status != "open":
        raise _refused("round merge", f"round {rnd.name} is {rnd.status}")
    if not winners:
        raise UsageError("name the winner(s): mlgate round merge ROUND TICKET... --by NAME")
    unknown = [w for w in winners if w not in rnd.tickets]
    if unknown:
        raise UsageError(f"{', '.join(unknown)} not in round {rnd.name} "
                         f"({', '.join(rnd.tickets)})", tickets=unknown)
    views = {v.name: v for v in CMP.view_tickets(ws.root, rnd, ws.branch_prefix)}
    active = [v for v in views.values() if v.state == "active"]
    if active:
        raise _refused("round merge", "winners are chosen only once every "
                                   "ticket of the round is finished or discarded; waiting for "
                                   + "; ".join(f"{v.name} ({v.why})" for v in active))
    for w in winners:
        v = views[w]
        if v.state == "discarded":
            raise _refused("round merge", f"{w} was discarded ({v.why})")
        if v.state == "missing":
            raise _refused("round merge", f"{w}: {v.why}")
        if v.outcome != "Pass":
            raise _refused("round merge", f"{w} closed stage 5 with "
                                       f"{v.outcome or 'no decision'}, not Pass; only a "
                                       f"ticket whose criteria passed can win")
        if v.review != "Pass":
            raise _refused("round merge", f"{w} has not passed its code "
                                       f"review (stage 6 gate {v.review or 'not started'}); "
                                       f"a winner is merged only after review")
        if not v.evidence:
            raise _refused("round merge", f"{w} has no completed run")
    main = G.main_worktree(ws.root)
    if G.current_branch(main) != rnd.base_branch:
        raise GitError(["merge"], 1, f"the main checkout {main} is not on {rnd.base_branch}",
                       hint=f"`git -C {main} switch {rnd.base_branch}`, then merge again; "
                            f"nothing was changed")
    dirty = _dirty_outside_own(main)
    if dirty:
        raise GitError(["merge"], 1, f"the main checkout {main} has uncommitted changes: "
                       f"{', '.join(dirty[:10])}", hint="commit or stash them, then merge "
                                                        "again; nothing was changed")
    losers = [n for n in rnd.tickets if n not in winners]
    for n in losers:
        v = views[n]
        if v.state == "missing" or v.folder is None:
            continue
        checkout = v.folder.parents[2]
        if checkout != main:
            own = f"{C.TICKETS_DIR}/"
            left = [f for f in G.dirty_files(checkout, untracked=True)
                    if not f.startswith(own)]
            if left:
                raise GitError(["worktree", "remove", str(checkout)], 1,
                               f"the worktree of {n} has uncommitted work: "
                               f"{', '.join(left[:10])}",
                               hint=f"commit it on {ws.branch_prefix}{n} (it is kept in the "
                                    f"tag) or delete it, then merge again; nothing was changed")
    branches = {w: f"{ws.branch_prefix}{w}" for w in winners}
    head = G.rev_parse(main, f"refs/heads/{rnd.base_branch}")
    assert head is not None
    with scratch_worktree(ws, head, f"round-{rnd.name}") as scratch:
        for w in winners:
            files = G.try_merge(scratch, branches[w])
            if files is not None:
                err = _refused("round merge", (
                    f"merging winner {w} into {rnd.base_branch}"
                    + (f" (after {', '.join(winners[:winners.index(w)])})"
                       if winners.index(w) else "") + " would conflict"
                    + (f" in: {', '.join(files[:10])}" if files else "")
                    + f" (git merge --no-commit --no-ff {branches[w]}, aborted)\nhint: merge "
                    f"{rnd.base_branch} (and the winners before it) into {branches[w]} and "
                    f"resolve the conflicts there, then merge the round again; nothing was "
                    f"changed"))
                err.data["conflicts"] = files
                raise err
            G.merge_no_ff(scratch, branches[w], f"Merge {branches[w]}: winner of round "
                                                f"{rnd.name} (chosen by {by.strip()})")
        result = G.head(scratch)
    assert result is not None
    if confirm is not None:
        confirm(rnd.name)
    new_head = G.merge_ff_only(main, result)
    commits = G.first_parent_merges(main, head, new_head)[::-1]
    tags: dict[str, str | None] = {}
    rnd.status = "merged"
    rnd.merged = {"date": today(), "by": by.strip(), "winners": list(winners),
                  "commits": commits, "head": new_head, "losers": tags}
    try:
        for n in losers:
            tags[n] = _retire(ws, rnd, n, views[n], main)
    except GitError as exc:  # the merge is done: record it, and say what is left
        left = [n for n in losers if n not in tags]
        rounds.save()
        raise GitError(exc.cmd, exc.returncode, exc.stderr, hint=(
            f"the winners are merged and recorded; retiring {', '.join(left)} stopped "
            f"here: fix the cause, then keep each branch as a tag and remove it by hand "
            f"(`git tag -a mlgate/round/{rnd.name}/NAME codex/NAME`, `git worktree remove`, "
            f"`git branch -D`)")) from None
    finally:
        G.prune_worktrees(main)
    rounds.save()
    return {"round": rnd.name, "winners": winners, "commits": commits, "head": new_head,
            "losers": tags, "next": f"measure a fresh baseline on the merged "
                                    f"{rnd.base_branch}: `mlgate baseline run`"}


def _retire(ws: Any, rnd: store.Round, name: str, v: CMP.TicketView, main: Path) -> str | None:
    """Keep a loser's branch as a tag; remove its worktree and branch."""
    branch = f"{ws.branch_prefix}{name}"
    if not G.branch_exists(main, branch):
        return None
    tag = f"mlgate/round/{rnd.name}/{name}"
    why = rnd.discarded.get(name)
    checkout = v.folder.parents[2] if v.folder is not None else None
    if checkout is not None and checkout != main and G.dirty_files(checkout, untracked=True):
        # the ticket folder as mlgate left it (state file, scaffolds, run records): kept too
        G.add(checkout, [f"{C.TICKETS_DIR}/"])
        G.commit(checkout, f"mlgate: ticket {name} as it stood when round {rnd.name} was "
                           f"merged", no_verify=True)
    G.tag(main, tag, branch, f"round {rnd.name}: {name} "
                             + (f"discarded ({why})" if why else "not chosen as a winner"))
    if checkout is not None and checkout != main:
        # ignored run outputs (checkpoints, unsynced wandb runs) would be deleted with the
        # worktree: keep them under the git common dir
        keep = T.key_dir(ws.root) / "rounds" / rnd.name / name
        folder = f"{C.TICKETS_DIR}/{C.IN_PROGRESS}/{name}"
        for rel in G.ignored_files(checkout, folder):
            target = keep / Path(rel).relative_to(folder)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(checkout / rel), str(target))
        G.remove_worktree(main, checkout)
    # retired: the ticket governs its branch and worktree no more (the ref hook would refuse
    # deleting a governed branch, and the tripwire would miss its worktree); the tag keeps it
    from mlgate.lock import governance

    governance.update(ws.gdir, name, status=governance.FINALIZED, branch=None,
                      worktree=os.path.realpath(main))
    G.force_delete_branch(main, branch)
    return tag
