"""Stage gates on a realistic digits-classifier ticket: the good artifacts pass every stage,
and each check fails on a purpose-made bad artifact with a reason that names the file, the
line and the offending value. Git-dependent checks run against real repositories."""
from __future__ import annotations

import itertools
import json
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlgate import artifacts as A
from mlgate.evidence import results as E
from mlgate import gates as G
from mlgate.errors import GateFailed, UsageError
from mlgate.state.statefile import BOOTSTRAP_KEYS, StateDoc

ROOT = Path(__file__).resolve().parents[1]
GOOD = Path(__file__).parent / "data" / "artifacts" / "good"
BAD = Path(__file__).parent / "data" / "artifacts" / "bad"
TICKET = "digits-cnn"
NON_GIT = {k: ("Non-Git" if k == "Bootstrap Mode" else "N/A") for k in BOOTSTRAP_KEYS}
INV, REQ, PLAN, IMPL = A.INVESTIGATION, A.REQUIREMENTS, A.PLAN, A.IMPLEMENTATION
REPORT, REVIEW, DOCS, HANDOFF = A.REPORT, A.REVIEW, A.DOCS_SYNC, A.HANDOFF


def git(cwd: Path, *args: str) -> str:
    out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return out.stdout.strip()


def make_state(path: Path, stage: int, bootstrap: dict[str, str]) -> StateDoc:
    text = (ROOT / "shared" / "workflow-state-template.md").read_text(encoding="utf-8")
    st = StateDoc.parse(text, path)
    st.set_snapshot(ticket=TICKET, current_stage=stage,
                    permission="Unlocked" if stage == 4 else "Locked")
    st.set_bootstrap(bootstrap)
    path.write_text(st.render(), encoding="utf-8")
    return StateDoc.load(path)


_GOLDEN: list[Path] = []


@pytest.fixture(autouse=True)
def _golden(golden: Path) -> None:
    """Every Ticket here copies the golden digits ticket (conftest): the good artifacts with
    evidence and runs that mlgate itself made and registered."""
    _GOLDEN[:] = [golden]


class Ticket:
    """A copy of the good digits ticket in a workspace, with helpers to break it. Its
    evidence registry and baselines.yaml (the golden workspace's, copied) live beside the
    workspace, outside it."""

    def __init__(self, workspace: Path, git_facts: Any = None,
                 bootstrap: dict[str, str] | None = None) -> None:
        from mlgate.config.schema import load_config
        from mlgate.evidence.registry import Registry

        golden = _GOLDEN[0]
        self.ws = workspace
        self.folder = workspace / "tickets" / "in-progress" / TICKET
        if not self.folder.exists():
            shutil.copytree(golden / "tickets" / "in-progress" / TICKET, self.folder)
        self.home = workspace.parent / f"{workspace.name}.home"  # the registry, the baseline
        if not self.home.exists():
            shutil.copytree(golden / ".mlgate", self.home / ".mlgate")
            shutil.copy(golden / "baselines.yaml", self.home / "baselines.yaml")
        self.registry = Registry.open(self.home / ".mlgate", TICKET)
        self.options = {"torch-smoke": load_config(golden).handler_options("torch-smoke")}
        readme = workspace / "README.md"
        if not readme.exists():
            readme.write_text("# digits\n")
        self.git = git_facts
        self.bootstrap = bootstrap or NON_GIT
        self.state = make_state(self.folder / "workflow-state.md", 5, self.bootstrap)

    def path(self, name: str) -> Path:
        return self.folder / name

    def edit(self, name: str, old: str, new: str) -> None:
        p = self.path(name)
        text = p.read_text(encoding="utf-8")
        assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times in {name}"
        p.write_text(text.replace(old, new), encoding="utf-8")

    def replace_rows(self, name: str, section: str, rows: list[str]) -> None:
        """Replace every row of the first table of ``section`` with ``rows``."""
        art = A.load(self.folder, name)
        assert art is not None
        t = art.section(section).tables[0]
        lines = art.doc.lines
        first_row = t.line + 2  # after header and separator
        new = [r + "\n" for r in rows]
        lines[first_row - 1:t.end_line] = new
        self.path(name).write_text("".join(lines), encoding="utf-8")

    def line_of(self, name: str, needle: str) -> int:
        for i, line in enumerate(self.path(name).read_text(encoding="utf-8").splitlines(), 1):
            if needle in line:
                return i
        raise AssertionError(f"{needle!r} not found in {name}")

    def ctx(self, **kw: Any) -> G.GateContext:
        base: dict[str, Any] = dict(ticket=TICKET, folder=self.folder, state=self.state,
                                    git=self.git, verified_by="Ada Lovelace",
                                    registry=self.registry, handler_options=self.options,
                                    workspace_root=self.home)
        base.update(kw)
        return G.GateContext(**base)

    def check(self, stage: int, **kw: Any) -> G.GateReport:
        return G.evaluate(self.ctx(**kw), stage)


@pytest.fixture
def ticket(tmp_path: Path) -> Ticket:
    return Ticket(tmp_path / "ws")


def failing(report: G.GateReport) -> dict[str, list[G.Check]]:
    out: dict[str, list[G.Check]] = {}
    for c in report.failing():
        out.setdefault(c.id, []).append(c)
    return out


def show(report: G.GateReport) -> str:
    return "\n".join(f"[{c.id}] {c.reason}" for c in report.failing())


# --- the good ticket passes ------------------------------------------------------------


@pytest.mark.parametrize("profile", ["strict", "basic"])
@pytest.mark.parametrize("stage", range(9))
def test_good_ticket_passes_every_stage(ticket: Ticket, stage: int, profile: str) -> None:
    report = ticket.check(stage, profile=profile, handlers={4: ["torch-smoke"]})
    assert report.ok, show(report)
    assert report.stage == stage and report.profile == profile
    assert all(c.id.startswith(f"s{stage}.") for c in report.checks)
    ids = [c.id for c in report.checks]
    assert len(ids) == len(set(ids)), "a passing check appears once"


def test_report_shape_and_default_stage(ticket: Ticket) -> None:
    report = G.evaluate(ticket.ctx())  # the state file says stage 5
    assert report.stage == 5
    data = report.to_dict()
    assert set(data) == {"ticket", "stage", "ok", "profile", "checks"}
    assert set(data["checks"][0]) == {"id", "ok", "reason", "file", "line", "rule"}
    json.dumps(data)
    by_id = {c.id: c for c in report.checks}
    assert by_id["s5.runs.status"].rule == 77 and by_id["s5.metrics.delta"].rule == 79


def test_strict_includes_basic(ticket: Ticket) -> None:
    for stage in range(1, 9):
        strict = {c.id for c in ticket.check(stage).checks}
        basic = {c.id for c in ticket.check(stage, profile="basic").checks}
        assert basic <= strict, (stage, basic - strict)


def test_unknown_profile_and_policy(ticket: Ticket) -> None:
    with pytest.raises(UsageError):
        ticket.check(1, profile="lenient")
    with pytest.raises(UsageError):
        ticket.check(5, stage5_policy="loose")
    with pytest.raises(UsageError):
        ticket.check(9)


def test_gate_failed_error_lists_every_failing_check(ticket: Ticket) -> None:
    ticket.edit(PLAN, "- Current Status: `Current`", "- Current Status: `Reviewing`")
    ticket.edit(PLAN, "| `src/digits/train.py:main()` |", "| somewhere |")
    err = GateFailed(ticket.check(3))
    assert err.exit_code == 1
    assert "2 failing check(s)" in str(err)
    assert "[s3.status.final] experiment-plan.md:8:" in str(err)
    assert "[s3.monitoring.source]" in str(err)


# --- one bad artifact per check ------------------------------------------------------------

Edit = tuple[str, str]


@dataclass
class Case:
    stage: int
    file: str
    edits: list[Edit] | Callable[[Ticket], None]
    check: str
    expect: list[str]
    line_of: str | None = None  # text of the offending line, after the edit
    also: set[str] = field(default_factory=set)  # other checks this break also fails
    ctx: dict[str, Any] = field(default_factory=dict)
    id: str = ""


def C(stage: int, file: str, edits: Any, check: str, expect: Any, line_of: str | None = None,
      also: tuple[str, ...] = (), **ctx: Any) -> Any:
    if isinstance(edits, tuple):
        edits = [edits]
    if isinstance(expect, str):
        expect = [expect]
    case = Case(stage, file, edits, f"s{stage}.{check}", expect, line_of,
                {f"s{stage}.{a}" for a in also}, ctx)
    return pytest.param(case, id=f"s{stage}.{check}-{next(_CASE_NO)}")


_CASE_NO = itertools.count(1)


def _delete(name: str) -> Callable[[Ticket], None]:
    return lambda t: t.path(name).unlink()


def _rows(name: str, section: str, rows: list[str]) -> Callable[[Ticket], None]:
    return lambda t: t.replace_rows(name, section, rows)


def _write(rel: str, text: str, append: bool = False) -> Callable[[Ticket], None]:
    def run(t: Ticket) -> None:
        p = t.folder / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        with p.open("a" if append else "w", encoding="utf-8") as fh:
            fh.write(text)
    return run


SMOKE_JSON = "evidence/4-torch-smoke-1.json"

