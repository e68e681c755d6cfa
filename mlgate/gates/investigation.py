"""Stage 1 gate: ``investigation-notes.md`` (workflow-sources §5.6).

Rules checked: 44 (Last Updated is a date), 45 (sections present and filled, Task Framing
fields), 46 (Scope Triage classification and rationale), 47 (Sources Consulted rows, types
and cells), 48 (the 7 pipeline-area rows have findings), 49 (Baseline Understanding fields)
and 50 (Current Status is ``Current``).
"""
from __future__ import annotations

from mlgate import artifacts as A
from mlgate.gates.core import GateContext, _base, _fields, _Gate, _has_rows, _what


def gate(ctx: GateContext, g: _Gate, strict: bool) -> None:
    art = _base(ctx, g, strict, ("Constraints And Risks", "Planning Implications",
                                 "Open Questions"))
    if art is None:
        return
    _fields(g, "task-framing.filled", art, "Task Framing",
            ("Goal", "Why this matters", "Main unknowns"), 45)

    s = art.section("Scope Triage")
    if s is not None:
        f = A.find_field(s, "Classification")
        value = f.value if f else None
        cls = A.enum_value(value, A.SCOPE_CLASSES)
        line = f.line if f else s.line
        if cls is None:
            g.add("scope.classification", [(line, f"Scope Triage Classification "
                                                  f"{_what(value, 'is not set')}; choose "
                                                  f"Small, Medium or Large")], "", 46)
        else:
            g.add("scope.classification", [], f"scope {cls}", 46)
        _fields(g, "scope.rationale", art, "Scope Triage", ("Rationale",), 46,
                "; say why the scope is small, medium or large")

    view = art.table("Sources Consulted")
    if art.section("Sources Consulted") is not None:
        rows = A.sources(art)
        _has_rows(g, "sources.rows", art, "Sources Consulted", view, rows,
                  "Sources Consulted has no rows; add one per file, command, log, URL, repo or "
                  "paper you relied on", f"{len(rows)} source(s)", 47)
        bad_type, bad_cells = [], []
        for r in rows:
            if A.enum_value(r.source_type, A.SOURCE_TYPES) is None:
                bad_type.append((r.line, f"Source Type {_what(r.source_type)}; allowed: "
                                         f"{', '.join(A.SOURCE_TYPES)}"))
            for label, v in (("Path / URL / Command", r.location),
                             ("What Was Learned", r.learned)):
                if v is None:
                    bad_cells.append((r.line, f"source row has an empty '{label}' cell"))
        if rows:
            g.add("sources.type", bad_type, "source types valid", 47)
            g.add("sources.cells", bad_cells, "sources name a location and what was learned", 47)

    if art.section("Current Code And Pipeline Findings") is not None:
        areas = A.pipeline_areas(art)
        sec_line = art.line_of("Current Code And Pipeline Findings")
        problems = []
        wanted = g.domain.fixed_rows("pipeline_areas")
        for area in wanted:
            row = A.lookup_label(areas, area)
            if row is None:
                problems.append((sec_line, f"the pipeline area row '{area}' is missing; "
                                           f"restore it from the template"))
            elif row.findings is None:
                problems.append((row.line, f"pipeline area '{area}' has no Findings; write "
                                           f"what you found, or `N/A` if it does not apply"))
        g.add("pipeline.areas", problems, f"all {len(wanted)} pipeline areas filled", 48)

    _fields(g, "baseline.fields", art, "Baseline Understanding",
            ("Existing baseline", "Best known metric", "Comparison target",
             "Confidence in baseline record"), 49)
