"""Typed parsing of the stage artifacts and the line-exact editing helpers."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mlgate import artifacts as A
from mlgate.errors import StateFileError, UsageError

ROOT = Path(__file__).resolve().parents[1]
GOOD = Path(__file__).parent / "data" / "artifacts" / "good"
RUNS = Path(__file__).parent / "data" / "runs"  # run records as a training script logs them
STAGES = ROOT / "stages"


def good(name: str) -> A.Artifact:
    art = A.load(GOOD, name)
    assert art is not None
    return art


def line_no(path: Path, needle: str) -> int:
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if needle in line:
            return i
    raise AssertionError(f"{needle!r} not in {path}")


# --- loading and Document Status --------------------------------------------------------


def test_load_missing_returns_none(tmp_path: Path) -> None:
    assert A.load(tmp_path, "experiment-plan.md") is None


def test_load_non_utf8_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "code-review.md").write_bytes(b"# Code Review\n\xff\xfe\n")
    with pytest.raises(StateFileError) as exc:
        A.load(tmp_path, "code-review.md")
    assert "code-review.md" in str(exc.value)


@pytest.mark.parametrize("written, expected", [
    ("`Current`", "Current"),
    ("current", "Current"),
    ("Ready for training", "Ready For Training"),
    ("Current (after RUN-002)", "Current"),
    ("`Draft` / `In Progress` / `Current`", None),
    ("", None),
    ("Approved", "Approved"),
])
def test_status_is_normalised(written: str, expected: str | None) -> None:
    art = A.Artifact.parse(f"# X\n\n## Document Status\n\n- Current Status: {written}\n"
                           f"- Last Updated: 2026-05-01\n", "x.md")
    assert art.status == expected
    assert art.status_line == 5
    assert art.last_updated == "2026-05-01"
    assert art.last_updated_line == 6


def test_status_of_a_hand_written_requirements_file() -> None:
    art = A.Artifact.parse("# Skill Optimizer Requirements\n\nStatus: **Draft**\n\n## Goal\n\n"
                           "Make it faster.\n", "requirements.md")
    assert art.status == "Draft"
    assert art.status_line == 3
    other = A.Artifact.parse("# R\n\n## Status\n\n- Refined\n", "requirements.md")
    assert other.status == "Refined"
    assert other.status_line == 5


def test_sections_match_aliases_and_numbering() -> None:
    art = A.Artifact.parse("# R\n\n## Goal\n\nx\n\n## Required behavior\n\n"
                           "- **R1 Behavior preservation:** keep outputs.\n\n"
                           "## 7. Monitoring\n\n| W&B key | What it measures | How it's calculated"
                           " | Source |\n| --- | --- | --- | --- |\n| a | b | c / d | wandb |\n",
                           "requirements.md")
    assert art.section("Goal / Problem Statement").title == "Goal"
    assert art.section("Requirements").title == "Required behavior"
    assert art.section("monitoring").title == "7. Monitoring"
    assert art.missing_sections(["Goal / Problem Statement", "Assumptions"]) == ["Assumptions"]
    assert A.requirements_ids(art) == [("R-001", 9)]


def test_section_is_empty_on_every_template() -> None:
    """A fresh template has nothing filled in: every required section reads as empty,
    except those with fixed text (Write-to paths, the Artifact Basis paths)."""
    for slug, name in [("01-investigation", "investigation-notes-template.md"),
                       ("03-experiment-plan", "experiment-plan-template.md"),
                       ("04-implementation", "implementation-template.md"),
                       ("05-training-validation", "training-validation-template.md"),
                       ("06-code-review", "code-review-template.md"),
                       ("07-docs-sync", "docs-sync-template.md"),
                       ("08-handoff", "handoff-summary-template.md")]:
        target = {"investigation-notes-template.md": A.INVESTIGATION,
                  "experiment-plan-template.md": A.PLAN,
                  "implementation-template.md": A.IMPLEMENTATION,
                  "training-validation-template.md": A.REPORT,
                  "code-review-template.md": A.REVIEW,
                  "docs-sync-template.md": A.DOCS_SYNC,
                  "handoff-summary-template.md": A.HANDOFF}[name]
        art = A.Artifact.parse((STAGES / slug / name).read_text(), target)
        assert art.missing_sections(A.REQUIRED_SECTIONS[target]) == [], name
        filled = [s for s in A.REQUIRED_SECTIONS[target] if not art.section_is_empty(s)]
        assert set(filled) <= {"Artifact Basis", "Upstream Artifacts", "Progress Log"}, (name, filled)
        assert art.status is None


def test_template_example_rows_are_placeholders() -> None:
    plan = A.Artifact.parse((STAGES / "03-experiment-plan" / "experiment-plan-template.md")
                            .read_text(), A.PLAN)
    assert A.experiments(plan) == [] and A.work_items(plan) == [] and A.monitoring(plan) == []
    view = plan.table("Experiment Matrix")
    assert view.placeholder_note() == ("row EXP-001 on line 58 is still the template's empty "
                                       "example")
    report = A.Artifact.parse((STAGES / "05-training-validation" /
                               "training-validation-template.md").read_text(), A.REPORT)
    assert A.run_registry(report) == [] and A.sc_closure(report) == []
    assert A.metric_summary(report) == []
    closure = report.table("Success Criteria Closure")
    assert "row SC-001 on line 33" in closure.placeholder_note("SC1", "SC")
    impl = A.Artifact.parse((STAGES / "04-implementation" / "implementation-template.md")
                            .read_text(), A.IMPLEMENTATION)
    assert A.changes(impl) == []
    assert set(A.readiness_checks(impl)) == set(A.READINESS_CHECKS)
    assert all(r.result is None for r in A.readiness_checks(impl).values())
    assert A.progress_entries(impl) == []


def test_ellipsis_inside_a_cell_keeps_the_row_real() -> None:
    runs = A.run_registry(good(A.REPORT))
    assert [r.id for r in runs] == ["RUN-001", "RUN-002"]
    assert "…" in (runs[0].config or "")


# --- ids -----------------------------------------------------------------------------


@pytest.mark.parametrize("text, prefix, expected", [
    ("R1", "R", "R-001"), ("`R-001`", "R", "R-001"), ("**SC12**", "SC", "SC-012"),
    ("SC-001", "C", None), ("RUN-7", "RUN", "RUN-007"), ("EXP-001", "EXP", "EXP-001"),
    ("W-3", "W", "W-003"), ("F-010", "F", "F-010"), ("T-001", "T", "T-001"),
    ("V-002", "V", "V-002"), ("C-004", "C", "C-004"), ("X-1", "R", None), ("", "R", None),
])
def test_norm_id(text: str, prefix: str, expected: str | None) -> None:
    assert A.norm_id(text, prefix) == expected


def test_find_ids_in_free_text() -> None:
    assert A.find_ids("RUN-001, RUN2 and RUN-001 again", "RUN") == ["RUN-001", "RUN-002"]
    assert A.find_ids("EXP-001 -> SC-001, SC2", "SC") == ["SC-001", "SC-002"]
    assert A.find_ids("SC-001 and SC-002", "C") == []
    assert A.find_ids("W-001: DigitsCNN", "W") == ["W-001"]


# --- accessors over the good digits ticket ------------------------------------------------


def test_requirements_and_success_criteria() -> None:
    req = good(A.REQUIREMENTS)
    assert req.status == "Plan-ready"
    path = GOOD / A.REQUIREMENTS
    assert A.requirements_ids(req) == [("R-001", line_no(path, "| R-001 |")),
                                       ("R-002", line_no(path, "| R-002 |")),
                                       ("R-003", line_no(path, "| R-003 |"))]
    scs = A.success_criteria(req)
    assert [sc.id for sc in scs] == ["SC-001", "SC-002", "SC-003"]
    first = scs[0]
    assert (first.requirement_id, first.metric, first.comparator, first.threshold,
            first.split) == ("R-001", "max:val/acc", ">=", 0.97, "val")
    assert first.metric_key == "val/acc" and first.reduction == "max"
    assert scs[1].metric_key == "test/acc" and scs[1].reduction == "last"
    assert scs[2].threshold == 600.0 and scs[2].comparator == "<="
    assert first.line == line_no(path, "| SC-001 |")


def test_unicode_comparators_are_normalised() -> None:
    art = A.Artifact.parse("# R\n\n## Success Criteria\n\n| Success Criteria ID | Requirement ID |"
                           " Metric | Comparator | Threshold | Split | Notes |\n| --- | --- | --- |"
                           " --- | --- | --- | --- |\n| SC1 | R1 | val/acc | ≥ | 9.5e-1 | val | |\n",
                           "requirements.md")
    (sc,) = A.success_criteria(art)
    assert (sc.id, sc.requirement_id, sc.comparator, sc.threshold) == ("SC-001", "R-001", ">=",
                                                                       0.95)


def test_plan_accessors() -> None:
    plan = good(A.PLAN)
    assert A.monitoring_keys(plan) == ["train/loss", "val/loss", "val/acc", "test/acc", "lr",
                                       "train/wall_time_s"]
    row = A.monitoring(plan)[2]
    assert row.source == "src/digits/train.py:evaluate()"
    assert row.line == line_no(GOOD / A.PLAN, "| val/acc | validation accuracy")
    assert [e.id for e in A.experiments(plan)] == ["EXP-001", "EXP-002"]
    items = A.work_items(plan)
    assert items[1].files == ["src/digits/train.py", "configs/cnn.yaml"]
    assert items[1].change_type == "Modify"


def test_implementation_accessors() -> None:
    impl = good(A.IMPLEMENTATION)
    rows = A.changes(impl)
    assert [(c.id, c.status, c.action) for c in rows] == [
        ("C-001", "Done", "Create"), ("C-002", "Done", "Modify"), ("C-003", "Done", "Create")]
    checks = A.readiness_checks(impl)
    smoke = A.lookup_label(checks, "smoke test or dry run passes")
    assert smoke.result == "Pass" and smoke.evidence == "evidence/4-torch-smoke-1.json"
    assert A.lookup_label(checks, "Output paths or permissions are correct").result == "N/A"
    assert [e.date for e in A.progress_entries(impl)] == ["2026-05-03", "2026-05-03"]


def test_report_accessors() -> None:
    report = good(A.REPORT)
    runs = A.run_registry(report)
    assert runs[1].status == "Completed" and runs[1].seed == "0"
    assert A.shas_in(runs[0].code_basis) == ["3f9c2e1a7b4d"]
    metrics = A.metric_summary(report)
    assert (metrics[2].run_id, metrics[2].metric, metrics[2].result) == ("RUN-002", "val/acc",
                                                                         "0.9806")
    closure = A.sc_closure(report)
    assert closure[2].evidence_runs == ["RUN-001", "RUN-002"]
    assert [c.decision for c in closure] == ["Passed", "Passed", "Passed"]


def test_review_and_docs_accessors() -> None:
    review = good(A.REVIEW)
    found = A.findings(review)
    assert [(f.id, f.severity, f.open) for f in found] == [("F-001", "Medium", False),
                                                           ("F-002", "Low", False)]
    assert len(A.mandatory_checks(review)) == 9
    docs = A.updated_documents(good(A.DOCS_SYNC))
    assert [d.path for d in docs] == ["README.md"]


@pytest.mark.parametrize("action, is_open", [("Done", False), ("Resolved in C-004", False),
                                             ("fixed", False), ("N/A", False),
                                             ("Add a unit test", True), (None, True)])
def test_finding_open(action: str | None, is_open: bool) -> None:
    assert A.Finding("F-001", "F-001", "High", "x", "y", action, 1).open is is_open


# --- value helpers ----------------------------------------------------------------------


@pytest.mark.parametrize("cell, expected", [
    ("`src/a.py`, `cfg/b.yaml` (new)", ["src/a.py", "cfg/b.yaml"]),
    ("src/a.py; ./src/b.py", ["src/a.py", "src/b.py"]),
    ("src/a.py (new file)", ["src/a.py"]),
    ("[README](README.md)", ["README.md"]),
    ("configs/ and src/model.py", ["configs/", "src/model.py"]),
    ("N/A", []), (None, []),
])
def test_paths_in_cell(cell: str | None, expected: list[str]) -> None:
    assert A.paths_in_cell(cell) == expected


@pytest.mark.parametrize("listed, changed, covered", [
    ("src/a.py", "src/a.py", True), ("src/", "src/a.py", True), ("src", "src/x/a.py", True),
    ("src/*.py", "src/a.py", True), ("src/a.py", "src/ab.py", False), ("sr", "src/a.py", False),
    ("./src/a.py", "src/a.py", True),
])
def test_path_covers(listed: str, changed: str, covered: bool) -> None:
    assert A.path_covers(listed, changed) is covered


def test_numbers_in_skips_ids_dates_and_versions() -> None:
    nums = A.numbers_in("RUN-002 on 2026-05-04 with torch 2.13.0: val/acc 0.9806 "
                        "(+0.0276), top5 0.99, test 97.5%, resnet18, 1,024 samples.")
    assert [(n.text, n.percent) for n in nums] == [("0.9806", False), ("+0.0276", False),
                                                   ("0.99", False), ("97.5", True),
                                                   ("1,024", False)]
    assert nums[-1].value == 1024.0


@pytest.mark.parametrize("text, value", [("0.97", 0.97), ("-1e-3", -0.001), ("+0.02", 0.02),
                                         ("`600`", 600.0), ("1,024", 1024.0), ("97%", None),
                                         ("nan", None), ("high", None), (None, None)])
def test_parse_number(text: str | None, value: float | None) -> None:
    assert A.parse_number(text) == value


# --- run folders ------------------------------------------------------------------------


def test_logged_keys_and_images(tmp_path: Path) -> None:
    lk = A.logged_keys(RUNS / "RUN-001")
    assert lk.keys == {"train/loss", "val/loss", "val/acc", "test/acc", "lr",
                       "train/wall_time_s"}
    assert lk.lines == 4 and lk.bad_lines == []
    assert [p.name for p in A.run_images(RUNS / "RUN-001")] == ["curves.png"]
    run = tmp_path / "RUN-009"
    run.mkdir()
    assert A.logged_keys(run) is None and A.run_images(run) == []
    (run / "metrics.jsonl").write_text('{"step": 0, "_t": 1, "a": 1}\n[1]\n{"b": 2, "epoch": 1}'
                                       '\n{"c":\n')
    lk = A.logged_keys(run)
    assert lk.keys == {"a", "b"} and lk.bad_lines == [2, 4]


# --- editing ----------------------------------------------------------------------------


@pytest.fixture
def impl_copy(tmp_path: Path) -> Path:
    path = tmp_path / A.IMPLEMENTATION
    shutil.copy(STAGES / "04-implementation" / "implementation-template.md", path)
    return path


def _diff_lines(before: str, after: str) -> list[int]:
    a, b = before.splitlines(keepends=True), after.splitlines(keepends=True)
    assert len(a) == len(b)
    return [i + 1 for i, (x, y) in enumerate(zip(a, b)) if x != y]


def test_set_field_rewrites_one_line(impl_copy: Path) -> None:
    before = impl_copy.read_text()
    line = A.set_field(impl_copy, "Document Status", "Current Status", "`Ready For Training`")
    after = impl_copy.read_text()
    assert _diff_lines(before, after) == [line] == [15]
    assert after.splitlines()[14] == "- Current Status: `Ready For Training`"
    assert A.load(impl_copy.parent, A.IMPLEMENTATION).status == "Ready For Training"


def test_set_field_keeps_crlf_and_the_rest_byte_identical(tmp_path: Path) -> None:
    path = tmp_path / "docs-sync.md"
    text = "# Docs Sync\r\n\r\n## Documentation Impact Summary\r\n\r\n- Docs impacted: `Yes` / `No`\r\n- Why:\r\n"
    path.write_bytes(text.encode())
    A.set_field(path, "Documentation Impact Summary", "Docs impacted", "No")
    assert path.read_bytes() == text.replace("`Yes` / `No`", "No").encode()


def test_set_field_missing_field_raises(impl_copy: Path) -> None:
    before = impl_copy.read_bytes()
    with pytest.raises(StateFileError) as exc:
        A.set_field(impl_copy, "Document Status", "Reviewer", "me")
    assert exc.value.line == 13 and "Reviewer" in str(exc.value)
    with pytest.raises(StateFileError):
        A.set_field(impl_copy, "Nope", "x", "y")
    assert impl_copy.read_bytes() == before


def test_set_table_row_fills_the_smoke_row(impl_copy: Path) -> None:
    before = impl_copy.read_text()
    line = A.set_table_row(impl_copy, "Readiness Checks Before Stage 5",
                           "smoke test or dry run passes",
                           {"Result": "Pass", "Evidence": "evidence/4-torch-smoke-1.json"})
    after = impl_copy.read_text()
    assert _diff_lines(before, after) == [line] == [54]
    assert after.splitlines()[53] == ("| Smoke test or dry run passes | Pass | "
                                      "evidence/4-torch-smoke-1.json |")
    smoke = A.readiness_checks(A.load(impl_copy.parent, A.IMPLEMENTATION))[A.SMOKE_CHECK]
    assert smoke.result == "Pass"


def test_set_table_row_replaces_example_then_appends(tmp_path: Path) -> None:
    path = tmp_path / A.REPORT
    shutil.copy(STAGES / "05-training-validation" / "training-validation-template.md", path)
    row = ["EXP-001", "abc1234", "cfg.yaml", "0", "d1", "cpu", "Completed", ""]
    assert A.set_table_row(path, "Run Registry", "RUN1", row) == 21  # the example RUN-001 row
    assert A.set_table_row(path, "Run Registry", "RUN-002", row) == 22  # appended
    assert A.set_table_row(path, "Run Registry", "RUN-001", {"Status": "Failed"}) == 21
    # the Metric Summary's blank example row is reused, then rows are appended after it
    assert A.set_table_row(path, "Metric Summary", "RUN-001",
                           ["val/acc", "0.9", "0.8", "0.1", ""]) == 28
    assert A.set_table_row(path, "Metric Summary", "RUN-002",
                           ["RUN-002", "val/acc", "0.9", "0.8", "0.1", ""]) == 29
    art = A.load(tmp_path, A.REPORT)
    runs = A.run_registry(art)
    assert [(r.id, r.status) for r in runs] == [("RUN-001", "Failed"), ("RUN-002", "Completed")]
    assert [m.run_id for m in A.metric_summary(art)] == ["RUN-001", "RUN-002"]
    assert art.section("Success Criteria Closure").line == 31  # was 29: two rows appended


def test_set_table_row_errors(impl_copy: Path) -> None:
    with pytest.raises(UsageError):
        A.set_table_row(impl_copy, "Change Inventory", "C-001", {"Owner": "me"})
    with pytest.raises(UsageError):
        A.set_table_row(impl_copy, "Change Inventory", "C-001", ["a"] * 7)
    with pytest.raises(StateFileError):
        A.set_table_row(impl_copy, "Execution Plan", "x", ["y"])


def test_set_table_row_at_end_of_file_without_newline(tmp_path: Path) -> None:
    path = tmp_path / "code-review.md"
    path.write_text("# Code Review\n\n## Review Findings\n\n| Finding ID | Severity | Area | "
                    "Summary | Required Action |\n| --- | --- | --- | --- | --- |\n"
                    "| F-001 | Low | a | b | Done |")
    A.set_table_row(path, "Review Findings", "F-002", ["High", "metrics", "wrong mean", "fix"])
    assert path.read_text().endswith("| F-001 | Low | a | b | Done |\n"
                                     "| F-002 | High | metrics | wrong mean | fix |\n")