CASES = [
    # stage 1: investigation-notes.md
    C(1, INV, _delete(INV), "artifact.exists", ["does not exist",
                                                "investigation-notes-template.md"]),
    C(1, INV, ("- Current Status: `Current`", "- Current Status: In Progress"), "status.final",
      ["Current Status is 'In Progress'", "needs 'Current'"], "- Current Status:"),
    C(1, INV, ("- Last Updated: 2026-05-01", "- Last Updated: yesterday"),
      "status.last-updated", "'yesterday', not a date", "- Last Updated:"),
    C(1, INV, ("## Open Questions\n", ""), "sections.present", "'## Open Questions' is missing"),
    C(1, INV, [("- Stage 2 implications: thresholds must be larger than one image (0.37 "
                "points) to mean anything.", "- Stage 2 implications:"),
               ("- Stage 3 implications: log per-epoch curves; keep the split untouched.",
                "- Stage 3 implications:"),
               ("- Validation implications: compare on the same split and seed as the "
                "baseline.", "- Validation implications:")],
      "sections.filled", "'## Planning Implications' is empty", "## Planning Implications"),
    C(1, INV, ("- Goal: find out how the digits classifier is trained and evaluated today, and "
               "what limits its accuracy.", "- Goal:"), "task-framing.filled",
      "'Goal' under ## Task Framing is empty", "- Goal:"),
    C(1, INV, ("- Classification: `Small`", "- Classification: Tiny"), "scope.classification",
      ["'Tiny'", "Small, Medium or Large"], "- Classification: Tiny"),
    C(1, INV, ("- Rationale: one model file, one training script and one config change; the "
               "data pipeline stays.", "- Rationale:"), "scope.rationale",
      "'Rationale' under ## Scope Triage is empty", "- Rationale:"),
    C(1, INV, _rows(INV, "Sources Consulted", ["|  |  |  |  |"]), "sources.rows",
      "Sources Consulted has no rows", "| Source Type"),
    C(1, INV, ("| Local File | `src/digits/train.py`", "| Website | `src/digits/train.py`"),
      "sources.type", ["Source Type is 'Website'", "Local File"], "| Website |"),
    C(1, INV, ("| 1,797 8x8 images, 10 classes |", "|  |"), "sources.cells",
      "empty 'What Was Learned' cell", "toy_dataset"),
    C(1, INV, ("| Loss / Objective | multinomial log-loss (sklearn) |", "| Loss / Objective |  |"),
      "pipeline.areas", "'Loss / Objective' has no Findings", "| Loss / Objective |"),
    C(1, INV, ("| Checkpointing / Resume | N/A | the model is refit in seconds | none |\n", ""),
      "pipeline.areas", "row 'Checkpointing / Resume' is missing",
      "## Current Code And Pipeline Findings"),
    C(1, INV, ("- Best known metric: val/acc 0.9530, test/acc 0.9500.", "- Best known metric:"),
      "baseline.fields", "'Best known metric' under ## Baseline Understanding is empty",
      "- Best known metric:"),
    # stage 2: requirements.md
    C(2, REQ, ("- Current Status: `Plan-ready`", "- Current Status: `Draft`"), "status.final",
      ["Current Status is 'Draft'", "'Plan-ready' or 'Refined'"], "- Current Status:"),
    C(2, REQ, ("## Assumptions\n", ""), "sections.present", "'## Assumptions' is missing"),
    C(2, REQ, ("- The digits data set ships with scikit-learn; no download is needed.", "-"),
      "sections.filled", "'## Assumptions' is empty", "## Assumptions"),
    C(2, REQ, _rows(REQ, "Requirements", ["| R-001 |  |  |"]), "requirements.ids",
      ["no requirement ids found", "row R-001 on line {line:| R-001 |} is still the template's empty example"],
      "| Requirement ID |", also=("sc.requirement",)),
    C(2, REQ, ("| R-003 | The same seed", "| R-002 | The same seed"), "requirements.unique",
      "requirement id R-002 is used twice (first on line {line:| R-002 |})", "| R-002 | The same seed"),
    C(2, REQ, ("| Comparator (`>=` / `<=` / `>` / `<` / `==`) |", "| Operator |"), "sc.table",
      "lacks the column(s) Comparator", "| Success Criteria ID |"),
    C(2, REQ, _rows(REQ, "Success Criteria", ["| SC-001 | R-001 |  |  |  |  |  |"]), "sc.rows",
      ["has no criteria", "row SC-001 on line {line:| SC-001 |} is still the template's empty example"],
      "| Success Criteria ID |"),
    C(2, REQ, ("| SC-002 | R-001 | test/acc", "| SC-001 | R-001 | test/acc"), "sc.id",
      "success-criterion id SC-001 is used twice (first on line {line:| SC-001 |})", "| SC-001 | R-001 | test"),
    C(2, REQ, ("| SC-003 |", "| Crit-3 |"), "sc.id", "'Crit-3' is not a success-criterion id",
      "| Crit-3 |"),
    C(2, REQ, ("| SC-003 | R-002 |", "| SC-003 | R-009 |"), "sc.requirement",
      "SC-003: requirement R-009 is not defined", "| SC-003 |"),
    C(2, REQ, ("| SC-002 | R-001 | test/acc |", "| SC-002 | R-001 |  |"), "sc.metric",
      "SC-002: Metric is empty", "| SC-002 |"),
    C(2, REQ, ("| train/wall_time_s | <= |", "| train/wall_time_s | at most |"), "sc.comparator",
      "SC-003: Comparator is 'at most'", "| SC-003 |"),
    C(2, REQ, ("| 600 | train |", "| ten minutes | train |"), "sc.threshold",
      "SC-003: Threshold 'ten minutes' is not a number", "| SC-003 |"),
    C(2, REQ, ("| 0.96 | test |", "| 0.96 |  |"), "sc.split", "SC-002: Split is empty",
      "| SC-002 |"),
    C(2, REQ, ("- Inconclusive condition: the runs crashed or the split changed, so the numbers "
               "are not comparable.", "- Inconclusive condition:"), "closure.conditions",
      "'Inconclusive condition' under ## Closure Conditions is empty",
      "- Inconclusive condition:"),
    C(2, REQ, ("- Evaluation protocol assumptions: accuracy over the whole val/test split, model "
               "in eval mode, no test-time augmentation.", "- Evaluation protocol assumptions:"),
      "dl-content.data", "'Evaluation protocol assumptions'", "- Evaluation protocol"),
    C(2, REQ, ("- Memory limits: 2 GB RAM.", "- Memory limits:"), "dl-content.resources",
      "'Memory limits' under ## Constraints And Dependencies is empty", "- Memory limits:"),
    # stage 3: experiment-plan.md
    C(3, PLAN, ("- Current Status: `Current`", "- Current Status: `Reviewing`"), "status.final",
      "Current Status is 'Reviewing'", "- Current Status:"),
    C(3, PLAN, ("- Requirements Status: `Plan-ready`", "- Requirements Status: `Refined`"),
      "basis.requirements-status",
      "Requirements Status is 'Refined' but requirements.md says 'Plan-ready' "
      "(requirements.md:8)", "- Requirements Status:"),
    C(3, PLAN, ("- Main hypothesis: two 3x3 conv layers capture stroke shape that flattened "
                "pixels lose, giving at least +1.5 points of val/acc.", "- Main hypothesis:"),
      "framing.hypothesis", "'Main hypothesis' under ## Problem Framing is empty",
      "- Main hypothesis:"),
    C(3, PLAN, _rows(PLAN, "Experiment Matrix", ["| EXP-001 |  |  |  |  | High |"]),
      "matrix.rows", ["no experiments", "row EXP-001 on line {line:| EXP-001 |} is still the template's empty "
                                        "example"], "| Experiment ID |"),
    C(3, PLAN, ("| EXP-002 | CNN at lr 3e-3", "| EXP-001 | CNN at lr 3e-3"), "matrix.id",
      "experiment id EXP-001 is used twice (first on line {line:| EXP-001 |})", "| EXP-001 | CNN at lr 3e-3"),
    C(3, PLAN, ("| same or better than EXP-001 | Medium |", "|  | Medium |"), "matrix.cells",
      "experiment EXP-002: 'Expected Outcome' is empty", "| EXP-002 |"),
    C(3, PLAN, _rows(PLAN, "Implementation Handoff", ["| W-001 |  |  |  |  |"]), "handoff.rows",
      ["no work items", "row W-001 on line"], "| Work Item ID |"),
    C(3, PLAN, ("| W-003 |", "| W-002 |"), "handoff.id", "work item id W-002 is used twice",
      "smoke.py"),
    C(3, PLAN, ("| W-003 | `src/digits/smoke.py` |", "| W-003 |  |"), "handoff.files",
      "W-003: 'Files / Configs / Scripts' is empty", "| W-003 |"),
    C(3, PLAN, ("| `src/digits/model.py` | Create |", "| `src/digits/model.py` | Add |"),
      "handoff.change-type", "W-001: Change Type is 'Add'", "| W-001 |"),
    C(3, PLAN, ("- Checkpoint naming: `checkpoints/digits-cnn/RUN-NNN/{best,last}.pt`",
                "- Checkpoint naming:"), "repro.fields", "'Checkpoint naming'",
      "- Checkpoint naming:"),
    C(3, PLAN, ("- Leakage checks: torch-smoke `leakage` check hashes the samples of each "
                "loader.", "- Leakage checks:"), "data.fields", "'Leakage checks'",
      "- Leakage checks:"),
    C(3, PLAN, [("EXP-002 -> SC-001, SC-002, SC-003.", "EXP-002 -> SC-001, SC-002."),
                ("(SC-001, SC-002, SC-003)", "(SC-001, SC-002)")], "validation.sc-coverage",
      "does not map SC-003 (from requirements.md)", "- Which success criteria"),
    C(3, PLAN, ("- Baseline comparison method: delta = CNN - logistic regression on the same "
                "split, from `baselines.yaml`.", "- Baseline comparison method:"),
      "validation.baseline-method", "'Baseline comparison method'", "- Baseline comparison"),
    C(3, PLAN, _rows(PLAN, "Monitoring", []), "monitoring.rows",
      "the Monitoring table has no rows", "| W&B key |"),
    C(3, PLAN, ("| W&B key | What it measures | How it's calculated | Source |",
                "| W&B key | What it measures | Formula | Source |"), "monitoring.table",
      "missing: How it's calculated", "| W&B key |"),
    C(3, PLAN, ("| lr | learning rate |", "| lr |  |"), "monitoring.empty-cell",
      "Monitoring row 'lr' has an empty 'What it measures' cell", "| lr |"),
    *[C(3, PLAN, ("| correct / total over the val split (argmax of logits == label) |",
                  f"| {bad} |"), "monitoring.placeholder-formula",
        [f"Monitoring row 'val/acc' has a placeholder formula '{bad.strip('`')}'",
         "write the actual formula"], "| val/acc | validation accuracy")
      for bad in ("see code", "TBD", "-", "DSC", "val/acc", "accuracy", "`acc`",
                  "see train.py")],
    C(3, PLAN, ("| `src/digits/train.py:main()` |", "| the trainer |"), "monitoring.source",
      ["Source 'the trainer'", "`train.py:evaluate()`"], "| train/wall_time_s |"),
    C(3, PLAN, ("| lr | learning rate |", "| val/acc | learning rate |"),
      "monitoring.duplicate-key", "'val/acc' is listed twice (first on line {line:| val/acc |})",
      "| val/acc | learning rate |"),
    C(3, PLAN, ("| train/wall_time_s | run duration | time.monotonic() at the end minus at the "
                "start, in seconds | `src/digits/train.py:main()` |\n", ""),
      "monitoring.sc-metrics",
      "SC-003 ({requirements.md:| SC-003 |}) uses metric 'train/wall_time_s', which the Monitoring "
      "table does not list", "| W&B key |"),
    C(3, PLAN, ("- Validation method is explicit: Yes", "- Validation method is explicit: No"),
      "checklist.items", "'Validation method is explicit' is 'No'",
      "- Validation method is explicit"),
    C(3, PLAN, ("- Ready to unlock code edits: `Yes`",
                "- Ready to unlock code edits: `Yes` / `No`"), "checklist.unlock",
      "Ready to unlock code edits is not answered", "- Ready to unlock"),
    C(3, PLAN, [("- Chosen approach: Conv(1,16,3)-ReLU-Conv(16,32,3)-ReLU-GAP-Linear(32,10), "
                 "Adam, 20 epochs.", "- Chosen approach:"),
                ("- Alternative(s) considered: an MLP on flattened pixels; gradient-boosted "
                 "trees.", "- Alternative(s) considered:"),
                ("- Why the chosen approach wins for this iteration: smallest model with "
                 "translation invariance.", "- Why the chosen approach wins for this "
                                            "iteration:")],
      "sections.filled", "'## Approach Summary' is empty", "## Approach Summary"),
    C(3, PLAN, ("## Validation Plan\n", "## Validation\n"), "sections.present",
      "'## Validation Plan' is missing", also=("sections.filled",)),
    # stage 4: implementation.md
    C(4, IMPL, ("- Current Status: `Ready For Training`", "- Current Status: `In Execution`"),
      "status.final", ["'In Execution'", "'Ready For Training'"], "- Current Status:"),
    C(4, IMPL, [("- Goal of this implementation iteration: add the CNN, per-epoch evaluation "
                 "and tracking.", "- Goal of this implementation iteration:"),
                ("- Out-of-scope items: augmentation, schedulers.", "- Out-of-scope items:"),
                ("- Main risks: silent train/eval mode mix-up in `evaluate()`.",
                 "- Main risks:")],
      "sections.filled", "'## Execution Plan' is empty", "## Execution Plan"),
    C(4, IMPL, ("## Progress Log\n", "## Log\n"), "sections.present",
      "'## Progress Log' is missing"),
    C(4, IMPL, ("- `experiment-plan.md` is current: Yes", "- `experiment-plan.md` is current:"),
      "entry-checklist.items", "'`experiment-plan.md` is current' is not answered",
      "is current:"),
    C(4, IMPL, _rows(IMPL, "Change Inventory", ["| C-001 |  |  |  | Planned |"]),
      "changes.rows", ["no changes", "row C-001 on line {line:| C-001 |} is still the template's empty "
                                     "example"], "| Change ID |", also=("changes.work-items",)),
    C(4, IMPL, ("| C-003 |", "| C-002 |"), "changes.id", "change id C-002 is used twice",
      "smoke.py"),
    C(4, IMPL, ("| Modify | W-002", "| Edit | W-002"), "changes.action",
      "C-002: Action is 'Edit'", "| C-002 |"),
    C(4, IMPL, ("| W-003: torch-smoke factory | Done |",
                "| W-003: torch-smoke factory | In Progress |"), "changes.done",
      "C-003: Status is 'In Progress'", "| C-003 |"),
    C(4, IMPL, ("| C-003 | `src/digits/smoke.py` | Create | W-003: torch-smoke factory |",
                "| C-003 | `src/digits/smoke_factory.py` | Create | torch-smoke factory |"),
      "changes.work-items",
      "work item W-003 of the plan ({experiment-plan.md:| W-003 |}; src/digits/smoke.py) is covered by "
      "no change row", "## Change Inventory"),
    C(4, IMPL, ("| Critical config loads correctly | Pass | `configs/cnn.yaml` parsed in the "
                "smoke run |\n", ""), "readiness.rows",
      "readiness row 'Critical config loads correctly' is missing",
      "## Readiness Checks Before Stage 5"),
    C(4, IMPL, ("| Training entrypoint resolves | Pass |", "| Training entrypoint resolves | Fail |"),
      "readiness.result", "readiness check 'Training entrypoint resolves' is Fail",
      "| Training entrypoint resolves |"),
    C(4, IMPL, ("| Smoke test or dry run passes | Pass | `evidence/4-torch-smoke-1.json` |",
                "| Smoke test or dry run passes | N/A | skipped |"), "readiness.smoke",
      "'Smoke test or dry run passes' is 'N/A'; it must be Pass", "| Smoke test"),
    C(4, IMPL, ("| Pass | `evaluate()` called from the smoke factory |", "| Pass |  |"),
      "readiness.evidence", "'Validation or evaluation entrypoint resolves' is Pass without "
                            "evidence", "| Validation or evaluation"),
    C(4, IMPL, ("`evidence/4-torch-smoke-1.json`", "`evidence/4-torch-smoke-7.json`"),
      "readiness.evidence", "cites evidence/4-torch-smoke-7.json, which does not exist",
      "| Smoke test"),
    C(4, IMPL, ("- Required seeds: 0", "- Required seeds:"), "handoff.fields",
      "'Required seeds' under ## Stage 5 Handoff is empty", "- Required seeds:"),
    C(4, IMPL, [("- 2026-05-03: Stage 4 started.", "- YYYY-MM-DD: Stage 4 started."),
                ("- 2026-05-03: CNN, training loop and smoke factory done; torch-smoke passed.",
                 "- CNN, training loop and smoke factory done.")], "progress.dated",
      "the Progress Log has no dated entry", "## Progress Log"),
    C(4, IMPL, _delete(SMOKE_JSON), "handler.torch-smoke",
      ["handler 'torch-smoke' has no Pass evidence", "no evidence yet",
       "run `mlgate run torch-smoke`"], also=("readiness.evidence", "evidence.registered"),
      handlers={4: ["torch-smoke"]}),
    # a Pass turned into something else by hand is no evidence at all (a real Fail result:
    # test_evidence.py); the registry names the file as altered
    C(4, IMPL, lambda t: t.path(SMOKE_JSON).write_text(
        t.path(SMOKE_JSON).read_text().replace('"status": "Pass"', '"status": "Fail"')),
      "handler.torch-smoke", ["evidence/4-torch-smoke-1.json was altered after mlgate wrote "
                              "it", "counts for nothing"],
      also=("evidence.registered", "readiness.evidence"), handlers={4: ["torch-smoke"]}),
    # stage 5: training-validation-report.md
    C(5, REPORT, _rows(REPORT, "Run Registry", ["| RUN-001 |  |  |  |  |  |  | Queued |  |"]),
      "runs.rows", ["the Run Registry has no runs",
                    "row RUN-001 on line {line:| RUN-001 |} is still the template's empty example"],
      "| Run ID | Purpose |",
      also=("metrics.run", "closure.runs", "best.run", "runs.unregistered")),
    C(5, REPORT, ("| RUN-002 | EXP-002", "| RUN-001 | EXP-002"), "runs.id",
      "run id RUN-001 is used twice (first on line {line:| RUN-001 |})", "| RUN-001 | EXP-002",
      also=("runs.unregistered", "metrics.run", "closure.runs", "best.run")),
    C(5, REPORT, ("| 0 | digits@sha256:5be1 | CPU, Intel Xeon, torch 2.13.0 | Completed | best",
                  "|  | digits@sha256:5be1 | CPU, Intel Xeon, torch 2.13.0 | Completed | best"),
      "runs.fields", "RUN-002: 'Seed' is empty", "| RUN-002 | EXP-002"),
    C(5, REPORT, ("| Completed | best epoch 18 |", "| Running | best epoch 18 |"), "runs.status",
      ["RUN-002 is still Running", "mlgate watch RUN-002"], "| RUN-002 | EXP-002",
      also=("closure.runs",)),
    C(5, REPORT, _rows(REPORT, "Metric Summary", ["|  |  |  |  |  |  |"]), "metrics.rows",
      "the Metric Summary has no rows", "| Run ID | Metric |"),
    C(5, REPORT, ("| RUN-002 | train/wall_time_s |", "| RUN-009 | train/wall_time_s |"),
      "metrics.run", "names run 'RUN-009', which is not in the Run Registry", "| RUN-009 |"),
    C(5, REPORT, ("| 0.9750 | 0.9500 | 0.0250 |", "| 0.9750 |  | 0.0250 |"), "metrics.fields",
      "RUN-002 test/acc: 'Baseline' is empty", "| 0.9750 |  |", also=("metrics.computed",)),
    C(5, REPORT, ("| 0.9806 | 0.9530 | 0.0276 |", "| 0.9806 | 0.9530 | 0.0376 |"),
      "metrics.delta", "RUN-002 val/acc: Delta 0.0376 is not Result - Baseline (0.9806 - "
                       "0.9530 = 0.0276)", "| 0.0376 |"),
    C(5, REPORT, ("| SC-003 | R-002 | train/wall_time_s <= 600 | RUN-001, RUN-002 | 38.9 s, "
                  "41.3 s | Passed | |\n", ""), "closure.missing",
      "no closure row for SC-003 ({requirements.md:| SC-003 |})", "| Success Criteria ID | Requirement"),
    C(5, REPORT, ("| SC-003 | R-002 | train/wall_time_s <= 600 | RUN-001, RUN-002 | 38.9 s, "
                  "41.3 s | Passed | |", "| SC-003 | R-002 |  | RUN-001 |  |  |  |"),
      "closure.missing", "row SC-003 on line {line:| SC-003 |} is still the template's empty example",
      "| Success Criteria ID | Requirement"),
    C(5, REPORT, ("| SC-003 | R-002 |", "| SC-004 | R-002 |"), "closure.unknown",
      "closure row 'SC-004' is not a success criterion of requirements.md", "| SC-004 |",
      also=("closure.missing",)),
    C(5, REPORT, ("| SC-002 | R-001 |", "| SC-001 | R-001 | "), "closure.duplicate",
      "SC-001 is closed twice (first on line {line:| SC-001 |})", "test/acc >= 0.96",
      also=("closure.missing", "closure.computed")),
    C(5, REPORT, ("| SC-003 | R-002 |", "| SC-003 | R-001 |"), "closure.requirement",
      "SC-003: Requirement ID is R-001 but requirements.md maps it to R-002", "| SC-003 |"),
    C(5, REPORT, ("| 0.9750 | Passed |", "| 0.9750 | OK |"), "closure.decision",
      "SC-002: Decision is 'OK'", "| SC-002 |", also=("decision.sc-policy",)),
    C(5, REPORT, ("| RUN-002 | 0.9750 |", "| RUN-003 | 0.9750 |"), "closure.runs",
      "SC-002: evidence run RUN-003 is not in the Run Registry", "| SC-002 |"),
    C(5, REPORT, ("| 0.9750 | Passed | |", "| 0.9750 | Inconclusive |  |"),
      "closure.inconclusive-notes", "SC-002 is Inconclusive without a reason", "| SC-002 |",
      also=("decision.sc-policy",)),
    C(5, REPORT, ("| 38.9 s, 41.3 s | Passed | |", "| 38.9 s, 41.3 s | Waived |  |"),
      "closure.waiver", "SC-003 is Waived without a recorded user waiver", "| SC-003 |"),
    C(5, REPORT, ("- Checkpoint(s): `checkpoints/digits-cnn/RUN-002/best.pt`",
                  "- Checkpoint(s):"), "repro.fields", "'Checkpoint(s)'", "- Checkpoint(s):"),
    C(5, REPORT, ("- Best run: RUN-002", "- Best run: RUN-004"), "best.run",
      "Best run RUN-004 is not in the Run Registry", "- Best run:", also=("best.computed",)),
    C(5, REPORT, ("- Confidence in the result: medium-high; one seed, but +2.76 points is 7 "
                  "images of margin.", "- Confidence in the result:"), "best.confidence",
      "'Confidence in the result'", "- Confidence in the result:"),
    C(5, REPORT, ("- Stage 5 Decision: `Pass`", "- Stage 5 Decision: `Fail`"), "decision.pass",
      ["Stage 5 Decision is 'Fail'", "mlgate reenter"], "- Stage 5 Decision:"),
    C(5, REPORT, ("- Next action: code review of the CNN and training loop.", "- Next action:"),
      "decision.next-action", "'Next action' under ## Gate Decision is empty", "- Next action:"),
    C(5, REPORT, ("| 0.9750 | Passed | |", "| 0.9750 | Failed | below the bar |"),
      "decision.sc-policy", ["Stage 5 Decision is Pass but SC-002 is Failed",
                             "stage5_policy 'strict'"], "| SC-002 |"),
    C(5, REPORT, ("| 0.9750 | Passed | |", "| 0.9750 | Inconclusive | one seed only |"),
      "decision.sc-policy", "SC-002 is Inconclusive", "| SC-002 |"),
    C(5, REPORT, lambda t: (t.folder / "runs" / "RUN-003").mkdir(), "runs.unregistered",
      "runs/RUN-003 exists but the Run Registry has no row for it", "## Run Registry",
      also=("runs.registered",)),
    C(5, REPORT, _delete("runs/RUN-001/metrics.jsonl"), "runs.record",
      "RUN-001 is Completed but runs/RUN-001/metrics.jsonl does not exist", "| RUN-001 | EXP",
      also=("runs.registered", "closure.computed")),
    C(5, REPORT, _write("runs/RUN-002/metrics.jsonl", '{"step": 9, "val/f1": 0.9}\n', True),
      "runs.logged-keys", "RUN-002 logged key(s) not in the plan's Monitoring table: val/f1",
      "| RUN-002 | EXP", also=("runs.registered", "closure.computed", "best.computed")),
    C(5, REPORT, lambda t: t.edit(PLAN, "| lr | learning rate |",
                                  "| val/f1 | macro F1 | mean of per-class F1 | `src/digits/"
                                  "train.py:evaluate()` |\n| lr | learning rate |"),
      "runs.logged-keys", "RUN-001 never logged the Monitoring key(s): val/f1",
      "| RUN-001 | EXP"),
    C(5, REPORT, lambda t: [p.unlink() for p in (t.folder / "runs/RUN-002/viz").iterdir()],
      "runs.viz",
      "RUN-002 has no plot in runs/RUN-002/viz/", "| RUN-002 | EXP"),
    C(5, REPORT, lambda t: None, "handler.train",
      ["handler 'train' has no Pass evidence", "run `mlgate run train`"],
      handlers={5: ["train"]}),
    C(5, REPORT, ("- Current Status: `Current`", "- Current Status: `In Progress`"),
      "status.final", "Current Status is 'In Progress'", "- Current Status:"),
    C(5, REPORT, [("- Implementation defects found: none.", "- Implementation defects found:"),
                  ("- Training instability or optimization issues: none; loss decreases "
                   "monotonically.", "- Training instability or optimization issues:"),
                  ("- Data or split issues: none; the smoke leakage check found no shared "
                   "samples.", "- Data or split issues:"),
                  ("- Metric interpretation issues: val/acc is the best epoch (max:), test/acc "
                   "the final model.", "- Metric interpretation issues:"),
                  ("- Remaining unknowns: seed variance (only seed 0 was run).",
                   "- Remaining unknowns:")],
      "sections.filled", "'## Failure Analysis' is empty", "## Failure Analysis"),
    # stage 6: code-review.md
    C(6, REVIEW, ("- Current Status: `Current`", "- Current Status: `In Progress`"),
      "status.final", "Current Status is 'In Progress'", "- Current Status:"),
    C(6, REVIEW, ("- Stage 5 evidence reviewed: training-validation-report.md, runs/RUN-001 and "
                  "runs/RUN-002 (meta, metrics, plots)", "- Stage 5 evidence reviewed:"),
      "scope.fields", "'Stage 5 evidence reviewed' under ## Review Scope is empty",
      "- Stage 5 evidence reviewed:"),
    C(6, REVIEW, ("| Checkpoint semantics | Pass | smoke `checkpoint` round trip; best.pt saved "
                  "on val/acc |\n", ""), "checks.rows",
      "mandatory check 'Checkpoint semantics' is missing", "## Mandatory Checks"),
    C(6, REVIEW, ("| Metric correctness | Pass |", "| Metric correctness | Looks fine |"),
      "checks.result", "mandatory check 'Metric correctness' has result 'Looks fine'",
      "| Metric correctness |", also=("decision.checks-pass",)),
    C(6, REVIEW, ("| Config traceability | Pass | config hash in runs/RUN-002/meta.json |",
                  "| Config traceability | Pass |  |"), "checks.evidence",
      "mandatory check 'Config traceability' has no evidence", "| Config traceability |"),
    C(6, REVIEW, ("| F-002 | Low |", "| F-001 | Low |"), "findings.id",
      "finding id F-001 is used twice (first on line {line:| F-001 |})", "| F-001 | Low |"),
    C(6, REVIEW, ("| F-002 | Low |", "| F-002 | Minor |"), "findings.severity",
      "finding F-002: Severity is 'Minor'", "| F-002 |"),
    C(6, REVIEW, ("- Stage 6 Decision: `Pass`", "- Stage 6 Decision: `Fail`"), "decision.pass",
      ["Stage 6 Decision is 'Fail'", "Re-Entry Classification"], "- Stage 6 Decision:"),
    C(6, REVIEW, ("| Numerical stability risk | Pass |",
                  "| Numerical stability risk | Needs Follow-Up |"), "decision.checks-pass",
      "mandatory check 'Numerical stability risk' is Needs Follow-Up",
      "| Numerical stability risk |"),
    C(6, REVIEW, ("| F-002 | Low | Logging | lr is logged once per epoch, not per step | N/A |",
                  "| F-002 | High | Metrics | val/acc is computed on the train loader | Move "
                  "evaluate() to the val loader |"), "decision.high-findings",
      ["High finding F-002 is still open", "Move evaluate() to the val loader"], "| F-002 |"),
    C(6, REVIEW, [("- Files reviewed: `src/digits/model.py`, `src/digits/train.py`, "
                   "`src/digits/smoke.py`, `configs/cnn.yaml`", "- Files reviewed:"),
                  ("- Training / evaluation paths reviewed: `train_epoch()`, `evaluate()`, "
                   "`main()`", "- Training / evaluation paths reviewed:"),
                  ("- Stage 5 evidence reviewed: training-validation-report.md, runs/RUN-001 "
                   "and runs/RUN-002 (meta, metrics, plots)", "- Stage 5 evidence reviewed:")],
      "sections.filled", "'## Review Scope' is empty", "## Review Scope",
      also=("scope.fields",)),
    # stage 7: docs-sync.md
    C(7, DOCS, ("- Current Status: `Current`", "- Current Status: `Draft`"), "status.final",
      "Current Status is 'Draft'", "- Current Status:"),
    C(7, DOCS, ("- Docs impacted: `Yes`", "- Docs impacted: Maybe"), "impact.value",
      "Docs impacted is 'Maybe'; answer Yes or No", "- Docs impacted:"),
    C(7, DOCS, _rows(DOCS, "Updated Documents", ["|  |  |  |"]), "docs.rows",
      "Docs impacted is Yes but Updated Documents has no rows", "| Path |"),
    C(7, DOCS, ("| `README.md` |", "| `docs/digits.md` |"), "docs.exists",
      "updated document docs/digits.md does not exist", "| `docs/digits.md` |"),
    C(7, DOCS, [("- Docs impacted: `Yes`", "- Docs impacted: `No`"),
                ("affected: N/A (docs changed)", "affected:")], "no-impact.rationale",
      "Docs impacted is No but the No-Impact Rationale is empty", "## No-Impact Rationale"),
    C(7, DOCS, ("- Stage 7 Decision: `Pass`", "- Stage 7 Decision: `Blocked`"), "decision.pass",
      "Stage 7 Decision is 'Blocked'", "- Stage 7 Decision:"),
    C(7, DOCS, ("val/acc 0.9806 (+0.0276", "val/acc 0.981 (+0.0276"), "facts.best-result",
      ["quotes 0.981, which is not a number of RUN-002", "copy the numbers exactly"],
      "- Best current result:"),
    C(7, DOCS, ("test/acc 0.9750", "test/acc 0.99"), "facts.best-result",
      "quotes 0.99", "- Best current result:"),
    C(7, DOCS, lambda t: t.path(DOCS).write_text(re.sub(
        r"(?m)^(- (Commands|Config assumptions|Dataset or split assumptions|Best current "
        r"result|Reproduction notes|Caveats)):.*$", r"\1:", t.path(DOCS).read_text())),
      "sections.filled", "'## Synced Facts' is empty", "## Synced Facts"),
    # stage 8: handoff-summary.md
    C(8, HANDOFF, ("## Outstanding Risks\n", ""), "sections.present",
      "'## Outstanding Risks' is missing"),
    C(8, HANDOFF, ("- Seed variance is unmeasured.", "-"), "sections.filled",
      "'## Outstanding Risks' is empty", "## Outstanding Risks"),
    C(8, HANDOFF, ("- Best run: RUN-002", "- Best run: RUN-005"), "best.run",
      "Best run RUN-005 is not a run of training-validation-report.md (runs: RUN-001, RUN-002)",
      "- Best run:"),
    C(8, HANDOFF, ("- Comparison to baseline: +0.0276 val/acc and +0.0250 test/acc over "
                   "logistic regression (0.9530 / 0.9500)", "- Comparison to baseline:"),
      "best.comparison", "'Comparison to baseline' under ## Best Current Evidence is empty",
      "- Comparison to baseline:"),
    C(8, HANDOFF, ("- Repository finalization complete when applicable: `Yes` / `No` / `N/A`",
                   "- Repository finalization complete when applicable: soon"),
      "finalization.values", "is 'soon'; allowed: Yes, No, N/A", "- Repository finalization"),
    C(8, HANDOFF, lambda t: None, "verification", "the user runs `mlgate verify --by NAME`",
      verified_by=None),
    C(8, HANDOFF, ("- User verification received: `Yes` / `No`",
                   "- User verification received: Yes"), "verification",
      "only `mlgate verify` records a verification", "- User verification received:",
      verified_by=None),
]


