"""The ``llm-finetune`` profile on a realistic support-assistant fine-tuning ticket
(``tests/data/artifacts/llm``): the good artifacts pass every stage under both strictness
levels, and every check the profile adds, or changes, fails on a purpose-made bad artifact
with a reason naming the file, the line and the value. The templates and stage guides the
profile ships agree with what its gates read."""
from __future__ import annotations

import itertools
import json
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from mlgate import artifacts as A
from mlgate import profiles
from mlgate.gates import GateContext, GateReport, evaluate
from mlgate.runs.core import finalize
from mlgate.state.statefile import StateDoc
from mlgate.workspace import Workspace
from test_gates import NON_GIT, _golden, failing, show  # noqa: F401 (autouse fixture)

LLM = Path(__file__).parent / "data" / "artifacts" / "llm"
TICKET = "support-sft"
PROFILE = profiles.get("llm-finetune")
INV, REQ, PLAN, IMPL = ("investigation-notes.md", "requirements.md", "implementation-plan.md",
                        "implementation.md")
REPORT, REVIEW, DOCS, HANDOFF = ("training-validation-report.md", "code-review.md",
                                 "docs-sync.md", "handoff-summary.md")


class LlmTicket:
    """A copy of the good support-sft ticket with helpers to break it."""

    def __init__(self, workspace: Path) -> None:
        self.folder = workspace / "tickets" / "in-progress" / TICKET
        shutil.copytree(LLM, self.folder)
        (workspace / "README.md").write_text("# support assistant\n")
        # the baseline the report's deltas are computed against, and RUN-001 ended and
        # summarised by mlgate itself (its metrics are the ticket's metrics.jsonl)
        (workspace / "baselines.yaml").write_text(
            "current:\n  id: 1\n  metrics:\n    val/loss: 2.9\n    eval/answer_match: 0.41\n"
            "    judge/format_score: 3.1\n  date: '2026-05-01'\n  note: the base model\n"
            "history: []\n")
        run = self.folder / "runs" / "RUN-001"
        (run / "meta.json").write_text(json.dumps(
            {"run": "RUN-001", "ticket": TICKET, "status": "running", "launcher": "local",
             "started": "2026-05-01T12:00:00+00:00", "seed": 0,
             "directions": {"val/loss": "min", "eval/answer_match": "max",
                            "judge/format_score": "max"}}))
        finalize(run, 0, plots=False)
        st = StateDoc.parse(PROFILE.state_template(ticket=TICKET),
                            self.folder / "workflow-state.md")
        st.set_snapshot(ticket=TICKET, current_stage=5, permission="Locked")
        st.set_bootstrap(NON_GIT)
        (self.folder / "workflow-state.md").write_text(st.render())
        self.state = StateDoc.load(self.folder / "workflow-state.md")

    def path(self, name: str) -> Path:
        return self.folder / name

    def edit(self, name: str, old: str, new: str) -> None:
        text = self.path(name).read_text()
        assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times in {name}"
        self.path(name).write_text(text.replace(old, new))

    def line_of(self, name: str, needle: str) -> int:
        for i, line in enumerate(self.path(name).read_text().splitlines(), 1):
            if needle in line:
                return i
        raise AssertionError(f"{needle!r} not in {name}")

    def check(self, stage: int, **kw: Any) -> GateReport:
        ctx: dict[str, Any] = dict(ticket=TICKET, folder=self.folder, state=self.state,
                                   domain=PROFILE, verified_by="Ada Lovelace")
        ctx.update(kw)
        return evaluate(GateContext(**ctx), stage)


@pytest.fixture
def ticket(tmp_path: Path) -> LlmTicket:
    return LlmTicket(tmp_path / "ws")


