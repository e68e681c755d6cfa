"""An ``llm-finetune`` ticket walks 0 -> 8 -> done in a real git repository, in its own
worktree, with real evidence: ``mlgate run llm-smoke`` on the committed stage-4 code (a
tokenizer trained on the fly, a 2-layer GPT-2 from a config, the project's example and
packing code), and ``mlgate run train`` fine-tuning that model on the data prepared in
stage 4, whose numbers mlgate writes into the LLM report (its renamed columns included).
The artifacts are filled in between the moves as a user would; the state file keeps the
layout of every profile, with this profile's stage names."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("transformers")

from conftest import git, write_goal  # noqa: E402
from mlgate import artifacts as A  # noqa: E402
from mlgate.errors import GateFailed, TransitionNotAllowed  # noqa: E402
from mlgate.state.statefile import ALL_SECTIONS  # noqa: E402
from mlgate.workspace import Workspace  # noqa: E402

pytestmark = pytest.mark.slow  # a real fine-tuning run and llm-smoke: ~1 min on 2 cores

DATA = Path(__file__).parent / "data"
PROJECT = DATA / "llm_project"
ARTIFACTS = DATA / "artifacts" / "llm"
TICKET = "support-sft"
BASE_FILES = ["README.md", "sft/__init__.py", "sft/tokenizer.py", "sft/model.py",
              "sft/data.py", "sft/judge.py"]
STAGE4_FILES = ["sft/smoke.py", "sft/prepare.py", "sft/train.py", "configs/sft.json"]
CONFIG = f"""\
profile: llm-finetune
handlers: {{4: [llm-smoke], 5: [train]}}
llm-smoke:
  factory: "sft.smoke:make"
train:
  command: "{sys.executable} -m sft.train --config configs/sft.json"
  timeout: 600
  stall_after: 300
  data: ["data/prepared/"]
  config: configs/sft.json
  env: {{HF_HUB_OFFLINE: "1"}}