@pytest.mark.parametrize("case", CASES)
def test_bad_artifact_fails_its_check(ticket: Ticket, case: Case) -> None:
    if callable(case.edits):
        case.edits(ticket)
    else:
        for old, new in case.edits:
            ticket.edit(case.file, old, new)
    ctx = {"handlers": {}}
    ctx.update(case.ctx)
    report = ticket.check(case.stage, **ctx)
    fails = failing(report)
    assert case.check in fails, show(report)
    assert not report.ok
    assert set(fails) - {case.check} <= case.also, show(report)
    reasons = [c.reason for c in fails[case.check]]

    def lines(m: re.Match[str]) -> str:
        name = case.file if m.group(1) == "line" else m.group(1)
        n = ticket.line_of(name, m.group(2))
        return str(n) if m.group(1) == "line" else f"{name}:{n}"

    for text in case.expect:
        text = re.sub(r"\{([\w.-]+):([^}]*)\}", lines, text)
        assert any(text in r for r in reasons), (text, reasons)
    if case.line_of is not None:
        n = ticket.line_of(case.file, case.line_of)
        assert any(r.startswith(f"{case.file}:{n}: ") for r in reasons), (n, reasons)
        assert any(c.line == n and c.file == case.file for c in fails[case.check])
    assert all(c.rule is None or 3 <= c.rule <= 108 for c in report.checks)


