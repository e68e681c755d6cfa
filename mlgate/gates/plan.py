"""Stage 3 gate: ``experiment-plan.md`` (workflow-sources §5.8, and the Monitoring table
of §5.14).

Rules checked: 44 (Last Updated is a date), 57 (sections present and filled), 58 (Artifact
Basis matches ``requirements.md``), 59 (main hypothesis), 60 (Experiment Matrix rows), 61
(Implementation Handoff work items), 62 (Reproducibility Plan), 63 (Data And Evaluation
Assumptions), 64 (every success criterion mapped to an experiment; baseline method), 65
(status ``Current``, Stage 4 Entry Checklist, ``Ready to unlock code edits: Yes``), 107 (the
Monitoring table: columns, rows, real formulas and sources, unique keys) and 108 (every
success-criterion metric is monitored).
"""
from __future__ import annotations

import re

from mlgate import artifacts as A
from mlgate.gates.core import (GateContext, _base, _fields, _Gate, _has_rows, _ids, _load,
                               _q, _what)
from mlgate.state.mdparse import strip_ticks

PLACEHOLDER_FORMULAS = frozenset({
    "see code", "see the code", "see source", "see script", "see implementation", "tbd",
    "tba", "todo", "to do", "fixme", "-", "--", "---", "—", "–", "n/a", "na", "none", "?",
    "??", "...", "…", "same", "same as above", "as above", "see above", "see below",
    "standard", "obvious", "the usual", "dsc", "x",
})
_BARE_NAME_RE = re.compile(r"^[a-z_][a-z0-9_.\-]*$")
_SOURCE_RE = re.compile(r"^[\w./\-]+\.py\s*:\s*[A-Za-z_][\w.]*\s*(?:\(\s*\))?$")
_BUILTIN_SOURCE_RE = re.compile(r"^(?:wandb|mlgate)\b", re.IGNORECASE)


def placeholder_formula(formula: str | None, key: str | None) -> bool:
    """Whether a Monitoring ``How it's calculated`` cell is a placeholder rather than a
    formula: ``see code``, ``TBD``, ``-``, a bare name (``DSC``, ``accuracy``) or the key."""
    if formula is None:
        return True
    f = A.norm_text(formula).strip(" .:;")
    if not f or f in PLACEHOLDER_FORMULAS:
        return True
    if f.startswith(("see ", "tbd", "todo", "refer to", "computed in", "calculated in",
                     "defined in", "logged by")):
        return True
    if key:
        k = A.norm_text(key)
        if f in (k, k.split("/")[-1], k.replace("/", " "), k.replace("/", "_")):
            return True
    return bool(_BARE_NAME_RE.match(f))


def valid_source(source: str | None) -> bool:
    """``path.py:func()`` (several separated by ``,``/``;``), or ``wandb``/``mlgate``."""
    if not source:
        return False
    s = strip_ticks(source)
    if _BUILTIN_SOURCE_RE.match(s.strip()):
        return True
    parts = [p.strip().strip("`") for p in re.split(r"[,;]", s) if p.strip()]
    return bool(parts) and all(_SOURCE_RE.match(p) for p in parts)


def gate(ctx: GateContext, g: _Gate, strict: bool) -> None:
    art = _base(ctx, g, strict, ("Problem Framing", "Baseline And Comparison Target",
                                 "Approach Summary", "Planned Model / Algorithm Changes",
                                 "Risks And Open Questions"))
    if art is None:
        return
    req, _ = _load(ctx, A.REQUIREMENTS)
    _basis(g, art, req)
    _fields(g, "framing.hypothesis", art, "Problem Framing", ("Main hypothesis",), 59)
    view = art.table("Experiment Matrix")
    if art.section("Experiment Matrix") is not None:
        _matrix(g, art, view, A.experiments(art))
    _handoff(g, art)
    _fields(g, "repro.fields", art, "Reproducibility Plan",
            ("Config source of truth", "Seed strategy", "Environment capture",
             "Artifact output locations", "Checkpoint naming", "Metric logging plan"), 62)
    _fields(g, "data.fields", art, "Data And Evaluation Assumptions",
            ("Train split", "Validation split", "Test split", "Data version or source assumptions",
             "Evaluation protocol", "Leakage checks"), 63,
            " (write `N/A` for a test split that does not exist)")
    _validation(g, art, req, view)
    _monitoring(ctx, g, art, req)
    _checklist(g, art)


