"""Honest negative results (issue 18): a hypothesis refuted by sound evidence reaches handoff
with the stage-5 decision ``Refuted`` (no waiver), the handoff says so, ``archive`` promotes
nothing, and ``--finalize`` records the ticket on main without merging its code."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from conftest import git, mlgate, person
from mlgate import artifacts as A
from mlgate.errors import GateFailed
from mlgate.runs import baselines
from mlgate.workspace import Workspace

sys.path.insert(0, str(Path(__file__).parent))
from science_ticket import PRODUCTION, handoff, project, run_train, runs, walk  # noqa

SC = ["| SC-001 | R-001 | val/acc | >= | baseline + 0.05 | val | the hypothesis: +5 points |"]
WIDER = {"src/model.json": {"width": 2, "acc_delta": 0.01}}  # reaches 0.81, not 0.85


@pytest.fixture
def ws(git_workspace: Workspace) -> Workspace:
    root = git_workspace.root
    project(root)
    b = baselines.load(root)
    b.set({"val/acc": 0.80, "val/loss": 0.3}, note="production model")
    b.save()
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "baseline")
    git(root, "push", "-q", "origin", "main")  # tickets branch from origin/main
    return Workspace(root)


def checks(t: Any) -> dict[str, tuple[bool, str]]:
    return {c.id: (c.ok, c.reason) for c in t.check().checks}


@pytest.mark.slow
def test_refuted_hypothesis_is_archived_honestly(ws: Workspace) -> None:
    root = ws.root
    t = walk(ws, "wider", SC, WIDER, upto=5)
    result = run_train(t)
    assert "SC-001 Failed" in next(c["detail"] for c in result["checks"]
                                   if c["id"] == "closure")
    rep = t.folder / "training-validation-report.md"
    art = A.load(t.folder, A.REPORT)
    [row] = A.sc_closure(art)
    assert (row.decision, row.observed) == ("Failed", "0.81")
    assert "set the Stage 5 Decision to `Refuted`" in art.value("Gate Decision", "Next action")

    # before: with the strict policy a Pass needed every criterion Passed or Waived
    A.set_field(rep, "Gate Decision", "Stage 5 Decision", "`Pass`")
    assert not checks(t)["s5.decision.sc-policy"][0]

    walk(ws, "wider", SC, WIDER, upto=6, decision="Refuted")  # the gate holds: SC-001 Failed
    st = t.state
    assert st.stage == 6 and st.gates[5].status == "Pass"
    walk(ws, "wider", SC, WIDER, upto=8)
    assert t.state.stage == 8
    # the handoff starts by saying so
    scaffold = A.load(t.folder, A.HANDOFF)
    assert scaffold.value("Outcome Summary", "Iteration outcome").startswith("`Refuted`")

    handoff(t)  # the success story of the good example: refused, it claims a success
    ok, why = checks(t)["s8.outcome.refuted"]
    assert not ok and "the stage-5 decision is Refuted" in why
    handoff(t, outcome="`Refuted`: a wider model reaches 0.81, not the baseline + 0.05")
    assert checks(t)["s8.outcome.refuted"][0]

    rc, out = person(t.checkout, "verify", "wider", "--by", "Grace Hopper", answer="wider")
    assert rc == 0, out
    git(t.checkout, "add", "-A")
    git(t.checkout, "commit", "-q", "-m", "verified")
    before = (root / "baselines.yaml").read_text()
    proc = mlgate(root, "archive", "wider", "--finalize", "--promote", runs(t)[-1])
    assert proc.returncode == 1
    assert "a refuted result never becomes the baseline" in proc.stderr
    assert t.state.stage == 8 and t.folder.is_dir()  # nothing changed

    head = git(root, "rev-parse", "HEAD")
    proc = mlgate(root, "archive", "wider", "--finalize")
    assert proc.returncode == 0, proc.stderr
    assert (root / "baselines.yaml").read_text() == before  # nothing promoted
    done = root / "tickets" / "done" / "wider"
    assert (done / "handoff-summary.md").is_file()
    assert json.loads((root / "src" / "model.json").read_text()) == PRODUCTION[
        "src/model.json"]  # the code is not merged
    log = git(root, "log", "--format=%s", f"{head}..HEAD")
    assert log == "Record refuted ticket wider (code not merged; branch kept as tag " \
                  "mlgate/refuted/wider)"
    assert git(root, "rev-parse", "mlgate/refuted/wider^{commit}")  # the branch, as a tag
    assert not git(root, "branch", "--list", "codex/wider")
    assert json.loads(git(root, "show", "mlgate/refuted/wider:src/model.json"))["width"] == 2
    st = Workspace(root).ticket("wider").state
    assert st.gates[8].status == "Pass" and st.seal == "valid"


@pytest.mark.slow
def test_refuted_needs_decided_criteria_that_mlgate_computes_as_failed(ws: Workspace) -> None:
    t = walk(ws, "narrow", SC + [
        "| SC-002 | R-001 | val/loss | <= | 0.35 | val | sanity |"], WIDER, upto=5)
    run_train(t)
    rep = t.folder / "training-validation-report.md"
    A.set_field(rep, "Gate Decision", "Stage 5 Decision", "`Refuted`")
    assert checks(t)["s5.decision.refuted"][0]  # SC-001 Failed, SC-002 Passed: a refutation

    # a criterion the evidence does not decide is no refutation
    text = rep.read_text()
    rep.write_text(text.replace("| Passed |", "| Inconclusive |", 1))
    ok, why = checks(t)["s5.decision.refuted"]
    assert not ok and "SC-002 is Inconclusive: a refutation needs evidence that decides" in why

    # a Failed row that mlgate's own closure does not fail (invented, to escape the work)
    rep.write_text(text.replace("| Passed |", "| Failed |", 1))
    ok, why = checks(t)["s5.decision.refuted"]
    assert not ok and "SC-002 is Failed in the report, but mlgate closes it as Passed" in why

    # nothing Failed: nothing was refuted
    rep.write_text(text.replace("| Failed |", "| Waived |", 1))
    ok, why = checks(t)["s5.decision.refuted"]
    assert not ok and "no criterion is Failed: nothing was refuted" in why
    with pytest.raises(GateFailed):
        t.advance()