@pytest.mark.parametrize("strictness", ["strict", "basic"])
@pytest.mark.parametrize("stage", range(9))
def test_good_llm_ticket_passes_every_stage(ticket: LlmTicket, stage: int,
                                            strictness: str) -> None:
    report = ticket.check(stage, profile=strictness)
    assert report.ok, show(report)
    assert report.domain == "llm-finetune" and report.to_dict()["domain"] == "llm-finetune"
    assert report.profile == strictness
    ids = [c.id for c in report.checks]
    assert len(ids) == len(set(ids)) and all(i.startswith(f"s{stage}.") for i in ids)


def test_the_dl_ticket_is_not_an_llm_ticket(tmp_path: Path) -> None:
    """The default profile's artifacts fail where the LLM workflow differs, saying what is
    missing (the plan has another name, the data preparation section is absent)."""
    from test_gates import Ticket

    t = Ticket(tmp_path / "ws")
    ctx = t.ctx(domain=PROFILE)
    fails = failing(evaluate(ctx, 3))
    assert list(fails) == ["s3.artifact.exists"]
    assert "implementation-plan.md: does not exist" in fails["s3.artifact.exists"][0].reason
    assert "stages/03-implementation-plan/implementation-plan-template.md" in \
        fails["s3.artifact.exists"][0].reason
    fails = failing(evaluate(ctx, 4))
    assert "section '## Data Preparation Execution' is missing" in \
        " ".join(c.reason for c in fails["s4.sections.present"])
    assert "readiness row 'Dataset manifest or materialization resolves' is missing" in \
        " ".join(c.reason for c in fails["s4.readiness.rows"])
    assert "s4.data-prep.consumable" not in fails  # the missing section is reported once
    assert "implementation-plan.md does not exist" in fails["s4.changes.work-items"][0].reason


# --- every check the profile adds or changes, refused -----------------------------------


@dataclass
class Case:
    stage: int
    file: str
    edits: list[tuple[str, str]]
    check: str
    expect: list[str]
    line_of: str | None
    also: set[str] = field(default_factory=set)
    ctx: dict[str, Any] = field(default_factory=dict)


_NO = itertools.count(1)


def C(stage: int, file: str, edits: Any, check: str, expect: Any, line_of: str | None = None,
      also: tuple[str, ...] = (), **ctx: Any) -> Any:
    edits = [edits] if isinstance(edits, tuple) else edits
    expect = [expect] if isinstance(expect, str) else expect
    return pytest.param(Case(stage, file, edits, f"s{stage}.{check}", expect, line_of,
                             {f"s{stage}.{a}" for a in also}, ctx),
                        id=f"s{stage}.{check}-{next(_NO)}")


RUN_ROW = ("| RUN-001 | RUN-001 of the plan: masked SFT | Supervised Fine-Tuning | 2-layer GPT-2 "
           "(`configs/sft.json`) | Full-Parameter |")