def _basis(g: _Gate, art: A.Artifact, req: A.Artifact | None) -> None:
    """Rule 58: the plan's Requirements Status is that of ``requirements.md``."""
    s = art.section("Artifact Basis")
    if s is None:
        return
    f = A.find_field(s, "Requirements Status")
    value = f.value if f else None
    line = f.line if f else s.line
    rs = A.enum_value(value, ("Plan-ready", "Refined"))
    actual = req.status if req else None
    if rs is None:
        prob = [(line, f"Requirements Status {_what(value, 'is not set')}; it must be "
                       f"'Plan-ready' or 'Refined' and match requirements.md")]
    elif req is None:
        prob = [(line, "requirements.md does not exist, so Requirements Status cannot "
                       "be confirmed")]
    elif actual != rs:
        prob = [(line, f"Requirements Status is '{rs}' but requirements.md says "
                       f"{_q(actual) if actual else 'nothing'} (requirements.md:"
                       f"{req.status_line}); update the plan's basis")]
    else:
        prob = []
    g.add("basis.requirements-status", prob, f"Requirements Status {rs}", 58)


def _matrix(g: _Gate, art: A.Artifact, view: A.TableView | None, exps: list[A.ExperimentRow],
            section: str = "Experiment Matrix", noun: str = "experiment",
            example: str = "EXP-001",
            empty: str = "Experiment Matrix has no experiments; add EXP-001 with its purpose, "
                         "changed variables, fixed controls and expected outcome") -> None:
    """Rule 60: at least one row, valid unique ids, every cell of each row written."""
    if _has_rows(g, "matrix.rows", art, section, view, exps, empty,
                 f"{len(exps)} {noun}(s)", 60):
        ids, _ = _ids(exps, noun, example)
        cells = []
        for e in exps:
            for label, v in (("Purpose", e.purpose), ("Variable(s) Changed", e.variables),
                             ("Fixed Controls", e.controls),
                             ("Expected Outcome", e.expected), ("Priority", e.priority)):
                if v is None:
                    cells.append((e.line, f"{noun} {e.id or e.raw_id}: '{label}' is "
                                          f"empty"))
        g.add("matrix.id", ids, f"{noun} ids valid and unique", 60)
        g.add("matrix.cells", cells, f"{noun}s fully described", 60)


def _handoff(g: _Gate, art: A.Artifact) -> None:
    """Rule 61: the Implementation Handoff's work items, with files and a change type."""
    hview = art.table("Implementation Handoff")
    if art.section("Implementation Handoff") is None:
        return
    items = A.work_items(art)
    if _has_rows(g, "handoff.rows", art, "Implementation Handoff", hview, items,
                 "Implementation Handoff has no work items; add W-001 with the files it "
                 "touches", f"{len(items)} work item(s)", 61):
        ids, _ = _ids(items, "work item", "W-001")
        files, types = [], []
        for w in items:
            if not w.files:
                files.append((w.line, f"work item {w.id or w.raw_id}: 'Files / Configs / "
                                      f"Scripts' is empty; list the paths it changes"))
            if w.change_type not in A.CHANGE_TYPES:
                types.append((w.line, f"work item {w.id or w.raw_id}: Change Type "
                                      f"{_what(w.change_type)}; use Create, Modify or "
                                      f"Remove"))
        g.add("handoff.id", ids, "work item ids valid and unique", 61)
        g.add("handoff.files", files, "every work item lists files", 61)
        g.add("handoff.change-type", types, "every change type valid", 61)


def _validation(g: _Gate, art: A.Artifact, req: A.Artifact | None, view: A.TableView | None,
                section: str = "Validation Plan", noun: str = "an experiment",
                example: str = "EXP-001") -> None:
    """Rule 64: every success criterion of requirements.md is mapped to an experiment (in
    ``section`` or a row of the matrix ``view``), and a baseline comparison method is
    given."""
    vs = art.section(section)
    if vs is None:
        return
    req_scs = A.success_criteria_ids(req) if req else []
    text = vs.text
    if view is not None:
        text += "\n" + "\n".join(r.text for r in view.rows)
    mentioned = set(A.find_ids(text, "SC"))
    missing = [sc for sc in req_scs if sc not in mentioned]
    f = A.find_field(vs, "Which success criteria each experiment addresses")
    line = f.line if f else vs.line
    g.add("validation.sc-coverage",
          [(line, f"the {section} does not map {sc} (from requirements.md) to {noun}; "
                  f"write e.g. '{example} -> {sc}'") for sc in missing],
          f"every success criterion mapped to {noun}", 64)
    _fields(g, "validation.baseline-method", art, section, ("Baseline comparison method",), 64)


