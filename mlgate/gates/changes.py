"""Source changes and handler evidence, shared by the stages that look at the code:
stage 4 and 5 (the configured handlers' fresh Pass evidence, SPEC §9; rule 70's list of
changed files) and stage 6 (rule 91: no source change during the review).

Git facts come from ``ctx.git`` (:class:`~mlgate.gates.core.GitFacts`); files in the
ticket's own folder, and files ``ctx.source_filter`` rejects, never count as source.
"""
from __future__ import annotations

from pathlib import Path

from mlgate import constants as C
from mlgate.evidence import results as E
from mlgate.gates.core import GateContext, _Gate


def _ticket_prefix(ctx: GateContext) -> str | None:
    """The ticket folder relative to the repository root, with a trailing ``/``."""
    if ctx.git is None:
        return None
    try:
        rel = Path(ctx.folder).resolve().relative_to(Path(ctx.git.repo_root).resolve())
    except (ValueError, OSError):
        return None
    return rel.as_posix().rstrip("/") + "/"


def _source_changes(ctx: GateContext, since: str, include_dirty: bool = True) -> list[str]:
    """Source files (per ``ctx.source_filter``, never the ticket's own folder) changed since
    ``since`` (committed), plus uncommitted changes when ``include_dirty``."""
    assert ctx.git is not None
    mine = _ticket_prefix(ctx)
    files = list(ctx.git.changed_files(since))
    if include_dirty:
        files += ctx.git.dirty_files()
    out: list[str] = []
    seen: set[str] = set()
    for f in files:
        f = f.strip()
        if not f or f in seen:
            continue
        seen.add(f)
        if mine and (f + "/").startswith(mine):
            continue
        if not ctx.source_filter(f):
            continue
        out.append(f)
    return out


def _handlers(ctx: GateContext, g: _Gate, stage: int) -> None:
    """Each handler configured for ``stage`` has a Pass result for the current code, that
    mlgate registered (same digest, same handler options)."""
    head = ctx.git.head() if ctx.git else None
    for name in ctx.handlers.get(stage, []) or []:
        result = E.latest(ctx.folder, stage, name)
        ok, msg = E.freshness(result, head)
        unregistered = False
        if result is not None and result.evidence and ctx.registry is not None:
            from mlgate.evidence.registry import options_hash

            finding = ctx.registry.check(ctx.folder, result.evidence,
                                         options_hash(ctx.handler_options.get(name, {})),
                                         stale_options=True)
            if finding is not None:
                ok, msg, unregistered = False, finding.message, True
        if not ok and not unregistered and result is not None and result.passed and \
                not result.dirty and head is not None and result.commit:
            ok, msg = _same_code(ctx, result, head, msg)
        if ok and ctx.git is not None:
            dirty = _dirty_sources(ctx)
            if dirty:
                shown = ", ".join(dirty[:5]) + (" …" if len(dirty) > 5 else "")
                ok, msg = False, (f"{result.evidence if result else 'the evidence'} does not "
                                  f"cover uncommitted or untracked source files ({shown}): "
                                  "the commit cannot reproduce it; `git add` and commit them "
                                  "(or delete them), then")
        ev = (result.evidence if result is not None and result.evidence else
              f"{C.EVIDENCE_DIR}/{stage}-{name}-*.json")
        if ok:
            g.add(f"handler.{name}", [], f"handler '{name}': {msg}", None, file=ev)
        else:
            g.add(f"handler.{name}",
                  [(None, f"handler '{name}' has no Pass evidence for the current commit: "
                          + (msg if "`mlgate run" in msg else
                             f"{msg}{'' if msg.endswith('then') else ';'} run "
                             f"`mlgate run {name}`"))], "", None, file=ev)


def _dirty_sources(ctx: GateContext) -> list[str]:
    """Source files modified, staged, deleted or untracked (not ignored) in the checkout."""
    assert ctx.git is not None
    mine = _ticket_prefix(ctx)
    untracked = getattr(ctx.git, "untracked_files", None)
    files = list(ctx.git.dirty_files()) + (list(untracked()) if untracked else [])
    return [f for f in dict.fromkeys(p.strip() for p in files)
            if f and not (mine and (f + "/").startswith(mine)) and ctx.source_filter(f)
            and not f.startswith(C.CLIENT_FILES)]


def _registered(ctx: GateContext, g: _Gate, stage: int, runs: bool) -> None:
    """``evidence.registered``: every evidence file of the ticket folder (and, with ``runs``,
    every run record) is one mlgate wrote and registered, unchanged. Without a registry at
    hand (a CI clone) the check says it was not made."""
    if ctx.registry is None:
        g.add("evidence.registered", [], "not checked: no evidence registry here (it lives "
                                         "in the git common dir of the clone that ran the "
                                         "handlers)", None)
        return
    bad = [f for f in ctx.registry.verify(ctx.folder) if f.kind != "uncollected" and
           (runs or not f.path.startswith(f"{C.RUNS_DIR}/"))]
    for f in bad:  # one failing entry per file, the file named as the check's file
        prefix = f"{f.path}: "
        msg = f.message[len(prefix):] if f.message.startswith(prefix) else f.message
        g.add("evidence.registered", [(None, msg)], "", None, file=f.path)
    if not bad:
        g.add("evidence.registered", [], "every evidence file and run record was written "
                                         "and registered by mlgate", None)


def _same_code(ctx: GateContext, result: E.HandlerResult, head: str, stale_msg: str
               ) -> tuple[bool, str]:
    """Evidence taken at an older commit still counts when that commit is an ancestor of
    HEAD and no source file (per ``source_filter``; the ticket folder never counts) changed
    since: committing the ticket's own artifacts does not make evidence stale."""
    assert ctx.git is not None and result.commit
    git = ctx.git
    if not git.commit_exists(result.commit) or not git.is_ancestor(result.commit, head):
        return False, stale_msg + " (that commit is not on this branch)"
    changed = _source_changes(ctx, result.commit, include_dirty=False)
    if changed:
        shown = ", ".join(changed[:5]) + (" …" if len(changed) > 5 else "")
        return False, f"{stale_msg}; source files changed since: {shown}"
    return True, (f"{result.evidence or 'evidence'} (Pass at {result.commit[:12]}; only "
                  f"non-source files changed since)")
