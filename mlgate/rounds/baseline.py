"""The baseline after a round: measure it, check it, roll it back.

``mlgate baseline run`` trains the base branch as it is (the main checkout, clean) once per
seed, into ``baselines/runs/RUN-NNN`` at the workspace root, and makes the runs the new
baseline: the mean of each metric and its per-seed values, with the commit they ran on. It
then compares the new baseline with the one it replaced (:mod:`mlgate.runs.regression`).
This is the fresh baseline a merged round waits for before the next round.

``mlgate baseline check`` compares the current baseline with the previous one.

``mlgate baseline rollback --by NAME`` (a human decision) undoes a baseline that regressed:

1. the merges that brought the regression in are found on the base branch's first-parent
   line between the two baselines' commits, and reverted newest first with ``git revert -m
   1`` (one commit each) -- in a scratch worktree first, so that a conflict changes nothing,
   then the branch is fast-forwarded to the reverts; never ``git reset --hard``;
2. the previous baseline's metrics become current again (a new entry, ``restored_from``),
   and the rolled-back entry goes to the history with the reason, the regression table and
   the reverted merges;
3. a round whose merge was reverted is marked ``rolled-back``.
"""
from __future__ import annotations

from typing import Any, Callable

from mlgate import git as G
from mlgate.errors import GitError, UsageError
from mlgate.human import require_person
from mlgate.rounds import lifecycle as L
from mlgate.rounds.lifecycle import _refused
from mlgate.runs import baselines as B
from mlgate.runs import regression as R

RUNS_FOLDER = "baselines"  # <root>/baselines/runs/RUN-NNN


def _load(ws: Any) -> B.Baselines:
    return B.load(ws.root, ws.config.baseline_file)


def check(ws: Any, against: int | None = None) -> tuple[B.Baselines, B.BaselineEntry,
                                                         B.BaselineEntry, list[R.Row]]:
    """The current baseline against ``against`` (default: the one it replaced)."""
    b = _load(ws)
    cur = b.current
    if cur is None:
        raise UsageError(f"{b.path}: there is no baseline to check\nhint: mlgate baseline run")
    old_id = against if against is not None else cur.previous
    old = b.entry(old_id) if old_id is not None else None
    if old is None or old is cur:
        raise UsageError(f"{b.path}: baseline {cur.id} has no earlier baseline to compare "
                         f"with" + (f" (no baseline {against})" if against is not None else ""),
                         baseline=cur.id)
    return b, old, cur, R.compare(b, old, cur, ws.config.stats.confidence)


def run(ws: Any, seeds: list[int] | None = None, note: str | None = None,
        progress: Any = None) -> dict[str, Any]:
    """Measure the base branch: one run per seed, then the new baseline (see module docs)."""
    from mlgate.runs import watch

    main = G.main_worktree(ws.root) if ws.git else ws.root
    commit = G.head(main) if ws.git else None
    if ws.git:
        dirty = L._dirty_outside_own(main)
        if dirty:
            raise GitError(["status"], 1, f"the main checkout {main} has uncommitted changes "
                           f"({', '.join(dirty[:10])}): a baseline is measured on committed "
                           f"code", hint="commit or stash them, then run again")
    train = ws.config.handler_options("train")
    if not train.get("command"):
        raise UsageError("train.command is not set in mlgate.yaml: the baseline runs it")
    chosen = list(seeds) if seeds else [train["seed"] + i for i in
                                        range(max(1, ws.config.stats.min_seeds))]
    folder = ws.root / RUNS_FOLDER
    folder.mkdir(exist_ok=True)
    wandb_cfg = ws.config.to_dict().get("wandb") or {}
    finished = []
    for seed in chosen:
        opts = dict(train, seed=seed)
        finished += watch.run_with_retries(folder, None, opts, main, commit, False, wandb_cfg,
                                           progress=progress)
    from mlgate.runs import closure

    records = {r.run: r for r in closure.load_runs(folder)}
    mine = [records[i.run] for i in finished if i.run in records]
    by_seed = {}
    for r in mine:
        if r.completed:
            by_seed[r.meta.get("seed")] = r
    failed = [r for r in mine if not r.completed and r.meta.get("seed") not in by_seed]
    if failed or not by_seed:
        raise _refused("baseline run", "the baseline runs did not all "
                                   "complete: " + ", ".join(
                                       f"{r.run} seed {r.meta.get('seed')} {r.failure_class}"
                                       for r in failed) + f"; see {folder}/runs/RUN-NNN/"
                                   "train.log; the baseline is unchanged (fix the base branch "
                                   "and run again before the next round)")
    b = _load(ws)
    dirs = [r.path for r in sorted(by_seed.values(), key=lambda r: r.number)]
    entry = b.promote_runs(dirs, ticket=None, commit=commit, per_seed=True,
                           note=note or f"baseline run on {G.current_branch(main) or 'HEAD'}"
                                        if ws.git else note or "baseline run")
    entry.ticket = None
    b.save()
    out: dict[str, Any] = {"baseline": entry.to_dict(), "runs": [r.run for r in mine]}
    prev = b.entry(entry.previous) if entry.previous is not None else None
    if prev is not None:
        rows = R.compare(b, prev, entry, ws.config.stats.confidence)
        out["check"] = {"against": prev.id, "rows": [r.to_dict() for r in rows],
                        "regressions": [r.metric for r in rows if r.regression]}
        out["check_text"] = R.table_text(rows, prev, entry)
    return out


