"""Stage 4 gate: ``implementation.md`` and the code it describes (workflow-sources §5.9).

Rules checked: 44 (Last Updated is a date), 66 (sections present and filled), 67 (status
``Ready For Training``), 68 (Stage 4 Entry Checklist), 69 (Change Inventory rows: ids,
actions, all ``Done``, every plan work item covered), 70 (every source file changed since the
stage-4 entry is listed), 71 (the 5 readiness rows; smoke test ``Pass``; evidence for every
``Pass``), 72 (Stage 5 Handoff fields), 73 (a dated Progress Log entry), and the configured
stage-4 handlers' fresh Pass evidence.
"""
from __future__ import annotations

import re
from pathlib import Path

from mlgate import artifacts as A
from mlgate.gates.changes import _handlers, _registered, _source_changes
from mlgate.gates.core import (GateContext, Problem, _base, _fields, _Gate, _has_rows, _ids,
                               _load, _q, _what)


def gate(ctx: GateContext, g: _Gate, strict: bool) -> None:
    art = _base(ctx, g, strict, ("Upstream Artifacts", "Execution Plan",
                                 "Config, Logging, And Artifact Paths"))
    if art is None:
        return
    es = art.section("Stage 4 Entry Checklist")
    if es is not None:
        problems = [(f.line, f"Stage 4 Entry Checklist item '{f.key}' "
                             f"{_what(f.value, 'is not answered')}; answer Yes once it holds")
                    for f in es.fields if not A.is_affirmative(f.value)]
        g.add("entry-checklist.items", problems, "Stage 4 Entry Checklist affirmative", 68)

    view = art.table("Change Inventory")
    rows = A.changes(art)
    if art.section("Change Inventory") is not None:
        if _has_rows(g, "changes.rows", art, "Change Inventory", view, rows,
                     "Change Inventory has no changes; add one C-NNN row per changed file group",
                     f"{len(rows)} change(s)", 69):
            ids, _ = _ids(rows, "change", "C-001")
            actions, done = [], []
            for c in rows:
                label = c.id or c.raw_id or "(no id)"
                if c.action not in A.CHANGE_TYPES:
                    actions.append((c.line, f"{label}: Action {_what(c.action)}; use Create, "
                                            f"Modify or Remove"))
                if c.status != "Done":
                    done.append((c.line, f"{label}: Status {_what(c.status)}; every change "
                                         f"must be Done before training"))
            g.add("changes.id", ids, "change ids valid and unique", 69)
            g.add("changes.action", actions, "every action valid", 69)
            g.add("changes.done", done, "every change Done", 69)
        _work_item_coverage(ctx, g, art, rows)
        _unlisted_files(ctx, g, art, rows)

    _readiness(ctx, g, art)
    _fields(g, "handoff.fields", art, "Stage 5 Handoff",
            ("Planned runs", "Required config identifiers", "Required seeds", "Required metrics",
             "Required artifacts to retain"), 72)
    ps = art.section("Progress Log")
    if ps is not None:
        entries = A.progress_entries(art)
        g.add("progress.dated", [] if entries else
              [(ps.line, "the Progress Log has no dated entry; add lines like "
                         "`- 2026-05-01: implemented the augmentation`")],
              f"{len(entries)} progress entr(y/ies)", 73)
    _handlers(ctx, g, 4)
    _registered(ctx, g, 4, runs=False)


def _work_item_coverage(ctx: GateContext, g: _Gate, art: A.Artifact,
                        rows: list[A.ChangeRow]) -> None:
    plan_name = g.domain.plan
    plan, err = _load(ctx, plan_name)
    if plan is None:
        g.add("changes.work-items", [(None, f"{plan_name} {err or 'does not exist'}; "
                                            f"the work items cannot be traced")], "", 69)
        return
    problems = []
    line = art.line_of("Change Inventory")
    for w in A.work_items(plan):
        if w.id is None:
            continue
        covered = any(w.id in A.find_ids(c.text, "W") for c in rows) or any(
            A.path_covers(a, b) or A.path_covers(b, a)
            for c in rows for a in c.files for b in w.files)
        if not covered:
            files = ", ".join(w.files) or "no files"
            problems.append((line, f"work item {w.id} of the plan ({plan_name}:{w.line}; "
                                   f"{files}) is covered by no change row; add a row that names "
                                   f"{w.id} or lists its files"))
    g.add("changes.work-items", problems, "every plan work item is covered by a change", 69)