def test_every_strict_check_id_is_exercised() -> None:
    """Each check id of the documented table has a failing case here or below."""
    table = (ROOT / "docs" / "gates.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"`(s\d\.[a-z0-9.\-]+)`", table))
    covered = {p.values[0].check for p in CASES}
    # tested by the stage-0, git-backed and per-stage tests further down
    covered |= {"s0.folder.exists", "s0.state.exists", "s0.requirements.exists",
                "s0.requirements.status", "s0.bootstrap.mode", "s0.bootstrap.fields",
                "s0.git.branch", "s0.git.worktree", "s4.changes.unlisted-files",
                "s5.runs.code-basis", "s6.source.unchanged", "s7.docs.changed",
                "s0.requirements.goal"}  # the untouched template: test_git_workflow, test_cli_ux
    # the evidence registry and the numbers mlgate computes: tests/test_evidence.py
    covered |= {"s4.evidence.registered", "s5.evidence.registered", "s5.runs.registered",
                "s5.runs.provenance", "s5.metrics.computed", "s5.closure.computed",
                "s5.best.computed", "s7.docs.numbers", "s5.metrics.baseline-file"}
    covered |= {f"s{n}.artifact.exists" for n in range(1, 9)}  # test_missing_artifact_...
    covered |= {f"s{n}.status.last-updated" for n in range(2, 8)}  # test_last_updated_...
    covered |= {f"s{n}.sections.present" for n in range(2, 8)}  # test_status_last_updated_...
    assert documented, "docs/gates.md lists no check ids"
    assert documented <= covered, sorted(documented - covered)


@pytest.mark.parametrize("stage", range(1, 9))
def test_missing_artifact_fails_only_that_check(ticket: Ticket, stage: int) -> None:
    name = A.REQUIREMENTS if stage == 2 else G.C.STAGES[stage].artifact
    ticket.path(name).unlink()
    report = ticket.check(stage)
    fails = failing(report)
    assert f"s{stage}.artifact.exists" in fails
    if stage in (1, 6, 7):
        assert list(fails) == [f"s{stage}.artifact.exists"]
    reason = fails[f"s{stage}.artifact.exists"][0].reason
    assert reason.startswith(f"{name}: does not exist") and G.C.STAGES[stage].template in reason


@pytest.mark.parametrize("stage, file", [(s, G.C.STAGES[s].artifact) for s in range(2, 8)])
def test_status_last_updated_and_sections_per_stage(ticket: Ticket, stage: int,
                                                    file: str) -> None:
    path = ticket.path(file)
    text = path.read_text()
    text = re.sub(r"- Last Updated: .*", "- Last Updated:", text, count=1)
    text = text.replace("\n## Document Status\n", "\n## Document Sttus\n")
    path.write_text(text)
    fails = failing(ticket.check(stage))
    assert "'## Document Status' is missing" in fails[f"s{stage}.sections.present"][0].reason
    assert f"s{stage}.status.final" in fails  # no Document Status section: no status


@pytest.mark.parametrize("stage", range(2, 8))
def test_last_updated_must_be_a_date(ticket: Ticket, stage: int) -> None:
    file = G.C.STAGES[stage].artifact
    path = ticket.path(file)
    path.write_text(re.sub(r"- Last Updated: .*", "- Last Updated:", path.read_text(), count=1))
    fails = failing(ticket.check(stage))
    assert list(fails) == [f"s{stage}.status.last-updated"]
    n = ticket.line_of(file, "- Last Updated:")
    assert fails[f"s{stage}.status.last-updated"][0].reason == (
        f"{file}:{n}: Last Updated is empty; write the date of the last change as YYYY-MM-DD")


def test_monitoring_source_and_formula_rules() -> None:
    for good in ("correct / total", "mean(loss)", "1 - acc", "sum_i w_i * l_i"):
        assert not G.placeholder_formula(good, "val/acc"), good
    for bad in ("see code", "TBD", "-", "DSC", "acc", "val/acc", "val acc", "Accuracy.", None):
        assert G.placeholder_formula(bad, "val/acc"), bad
    for ok in ("train.py:evaluate()", "`src/a/b.py:Trainer.step()`", "wandb", "wandb (system)",
               "train.py:log(), eval.py:run()", "mlgate"):
        assert G.valid_source(ok), ok
    for bad in ("train.py", "evaluate()", "the trainer", "", None, "train.py:evaluate(), x"):
        assert not G.valid_source(bad), bad


def test_delta_tolerates_the_rounding_of_written_numbers(ticket: Ticket) -> None:
    # 0.97126 - 0.95004 = 0.02122: written rounded to 4 places the difference is off by 1e-4
    ticket.edit(REPORT, "| 0.9722 | 0.9530 | 0.0192 |", "| 0.9713 | 0.9500 | 0.0212 |")
    assert "s5.metrics.delta" not in failing(ticket.check(5))
    ticket.edit(REPORT, "| 0.9713 | 0.9500 | 0.0212 |", "| 0.9713 | 0.9500 | 0.0200 |")
    assert "s5.metrics.delta" in failing(ticket.check(5))
    ticket.edit(REPORT, "| 0.9713 | 0.9500 | 0.0200 |", "| 97.13% | 95.00% | 2.13% |")
    assert "s5.metrics.delta" not in failing(ticket.check(5))


def test_permissive_policy_accepts_inconclusive(ticket: Ticket) -> None:
    ticket.edit(REPORT, "| 0.9750 | Passed | |", "| 0.9750 | Inconclusive | one seed only |")
    assert "s5.decision.sc-policy" in failing(ticket.check(5))
    assert ticket.check(5, stage5_policy="permissive").ok
    ticket.edit(REPORT, "| 0.9750 | Inconclusive | one seed only |", "| 0.9750 | Failed | x |")
    report = ticket.check(5, stage5_policy="permissive")
    assert "Passed or Waived or Inconclusive" in failing(report)["s5.decision.sc-policy"][0].reason


def test_waiver_with_notes_and_wandb_keys_pass(ticket: Ticket) -> None:
    ticket.edit(REPORT, "| 38.9 s, 41.3 s | Passed | |",
                "| 38.9 s, 41.3 s | Waived | waived by Ada on 2026-05-04 (slow CI) |")
    ticket.edit(PLAN, "| lr | learning rate |",
                "| system/cpu | CPU use | percent of one core, sampled by wandb | wandb |\n"
                "| lr | learning rate |")
    assert ticket.check(5).ok, show(ticket.check(5))


def test_percent_claim_matches_fraction_in_report(ticket: Ticket) -> None:
    ticket.edit(DOCS, "test/acc 0.9750", "test/acc 97.5%")
    assert ticket.check(7).ok


def test_no_impact_docs_pass_without_updated_documents(ticket: Ticket) -> None:
    ticket.edit(DOCS, "- Docs impacted: `Yes`", "- Docs impacted: `No`")
    ticket.replace_rows(DOCS, "Updated Documents", ["|  |  |  |"])
    ticket.edit(DOCS, "affected: N/A (docs changed)",
                "affected: the CNN is experimental and not yet user-facing")
    assert ticket.check(7).ok, show(ticket.check(7))


def test_handwritten_requirements_with_bold_ids(ticket: Ticket) -> None:
    """A requirements file in the style of the original example ticket: `## Goal`,
    `## Required behavior` with `- **R1 ...:**` bullets; ids written R1/SC1."""
    text = ticket.path(REQ).read_text()
    text = text.replace("## Goal / Problem Statement", "## Goal")
    start = text.index("## Requirements")
    end = text.index("## Baseline Or Comparison Target")
    text = text[:start] + ("## Required behavior\n\n- **R1 Accuracy:** beat the baseline.\n"
                           "- **R2 Runtime:** under 10 minutes.\n\n") + text[end:]
    text = text.replace("| SC-001 | R-001 |", "| SC1 | R1 |").replace("| SC-003 | R-002 |",
                                                                    "| SC3 | R2 |")
    ticket.path(REQ).write_text(text)
    assert ticket.check(2).ok, show(ticket.check(2))
    assert ticket.check(5).ok, show(ticket.check(5))  # SC1 in requirements == SC-001 in report


# --- basic profile ----------------------------------------------------------------------


@pytest.mark.parametrize("stage", range(1, 8))
def test_basic_profile_checks_status_and_sections_only(ticket: Ticket, stage: int) -> None:
    file = A.REQUIREMENTS if stage == 2 else G.C.STAGES[stage].artifact
    # a strict-only defect everywhere: broken monitoring, bad delta, no verification...
    ticket.edit(PLAN, "| `src/digits/train.py:main()` |", "| the trainer |")
    ticket.edit(REPORT, "| 0.9806 | 0.9530 | 0.0276 |", "| 0.9806 | 0.9530 | 0.0376 |")
    ticket.edit(IMPL, "| W-003: torch-smoke factory | Done |", "| W-003 | In Progress |")
    ticket.edit(INV, "- Classification: `Small`", "- Classification: Tiny")
    ticket.edit(REQ, "| 600 | train |", "| ten | train |")
    ticket.edit(REVIEW, "| F-002 | Low | Logging | lr is logged once per epoch, not per step | N/A |",
                "| F-002 | High | Logging | lr is logged once per epoch | log per step |")
    ticket.edit(DOCS, "val/acc 0.9806 (+0.0276", "val/acc 0.99 (+0.0276")
    assert ticket.check(stage, profile="basic").ok
    assert not ticket.check(stage).ok
    path = ticket.path(file)
    st = G.C.STAGES[stage]
    path.write_text(re.sub(r"- Current Status: .*", f"- Current Status: {st.statuses[0]}",
                           path.read_text(), count=1))
    fails = failing(ticket.check(stage, profile="basic"))
    assert list(fails) == [f"s{stage}.status.final"]
    assert f"Current Status is '{st.statuses[0]}'" in fails[f"s{stage}.status.final"][0].reason


@pytest.mark.parametrize("stage, file, section", [
    (1, INV, "Open Questions"), (3, PLAN, "Risks And Open Questions"),
    (5, REPORT, "Failure Analysis"), (8, HANDOFF, "Recommended Next Steps")])
def test_basic_profile_empty_section(ticket: Ticket, stage: int, file: str, section: str) -> None:
    art = A.load(ticket.folder, file)
    s = art.section(section)
    lines = art.doc.lines
    lines[s.line:s.end] = ["\n"]
    ticket.path(file).write_text("".join(lines))
    fails = failing(ticket.check(stage, profile="basic"))
    assert list(fails) == [f"s{stage}.sections.filled"]
    assert fails[f"s{stage}.sections.filled"][0].reason == (
        f"{file}:{s.line}: section '## {section}' is empty; fill it in (write 'None' if there "
        f"is truly nothing to say)")


def test_basic_docs_sync_needs_documents_or_rationale(ticket: Ticket) -> None:
    ticket.replace_rows(DOCS, "Updated Documents", ["|  |  |  |"])
    ticket.edit(DOCS, "affected: N/A (docs changed)", "affected:")
    fails = failing(ticket.check(7, profile="basic"))
    assert "neither Updated Documents nor No-Impact Rationale" in \
        fails["s7.sections.filled"][0].reason


def test_basic_stage8_still_needs_verify(ticket: Ticket) -> None:
    fails = failing(ticket.check(8, profile="basic", verified_by=None))
    assert list(fails) == ["s8.verification"]


# --- stage 0 ---------------------------------------------------------------------------


def test_stage0_non_git(ticket: Ticket) -> None:
    assert ticket.check(0).ok
    ticket.edit(REQ, "- Current Status: `Plan-ready`", "- Current Status: `Approved`")
    fails = failing(ticket.check(0))
    assert fails["s0.requirements.status"][0].reason == (
        "requirements.md:8: Current Status is 'Approved'; allowed: Draft, Plan-ready, Refined")
    ticket.path(REQ).unlink()
    (ticket.folder / "workflow-state.md").unlink()
    fails = failing(ticket.check(0))
    assert set(fails) == {"s0.requirements.exists", "s0.state.exists"}
    report = G.evaluate(G.GateContext(ticket=TICKET, folder=ticket.ws / "nope",
                                      state=ticket.state), 0)
    assert "s0.folder.exists" in failing(report)


def test_stage0_bootstrap_record(ticket: Ticket) -> None:
    sp = ticket.folder / "workflow-state.md"
    ticket.state.set_bootstrap({"Ticket Branch": "codex/digits-cnn"})
    fails = failing(ticket.check(0))
    line = ticket.state.line_of("Stage 0 Bootstrap Record", "Ticket Branch")
    assert list(fails) == ["s0.bootstrap.fields"]
    assert fails["s0.bootstrap.fields"][0].reason == (
        f"workflow-state.md:{line}: Ticket Branch is 'codex/digits-cnn'; in Non-Git mode every "
        f"git-only field must be `N/A`")
    state = make_state(sp, 0, {k: None for k in BOOTSTRAP_KEYS})
    fails = failing(G.evaluate(ticket.ctx(state=state), 0))
    assert list(fails) == ["s0.bootstrap.mode"]
    assert "Bootstrap Mode is not set" in fails["s0.bootstrap.mode"][0].reason
    state = make_state(sp, 0, {**NON_GIT, "Bootstrap Mode": "Git"})
    fails = failing(G.evaluate(ticket.ctx(state=state), 0))
    assert "Bootstrap Mode is 'Git' but the workspace is not a git repository" in \
        fails["s0.bootstrap.mode"][0].reason


# --- git-backed checks -----------------------------------------------------------------------


class RepoFacts:
    """The GitFacts protocol over the real git CLI (the engine provides its own)."""

    def __init__(self, root: Path) -> None:
        self.repo_root = root

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["git", *args], cwd=self.repo_root, capture_output=True,
                              text=True)

    def head(self) -> str | None:
        r = self._run("rev-parse", "HEAD")
        return r.stdout.strip() if r.returncode == 0 else None

    def branch_exists(self, name: str) -> bool:
        return self._run("rev-parse", "--verify", "--quiet", f"refs/heads/{name}").returncode == 0

    def worktree_for_branch(self, name: str) -> Path | None:
        path = None
        for line in self._run("worktree", "list", "--porcelain").stdout.splitlines():
            if line.startswith("worktree "):
                path = Path(line[len("worktree "):])
            elif line == f"branch refs/heads/{name}":
                return path
        return None

    def changed_files(self, since: str) -> list[str]:
        return [p for p in self._run("diff", "--name-only", since, "HEAD").stdout.splitlines() if p]

    def dirty_files(self) -> list[str]:
        return [p for p in self._run("diff", "--name-only", "HEAD").stdout.splitlines() if p]

    def commit_exists(self, sha: str) -> bool:
        return self._run("cat-file", "-e", f"{sha}^{{commit}}").returncode == 0

    def is_ancestor(self, a: str, b: str) -> bool:
        return self._run("merge-base", "--is-ancestor", a, b).returncode == 0

    def merge_base(self, a: str, b: str) -> str | None:
        r = self._run("merge-base", a, b)
        return r.stdout.strip() if r.returncode == 0 else None


