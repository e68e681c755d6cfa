"""Stage 6 gate: ``code-review.md`` (workflow-sources §5.11).

Rules checked: 44 (Last Updated is a date), 88 (sections present and filled, status
``Current``, Review Scope fields), 89 (the 9 mandatory checks with results and evidence), 90
(unique finding ids and valid severities; ``Stage 6 Decision: Pass`` needs every mandatory
check ``Pass`` and no open High finding) and 91 (no source change since the stage-5 code
basis).
"""
from __future__ import annotations

from mlgate import artifacts as A
from mlgate.gates.changes import _source_changes
from mlgate.gates.core import GateContext, _base, _decision, _fields, _Gate, _ids, _q, _what


def gate(ctx: GateContext, g: _Gate, strict: bool) -> None:
    art = _base(ctx, g, strict, ("Review Scope", "Mandatory Checks", "Decision"))
    if art is None:
        return
    _fields(g, "scope.fields", art, "Review Scope",
            ("Files reviewed", "Training / evaluation paths reviewed",
             "Stage 5 evidence reviewed"), 88)

    checks = A.mandatory_checks(art)
    if art.section("Mandatory Checks") is not None:
        sec_line = art.line_of("Mandatory Checks")
        missing, results, evid = [], [], []
        wanted = g.domain.fixed_rows("mandatory_checks")
        for label in wanted:
            row = A.lookup_label(checks, label)
            if row is None:
                missing.append((sec_line, f"mandatory check '{label}' is missing; restore the "
                                          f"row from the template"))
                continue
            if row.result not in A.REVIEW_RESULTS:
                what = "has no result" if row.result is None else f"has result {_q(row.result)}"
                results.append((row.line, f"mandatory check '{label}' {what}; allowed: "
                                          f"{', '.join(A.REVIEW_RESULTS)}"))
            if row.evidence is None:
                evid.append((row.line, f"mandatory check '{label}' has no evidence; point at "
                                       f"the code, run or log you checked"))
        g.add("checks.rows", missing, f"all {len(wanted)} mandatory checks present", 89)
        g.add("checks.result", results, "every mandatory check has a result", 89)
        g.add("checks.evidence", evid, "every mandatory check has evidence", 89)

    found = A.findings(art)
    ids, _ = _ids(found, "finding", "F-001")
    sev = [(f.line, f"finding {f.id or f.raw_id}: Severity {_what(f.severity)}; use High, "
                    f"Medium or Low") for f in found if f.severity not in A.SEVERITIES]
    g.add("findings.id", ids, "finding ids valid and unique", 90)
    g.add("findings.severity", sev, "finding severities valid", 90)

    if art.section("Decision") is not None:
        dec = _decision(g, art, "Decision", "Stage 6 Decision", A.STAGE6_DECISIONS, 90,
                        "Record the Re-Entry Classification and run `mlgate reenter "
                        "\"<Classification>\" --reason ...`")
        if dec == "Pass":
            not_pass = [(row.line, f"Stage 6 Decision is Pass but mandatory check '{label}' is "
                                   f"{row.result or 'unanswered'}")
                        for label in g.domain.fixed_rows("mandatory_checks")
                        if (row := A.lookup_label(checks, label)) is not None
                        and row.result != "Pass"]
            g.add("decision.checks-pass", not_pass,
                  f"all {len(g.domain.fixed_rows('mandatory_checks'))} mandatory checks Pass", 90)
            high = [(f.line, f"Stage 6 Decision is Pass but High finding {f.id or f.raw_id} is "
                             f"still open (Required Action: {_q(f.action or '')}); fix it "
                             f"through a re-entry, or write Done/Resolved once it is")
                    for f in found if f.severity == "High" and f.open]
            g.add("decision.high-findings", high, "no open High finding", 90)

    if ctx.git is not None:
        since = ctx.stage_entry_commits.get(6)
        if since:
            changed = _source_changes(ctx, since)
            g.add("source.unchanged",
                  [(None, f"{f} changed after the stage-5 code basis ({since[:12]}); stage 6 "
                          f"reviews, it does not edit: revert it, or re-enter with `mlgate "
                          f"reenter \"Local Fix\" --reason ...`") for f in changed],
                  "no source change since the stage-5 code basis", 91)
        else:
            g.add("source.unchanged", [], "not checked: no stage-6 entry commit recorded", 91)