def _unlisted_files(ctx: GateContext, g: _Gate, art: A.Artifact,
                    rows: list[A.ChangeRow]) -> None:
    if ctx.git is None:
        g.add("changes.unlisted-files", [], "not checked: no git repository", 70)
        return
    since = ctx.stage_entry_commits.get(4)
    what = "the stage-4 entry"
    if not since and ctx.base_ref:
        since = ctx.git.merge_base(ctx.base_ref, "HEAD") or ctx.base_ref
        what = f"the base {ctx.base_ref}"
    if not since:
        g.add("changes.unlisted-files", [], "not checked: no stage-4 entry commit recorded", 70)
        return
    listed = [p for c in rows for p in c.files]
    changed = _source_changes(ctx, since)
    missing = [f for f in changed if not any(A.path_covers(p, f) for p in listed)]
    line = art.line_of("Change Inventory")
    g.add("changes.unlisted-files",
          [(line, f"{f} changed since {what} ({since[:12]}) but no Change Inventory row lists "
                  f"it; add it to a row's 'Files / Configs / Scripts'") for f in missing],
          f"all {len(changed)} changed source file(s) listed", 70)


def _readiness(ctx: GateContext, g: _Gate, art: A.Artifact) -> None:
    if art.section("Readiness Checks Before Stage 5") is None:
        return
    checks = A.readiness_checks(art)
    sec_line = art.line_of("Readiness Checks Before Stage 5")
    missing, results, evid = [], [], []
    smoke_problem: list[Problem] = []
    wanted = g.domain.fixed_rows("readiness_checks")
    smoke = g.domain.smoke_handler
    for label in wanted:
        row = A.lookup_label(checks, label)
        if row is None:
            missing.append((sec_line, f"readiness row '{label}' is missing; restore it from "
                                      f"the template"))
            if label == A.SMOKE_CHECK:
                smoke_problem.append((sec_line, f"'{label}' row is missing"))
            continue
        if row.result is None:
            results.append((row.line, f"readiness check '{label}' has no result; write Pass, "
                                      f"Fail or N/A"))
        elif row.result not in A.READINESS_RESULTS:
            results.append((row.line, f"readiness check '{label}' has result {_q(row.result)}; "
                                      f"allowed: Pass, Fail, N/A"))
        elif row.result == "Fail":
            results.append((row.line, f"readiness check '{label}' is Fail; fix it before "
                                      f"training"))
        if label == A.SMOKE_CHECK and row.result != "Pass":
            what = _what(row.result, "has no result")
            smoke_problem.append((row.line, f"'{label}' {what}; it must be Pass (run `mlgate "
                                            f"run {smoke}` or your smoke check)"))
        if row.result == "Pass":
            if row.evidence is None:
                evid.append((row.line, f"readiness check '{label}' is Pass without evidence; "
                                       f"name the command, log or evidence file"))
            else:
                for ref in re.findall(r"evidence/[\w./-]+\.json", row.evidence):
                    if not (Path(ctx.folder) / ref).is_file():
                        evid.append((row.line, f"readiness check '{label}' cites {ref}, which "
                                               f"does not exist in the ticket folder"))
                    elif ctx.registry is not None:
                        finding = ctx.registry.check(ctx.folder, ref)
                        if finding is not None:
                            evid.append((row.line, f"readiness check '{label}' cites "
                                                   f"{ref}, which does not count: "
                                                   f"{finding.message}"))
    g.add("readiness.rows", missing, f"all {len(wanted)} readiness rows present", 71)
    g.add("readiness.result", results, "no readiness check failed", 71)
    g.add("readiness.smoke", smoke_problem, "smoke test passed", 71)
    g.add("readiness.evidence", evid, "every Pass has evidence", 71)