SOURCES = {"src/digits/model.py": "class DigitsCNN: ...\n", "src/digits/train.py": "def main(): ...\n",
           "src/digits/smoke.py": "def make(): ...\n", "configs/cnn.yaml": "lr: 0.001\n"}


@pytest.fixture
def gticket(git_repo: Path) -> Ticket:
    """The digits ticket in its own worktree on codex/digits-cnn, branched from main; the
    ticket folder is committed, then the stage-4 source changes are committed."""
    wt = git_repo.parent / "repo.worktrees" / TICKET
    git(git_repo, "worktree", "add", "-q", "-b", f"codex/{TICKET}", str(wt), "main")
    facts = RepoFacts(wt)
    boot = {"Bootstrap Mode": "Git", "User-Specified Base Branch": "N/A",
            "Resolved Base Remote": "N/A", "Resolved Base Branch": "main",
            "Default Finalization Target Remote": "N/A",
            "Default Finalization Target Branch": "main", "Remote Refresh Performed": "N/A",
            "Remote Refresh Result": "no remote configured", "Ticket Worktree Path": str(wt),
            "Ticket Branch": f"codex/{TICKET}"}
    t = Ticket(wt, facts, boot)
    git(wt, "add", "-A")
    git(wt, "commit", "-q", "-m", "ticket")
    t.entry4 = git(wt, "rev-parse", "HEAD")  # type: ignore[attr-defined]
    for rel, text in SOURCES.items():
        (wt / rel).parent.mkdir(parents=True, exist_ok=True)
        (wt / rel).write_text(text)
    git(wt, "add", "-A")
    git(wt, "commit", "-q", "-m", "CNN")
    t.code = git(wt, "rev-parse", "HEAD")  # type: ignore[attr-defined]
    for run in ("RUN-001", "RUN-002"):
        A.set_table_row(t.path(REPORT), "Run Registry", run, {"Code Basis": f"`{t.code}`"})
    git(wt, "commit", "-q", "-am", "report")
    t.entries = {4: t.entry4, 5: t.code, 6: git(wt, "rev-parse", "HEAD")}  # type: ignore
    return t