def _checklist(g: _Gate, art: A.Artifact) -> None:
    """Rules 35, 65: every Stage 4 Entry Checklist item is affirmative and `Ready to unlock
    code edits: Yes`."""
    cs = art.section("Stage 4 Entry Checklist")
    if cs is None:
        return
    problems = []
    unlock = None
    for f in cs.fields:
        if A.norm_text(f.key).startswith("ready to unlock code edits"):
            unlock = f
            continue
        if not A.is_affirmative(f.value):
            what = _what(f.value, "is not answered")
            problems.append((f.line, f"Stage 4 Entry Checklist item '{f.key}' {what}; "
                                     f"it must be 'Yes' before code edits are unlocked"))
    g.add("checklist.items", problems, "Stage 4 Entry Checklist affirmative", 65)
    if unlock is None:
        g.add("checklist.unlock", [(cs.line, "the field 'Ready to unlock code edits' is "
                                             "missing; restore it from the template")],
              "", 65)
    elif A.enum_value(unlock.value, ("Yes",)) != "Yes":
        what = _what(unlock.value, "is not answered")
        g.add("checklist.unlock", [(unlock.line, f"Ready to unlock code edits {what}; set "
                                                 f"it to Yes when the plan can drive "
                                                 f"implementation")], "", 65)
    else:
        g.add("checklist.unlock", [], "Ready to unlock code edits: Yes", 65)


def _monitoring(ctx: GateContext, g: _Gate, art: A.Artifact, req: A.Artifact | None) -> None:
    sec = art.section("Monitoring")
    if sec is None:
        return
    view = art.table("Monitoring", ("W&B key",))
    if view is None or view.missing_columns(A.MONITORING_COLUMNS):
        missing = A.MONITORING_COLUMNS if view is None else view.missing_columns(
            A.MONITORING_COLUMNS)
        g.add("monitoring.table", [(view.line if view else sec.line,
                                    f"the Monitoring table needs the columns | W&B key | What it "
                                    f"measures | How it's calculated | Source | (missing: "
                                    f"{', '.join(missing)})")], "", 107)
        return
    g.add("monitoring.table", [], "Monitoring table present", 107)
    rows = A.monitoring(art)
    if not _has_rows(g, "monitoring.rows", art, "Monitoring", view, rows,
                     "the Monitoring table has no rows; add one per metric key the training "
                     "code logs", f"{len(rows)} monitored key(s)", 107):
        return
    empty, formula, source, dup = [], [], [], []
    seen: dict[str, int] = {}
    for m in rows:
        name = _q(m.key) if m.key else "(no key)"
        for label, v in (("W&B key", m.key), ("What it measures", m.measures),
                         ("How it's calculated", m.formula), ("Source", m.source)):
            if v is None:
                empty.append((m.line, f"Monitoring row {name} has an empty '{label}' cell"))
        if m.formula is not None and placeholder_formula(m.formula, m.key):
            formula.append((m.line, f"Monitoring row {name} has a placeholder formula "
                                    f"{_q(m.formula)}; write the actual formula or a one-line "
                                    f"algorithm (e.g. 'correct / total over the val split')"))
        if m.source is not None and not valid_source(m.source):
            source.append((m.line, f"Monitoring row {name} has Source {_q(m.source)}; write "
                                   f"where it is computed, like `train.py:evaluate()`, or "
                                   f"`wandb` for keys wandb adds"))
        if m.key:
            if m.key in seen:
                dup.append((m.line, f"Monitoring key {name} is listed twice (first on line "
                                    f"{seen[m.key]})"))
            else:
                seen[m.key] = m.line
    g.add("monitoring.empty-cell", empty, "no empty Monitoring cells", 107)
    g.add("monitoring.placeholder-formula", formula, "every formula written out", 107)
    g.add("monitoring.source", source, "every source names a function or wandb", 107)
    g.add("monitoring.duplicate-key", dup, "Monitoring keys unique", 107)
    if req is not None:
        keys = set(seen)
        problems = []
        for sc in A.success_criteria(req):
            k = sc.metric_key
            if k and k not in keys and not sc.rubric:  # a rubric is judged, not logged
                problems.append((view.line, f"{sc.id or sc.raw_id} (requirements.md:{sc.line}) "
                                            f"uses metric {_q(k)}, which the Monitoring table "
                                            f"does not list; add a row for it"))
        g.add("monitoring.sc-metrics", problems, "every success-criterion metric is monitored",
              108)