CASES = [
    # stage 1: the profile's findings rows, baseline and constraints
    C(1, INV, ("| Tokenizer / Prompt Or Chat Template | byte-level BPE trained on the corpus; "
               "template lacks an end-of-turn token |", "| Tokenizer / Prompt Or Chat Template "
               "|  |"), "pipeline.areas",
      "pipeline area 'Tokenizer / Prompt Or Chat Template' has no Findings",
      "| Tokenizer / Prompt Or Chat Template |"),
    C(1, INV, ("| Checkpointing / Resume / Merge | N/A | full model saved at the end, no "
               "adapters to merge | none |\n", ""), "pipeline.areas",
      "the pipeline area row 'Checkpointing / Resume / Merge' is missing",
      "## Current Code And Pipeline Findings"),
    C(1, INV, ("- Best known qualitative behavior: polite but rambling; about a third of answers "
               "run past the closing line.", "- Best known qualitative behavior:"),
      "baseline.behavior", ["'Best known qualitative behavior' under ## Baseline "
                            "Understanding is empty", "not only its numbers"],
      "- Best known qualitative behavior:"),
    C(1, INV, ("- Evaluator or judge constraints: the format judge is rule-based; no external "
               "judge model is allowed.", "- Evaluator or judge constraints:"),
      "constraints.llm", "'Evaluator or judge constraints' under ## Constraints And Risks is "
                         "empty", "- Evaluator or judge constraints:"),
    # stage 2: requirements with rubrics
    C(2, REQ, ("- Prompt or chat-format assumptions: one user turn, one assistant turn, rendered "
               "by `sft/template.py:render()`.", "- Prompt or chat-format assumptions:"),
      "llm-content.data", "'Prompt or chat-format assumptions' under ## Dataset And Evaluation "
                          "Assumptions is empty", "- Prompt or chat-format assumptions:"),
    C(2, REQ, ("| 1 to 5, mean over the held-out prompts |", "|  |"), "rubrics.cells",
      ["judge/format_score: 'Scale' is empty", "same scale and evaluator every time"],
      "| `judge/format_score` |"),
    C(2, REQ, ("## Rubrics\n", "## Rubric notes\n"), "sections.present",
      "section '## Rubrics' is missing", None),
    # stage 3: the implementation plan
    C(3, PLAN, ("- Objective Type: `Supervised Fine-Tuning`",
                "- Objective Type: `Distillation`"),
      "training-mode.objective", "'Objective Type' is 'Distillation'; allowed: Supervised "
                                 "Fine-Tuning, Preference Optimization", "- Objective Type:"),
    C(3, PLAN, ("- Parameter-Update Strategy: `Full-Parameter`",
                "- Parameter-Update Strategy: `Adapter-Based` / `Full-Parameter`"),
      "training-mode.update", "'Parameter-Update Strategy' is not set; allowed: Adapter-Based",
      "- Parameter-Update Strategy:"),
    C(3, PLAN, ("- Base Model / Starting Checkpoint: the 2-layer GPT-2 of `configs/sft.json`",
                "- Base Model / Starting Checkpoint:"), "training-mode.fields",
      "'Base Model / Starting Checkpoint' under ## Training Mode is empty",
      "- Base Model / Starting Checkpoint:"),
    C(3, PLAN, ("| drop empty answers and duplicates by hash |", "|  |"), "data-prep.sources",
      ["support conversations: 'Filtering / Cleaning' is empty", "one row per dataset"],
      "| support conversations |"),
    C(3, PLAN, ("| support conversations | `data/raw/conversations.jsonl` | drop empty answers "
                "and duplicates by hash | `{\"id\", \"messages\": [{\"role\", \"content\"}]}` | "
                "80/10/10 by conversation id | near-duplicate prompts |\n", ""),
      "data-prep.sources", "## Data Preparation Design has 0 row(s); it needs at least 1",
      "| Dataset / Source |"),
    C(3, PLAN, ("- Stage 5 consumption boundary: stage 5 reads `data/prepared/` and checks the "
                "manifest hashes only.", "- Stage 5 consumption boundary:"), "data-prep.fields",
      "'Stage 5 consumption boundary' under ## Data Preparation Design is empty",
      "- Stage 5 consumption boundary:"),
    C(3, PLAN, ("- Label-masking rule: every token up to and including `<|assistant|>` is -100",
                "- Label-masking rule:"), "prompt.fields",
      ["'Label-masking rule' under ## Prompt, Chat Template, And Tokenization Plan is empty",
       "write `N/A` for a rule that does not apply"], "- Label-masking rule:"),
    C(3, PLAN, ("- Packing rule: pack samples into 256-token rows with a block-diagonal "
                "attention mask and restarting positions\n", ""), "prompt.fields",
      "## Prompt, Chat Template, And Tokenization Plan has no '- Packing rule:' field",
      "## Prompt, Chat Template, And Tokenization Plan"),
    C(3, PLAN, ("- Precision: fp32 on CPU", "- Precision:"), "recipe.fields",
      "'Precision' under ## Training Recipe is empty", "- Precision:"),
    C(3, PLAN, ("- Inference or generation settings used for evaluation: greedy, max 64 new "
                "tokens, stop at `<|end|>`", "- Inference or generation settings used for "
                                                 "evaluation:"), "evaluation.fields",
      "'Inference or generation settings used for evaluation' under ## Evaluation And "
      "Validation Plan is empty", "- Inference or generation settings used for evaluation:"),
    C(3, PLAN, [("- Success criteria each planned run addresses: RUN-001 -> SC-001, SC-002, "
                 "SC-003", "- Success criteria each planned run addresses: RUN-001 -> SC-001, "
                           "SC-002")], "validation.sc-coverage",
      "the Evaluation And Validation Plan does not map SC-003 (from requirements.md) to a "
      "planned run; write e.g. 'RUN-001 -> SC-003'", "## Evaluation And Validation Plan"),
    C(3, PLAN, ("- Baseline comparison method: the same held-out prompts and generation settings "
                "as the baseline", "- Baseline comparison method:"),
      "validation.baseline-method", "'Baseline comparison method' under ## Evaluation And "
                                    "Validation Plan is empty", "- Baseline comparison method:"),
    C(3, PLAN, ("| RUN-001 | masked SFT with end-of-turn | label masking, template | data, seed "
                "0, recipe | all three criteria met | High |", "| RUN-001 |  |  |  |  | High |"),
      "matrix.rows", ["the Run Matrix has no planned runs; add RUN-001",
                      "row RUN-001 on line"], "| Run ID |", also=("validation.sc-coverage",)),
    C(3, PLAN, ("| RUN-001 | masked SFT with end-of-turn | label masking, template | data, seed "
                "0, recipe | all three criteria met | High |", "| RUN-1b | masked SFT with "
                "end-of-turn | label masking, template | data, seed 0, recipe |  | High |"),
      "matrix.id", "'RUN-1b' is not a planned run id; write RUN-001", "| RUN-1b |",
      also=("matrix.cells",)),
    C(3, PLAN, ("| all three criteria met |", "|  |"), "matrix.cells",
      "planned run RUN-001: 'Expected Outcome' is empty", "| RUN-001 |"),
    C(3, PLAN, ("- Generation-setting versioning: recorded in the run config",
                "- Generation-setting versioning:"), "repro.fields",
      "'Generation-setting versioning' under ## Reproducibility Plan is empty",
      "- Generation-setting versioning:"),
    C(3, PLAN, ("| `sft/eval.py:answer_match()` |", "| see code |"), "monitoring.source",
      "Monitoring row 'eval/answer_match' has Source 'see code'", "| eval/answer_match |"),
    C(3, PLAN, ("- Tokenization and label-masking rules are explicit: Yes",
                "- Tokenization and label-masking rules are explicit: No"), "checklist.items",
      "item 'Tokenization and label-masking rules are explicit' is 'No'",
      "- Tokenization and label-masking rules"),
    C(3, PLAN, ("- Ready to unlock code edits: `Yes`", "- Ready to unlock code edits: `No`"),
      "checklist.unlock", "Ready to unlock code edits is 'No'", "- Ready to unlock code"),
    C(3, PLAN, ("## Objective-Specific Notes\n", "## Objective Notes\n"), "sections.present",
      "section '## Objective-Specific Notes' is missing", None, also=("sections.filled",)),
    # stage 4: implementation and data preparation
    C(4, IMPL, ("- Can Stage 5 consume these artifacts without further mutation: `Yes`",
                "- Can Stage 5 consume these artifacts without further mutation: `No`"),
      "data-prep.consumable",
      ["'Can Stage 5 consume these artifacts without further mutation' is 'No'; the stage-4 "
       "gate needs 'Yes'", "stage 5 only runs bounded integrity checks"],
      "- Can Stage 5 consume"),
    C(4, IMPL, ("- Can Stage 5 consume these artifacts without further mutation: `Yes`",
                "- Can Stage 5 consume these artifacts without further mutation: `Yes` / `No`"),
      "data-prep.consumable", "'Can Stage 5 consume these artifacts without further mutation' "
                              "is not set; allowed: Yes, No", "- Can Stage 5 consume"),
    C(4, IMPL, ("- Can Stage 5 consume these artifacts without further mutation: `Yes`\n", ""),
      "data-prep.consumable", "## Data Preparation Execution has no '- Can Stage 5 consume "
                              "these artifacts without further mutation:' field",
      "## Data Preparation Execution"),
    C(4, IMPL, ("- Actual materialization outputs: the same; 320 / 40 / 40 conversations, 2 "
                "duplicates dropped", "- Actual materialization outputs:"), "data-prep.fields",
      "'Actual materialization outputs' under ## Data Preparation Execution is empty",
      "- Actual materialization outputs:"),
    C(4, IMPL, ("- Tokenizer config source: `data/prepared/tokenizer.json`",
                "- Tokenizer config source:"), "paths.llm",
      "'Tokenizer config source' under ## Config, Logging, And Artifact Paths is empty",
      "- Tokenizer config source:"),
    C(4, IMPL, ("- Required evaluator or judge config: `sft/judge.py` format rubric v1",
                "- Required evaluator or judge config:"), "handoff.llm",
      "'Required evaluator or judge config' under ## Stage 5 Handoff is empty",
      "- Required evaluator or judge config:"),
    C(4, IMPL, ("| Tokenizer and special-token setup align with the plan | Pass |",
                "| Tokenizer and special-token setup align with the plan | Fail |"),
      "readiness.result", "readiness check 'Tokenizer and special-token setup align with the "
                          "plan' is Fail", "| Tokenizer and special-token"),
    C(4, IMPL, ("| Evaluation generation settings resolve as planned | Pass | `configs/sft.json` "
                "generation block |\n", ""), "readiness.rows",
      "readiness row 'Evaluation generation settings resolve as planned' is missing",
      "## Readiness Checks Before Stage 5"),
    C(4, IMPL, ("| Smoke test or dry run passes | Pass |", "| Smoke test or dry run passes |  |"),
      "readiness.smoke", "it must be Pass (run `mlgate run llm-smoke` or your smoke check)",
      "| Smoke test or dry run passes |", also=("readiness.result",)),
    C(4, IMPL, ("| C-003 | `sft/train.py`, `configs/sft.json` | Modify | W-003: masked loss and "
                "tracking |", "| C-003 | `sft/trainer.py` | Modify | masked loss and tracking |"),
      "changes.work-items", "work item W-003 of the plan (implementation-plan.md:", None),
    C(4, IMPL, ("- Can Stage 5 consume these artifacts without further mutation: `Yes`",
                "- Can Stage 5 consume these artifacts without further mutation: `No`"),
      "data-prep.consumable", "the stage-4 gate needs 'Yes'", "- Can Stage 5 consume",
      profile="basic"),
    # stage 5: the report
    C(5, REPORT, (RUN_ROW, "| RUN-001 | RUN-001 of the plan: masked SFT | Supervised "
                           "Fine-Tuning |  | Full-Parameter |"), "runs.llm-fields",
      ["RUN-001: 'Base Model' is empty", "a completed run records what it fine-tuned"],
      "| RUN-001 | RUN-001 of the plan"),
    C(5, REPORT, [("| greedy, max 64 new tokens | CPU", "|  | CPU")], "runs.llm-fields",
      "RUN-001: 'Evaluation Generation Settings' is empty", "| RUN-001 | RUN-001 of the plan"),
    C(5, REPORT, [("| Tokenizer / Template Version |", "| Tokenizer |")],
      "runs.columns", "the ## Run Registry table lacks the column(s) Tokenizer / Template "
                      "Version", "| Run ID | Purpose | Objective Type", also=("runs.llm-fields",)),
    C(5, REPORT, [("| manifest sha256:3e9a | `data", "|  | `data")], "runs.fields",
      "RUN-001: 'Dataset Manifest / Split' is empty", "| RUN-001 | RUN-001 of the plan"),
    C(5, REPORT, ("| RUN-001 | `sft/eval.py:answer_match()` | eval/answer_match |",
                  "| RUN-001 |  | eval/answer_match |"), "metrics.evaluator",
      ["RUN-001: 'Evaluator / Judge' is empty", "name the harness function, judge model"],
      "| RUN-001 |  | eval/answer_match |"),
    C(5, REPORT, ("| RUN-001 | `sft/judge.py:format_score()` (rubric v1) | judge/format_score |",
                  "| RUN-001 | `sft/judge.py:format_score()` (rubric v1) |  |"), "metrics.fields",
      "RUN-001 : 'Metric Or Rubric' is empty", "| RUN-001 | `sft/judge.py"),
    C(5, REPORT, ("| RUN-001 | heldout, 20 sampled prompts | support format and stopping | 19 of "
                  "20 end with the closing line and stop; one repeats the greeting | Good | "
                  "sample 17 repeats the greeting |\n", ""), "qualitative.cells",
      ["## Qualitative Or Behavioral Review has 0 row(s); it needs at least 1",
       "review sampled outputs"], "| Run ID | Prompt Set",
      also=("qualitative.best-run",)),
    C(5, REPORT, ("| support format and stopping |", "|  |"), "qualitative.cells",
      "RUN-001: 'Criterion' is empty", "| RUN-001 | heldout"),
    C(5, REPORT, ("| Good | sample 17", "| Fine | sample 17"), "qualitative.decision",
      "RUN-001: 'Decision' is 'Fine'; allowed: Good, Bad, Mixed", "| RUN-001 | heldout",
      also=("qualitative.best-run",)),
    C(5, REPORT, ("| Good | sample 17", "| Bad | sample 17"), "qualitative.best-run",
      "Stage 5 Decision is Pass but the behavioural review of the best run RUN-001 is Bad",
      "| RUN-001 | heldout"),
    C(5, REPORT, ("| RUN-001 | heldout, 20", "| RUN-007 | heldout, 20"), "qualitative.runs",
      "the behavioural review row names run 'RUN-007', which is not in the Run Registry",
      "| RUN-007 | heldout", also=("qualitative.best-run",)),
    C(5, REPORT, ("- Objective-specific caveats: N/A", "- Objective-specific caveats:"),
      "objective.fields", ["'Objective-specific caveats' under ## Objective-Specific Evidence "
                           "is empty", "write `N/A` for a supervised objective"],
      "- Objective-specific caveats:"),
    C(5, REPORT, ("- Evaluation generation settings: greedy, max 64 new tokens, stop at `<|end|>`",
                  "- Evaluation generation settings:"), "repro.llm",
      "'Evaluation generation settings' under ## Reproducibility Record is empty",
      "- Evaluation generation settings:"),
    C(5, REPORT, ("- Checkpoint(s) or update artifact(s): `checkpoints/sft-RUN-001.pt`",
                  "- Checkpoint(s) or update artifact(s):"), "repro.fields",
      "'Checkpoint(s) or update artifact(s)' under ## Reproducibility Record is empty",
      "- Checkpoint(s) or update artifact(s):"),
    # stage 6: fifteen mandatory checks
    C(6, REVIEW, ("| Truncation / packing correctness | Pass |",
                  "| Truncation / packing correctness | Needs Follow-Up |"),
      "decision.checks-pass", "mandatory check 'Truncation / packing correctness' is "
                              "Needs Follow-Up", "| Truncation / packing correctness |"),
    C(6, REVIEW, ("| Evaluator / judge correctness | Pass | `format_score()` unit-tested on 12 "
                  "hand-labelled answers |\n", ""), "checks.rows",
      "mandatory check 'Evaluator / judge correctness' is missing", "## Mandatory Checks"),
    # stage 7 and 8
    C(7, DOCS, ("- Tokenizer or chat-template assumptions: tokenizer.json sha256:b71f, template "
                "v2 with `<|end|>`", "- Tokenizer or chat-template assumptions:"), "facts.llm",
      "'Tokenizer or chat-template assumptions' under ## Synced Facts is empty",
      "- Tokenizer or chat-template assumptions:"),
    C(7, DOCS, ("eval/answer_match 0.675 and", "eval/answer_match 0.7 and"),
      "facts.best-result", "Best current result quotes 0.7, which is not a number of RUN-001",
      "- Best current result:"),
    C(8, HANDOFF, ("- Evaluator, judge, or human-review basis: rule-based format judge rubric "
                   "v1; 20 outputs read by hand", "- Evaluator, judge, or human-review basis:"),
      "evidence.llm", "'Evaluator, judge, or human-review basis' under ## Best Current "
                      "Evidence is empty", "- Evaluator, judge, or human-review basis:"),
]