def commit(t: Ticket, rel: str, text: str, msg: str = "change") -> str:
    p = t.ws / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)
    git(t.ws, "add", "-A")
    git(t.ws, "commit", "-q", "-m", msg)
    return git(t.ws, "rev-parse", "HEAD")


def gcheck(t: Ticket, stage: int, **kw: Any) -> G.GateReport:
    kw.setdefault("stage_entry_commits", t.entries)  # type: ignore[attr-defined]
    kw.setdefault("base_ref", "main")
    kw.setdefault("source_filter", lambda p: not p.endswith(".md"))
    return t.check(stage, **kw)


def test_git_good_ticket_passes(gticket: Ticket) -> None:
    commit(gticket, "README.md", "# digits\n\nTrain the CNN: python -m digits.train\n", "docs")
    for stage in range(9):
        report = gcheck(gticket, stage)
        assert report.ok, (stage, show(report))


def test_git_stage0_branch_and_worktree(gticket: Ticket) -> None:
    assert gcheck(gticket, 0).ok
    st = gticket.state
    st.set_bootstrap({"Ticket Worktree Path": str(gticket.ws.parent / "elsewhere")})
    fails = failing(gcheck(gticket, 0))
    assert list(fails) == ["s0.git.worktree"]
    assert f"codex/{TICKET} is checked out at {gticket.ws}" in fails["s0.git.worktree"][0].reason
    st.set_bootstrap({"Ticket Branch": "codex/other"})
    fails = failing(gcheck(gticket, 0))
    line = st.line_of("Stage 0 Bootstrap Record", "Ticket Branch")
    assert fails["s0.git.branch"][0].reason == (
        f"workflow-state.md:{line}: branch 'codex/other' does not exist; run `mlgate new "
        f"{TICKET}` to create or reuse it")
    st.set_bootstrap({"Ticket Branch": "main", "Ticket Worktree Path": str(gticket.ws)})
    fails = failing(gcheck(gticket, 0))
    assert "no git worktree has main checked out" not in str(fails)  # main is checked out
    st.set_bootstrap({"Ticket Branch": "N/A"})
    fails = failing(gcheck(gticket, 0))
    assert "Ticket Branch is 'N/A'; in Git mode it must name the real value" in \
        fails["s0.bootstrap.fields"][0].reason
    state = make_state(gticket.folder / "workflow-state.md", 0, NON_GIT)
    fails = failing(gcheck(gticket, 0, state=state))
    assert "Bootstrap Mode is 'Non-Git' but the workspace is a git repository" in \
        fails["s0.bootstrap.mode"][0].reason