def rollback(ws: Any, by: str, steps: int = 1, revert: bool = True,
             confirm: Callable[[], None] | None = None) -> dict[str, Any]:
    """Revert the promoting merges and restore the earlier baseline (see module docs). A
    person's decision: refused for agent-run code (:func:`mlgate.human.require_person`).
    ``confirm`` (the CLI's prompt at the person's terminal) is called once the rollback is
    known to be possible, before anything is written."""
    require_person("mlgate baseline rollback")
    if not by.strip():
        raise UsageError("--by names the person who decided the rollback; it is empty")
    b = _load(ws)
    cur = b.current
    if cur is None:
        raise UsageError(f"{b.path}: there is no baseline to roll back")
    target = cur
    for _ in range(steps):
        prev = b.entry(target.previous) if target.previous is not None else None
        if prev is None:
            raise UsageError(f"{b.path}: cannot roll back {steps} step(s) from baseline "
                             f"{cur.id}\nhint: mlgate baseline history", steps=steps)
        target = prev
    rows = R.compare(b, target, cur, ws.config.stats.confidence)
    reverted: list[dict[str, str]] = []
    if revert and ws.git:
        _check_revertable(ws, target, cur)
    if confirm is not None:
        confirm()
    if revert and ws.git:
        reverted = _revert_merges(ws, target, cur, by)
    restored = b.rollback(steps)
    gone = b.history[-1]  # the rolled-back entry, as rollback() pushed it
    gone.reverted = reverted
    gone.regression = [r.to_dict() for r in rows]
    gone.reason = (f"rolled back to baseline {target.id} by {by.strip()}: "
                   + (", ".join(r.metric for r in rows if r.regression) or "no metric")
                   + " regressed" + (f"; reverted {len(reverted)} merge(s)" if reverted
                                     else ""))
    restored.note = f"restored baseline {target.id} after the rollback of baseline {cur.id}"
    b.save()
    if reverted:
        rounds = L.load(ws)
        changed = False
        for rnd in rounds.rounds.values():
            commits = set((rnd.merged or {}).get("commits") or [])
            if rnd.status == "merged" and commits and commits <= {
                    r["merge"] for r in reverted}:
                rnd.status = "rolled-back"
                changed = True
        if changed:
            rounds.save()
    return {"restored": restored.to_dict(), "rolled_back": gone.to_dict(),
            "reverted": reverted, "table": R.table_text(rows, target, cur)}


def _check_revertable(ws: Any, target: B.BaselineEntry, cur: B.BaselineEntry) -> None:
    """The merges between the two baselines can be found (else a refusal, nothing done)."""
    main = G.main_worktree(ws.root)
    if not (target.commit and cur.commit):
        raise _refused("baseline rollback", "the baselines do not record "
                                   "the commits they ran on, so the merges between them "
                                   "cannot be found; roll back the numbers only with "
                                   "--no-revert, and revert the code by hand")
    for sha in (target.commit, cur.commit):
        if not G.commit_exists(main, sha):
            raise GitError(["rev-parse", sha], 1, f"commit {sha} of a baseline is not in "
                           f"this repository", hint="fetch it, or roll back with --no-revert")


def _revert_merges(ws: Any, target: B.BaselineEntry, cur: B.BaselineEntry,
                   by: str) -> list[dict[str, str]]:
    _check_revertable(ws, target, cur)
    main = G.main_worktree(ws.root)
    assert target.commit and cur.commit
    head = G.head(main)
    assert head is not None
    if not G.is_ancestor(main, cur.commit, head):
        raise GitError(["merge-base"], 1, f"the main checkout's HEAD does not contain "
                       f"baseline {cur.id}'s commit {cur.commit[:12]}",
                       hint="switch to the branch the baseline was measured on")
    dirty = L._dirty_outside_own(main)
    if dirty:
        raise GitError(["revert"], 1, f"the main checkout {main} has uncommitted changes: "
                       f"{', '.join(dirty[:10])}", hint="commit or stash them first; nothing "
                                                        "was changed")
    merges = G.first_parent_merges(main, target.commit, cur.commit)
    if not merges:
        raise _refused("baseline rollback", f"no merge between baseline "
                                   f"{target.id} ({target.commit[:12]}) and baseline {cur.id} "
                                   f"({cur.commit[:12]}) to revert; roll back the numbers "
                                   f"only with --no-revert")
    note = (f"mlgate baseline rollback by {by.strip()}: baseline {cur.id} regressed against "
            f"baseline {target.id}")
    done = []
    with L.scratch_worktree(ws, head, "rollback") as scratch:
        for m in merges:  # newest first
            done.append({"merge": m, "revert": G.revert_merge(scratch, m, note),
                         "subject": G.subject(scratch, m)})
        result = G.head(scratch)
    assert result is not None
    G.merge_ff_only(main, result)
    return done
