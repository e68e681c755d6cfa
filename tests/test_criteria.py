"""Richer success criteria (issue 18): thresholds relative to ``baselines.yaml``, several
metrics at once (all of / any of), and rubric-defined criteria whose result a person records
with ``mlgate rubric`` (a hand-written record counts for nothing)."""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from conftest import json_after_prompt, mlgate, person
from mlgate.runs import baselines, closure, rubric
from mlgate.workspace import Workspace

sys.path.insert(0, str(Path(__file__).parent))
from seeded_runs import copy_runs, launch_seeds  # noqa: E402
from test_stats import collect, workspace  # noqa: E402
from test_walk import GOOD, fill  # noqa: E402


@pytest.fixture(scope="module")
def one_run(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """One real run: val/acc 0.9, val/loss 0.3 (seed 0 of the seeded script, spread 0)."""
    root = tmp_path_factory.mktemp("one")
    folder = root / "t"
    folder.mkdir()
    return launch_seeds(folder, root, 0.9, 0.0, seeds=(0,))


# -- relative thresholds --------------------------------------------------------------------


@pytest.mark.slow
def test_relative_criterion_reads_the_baseline(one_run: list[Path], tmp_path: Path) -> None:
    root, folder, config = workspace(tmp_path, [
        "| SC-001 | R-001 | val/acc | >= | baseline + 0.01 | val |  |  |",
        "| SC-002 | R-001 | val/loss | <= | 0.95 * baseline | val |  |  |"])
    copy_runs(one_run, folder)
    rows = collect(root, folder, config)  # no baseline yet: nothing to compare with
    assert rows["SC-001"]["Decision"] == "Inconclusive"
    assert "needs the baseline's val/acc, and baselines.yaml has none" in rows["SC-001"]["Notes"]

    b = baselines.load(root)
    b.set({"val/acc": 0.85, "val/loss": 0.33})
    b.save()
    rows = collect(root, folder, config)
    assert rows["SC-001"]["Decision"] == "Passed"  # 0.9 >= 0.85 + 0.01
    assert "threshold baseline + 0.01 = 0.86 with the baseline at 0.85" in rows["SC-001"]["Notes"]
    assert rows["SC-002"]["Decision"] == "Passed"  # 0.3 <= 0.95 x 0.33 = 0.3135
    assert rows["SC-001"]["Expected Outcome"] == "val/acc >= baseline + 0.01 on val"

    b.set({"val/acc": 0.895, "val/loss": 0.3})  # a stronger baseline: both now miss
    b.save()
    rows = collect(root, folder, config)
    assert rows["SC-001"]["Decision"] == "Failed"
    assert "= 0.905 with the baseline at 0.895" in rows["SC-001"]["Notes"]
    assert rows["SC-002"]["Decision"] == "Failed"


# -- several metrics ------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("how,want", [("all", "Failed"), ("any", "Passed")])
def test_multi_metric_all_of_and_any_of(one_run: list[Path], tmp_path: Path, how: str,
                                        want: str) -> None:
    root, folder, config = workspace(tmp_path, [
        "| SC-001 | R-001 | val/acc | >= | 0.85 | val |  |  |",
        "| SC-002 | R-001 | val/acc | >= | 0.85 | val |  |  |",
        "| SC-002 | R-001 | val/loss | <= | 0.2 | val |  |  |"])
    text = (folder / "requirements.md").read_text()
    # the optional Combine column, on the rows of SC-002
    text = text.replace("| Notes | Min Seeds |\n| --- |", "| Notes | Min Seeds | Combine |\n"
                        "| --- | --- |")
    text = text.replace("| val |  |  |\n", "| val |  |  |  |\n", 1)
    text = text.replace("| val |  |  |\n", f"| val |  |  | {how} |\n")
    (folder / "requirements.md").write_text(text)
    copy_runs(one_run, folder)
    rows = collect(root, folder, config)
    assert rows["SC-001"]["Decision"] == "Passed"
    row = rows["SC-002"]
    assert row["Decision"] == want, row
    assert row["Expected Outcome"] == f"{how} of: val/acc >= 0.85; val/loss <= 0.2 on val"
    assert "val/acc: 0.9 (Passed)" in row["Observed Result"]
    assert "val/loss: 0.3 (Failed)" in row["Observed Result"]
    assert row["Evidence Run(s)"] == "RUN-001"


REQ_HEAD = ("| Success Criteria ID | Requirement ID | Metric | Comparator | Threshold | Split | "
            "Notes | Combine |\n| --- | --- | --- | --- | --- | --- | --- | --- |\n")


def stage2_report(tmp_path: Path, rows: list[str]) -> dict[str, list[str]]:
    """The stage-2 gate's failing checks for a requirements.md with these criteria rows."""
    ws, _ = Workspace.init(tmp_path / "p")
    t = ws.new_ticket("t")
    fill(t.folder, 0)
    t.advance()
    fill(t.folder, 1)
    t.advance()
    text = (GOOD / "requirements.md").read_text()
    start = text.index("| Success Criteria ID")
    end = text.index("\n\n", start)
    (t.folder / "requirements.md").write_text(text[:start] + REQ_HEAD + "\n".join(rows)
                                              + text[end:])
    rep = t.check()
    out: dict[str, list[str]] = {}
    for c in rep.failing():
        out.setdefault(c.id, []).append(c.reason)
    return out


def test_stage2_gate_reads_the_new_forms(tmp_path: Path) -> None:
    ok = stage2_report(tmp_path / "a", [
        "| SC-001 | R-001 | val/acc | >= | baseline + 0.01 | val |  |  |",
        "| SC-002 | R-001 | val/acc | >= | 0.9 | val |  | any |",
        "| SC-002 | R-001 | val/f1 | >= | 0.85 | val |  | any |",
        "| SC-003 | R-002 | sample quality | rubric | 4 of 5 reviewers rate >= 4 | val |  |  |"])
    assert ok == {}
    bad = stage2_report(tmp_path / "b", [
        "| SC-001 | R-001 | val/acc | >= | baseline plus a bit | val |  |  |",
        "| SC-002 | R-001 | val/acc | >= | 0.9 | val |  |  |",
        "| SC-002 | R-001 | val/f1 | >= | 0.85 | val |  |  |",
        "| SC-003 | R-002 | sample quality | rubric |  | val |  |  |",
        "| SC-004 | R-002 | val/acc | >= | 0.9 | val |  | most |"])
    assert any("'baseline + 0.01'" in r for r in bad["s2.sc.threshold"])
    assert any("SC-003: Threshold is empty; for a rubric" in r for r in bad["s2.sc.threshold"])
    [dup, combine] = bad["s2.sc.id"]
    assert "SC-002 is used twice" in dup and "set Combine to 'all' or 'any'" in dup
    assert "Combine 'most' is not one of all, any" in combine


# -- rubric-defined criteria ----------------------------------------------------------------


@pytest.fixture
def rubric_ticket(tmp_path: Path) -> Any:
    """A non-git ticket in stage 5 whose requirements add SC-004, judged by a rubric, and
    whose report closes SC-004 as Passed (as an agent would write it)."""
    ws, _ = Workspace.init(tmp_path / "proj")
    t = ws.new_ticket("gen")
    for s in range(5):
        fill(t.folder, s)
        if s == 2:
            req = t.folder / "requirements.md"
            req.write_text(req.read_text().replace(
                "| SC-003 | R-002 | train/wall_time_s | <= | 600 | train | whole run, data "
                "loading included |",
                "| SC-003 | R-002 | train/wall_time_s | <= | 600 | train | whole run, data "
                "loading included |\n| SC-004 | R-001 | sample quality | rubric | 4 of 5 "
                "samples rated >= 4 by a reviewer | val | |"))
        if s == 3:
            plan = t.folder / "experiment-plan.md"
            plan.write_text(plan.read_text().replace("-> SC-001, SC-002, SC-003.",
                                                     "-> SC-001, SC-002, SC-003, SC-004."))
        t.advance()
    fill(t.folder, 5)
    rep = t.folder / "training-validation-report.md"
    rep.write_text(rep.read_text().replace(
        "| SC-003 | R-002 | train/wall_time_s <= 600 | RUN-001, RUN-002 | 38.9 s, 41.3 s | "
        "Passed | |",
        "| SC-003 | R-002 | train/wall_time_s <= 600 | RUN-001, RUN-002 | 38.9 s, 41.3 s | "
        "Passed | |\n| SC-004 | R-001 | rubric sample quality | RUN-002 | looks fine | Passed | |"))
    return t


def rubric_check(t: Any) -> tuple[bool, str]:
    rep = t.check()
    found = [c for c in rep.checks if c.id == "s5.closure.rubric"]
    assert found, [c.id for c in rep.checks]
    return found[0].ok, found[0].reason


def test_rubric_result_must_be_recorded_by_a_person(rubric_ticket: Any) -> None:
    t = rubric_ticket
    ok, why = rubric_check(t)
    assert not ok and "SC-004 is rubric-defined and closed as Passed, but no person recorded" \
        in why and "mlgate rubric SC-004 --result Passed|Failed --by NAME" in why

    # an agent writes the record by hand: it counts for nothing (no valid MAC)
    forged = {"records": [{"ticket": "gen", "sc": "SC-004", "result": "Passed", "by": "Boss",
                           "date": "2026-01-01T00:00:00", "note": "", "runs": ["RUN-002"],
                           "mac": "0" * 64}]}
    (t.folder / "evidence").mkdir(exist_ok=True)
    (t.folder / "evidence" / "rubric.json").write_text(json.dumps(forged))
    assert not rubric_check(t)[0]
    assert "not recorded by `mlgate rubric`" in rubric.load(t.folder, "gen",
                                                            t.ws.known_key()).invalid[0]

    # the person records it with the real CLI
    args = ("rubric", "SC-004", "gen", "--result", "failed", "--by", "Grace Hopper", "--note",
            "2 of 5 samples rated >= 4", "--run", "RUN-002")
    proc = mlgate(t.ws.root, *args)  # no terminal: an agent's tool or a script
    assert proc.returncode == 1 and "no terminal" in proc.stderr
    assert not rubric.load(t.folder, "gen", t.ws.known_key()).records
    rc, out = person(t.ws.root, *args, answer="gen")
    assert rc == 0, out
    assert "SC-004 Failed by Grace Hopper (runs: RUN-002)" in out
    ok, why = rubric_check(t)  # the report still says Passed: it must say the person's result
    assert not ok and "the rubric result recorded with `mlgate rubric` is Failed" in why
    rep = t.folder / "training-validation-report.md"
    rep.write_text(rep.read_text().replace("| looks fine | Passed |", "| 2 of 5 | Failed |"))
    assert rubric_check(t)[0]

    # a record copied into another ticket's folder does not verify there
    other = t.ws.new_ticket("other")
    shutil.copytree(t.folder / "evidence", other.folder / "evidence", dirs_exist_ok=True)
    found = rubric.load(other.folder, "other", t.ws.known_key())
    assert not found.records and "recorded for ticket gen" in found.invalid[-1]


def test_rubric_closes_the_criterion_and_is_refused_where_it_does_not_apply(
        rubric_ticket: Any) -> None:
    t = rubric_ticket
    proc = mlgate(t.ws.root, "rubric", "SC-001", "gen", "--result", "Passed", "--by", "Ada")
    assert proc.returncode == 2 and "SC-001 is not rubric-defined" in proc.stderr
    proc = mlgate(t.ws.root, "rubric", "SC-009", "gen", "--result", "Passed", "--by", "Ada")
    assert proc.returncode == 2 and "not a success criterion of gen" in proc.stderr
    rc, out = person(t.ws.root, "--json", "rubric", "SC-004", "gen", "--result", "Passed",
                     "--by", "Ada", "--run", "RUN-001", answer="gen")
    assert rc == 0, out
    assert json_after_prompt(out)["runs"] == ["RUN-001"]  # type: ignore[index]
    crits = closure.read_success_criteria(t.folder / "requirements.md")
    found = rubric.load(t.folder, "gen", t.ws.known_key())
    [c4] = [c for c in closure.evaluate(crits, [], rubrics=found) if c.sc_id == "SC-004"]
    assert (c4.decision, c4.evidence_runs) == ("Passed", ["RUN-001"])
    assert c4.observed.startswith("Passed by Ada")
    assert c4.expected == ("rubric sample quality: 4 of 5 samples rated >= 4 by a reviewer "
                           "(judged by a person) on val")
    [c4] = [c for c in closure.evaluate(crits, []) if c.sc_id == "SC-004"]
    assert c4.decision == "Inconclusive" and "mlgate rubric SC-004" in c4.notes