def test_git_stage4_agent_hook_files_are_not_changes(gticket: Ticket, git_repo: Path) -> None:
    from mlgate.lock import install as I

    I.install(git_repo, claude=True, codex=True)  # into every checkout, the ticket's too
    assert (gticket.ws / ".claude" / "settings.local.json").exists()
    assert gcheck(gticket, 4).ok


def test_git_stage4_unlisted_files(gticket: Ticket) -> None:
    assert gcheck(gticket, 4).ok
    commit(gticket, "src/digits/extra.py", "x = 1\n")
    commit(gticket, "tickets/in-progress/digits-cnn/notes.md", "ticket files never count\n")
    (gticket.ws / "src" / "model.py").write_text("x = 2\n")  # uncommitted edit
    fails = failing(gcheck(gticket, 4))
    assert list(fails) == ["s4.changes.unlisted-files"]
    reasons = [c.reason for c in fails["s4.changes.unlisted-files"]]
    line = gticket.line_of(IMPL, "## Change Inventory")
    entry = gticket.entries[4][:12]  # type: ignore[attr-defined]
    assert reasons == [
        f"implementation.md:{line}: src/digits/extra.py changed since the stage-4 entry "
        f"({entry}) but no Change Inventory row lists it; add it to a row's 'Files / Configs / "
        f"Scripts'",
        f"implementation.md:{line}: src/model.py changed since the stage-4 entry ({entry}) but "
        f"no Change Inventory row lists it; add it to a row's 'Files / Configs / Scripts'"]
    # a directory entry covers every file below it; the source filter can exclude paths
    gticket.edit(IMPL, "| C-003 | `src/digits/smoke.py` |", "| C-003 | `src/digits/` |")
    report = gcheck(gticket, 4, source_filter=lambda p: not p.startswith("src/model"))
    assert report.ok, show(report)


def smoke(t: Ticket, commit: str | None, dirty: tuple[str, ...] = ()) -> E.HandlerResult:
    """The real torch-smoke handler through the real runner, its evidence registered in the
    ticket's registry (the factory comes from tests/data/smoke, as configured for golden)."""
    from mlgate.handlers.runner import run_handler
    from mlgate.handlers.torch_smoke import TorchSmokeHandler

    ctx = E.HandlerContext(workspace=t.ws, ticket=TICKET, stage=4, folder=t.folder,
                           worktree=ROOT / "tests" / "data" / "smoke",
                           options=t.options["torch-smoke"], commit=commit,
                           dirty=bool(dirty), dirty_files=list(dirty),
                           evidence_registry=t.registry)
    result = run_handler(TorchSmokeHandler(), ctx)
    assert result.status == "Pass", result.checks
    return result