@pytest.mark.parametrize("case", CASES)
def test_each_llm_check_fails_on_a_bad_artifact(ticket: LlmTicket, case: Case) -> None:
    for old, new in case.edits:
        ticket.edit(case.file, old, new)
    report = ticket.check(case.stage, **case.ctx)
    fails = failing(report)
    assert case.check in fails, show(report)
    assert set(fails) - {case.check} <= case.also, show(report)
    reasons = [c.reason for c in fails[case.check]]
    for text in case.expect:
        assert any(text in r for r in reasons), (text, reasons)
    if case.line_of is not None:
        n = ticket.line_of(case.file, case.line_of)
        assert any(r.startswith(f"{case.file}:{n}: ") for r in reasons), (n, reasons)
        assert any(c.line == n and c.file == case.file for c in fails[case.check])
    else:
        assert all(c.file == case.file for c in fails[case.check])


def test_every_added_check_is_exercised() -> None:
    """Each check the profile declares, and each its functions add, fails in a case above."""
    declared = {f"s{c.stage}.{c.id}" for c in PROFILE.checks}
    functions = {"s5.qualitative.runs", "s5.qualitative.best-run"}
    covered = {p.values[0].check for p in CASES}
    assert declared | functions <= covered, sorted((declared | functions) - covered)