wandb: {{mode: offline}}
"""
# The test ticket's plan names other files for W-002; this project's change is sft/smoke.py.
PLAN_EDITS = [("| `sft/template.py`, `sft/collate.py` | Modify |", "| `sft/smoke.py` | Create |")]
IMPL_EDITS = [
    ("| C-001 | `sft/prepare.py` | Create |", "| C-001 | `sft/prepare.py`, `data/prepared/` | "
                                             "Create |"),
    ("| C-002 | `sft/template.py`, `sft/collate.py` | Modify |", "| C-002 | `sft/smoke.py` | "
                                                               "Create |"),
]


def copy_artifact(folder: Path, name: str, edits: list[tuple[str, str]] = ()) -> None:
    text = (ARTIFACTS / name).read_text()
    for old, new in edits:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    (folder / name).write_text(text)


def commit(cwd: Path, message: str) -> str:
    git(cwd, "add", "-A")
    git(cwd, "commit", "-q", "-m", message)
    return git(cwd, "rev-parse", "HEAD")


def advance(t, stage: int) -> None:  # type: ignore[no-untyped-def]
    out = t.advance()
    assert (out.from_stage, out.to_stage) == (stage, stage + 1), out.message
    st = t.state
    assert st.stage == stage + 1 and st.gates[stage].status == "Pass"
    assert st.permission == ("Unlocked" if stage + 1 == 4 else "Locked")
    assert st.transitions[-1].id == f"T-{stage + 1:03d}" and st.seal == "valid"


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")


def test_llm_finetune_ticket_walks_to_done(git_workspace: Workspace) -> None:
    root = git_workspace.root
    for rel in BASE_FILES:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(PROJECT / rel, root / rel)
    (root / "mlgate.yaml").write_text(CONFIG)
    (root / ".gitignore").write_text("__pycache__/\n")
    commit(root, "the support assistant, on the llm-finetune profile")
    git(root, "push", "-q", "origin", "main")

    ws = Workspace.discover(root)
    t = ws.new_ticket(TICKET)
    wt, folder = t.checkout, t.folder
    assert wt != root and git(wt, "branch", "--show-current") == f"codex/{TICKET}"
    text = t.state_path.read_text()
    headings = [ln[3:] for ln in text.splitlines() if ln.startswith("## ")]
    assert headings == list(ALL_SECTIONS)  # the layout every profile keeps
    assert "| 3 Implementation Plan | Not Started |" in text
    assert "| 4 Implementation & Data Preparation | Not Started |" in text
    assert "## Rubrics" in (folder / "requirements.md").read_text()
    assert t.status()["gates"][3]["name"] == "Implementation Plan"

    # 0 -> 3: bootstrap, investigation, requirements
    write_goal(folder)
    advance(t, 0)
    copy_artifact(folder, "investigation-notes.md")
    advance(t, 1)
    copy_artifact(folder, "requirements.md")
    advance(t, 2)
    assert (folder / "implementation-plan.md").read_text().startswith("# Implementation Plan")
    assert not (folder / "experiment-plan.md").exists()
    with pytest.raises(GateFailed) as exc:  # the scaffolded plan is still the template
        t.advance()
    assert "s3.training-mode.objective" in {c.id for c in exc.value.report.failing()}
    copy_artifact(folder, "implementation-plan.md", PLAN_EDITS)
    advance(t, 3)

    # 4: the code, the prepared data, llm-smoke on the committed code
    impl = folder / "implementation.md"
    assert "## Data Preparation Execution" in impl.read_text()
    for rel in STAGE4_FILES:
        (wt / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(PROJECT / rel, wt / rel)
    prep = subprocess.run([sys.executable, "-m", "sft.prepare"], cwd=wt, capture_output=True,
                          text=True, timeout=300)
    assert prep.returncode == 0, prep.stderr
    assert (wt / "data" / "prepared" / "manifest.json").is_file()
    copy_artifact(folder, "implementation.md", IMPL_EDITS)
    A.set_field(impl, "Data Preparation Execution",
                "Can Stage 5 consume these artifacts without further mutation", "`No`")
    commit(wt, "stage 4: prepared data, smoke factory, training script")
    with pytest.raises(GateFailed) as exc:  # no llm-smoke evidence, data not consumable yet
        t.advance()
    fails = {c.id for c in exc.value.report.failing()}
    assert {"s4.data-prep.consumable", "s4.handler.llm-smoke"} <= fails
    results = t.run_handlers()
    assert [r.handler for r in results] == ["llm-smoke"]
    smoke = results[0]
    assert smoke.status == "Pass", [(c.id, c.status, c.detail) for c in smoke.checks]
    assert smoke.commit == git(wt, "rev-parse", "HEAD")
    assert [c.status for c in smoke.checks] == ["pass"] * 7
    assert f"| Smoke test or dry run passes | Pass | {smoke.evidence} |" in impl.read_text()
    A.set_field(impl, "Data Preparation Execution",
                "Can Stage 5 consume these artifacts without further mutation", "`Yes`")
    advance(t, 4)
    assert smoke.evidence in t.state.gates[4].evidence

    # 5: a real fine-tuning run; mlgate writes the numbers into the LLM report
    report = folder / "training-validation-report.md"
    assert "| Evaluator / Judge | Metric Or Rubric |" in report.read_text()
    results = t.run_handlers()
    assert [r.handler for r in results] == ["train"] and results[0].status == "Pass", \
        [(c.id, c.status, c.detail) for c in results[0].checks]
    art = A.load(folder, "training-validation-report.md")
    run = A.run_registry(art)[0]
    assert run.id == "RUN-001" and run.status == "Completed"
    assert run.code_basis == git(wt, "rev-parse", "HEAD")
    assert run.data_version  # written into the profile's "Dataset Manifest / Split" column
    metrics = {m.metric: m for m in A.metric_summary(art)}
    assert set(metrics) == {"train/loss", "val/loss", "eval/answer_match",
                            "judge/format_score"}
    assert {c.sc_id: c.decision for c in A.sc_closure(art)} == {
        "SC-001": "Passed", "SC-002": "Passed", "SC-003": "Passed"}
    assert art.value("Reproducibility Record", "Dataset manifest or split version")
    with pytest.raises(GateFailed) as exc:  # the parts only the user can write
        t.advance()
    fails = {c.id for c in exc.value.report.failing()}
    assert {"s5.runs.llm-fields", "s5.metrics.evaluator", "s5.qualitative.cells"} <= fails
    fill_report(folder, report)
    advance(t, 5)

    # 6: review; 7: docs; 8: handoff, verification, archive
    copy_artifact(folder, "code-review.md")
    advance(t, 6)
    (wt / "README.md").write_text("# support assistant\n\npython -m sft.prepare\n"
                                  "python -m sft.train --config configs/sft.json\n")
    commit(wt, "docs: prepare and train commands")
    best = {m.metric: m.result for m in A.metric_summary(A.load(folder, report.name))}
    copy_artifact(folder, "docs-sync.md", [(
        "- Best current result: RUN-001, eval/answer_match 0.675 and judge/format_score 4.3",
        f"- Best current result: RUN-001, eval/answer_match {best['eval/answer_match']} and "
        f"judge/format_score {best['judge/format_score']}")])
    advance(t, 7)
    copy_artifact(folder, "handoff-summary.md")
    with pytest.raises(TransitionNotAllowed, match="mlgate verify"):
        t.advance()
    t.verify("Ada Lovelace")
    out = t.archive()
    assert out.ok
    done = ws.ticket(TICKET)
    assert done.archived and done.state.gates[8].status == "Pass"
    assert [g.status for g in done.state.gates] == ["Pass"] * 9
    assert [tr.to_stage for tr in done.state.transitions][:8] == list(range(1, 9))
    assert "User verification received: `Yes`" in (done.folder / "handoff-summary.md").read_text()
    assert git(wt, "log", "-1", "--format=%s").startswith("mlgate: archive")


def fill_report(folder: Path, report: Path) -> None:
    """What the user writes after `mlgate run train`: the LLM columns of the run, each
    metric's evaluator, a behavioural review of the sampled outputs, and the analysis."""
    A.set_table_row(report, "Run Registry", "RUN-001", {
        "Purpose": "RUN-001 of the plan: masked SFT",
        "Objective Type": "Supervised Fine-Tuning", "Base Model": "2-layer GPT-2 (configs)",
        "Update Strategy": "Full-Parameter",
        "Prepared Data Artifact(s)": "`data/prepared/{train,val}.jsonl`",
        "Tokenizer / Template Version": "data/prepared/tokenizer.json, template v2",
        "Evaluation Generation Settings": "greedy, max 40 new tokens"})
    evaluators = {"train/loss": "`sft/train.py:main()`", "val/loss": "`sft/train.py:masked_loss()`",
                  "eval/answer_match": "`sft/train.py:generate()`, exact match",
                  "judge/format_score": "`sft/judge.py:format_score()` (rubric v1)"}
    text = report.read_text()
    for metric, evaluator in evaluators.items():
        text, n = re.subn(rf"^\| RUN-001 \|  \| {re.escape(metric)} \|",
                          f"| RUN-001 | {evaluator} | {metric} |", text, flags=re.M)
        assert n == 1, metric
    samples = (folder / "runs" / "RUN-001" / "samples.jsonl").read_text().splitlines()
    stopped = sum('"stopped": true' in s for s in samples)
    text = text.replace(
        "| RUN-001 |  |  |  |  |  |",
        f"| RUN-001 | val, {len(samples)} prompts (`runs/RUN-001/samples.jsonl`) | support "
        f"format and stopping | {stopped} of {len(samples)} answers end with the closing line "
        f"and stop | Good |  |", 1)
    report.write_text(text)
    fields = {
        ("Document Status", "Current Status"): "`Current`",
        ("Document Status", "Last Updated"): "2026-06-05",
        ("Best Current Result", "Best run"): "RUN-001",
        ("Best Current Result", "Why it is currently the best"): "the only run",
        ("Best Current Result", "Confidence in the result"): "medium; 4 validation prompts",
        ("Objective-Specific Evidence", "Preference-pair, reward, or trajectory artifacts"):
            "N/A (supervised objective)",
        ("Objective-Specific Evidence", "Objective-specific caveats"): "N/A",
        ("Reproducibility Record", "Prepared data artifact(s)"): "`data/prepared/`",
        ("Reproducibility Record", "Tokenizer or template version"): "template v2",
        ("Reproducibility Record", "Evaluation generation settings"): "greedy, 40 tokens",
        ("Reproducibility Record", "Evaluator, judge, or human-review config"): "rubric v1",
    }
    for key in ("Implementation defects found", "Data preparation or split issues",
                "Prompt or chat-format issues", "Tokenizer or masking issues",
                "Objective or optimization issues", "Evaluator or judge issues",
                "Remaining unknowns"):
        fields[("Failure Analysis", key)] = "none"
    for (section, key), value in fields.items():
        A.set_field(report, section, key, value)