def test_git_stage4_evidence_freshness(gticket: Ticket) -> None:
    head = git(gticket.ws, "rev-parse", "HEAD")
    assert smoke(gticket, head).evidence == "evidence/4-torch-smoke-2.json"  # cited in the row
    handlers = {4: ["torch-smoke"]}
    report = gcheck(gticket, 4, handlers=handlers)
    assert report.ok, show(report)
    # committing the ticket's own files does not make the evidence stale
    commit(gticket, f"tickets/in-progress/{TICKET}/implementation.md",
           gticket.path(IMPL).read_text(), "ticket")
    report = gcheck(gticket, 4, handlers=handlers)
    assert report.ok, show(report)
    assert "only non-source files changed since" in \
        {c.id: c for c in report.checks}["s4.handler.torch-smoke"].reason
    # a source commit does
    new = commit(gticket, "src/digits/model.py", "class DigitsCNN: pass\n")
    fails = failing(gcheck(gticket, 4, handlers=handlers))
    reason = fails["s4.handler.torch-smoke"][0].reason
    assert reason.startswith("evidence/4-torch-smoke-2.json: handler 'torch-smoke' has no Pass "
                             "evidence for the current commit: evidence/4-torch-smoke-2.json is "
                             f"stale: taken at commit {head[:12]}, the ticket is now at "
                             f"{new[:12]}; source files changed since: src/digits/model.py")
    # uncommitted source edits are not covered by any evidence
    smoke(gticket, new)
    assert gcheck(gticket, 4, handlers=handlers, source_filter=lambda p: True).ok
    (gticket.ws / "src" / "digits" / "model.py").write_text("class DigitsCNN: changed\n")
    fails = failing(gcheck(gticket, 4, handlers=handlers))
    assert ("evidence/4-torch-smoke-3.json does not cover uncommitted or untracked source "
            "files (src/digits/model.py): the commit cannot reproduce it; `git add` and "
            "commit them (or delete them), then run `mlgate run torch-smoke`") in \
        fails["s4.handler.torch-smoke"][0].reason
    git(gticket.ws, "checkout", "--", "src/digits/model.py")
    # evidence taken with a dirty tree never counts, and the reason names the files
    smoke(gticket, new, dirty=("src/digits/model.py",))
    fails = failing(gcheck(gticket, 4, handlers=handlers))
    assert ("evidence/4-torch-smoke-4.json is dirty: it was taken with uncommitted or "
            "untracked source files (src/digits/model.py)") in \
        fails["s4.handler.torch-smoke"][0].reason


def test_git_stage5_code_basis(gticket: Ticket) -> None:
    assert gcheck(gticket, 5).ok
    report_path = gticket.path(REPORT)
    A.set_table_row(report_path, "Run Registry", "RUN-001", {"Code Basis": "`deadbeef1234`"})
    fails = failing(gcheck(gticket, 5))
    assert list(fails) == ["s5.runs.code-basis"]
    line = gticket.line_of(REPORT, "| RUN-001 | EXP-001")
    assert fails["s5.runs.code-basis"][0].reason == (
        f"training-validation-report.md:{line}: RUN-001: Code Basis commit deadbeef1234 does not "
        f"exist in this repository")
    # a commit of another branch
    git(gticket.ws, "checkout", "-q", "-b", "side")
    side = commit(gticket, "src/digits/side.py", "y = 1\n")
    git(gticket.ws, "checkout", "-q", f"codex/{TICKET}")
    A.set_table_row(report_path, "Run Registry", "RUN-001", {"Code Basis": side[:10]})
    fails = failing(gcheck(gticket, 5))
    assert f"commit {side[:10]} is not on the ticket branch" in \
        fails["s5.runs.code-basis"][0].reason
    # a run cited as evidence must include the stage-4 changes
    A.set_table_row(report_path, "Run Registry", "RUN-001",
                    {"Code Basis": gticket.entries[4]})  # type: ignore[attr-defined]
    fails = failing(gcheck(gticket, 5))
    assert "predates the stage-4 changes" in fails["s5.runs.code-basis"][0].reason
    A.set_table_row(report_path, "Run Registry", "RUN-001", {"Code Basis": "the latest code"})
    assert "names no commit" in failing(gcheck(gticket, 5))["s5.runs.code-basis"][0].reason


def test_git_stage6_no_source_change_after_stage5(gticket: Ticket) -> None:
    assert gcheck(gticket, 6).ok
    commit(gticket, f"tickets/in-progress/{TICKET}/code-review.md",
           gticket.path(REVIEW).read_text() + "\n", "review")
    assert gcheck(gticket, 6).ok
    commit(gticket, "src/digits/train.py", "def main(): return 1\n")
    (gticket.ws / "configs" / "cnn.yaml").write_text("lr: 0.01\n")
    fails = failing(gcheck(gticket, 6))
    reasons = sorted(c.reason for c in fails["s6.source.unchanged"])
    since = gticket.entries[6][:12]  # type: ignore[attr-defined]
    assert reasons == [
        f"code-review.md: configs/cnn.yaml changed after the stage-5 code basis ({since}); "
        f"stage 6 reviews, it does not edit: revert it, or re-enter with `mlgate reenter "
        f"\"Local Fix\" --reason ...`",
        f"code-review.md: src/digits/train.py changed after the stage-5 code basis ({since}); "
        f"stage 6 reviews, it does not edit: revert it, or re-enter with `mlgate reenter "
        f"\"Local Fix\" --reason ...`"]


def test_git_stage7_docs_changed_on_branch(gticket: Ticket) -> None:
    fails = failing(gcheck(gticket, 7))
    line = gticket.line_of(DOCS, "| `README.md` |")
    base = git(gticket.ws, "merge-base", "main", "HEAD")[:12]
    assert list(fails) == ["s7.docs.changed"]
    assert fails["s7.docs.changed"][0].reason == (
        f"docs-sync.md:{line}: updated document README.md was not changed on the ticket branch "
        f"(since {base})")
    (gticket.ws / "README.md").write_text("# digits\n\nCNN: 0.9806\n")
    assert "commit them" in failing(gcheck(gticket, 7))["s7.docs.changed"][0].reason
    git(gticket.ws, "commit", "-q", "-am", "docs")
    assert gcheck(gticket, 7).ok


# --- the bad example folder ---------------------------------------------------------------


def test_bad_example_ticket_fails_with_named_lines(tmp_path: Path) -> None:
    """tests/data/artifacts/bad holds a plausible agent-written plan and report with the
    typical shortcuts: placeholder monitoring formulas, a queued run, an invented delta,
    a closure that skips a criterion, and a Pass decision despite a failed criterion."""
    ws = tmp_path / "ws"
    folder = ws / "tickets" / "in-progress" / TICKET
    shutil.copytree(_GOLDEN[0] / "tickets" / "in-progress" / TICKET, folder)
    for p in BAD.iterdir():
        shutil.copy(p, folder / p.name)
    t = Ticket(ws)
    plan = failing(t.check(3))
    assert {c.line for c in plan["s3.monitoring.placeholder-formula"]} == {
        t.line_of(PLAN, "| val/acc |"), t.line_of(PLAN, "| val/loss |")}
    assert "s3.monitoring.source" in plan and "s3.checklist.unlock" in plan
    report = failing(t.check(5))
    for cid in ("s5.runs.status", "s5.metrics.delta", "s5.closure.missing",
                "s5.decision.sc-policy", "s5.runs.unregistered"):
        assert cid in report, (cid, sorted(report))


# --- robustness -----------------------------------------------------------------------------

@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mangled_artifacts_never_crash_a_gate(tmp_path: Path, data: st.DataObject) -> None:
    """Whatever an agent leaves in the artifacts, a gate answers with checks, not a
    traceback."""
    t = Ticket(Path(tempfile.mkdtemp(dir=tmp_path)) / "ws")
    for name in (INV, REQ, PLAN, IMPL, REPORT, REVIEW, DOCS, HANDOFF):
        lines = t.path(name).read_text().splitlines(keepends=True)
        for _ in range(data.draw(st.integers(0, 5))):
            i = data.draw(st.integers(0, len(lines) - 1))
            choice = data.draw(st.sampled_from(["drop", "dup", "cut", "junk"]))
            if choice == "drop" and len(lines) > 1:
                del lines[i]
            elif choice == "dup":
                lines.insert(i, lines[data.draw(st.integers(0, len(lines) - 1))])
            elif choice == "cut":
                lines[i] = lines[i][: data.draw(st.integers(0, len(lines[i])))] + "\n"
            else:
                cells = data.draw(st.lists(st.sampled_from(
                    ["", "x", "RUN-1", "SC-9", "R1", "1.5", "`a` / `b`", "...", "Pass", "|"]),
                    max_size=9))
                lines[i] = "| " + " | ".join(cells) + " |\n"
        t.path(name).write_text("".join(lines))
    for stage in range(9):
        for profile in ("strict", "basic"):
            report = t.check(stage, profile=profile, handlers={4: ["torch-smoke"], 5: ["train"]})
            assert all(c.ok or c.reason for c in report.checks)


def test_rule_numbers_do_not_depend_on_the_profile(ticket: Ticket) -> None:
    for stage in range(9):
        strict = {c.id: c.rule for c in ticket.check(stage).checks}
        basic = {c.id: c.rule for c in ticket.check(stage, profile="basic").checks}
        assert {k: strict[k] for k in basic} == basic, stage