def test_best_run_without_a_behavioural_review_is_not_a_pass(ticket: LlmTicket) -> None:
    ticket.edit(REPORT, "| RUN-001 | heldout, 20", "| RUN-001 | heldout, 20")
    text = ticket.path(REPORT).read_text()
    text = text.replace("| 30 steps, 41 s |", "| 30 steps, 41 s |\n| RUN-002 | rerun | "
                        "Supervised Fine-Tuning | GPT-2 | Full-Parameter | `5d2a9c1e8f03` | c "
                        "| 1 | m | p | t | g | CPU | Failed | crashed |")
    text = text.replace("- Best run: RUN-001", "- Best run: RUN-002")
    ticket.path(REPORT).write_text(text)
    fails = failing(ticket.check(5))
    reasons = [c.reason for c in fails["s5.qualitative.best-run"]]
    assert reasons == [f"{REPORT}:{ticket.line_of(REPORT, '| Run ID | Prompt Set')}: Stage 5 "
                       f"Decision is Pass but the best run RUN-002 has no behavioural review "
                       f"row; review sampled outputs of RUN-002 before closing stage 5"]


# --- templates and guides agree with the profile ------------------------------------------


@pytest.mark.parametrize("name", ["dl", "llm-finetune"])
def test_templates_hold_what_the_gates_read(name: str) -> None:
    p = profiles.get(name)
    for stage in range(9):
        st = p.stage(stage)
        text = p.stage_template(stage, ticket="t")
        art = A.Artifact.parse(text, st.artifact or "")
        assert not art.missing_sections(p.required_sections(st.artifact or "")), (stage, name)
        guide = p.stage_dir(stage) / "README.md"
        assert guide.is_file(), guide
        assert f"Stage {stage}" in guide.read_text().splitlines()[0]
        for check in p.checks_for(stage):
            doc = art if check.artifact in (None, st.artifact) else A.Artifact.parse(
                p.stage_template([s.artifact for s in p.stages].index(check.artifact)),
                check.artifact or "")
            for section in ([check.section] if check.section else []) + list(check.sections):
                assert doc.section(section) is not None, (check.id, section)
            s = doc.section(check.section) if check.section else None
            for key in check.fields:
                assert s is not None and A.find_field(s, key) is not None, (check.id, key)
            if check.kind in ("columns", "cells"):
                view = doc.table(check.section or "", check.columns)
                assert view is not None and not view.missing_columns(check.columns), check.id
            if check.kind == "rows":
                view = doc.table(check.section or "")
                assert view is not None and all(A.lookup_label({r.first or "": r for r in
                                                                view.all_rows}, r) for r in
                                                check.rows)
    fixed = {"pipeline_areas": (1, "Current Code And Pipeline Findings"),
             "readiness_checks": (4, "Readiness Checks Before Stage 5"),
             "mandatory_checks": (6, "Mandatory Checks")}
    for rows, (stage, section) in fixed.items():
        art = A.Artifact.parse(p.stage_template(stage), "x.md")
        labels = [r.first for r in art.table(section).all_rows]
        assert labels == list(p.fixed_rows(rows)), (name, rows)
    for label, renamed in p.renames.items():
        assert any(renamed in p.stage_template(s) for s in range(9)), renamed


