"""Stage 8 gate: ``handoff-summary.md`` and the user's verification (workflow-sources
§5.13).

Rules checked: 94 (sections present and filled; Best run is a run of the stage-5 report;
Comparison to baseline; a ``Refuted`` stage-5 decision is reported as such in the Iteration
outcome), 95 (Finalization Status values; repository finalization is ``N/A``
only for Non-Git tickets) and 96 (a user verification recorded by ``mlgate verify``, in
both profiles; with ``verify: signed`` also a signed tag ``mlgate/verified/<ticket>`` that
``git verify-tag`` accepts and that covers the code).
"""
from __future__ import annotations

from mlgate import artifacts as A
from mlgate import constants as C
from mlgate.gates.core import GateContext, _base, _fields, _Gate, _load, _q


def gate(ctx: GateContext, g: _Gate, strict: bool) -> None:
    # handoff-summary.md has no Document Status, so _base adds no status check here
    art = _base(ctx, g, strict, [n for n in g.domain.required_sections(A.HANDOFF)
                                 if n != "Finalization Status"])
    if art is None:  # the basic profile, or no artifact: verification is still required
        _verification(ctx, g, None)
        return
    bs = art.section("Best Current Evidence")
    if bs is not None:
        f = A.find_field(bs, "Best run")
        ids = A.find_ids(f.value if f else None, "RUN")
        line = f.line if f else bs.line
        report, err = _load(ctx, A.REPORT)
        known = {r.id for r in A.run_registry(report)} if report else set()
        if not ids:
            g.add("best.run", [(line, "Best run names no RUN-NNN; name the best run of the "
                                      "stage-5 report")], "", 94)
        elif report is None:
            g.add("best.run", [(line, f"training-validation-report.md {err or 'does not exist'}"
                                      f"; {ids[0]} cannot be confirmed")], "", 94)
        elif ids[0] not in known:
            g.add("best.run", [(line, f"Best run {ids[0]} is not a run of "
                                      f"training-validation-report.md (runs: "
                                      f"{', '.join(sorted(k for k in known if k)) or 'none'})")],
                  "", 94)
        else:
            g.add("best.run", [], f"best run {ids[0]}", 94)
        _fields(g, "best.comparison", art, "Best Current Evidence", ("Comparison to baseline",),
                94)
    _refuted_outcome(ctx, g, art)
    fs = art.section("Finalization Status")
    if fs is not None:
        problems = []
        mode = A.enum_value((getattr(ctx.state, "bootstrap", {}) or {}).get("Bootstrap Mode"),
                            C.BOOTSTRAP_MODES)
        for key, allowed in (("User verification received", C.YES_NO),
                             ("Ticket moved to*", C.YES_NO),
                             ("Repository finalization complete*", ("Yes", "No", "N/A"))):
            ff = A.find_field(fs, key)
            if ff is None or ff.value is None:
                continue
            v = A.enum_value(ff.value, allowed)
            if v is None:
                problems.append((ff.line, f"'{ff.key}' is {_q(ff.value)}; allowed: "
                                          f"{', '.join(allowed)}"))
            elif key.startswith("Repository") and v == "N/A" and mode == "Git":
                problems.append((ff.line, "repository finalization is N/A, but the ticket is in "
                                          "Git mode; it is N/A only for Non-Git tickets"))
        g.add("finalization.values", problems, "finalization values valid", 95)
    _verification(ctx, g, art)


def _refuted_outcome(ctx: GateContext, g: _Gate, art: A.Artifact) -> None:
    """A ticket whose stage-5 decision is ``Refuted`` says so in its handoff: the
    ``Iteration outcome`` names the refutation (no success is claimed)."""
    report, _ = _load(ctx, A.REPORT)
    if report is None:
        return
    dec = A.enum_value(report.value("Gate Decision", "Stage 5 Decision"), A.STAGE5_DECISIONS)
    if dec != "Refuted":
        return
    f = art.field("Outcome Summary", "Iteration outcome")
    text = (f.value or "") if f is not None else ""
    line = f.line if f is not None else art.line_of("Outcome Summary")
    ok = "refuted" in text.lower()
    g.add("outcome.refuted", [] if ok else [(line, (
        "the stage-5 decision is Refuted, but Outcome Summary > Iteration outcome "
        f"{'is empty' if not text else 'says ' + _q(text)}; say that the hypothesis was "
        "refuted (e.g. `Refuted`: ...)"))], "the handoff reports the refutation", 94)


def _verification(ctx: GateContext, g: _Gate, art: A.Artifact | None) -> None:
    signed = ctx.signed_verification
    if ctx.verified_by and signed is not None and not signed[0]:
        g.add("verification", [(None, f"verified by {ctx.verified_by}, but mlgate.yaml asks "
                                      f"for a signed verification: {signed[1]}")], "", 96)
        return
    if ctx.verified_by:
        how = f"; {signed[1]}" if signed is not None else ""
        g.add("verification", [], f"verified by {ctx.verified_by} (mlgate verify){how}", 96)
        return
    claim = ""
    line = None
    if art is not None:
        ff = art.field("Finalization Status", "User verification received")
        if ff is not None and A.enum_value(ff.value, C.YES_NO) == "Yes":
            claim = ("; the file says 'User verification received: Yes', but only `mlgate "
                     "verify` records a verification")
            line = ff.line
    g.add("verification", [(line, "no user verification recorded; the user runs "
                                  f"`mlgate verify --by NAME`{claim}")], "", 96)

