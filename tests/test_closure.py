"""Success-criteria closure and the stage-5 report rows (run folders written by hand)."""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from mlgate.runs import baselines

from mlgate.runs import closure
from mlgate.runs.closure import Closure, Criterion
from mlgate.errors import StateFileError
from mlgate.state.mdparse import Document

REPO = Path(__file__).resolve().parents[1]
TEMPLATE = REPO / "stages" / "05-training-validation" / "training-validation-template.md"
REQ_TEMPLATE = REPO / "stages" / "02-requirements-and-success-criteria" / \
    "requirements-template.md"
SHA = "0123456789abcdef0123456789abcdef01234567"


def make_run(folder: Path, n: int, *, status: str = "completed",
             last: dict[str, Any] | None = None, best: dict[str, Any] | None = None,
             direction: dict[str, str] | None = None,
             series: list[dict[str, Any]] | None = None, dirty: bool = False, seed: int = 0,
             plots: bool = True, parent: str | None = None, batch_size: int = 64,
             summary: bool = True, **meta_extra: Any) -> Path:
    """A run folder as mlgate.runs.core writes it: meta.json, metrics.jsonl, summary.json, viz/."""
    run = f"RUN-{n:03d}"
    d = folder / "runs" / run
    (d / "viz").mkdir(parents=True)
    failure = None if status == "running" else status
    meta = {
        "run": run, "command": f"python train.py --batch-size {batch_size}", "commit": SHA,
        "dirty": dirty, "config": {"lr": 0.1}, "config_hash": "feedbeefcafe0123456789",
        "seed": seed, "data_version": "sha256:d00d", "python": "3.11.9", "torch": "2.13.0",
        "cuda": None, "cpu": "Test CPU", "gpu": None, "launcher": "local", "nproc": 1,
        "batch_size": batch_size, "grad_accum": 1, "attempt": 1 if parent is None else 2,
        "parent_run": parent, "started": "2025-01-01T00:00:00+00:00",
        "finished": None if status == "running" else "2025-01-01T00:10:00+00:00",
        "exit_code": None if status == "running" else (0 if status == "completed" else 1),
        "status": {"completed": "completed", "running": "running"}.get(status, "failed"),
        "failure_class": failure, "wandb": {"mode": "offline"},
    }
    meta.update(meta_extra)
    (d / "meta.json").write_text(json.dumps(meta))
    last = {"train/loss": 0.25, "val/acc": 0.91} if last is None else last
    series = series if series is not None else [
        {"step": i, **{k: v for k, v in last.items()}} for i in range(3)]
    (d / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in series))
    if summary:
        dirs = direction if direction is not None else {
            k: baselines.heuristic_direction(k) for k in last}
        (d / "summary.json").write_text(json.dumps({
            "run": run, "last": last, "best": best if best is not None else dict(last),
            "direction": dirs, "steps": len(series)}))
    if plots:
        (d / "viz" / "val_acc.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    return d


def write_requirements(path: Path, rows: list[str]) -> Path:
    """requirements.md from the real stage-2 template with ``rows`` as the SC table."""
    text = REQ_TEMPLATE.read_text()
    placeholder = "| SC-001 | R-001 |  |  |  |  |  |\n"
    assert placeholder in text
    text = text.replace(placeholder, "".join(r + "\n" for r in rows))
    path.write_text(text)
    return path


def crit(metric: str, comparator: str, threshold: float, sc: str = "SC-001") -> Criterion:
    return Criterion(id=sc, requirement_id="R-001", metric=metric, comparator=comparator,
                     threshold=threshold, split="val", line=1, threshold_raw=str(threshold))


# -- reading criteria --------------------------------------------------------------------


def test_reads_criteria_with_both_id_forms(tmp_path: Path) -> None:
    req = write_requirements(tmp_path / "requirements.md", [
        "| SC1 | R1 | val/acc | `>=` | 0.9 | val |  |",
        "| SC-002 | R-002 | min:val/loss | <= | 0.35 | val | lower |",
        "| SC-003 | R-002 | max:val/f1 | > | high | test |  |",
        "| SC1 | R1 | duplicate | >= | 1 | val |  |",
        "| SC-004 | R-002 | ... | ... | ... | ... |  |",
        "| notes | x | y | z | 1 | val |  |",
    ])
    got = closure.read_success_criteria(req)
    assert [c.id for c in got] == ["SC-001", "SC-002", "SC-003"]
    first, second, third = got
    assert first.requirement_id == "R-001" and first.comparator == ">="
    assert first.threshold == 0.9 and first.key == "val/acc" and first.mode == "last"
    assert second.mode == "min" and second.key == "val/loss" and second.threshold == 0.35
    assert third.mode == "max" and third.key == "val/f1" and third.threshold is None
    assert first.line < second.line < third.line
    assert Document.load(req).line_text(first.line).startswith("| SC1 |")


def test_missing_requirements_or_table_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(StateFileError, match="not found"):
        closure.read_success_criteria(tmp_path / "requirements.md")
    (tmp_path / "requirements.md").write_text("# Requirements\n\n## Goal\n\n- x\n")
    with pytest.raises(StateFileError, match="Success Criteria"):
        closure.read_success_criteria(tmp_path / "requirements.md")


# -- evaluating --------------------------------------------------------------------------


def test_passing_failing_and_missing_metrics(tmp_path: Path) -> None:
    make_run(tmp_path, 1, last={"val/acc": 0.92, "val/loss": 0.4})
    runs = closure.load_runs(tmp_path)
    got = closure.evaluate([crit("val/acc", ">=", 0.9, "SC-001"),
                            crit("val/loss", "<=", 0.3, "SC-002"),
                            crit("val/f1", ">=", 0.5, "SC-003")], runs)
    assert [c.decision for c in got] == ["Passed", "Failed", "Inconclusive"]
    assert got[0].evidence_runs == ["RUN-001"] and got[0].observed == "0.92"
    assert got[1].observed == "0.4"
    assert "val/f1" in got[2].notes and "not logged" in got[2].notes
    assert got[2].observed == "N/A"
    assert got[0].expected == "val/acc >= 0.9 on val"


@pytest.mark.parametrize("comparator, threshold, value, decision", [
    (">=", 0.9, 0.9, "Passed"), (">=", 0.9, 0.89, "Failed"),
    (">", 0.9, 0.9, "Failed"), (">", 0.9, 0.95, "Passed"),
    ("<=", 0.3, 0.3, "Passed"), ("<=", 0.3, 0.31, "Failed"),
    ("<", 0.3, 0.3, "Failed"), ("<", 0.3, 0.1, "Passed"),
    ("==", 0.3, 0.1 + 0.2, "Passed"), ("==", 0.3, 0.31, "Failed"),
])
def test_comparators(tmp_path: Path, comparator: str, threshold: float, value: float,
                     decision: str) -> None:
    make_run(tmp_path, 1, last={"m": value})
    [got] = closure.evaluate([crit("m", comparator, threshold)], closure.load_runs(tmp_path))
    assert got.decision == decision


def test_max_and_min_prefixes_use_the_best_value(tmp_path: Path) -> None:
    series = [{"step": 0, "val/acc": 0.7, "val/loss": 0.5},
              {"step": 1, "val/acc": 0.95, "val/loss": 0.2},
              {"step": 2, "val/acc": 0.8, "val/loss": 0.4}]
    make_run(tmp_path, 1, last={"val/acc": 0.8, "val/loss": 0.4},
             best={"val/acc": 0.95, "val/loss": 0.2}, series=series)
    runs = closure.load_runs(tmp_path)
    last_acc, best_acc, best_loss, last_loss = closure.evaluate([
        crit("val/acc", ">=", 0.9), crit("max:val/acc", ">=", 0.9),
        crit("min:val/loss", "<=", 0.25), crit("val/loss", "<=", 0.25)], runs)
    assert (last_acc.decision, best_acc.decision) == ("Failed", "Passed")
    assert best_acc.observed == "0.95" and "max over the run" in best_acc.notes
    assert (best_loss.decision, last_loss.decision) == ("Passed", "Failed")
    # max: of a loss (summary's best is the min) is recomputed from metrics.jsonl
    [odd] = closure.evaluate([crit("max:val/loss", "<=", 1.0)], runs)
    assert odd.observed == "0.5"


def test_best_completed_run_is_the_evidence(tmp_path: Path) -> None:
    make_run(tmp_path, 1, last={"val/acc": 0.85})
    make_run(tmp_path, 2, last={"val/acc": 0.93})
    make_run(tmp_path, 3, status="crashed", last={"val/acc": 0.99})
    make_run(tmp_path, 4, last={"val/acc": 0.80})
    runs = closure.load_runs(tmp_path)
    [hi] = closure.evaluate([crit("val/acc", ">=", 0.9)], runs)
    assert hi.evidence_runs == ["RUN-002"] and hi.decision == "Passed"
    assert "best of 3 completed runs" in hi.notes
    [lo] = closure.evaluate([crit("val/acc", "<", 0.82)], runs)
    assert lo.evidence_runs == ["RUN-004"]
    [eq] = closure.evaluate([crit("val/acc", "==", 0.86)], runs)
    assert eq.evidence_runs == ["RUN-001"] and eq.decision == "Failed"


def test_non_finite_and_no_completed_run_are_inconclusive(tmp_path: Path) -> None:
    make_run(tmp_path, 1, last={"val/loss": float("nan")})
    [nan] = closure.evaluate([crit("val/loss", "<=", 1)], closure.load_runs(tmp_path))
    assert nan.decision == "Inconclusive" and "not finite" in nan.notes
    assert nan.evidence_runs == ["RUN-001"]
    other = tmp_path / "other"
    make_run(other, 1, status="crashed")
    make_run(other, 2, status="running")
    runs = closure.load_runs(other)
    assert [r.status for r in runs] == ["Failed", "Running"]
    [none] = closure.evaluate([crit("val/acc", ">=", 0.5)], runs)
    assert none.decision == "Inconclusive" and "no completed run" in none.notes
    assert "RUN-001 crashed" in none.notes


def test_unusable_criterion_rows_are_inconclusive_with_reason(tmp_path: Path) -> None:
    make_run(tmp_path, 1)
    runs = closure.load_runs(tmp_path)
    bad_cmp = Criterion("SC-001", "R-001", "val/acc", "=>", 0.9, None, 7, "0.9")
    bad_thr = Criterion("SC-002", "R-001", "val/acc", ">=", None, None, 8, "high")
    no_metric = Criterion("SC-003", "R-001", None, ">=", 0.9, None, 9, "0.9")
    a, b, c = closure.evaluate([bad_cmp, bad_thr, no_metric], runs)
    assert a.decision == b.decision == c.decision == "Inconclusive"
    assert "'=>'" in a.notes and "'high'" in b.notes and "line 9" in c.notes


def test_crashed_run_without_summary_reads_metrics_jsonl(tmp_path: Path) -> None:
    make_run(tmp_path, 1, status="crashed", summary=False,
             series=[{"step": 0, "loss": 1.0}, {"step": 1, "loss": 0.5}])
    [r] = closure.load_runs(tmp_path)
    assert r.last == {"loss": 0.5} and r.status == "Failed"


def test_suggest_decision_policies() -> None:
    def c(sc: str, decision: str) -> Closure:
        return Closure(sc, "R-001", "m >= 1", ["RUN-001"], "0.5", decision, "", "m")

    assert closure.suggest_decision([c("SC-001", "Passed"), c("SC-002", "Waived")])[:2] == \
        ("Pass", "N/A")
    dec, cls, action = closure.suggest_decision([c("SC-001", "Passed"),
                                                 c("SC-002", "Failed")])
    assert (dec, cls) == ("Fail", "Local Fix") and "SC-002" in action
    assert "SC-001" not in action
    mixed = [c("SC-001", "Passed"), c("SC-002", "Inconclusive")]
    assert closure.suggest_decision(mixed)[0] == "Fail"
    assert closure.suggest_decision(mixed, policy="permissive")[0] == "Pass"
    assert closure.suggest_decision([c("SC-001", "Failed")], "permissive")[0] == "Fail"
    assert closure.suggest_decision([])[1] == "Requirement Gap"


# -- writing the report ------------------------------------------------------------------


OWNED_SECTIONS = ("Run Registry", "Metric Summary", "Success Criteria Closure")


def skeleton(text: str) -> list[str]:
    """The lines mlgate must leave alone: everything but the data rows of the three owned
    tables and the Reproducibility Record / Gate Decision field lines."""
    doc = Document(text)
    skip: set[int] = set()
    for title in OWNED_SECTIONS:
        t = doc.section(title).table
        skip.update(r.line for r in t.rows)
    for title in ("Reproducibility Record", "Gate Decision"):
        skip.update(f.line for f in doc.section(title).fields)
    return [ln for i, ln in enumerate(doc.lines, 1) if i not in skip]


def table(path: Path, title: str) -> list[dict[str, str | None]]:
    return Document.load(path).section(title).table.as_dicts(include_placeholders=True)


@pytest.fixture
def ticket(tmp_path: Path) -> Path:
    folder = tmp_path / "ticket"
    folder.mkdir()
    (folder / "training-validation-report.md").write_text(TEMPLATE.read_text())
    write_requirements(folder / "requirements.md", [
        "| SC-001 | R-001 | val/acc | >= | 0.9 | val |  |",
        "| SC-002 | R-001 | min:train/loss | <= | 0.1 | train |  |",
    ])
    return folder


def _write(folder: Path, base: baselines.Baselines | None = None, **kw: Any
           ) -> closure.ReportUpdate:
    runs = closure.load_runs(folder)
    crits = closure.read_success_criteria(folder / "requirements.md")
    base = base if base is not None else baselines.load(folder)
    return closure.write_report_rows(folder / "training-validation-report.md", runs,
                                     closure.evaluate(crits, runs), base, **kw)


def test_rows_written_into_the_real_template(ticket: Path) -> None:
    report = ticket / "training-validation-report.md"
    before = report.read_text()
    make_run(ticket, 1, status="oom", batch_size=64, last={"train/loss": 2.0})
    make_run(ticket, 2, parent="RUN-001", batch_size=32, dirty=True,
             last={"train/loss": 0.25, "val/acc": 0.91})
    upd = _write(ticket)
    assert upd.changed
    after = report.read_text()
    assert skeleton(after) == skeleton(before)

    reg = table(report, "Run Registry")
    assert [r["Run ID"] for r in reg] == ["RUN-001", "RUN-002"]  # placeholder replaced
    r1, r2 = reg
    assert r1["Status"] == "Failed" and "oom" in r1["Notes"]
    assert r2["Status"] == "Completed"
    assert r2["Code Basis"] == SHA
    assert r2["Config"].startswith("feedbeefcafe (local") and "batch_size 32" in r2["Config"]
    assert r2["Seed"] == "0" and r2["Data / Split Version"] == "sha256:d00d"
    assert "Test CPU" in r2["Hardware / Environment"]
    assert "torch 2.13.0" in r2["Hardware / Environment"]
    assert "uncommitted changes" in r2["Notes"] and "retry of RUN-001" in r2["Notes"]
    assert r2["Purpose"] == "OOM retry of RUN-001 with batch_size 32"
    assert r1["Purpose"] is None  # a person states the purpose

    metrics = table(report, "Metric Summary")
    # no baseline: every metric of the completed run, Baseline N/A; failed runs have none
    assert [(m["Run ID"], m["Metric"], m["Baseline"]) for m in metrics] == [
        ("RUN-002", "train/loss", "N/A"), ("RUN-002", "val/acc", "N/A")]

    clo = table(report, "Success Criteria Closure")
    assert [(c["Success Criteria ID"], c["Decision"], c["Evidence Run(s)"]) for c in clo] == [
        ("SC-001", "Passed", "RUN-002"), ("SC-002", "Failed", "RUN-002")]
    assert clo[0]["Expected Outcome"] == "val/acc >= 0.9 on val"

    doc = Document.load(report)
    rep = doc.section("Reproducibility Record")
    assert "RUN-002: `python train.py --batch-size 32`" in rep.value("Exact command(s)")
    assert rep.value("Seed(s)") == "0 (RUN-002)"
    assert "runs/RUN-002/meta.json" in rep.value("Config file(s)")
    assert rep.value("Checkpoint(s)").startswith("none saved")
    assert "torch 2.13.0" in rep.value("Environment details")
    for f in rep.fields:
        assert f.value, f.label
    gate = doc.section("Gate Decision")
    assert gate.value("Stage 5 Decision") == "Fail"
    assert gate.fields[1].value == "Local Fix"
    assert "mlgate suggestion: Fail, Local Fix" in gate.value("Next action")
    assert "SC-002" in gate.value("Next action")
    assert upd.suggestion[0] == "Fail" and upd.gate_written


def test_writing_twice_gives_the_same_file(ticket: Path) -> None:
    make_run(ticket, 1)
    base = baselines.load(ticket)
    base.set({"val/acc": 0.8, "train/loss": 0.3})
    _write(ticket, base)
    once = (ticket / "training-validation-report.md").read_bytes()
    upd = _write(ticket, base)
    assert not upd.changed
    assert upd.gate_written  # the decision in the file is still mlgate's suggestion
    assert (ticket / "training-validation-report.md").read_bytes() == once


def test_metric_summary_baseline_and_delta(ticket: Path) -> None:
    make_run(ticket, 1, last={"train/loss": 0.123456789012, "val/acc": 0.9132,
                              "extra": 3.0, "_runtime": 9.0})
    base = baselines.load(ticket)
    base.set({"val/acc": 0.9, "train/loss": 0.2})
    _write(ticket, base, monitoring_keys=["val/acc", "train/loss", "extra"])
    rows = table(ticket / "training-validation-report.md", "Metric Summary")
    # only the metrics the baseline has, in the Monitoring table's order
    assert [r["Metric"] for r in rows] == ["val/acc", "train/loss"]
    for r in rows:
        result, base_v, delta = (float(r[k]) for k in ("Result", "Baseline", "Delta"))
        assert math.isclose(delta, result - base_v, rel_tol=1e-6)
    acc, loss = rows
    assert float(acc["Delta"]) > 0 and "better than the baseline" in acc["Notes"]
    assert float(loss["Delta"]) < 0 and "better than the baseline" in loss["Notes"]
    assert "lower is better" in loss["Notes"]


def test_person_rows_and_notes_are_kept(ticket: Path) -> None:
    report = ticket / "training-validation-report.md"
    make_run(ticket, 1, last={"train/loss": 0.5, "val/acc": 0.8})
    _write(ticket)
    text = report.read_text()
    # a person fills Purpose, adds notes, adds their own rows
    text = text.replace("| RUN-001 |  |", "| RUN-001 | baseline recipe |", 1)
    lines = text.splitlines(keepends=True)
    doc = Document(text)
    reg_row = doc.section("Run Registry").table.rows[0]
    assert lines[reg_row.line - 1].endswith("| Completed |  |\n")  # no mlgate note
    lines[reg_row.line - 1] = lines[reg_row.line - 1].replace(
        "| Completed |  |", "| Completed | loss spiked at step 2 |")
    person_reg = "| RUN-050 | manual eval on the holdout | abc | cfg | 1 | v1 | laptop | " \
                 "Completed | run outside mlgate |\n"
    lines.insert(doc.section("Run Registry").table.end_line, person_reg)
    text = "".join(lines)
    doc = Document(text)
    lines = text.splitlines(keepends=True)
    met_end = doc.section("Metric Summary").table.end_line
    person_met = "| RUN-001 | test/acc | 0.79 | 0.7 | 0.09 | from eval.py |\n"
    lines.insert(met_end, person_met)
    text = "".join(lines)
    clo = Document(text).section("Success Criteria Closure").table
    sc2 = clo.rows[1]
    lines = text.splitlines(keepends=True)
    lines[sc2.line - 1] = lines[sc2.line - 1].replace(" | (mlgate:", " | see issue #4 (mlgate:")
    report.write_text("".join(lines))

    make_run(ticket, 2, last={"train/loss": 0.05, "val/acc": 0.95})
    _write(ticket)
    once = report.read_text()
    _write(ticket)
    assert report.read_text() == once  # still idempotent with person edits
    reg = table(report, "Run Registry")
    assert [r["Run ID"] for r in reg] == ["RUN-001", "RUN-050", "RUN-002"]
    assert reg[0]["Purpose"] == "baseline recipe"
    assert reg[0]["Notes"] == "loss spiked at step 2"
    assert person_reg in once
    assert person_met in once
    clo_rows = table(report, "Success Criteria Closure")
    assert [r["Success Criteria ID"] for r in clo_rows] == ["SC-001", "SC-002"]
    assert all(r["Decision"] == "Passed" for r in clo_rows)
    assert clo_rows[1]["Notes"].startswith("see issue #4 (mlgate: min over the run")
    assert clo_rows[1]["Evidence Run(s)"] == "RUN-002"
    metrics = table(report, "Metric Summary")
    assert sum(1 for m in metrics if (m["Run ID"], m["Metric"]) == ("RUN-001", "val/acc")) == 1


def test_gate_decision_is_not_overwritten_once_a_person_set_it(ticket: Path) -> None:
    report = ticket / "training-validation-report.md"
    make_run(ticket, 1, last={"train/loss": 0.5, "val/acc": 0.8})
    _write(ticket)
    doc = Document.load(report)
    assert doc.section("Gate Decision").value("Stage 5 Decision") == "Fail"
    # a new run passes: mlgate may update its own earlier suggestion
    make_run(ticket, 2, last={"train/loss": 0.05, "val/acc": 0.95})
    upd = _write(ticket)
    gate = Document.load(report).section("Gate Decision")
    assert gate.value("Stage 5 Decision") == "Pass" and gate.fields[1].value == "N/A"
    assert upd.gate_written
    # a person decides otherwise: never overwritten again
    text = report.read_text().replace("- Stage 5 Decision: `Pass`",
                                      "- Stage 5 Decision: `Blocked`")
    report.write_text(text)
    make_run(ticket, 3, last={"train/loss": 0.04, "val/acc": 0.96})
    upd = _write(ticket)
    assert not upd.gate_written
    after = report.read_text()
    gate = Document.load(report).section("Gate Decision")
    assert gate.value("Stage 5 Decision") == "Blocked"
    old_gate = Document(text).section("Gate Decision")
    assert [f.raw for f in gate.fields] == [f.raw for f in old_gate.fields]
    assert "RUN-003" in after


def test_a_decision_set_before_any_run_is_kept(ticket: Path) -> None:
    report = ticket / "training-validation-report.md"
    text = report.read_text().replace(
        "- Stage 5 Decision: `Pass` / `Refuted` / `Fail` / `Blocked`", "- Stage 5 Decision: `Blocked`")
    text = text.replace("- Next action:", "- Next action: wait for the GPU quota")
    report.write_text(text)
    make_run(ticket, 1)
    _write(ticket)
    gate = Document.load(report).section("Gate Decision")
    assert gate.value("Stage 5 Decision") == "Blocked"
    assert gate.value("Next action") == "wait for the GPU quota"


def test_waived_criterion_stays_waived(ticket: Path) -> None:
    report = ticket / "training-validation-report.md"
    make_run(ticket, 1, last={"train/loss": 0.5, "val/acc": 0.95})
    _write(ticket)
    lines = report.read_text().splitlines(keepends=True)
    row = Document.load(report).section("Success Criteria Closure").table.rows[1]
    cells = lines[row.line - 1].split(" | ")
    lines[row.line - 1] = lines[row.line - 1].replace("| Failed |", "| Waived |").replace(
        "| (mlgate:", "| waived by Ana on 2025-02-01 (mlgate:")
    assert cells
    report.write_text("".join(lines))
    upd = _write(ticket)
    sc2 = table(report, "Success Criteria Closure")[1]
    assert sc2["Decision"] == "Waived" and sc2["Notes"].startswith("waived by Ana")
    assert [c.decision for c in upd.closures] == ["Passed", "Waived"]
    assert upd.suggestion[0] == "Pass"


def test_running_runs_get_rows_but_no_decision(ticket: Path) -> None:
    report = ticket / "training-validation-report.md"
    make_run(ticket, 1, status="running")
    runs = closure.load_runs(ticket)
    upd = closure.write_report_rows(report, runs, [], baselines.load(ticket))
    reg = table(report, "Run Registry")
    assert reg[0]["Status"] == "Running" and "mlgate watch RUN-001" in reg[0]["Notes"]
    assert upd.suggestion is None
    assert Document.load(report).section("Gate Decision").value("Stage 5 Decision") is None
    # the template's closure example row is untouched while nothing is closed
    assert table(report, "Success Criteria Closure")[0]["Success Criteria ID"] == "SC-001"


def test_crlf_report_keeps_its_line_endings(ticket: Path) -> None:
    report = ticket / "training-validation-report.md"
    report.write_bytes(TEMPLATE.read_text().replace("\n", "\r\n").encode())
    make_run(ticket, 1)
    _write(ticket)
    data = report.read_bytes()
    assert b"\r\n" in data and data.count(b"\n") == data.count(b"\r\n")


def test_missing_section_is_refused_without_writing(ticket: Path) -> None:
    report = ticket / "training-validation-report.md"
    text = report.read_text().replace("## Metric Summary", "## Metrics")
    report.write_text(text)
    make_run(ticket, 1)
    with pytest.raises(StateFileError, match="Metric Summary"):
        _write(ticket)
    assert report.read_text() == text


def test_checkpoints_are_listed(ticket: Path) -> None:
    d = make_run(ticket, 1)
    (d / "ckpt").mkdir()
    (d / "ckpt" / "last.pt").write_bytes(b"x")
    _write(ticket)
    rep = Document.load(ticket / "training-validation-report.md").section(
        "Reproducibility Record")
    assert rep.value("Checkpoint(s)") == "runs/RUN-001/ckpt/last.pt"


def test_person_row_with_an_ellipsis_is_not_taken_for_a_placeholder(ticket: Path) -> None:
    report = ticket / "training-validation-report.md"
    text = report.read_text().replace(
        "| RUN-001 |  |  |  |  |  |  | Queued |  |\n",
        "| RUN-001 |  |  |  |  |  |  | Queued |  |\n"
        "| RUN-077 | sweep... | abc | cfg | 1 | v1 | laptop | Completed | lr 1e-3... |\n")
    report.write_text(text.rstrip("\n"))  # and no newline at the end of the file
    make_run(ticket, 1)
    _write(ticket)
    reg = table(report, "Run Registry")
    assert [r["Run ID"] for r in reg] == ["RUN-001", "RUN-077"]
    assert "| RUN-077 | sweep... | abc |" in report.read_text()


def test_written_rows_satisfy_the_stage5_gate_row_checks(ticket: Path) -> None:
    """The rows mlgate writes pass the gate's own checks on them (ids, provenance, delta,
    one closure row per criterion citing completed runs, reproducibility fields); what is
    left failing is what people write (purpose, best run, status...)."""
    from mlgate import gates
    from mlgate.state.statefile import StateDoc

    make_run(ticket, 1, status="crashed", last={"train/loss": 3.0})
    make_run(ticket, 2, last={"train/loss": 0.123456789, "val/acc": 0.9132})
    base = baselines.load(ticket)
    base.set({"val/acc": 0.9, "train/loss": 0.3})
    base.save()  # the gate compares the Baseline cells with baselines.yaml
    _write(ticket, base)
    state = StateDoc.load(REPO / "shared" / "workflow-state-template.md")
    report = gates.evaluate(gates.GateContext(ticket="t", folder=ticket, state=state,
                                              workspace_root=ticket), 5)  # its baselines
    mine = [c for c in report.checks if c.id.split(".")[1] in ("metrics", "closure", "repro")
            or c.id in ("s5.runs.id", "s5.runs.status", "s5.runs.unregistered",
                        "s5.runs.viz", "s5.runs.record")]
    assert len(mine) >= 10
    assert [(c.id, c.reason) for c in mine if not c.ok] == []
    failing = {c.id for c in report.checks if not c.ok}
    assert "s5.runs.fields" in failing  # RUN-001's Purpose is for a person to state


def test_best_and_last_prefixes(tmp_path: Path) -> None:
    make_run(tmp_path, 1, last={"val/acc": 0.8}, best={"val/acc": 0.95})
    runs = closure.load_runs(tmp_path)
    best, last = closure.evaluate([crit("best:val/acc", ">=", 0.9),
                                   crit("last: val/acc", ">=", 0.9)], runs)
    assert (best.decision, best.observed) == ("Passed", "0.95")
    assert (last.decision, last.observed) == ("Failed", "0.8")