def test_guides_never_name_internal_documents() -> None:
    folder = Path(profiles.get("llm-finetune").dirs[0])
    for path in folder.rglob("*.md"):
        text = path.read_text()
        assert "SPEC" not in text and not re.search(r"\brule \d+", text), path


# --- a workspace on the llm-finetune profile ---------------------------------------------


def test_new_ticket_gets_the_llm_templates_and_stage_names(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    root.mkdir()
    Workspace.init(root)
    (root / "mlgate.yaml").write_text("profile: llm-finetune\n")
    ws = Workspace.discover(root)
    t = ws.new_ticket("chat-sft", worktree=False)
    state = t.state_path.read_text()
    assert "| 3 Implementation Plan | In Progress |" not in state  # stage 0 is in progress
    assert "| 3 Implementation Plan | Not Started |" in state
    assert "| 4 Implementation & Data Preparation | Not Started |" in state
    assert "## Rubrics" in (t.folder / "requirements.md").read_text()
    status = t.status()
    assert [g["name"] for g in status["gates"]][3:5] == ["Implementation Plan",
                                                         "Implementation & Data Preparation"]
    assert t.state.gates[3].name == "Implementation Plan"
    for stage in (3, 4, 5):
        t._scaffold(stage)
    assert (t.folder / "implementation-plan.md").read_text().startswith("# Implementation Plan")
    assert "## Data Preparation Execution" in (t.folder / "implementation.md").read_text()
    assert "| Evaluator / Judge | Metric Or Rubric |" in \
        (t.folder / "training-validation-report.md").read_text()
    assert not (t.folder / "experiment-plan.md").exists()
    assert '"3 Implementation Plan"' in t.graph()


def test_html_report_lists_the_profiles_artifacts_and_stage_names(tmp_path: Path) -> None:
    from mlgate.report.html import collect, render_html

    root = tmp_path / "proj"
    root.mkdir()
    Workspace.init(root)
    (root / "mlgate.yaml").write_text("profile: llm-finetune\n")
    t = Workspace.discover(root).new_ticket("chat-sft", worktree=False)
    data = collect(t)
    names = [a["name"] for a in data.artifacts]
    assert "implementation-plan.md" in names and "experiment-plan.md" not in names
    page = render_html(data)
    assert "3 Implementation Plan" in page and "4 Implementation &amp; Data Preparation" in page
    assert "3 Experiment Plan" not in page
