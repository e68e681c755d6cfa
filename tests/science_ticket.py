"""A ticket walked through the real workflow with real runs, for the refuted, rounds and
rollback tests (not a test module).

The project (:func:`project`) trains ``tests/data/train_scripts/seeded.py`` with
``--idea src/idea.txt``: the file holds the numbers the "model" reaches (``acc=0.9``), so a
ticket's stage-4 change to ``src/idea.txt`` is its idea, and its real runs report what that
idea gives. :func:`walk` takes a ticket from stage 0 to the stage asked for, through the real
gates, filling the artifacts from ``tests/data/artifacts/good`` adapted to these runs and
committing each stage's work on the ticket branch; stage 5 runs ``mlgate run train`` (the
real CLI, the real launcher).
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

from conftest import git, mlgate
from test_walk import GOOD, fill

SCRIPT = Path(__file__).resolve().parent / "data" / "train_scripts" / "seeded.py"
MONITORING = (
    "| train/loss | training objective | mean cross-entropy over the epoch | "
    "`seeded.py:main()` |\n"
    "| val/loss | validation objective | mean cross-entropy over the val split | "
    "`seeded.py:main()` |\n"
    "| val/acc | validation accuracy | correct / total over the val split | "
    "`seeded.py:main()` |\n")
#: The production code on main: the model and the optimiser settings, no effect yet.
PRODUCTION = {"src/model.json": {"width": 1, "acc_delta": 0.0},
              "src/opt.json": {"lr": 0.01, "acc_delta": 0.0}}


def config_text(extra: str = "") -> str:
    return (f"train:\n  command: \"{sys.executable} {SCRIPT} --acc 0.8 --loss 0.3 --spread 0 --idea "
            f"src/model.json --idea src/opt.json\"\n  config: src/model.json\n"
            f"  timeout: 120\n  stall_after: 120\n  env: {{TEST_NO_WANDB: \"1\"}}\n"
            f"handlers: {{5: [train]}}\n{extra}")


def write_json(root: Path, rel: str, data: dict[str, Any]) -> None:
    (root / rel).parent.mkdir(parents=True, exist_ok=True)
    (root / rel).write_text(json.dumps(data, sort_keys=True) + "\n")


def project(root: Path, extra: str = "") -> None:
    """mlgate.yaml with the train command and the production code on main, committed:
    val/acc 0.8, val/loss 0.3."""
    (root / "mlgate.yaml").write_text(config_text(extra))
    for rel, data in PRODUCTION.items():
        write_json(root, rel, data)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "project: seeded trainer, src/model.json, src/opt.json")


def _commit(t: Any, message: str) -> None:
    git(t.checkout, "add", "-A")
    if git(t.checkout, "status", "--porcelain"):
        git(t.checkout, "commit", "-q", "-m", message)


def _replace_table(text: str, header: str, rows: str) -> str:
    start = text.index(header)
    body = text.index("\n", text.index("\n", start) + 1) + 1  # after the separator line
    end = text.index("\n\n", body)
    return text[:body] + rows.rstrip("\n") + text[end:]


def walk(ws: Any, name: str, sc_rows: list[str], change: dict[str, dict[str, Any]],
         upto: int = 6, decision: str = "Pass") -> Any:
    """Take ticket ``name`` (created when missing) from the stage it is in to stage
    ``upto`` (at most 8, unverified). Its stage-4 change updates the JSON files of
    ``change`` (``{"src/model.json": {"acc_delta": 0.05}}``)."""
    from mlgate.errors import TicketNotFound

    try:
        t = ws.ticket(name)
    except TicketNotFound:
        t = ws.new_ticket(name)
    sc_ids = sorted({r.split("|")[1].strip() for r in sc_rows})
    while t.state.stage < upto:
        s = t.state.stage
        if s == 5:
            if not any((t.folder / "runs").glob("RUN-*")):
                run_train(t)
            close_stage5(t, decision)
            continue
        if s == 7:
            docs_sync(t)
            _commit(t, f"{name}: docs sync")
            t.advance()
            continue
        fill(t.folder, s)
        if s == 2:
            req = t.folder / "requirements.md"
            req.write_text(_replace_table(req.read_text(), "| Success Criteria ID",
                                          "\n".join(sc_rows) + "\n"))
        if s == 3:
            plan = t.folder / "experiment-plan.md"
            text = _replace_table(plan.read_text(), "| W&B key", MONITORING)
            text = re.sub(r"-> SC-001, SC-002, SC-003\.", "-> " + ", ".join(sc_ids) + ".", text)
            text = text.replace("(SC-001, SC-002, SC-003)", "(" + ", ".join(sc_ids) + ")")
            plan.write_text(text)
        if s == 4:
            for rel, values in change.items():
                data = json.loads((t.checkout / rel).read_text())
                data.update(values)
                write_json(t.checkout, rel, data)
            impl = t.folder / "implementation.md"
            files = ", ".join(f"`{rel}`" for rel in change)
            impl.write_text(impl.read_text().replace("| C-001 | `src/digits/model.py` |",
                                                     f"| C-001 | {files} |"))
        _commit(t, f"{name}: stage {s}")
        t.advance()
    return t


def docs_sync(t: Any) -> None:
    text = (GOOD / "docs-sync.md").read_text().replace("digits-cnn", t.name)
    text = text.replace("- Docs impacted: `Yes`", "- Docs impacted: `No`")
    text = text.replace("(docs changed)", "the result lives in the ticket; no user doc "
                                          "describes the model")
    text = re.sub(r"- Best current result: .*", "- Best current result: see the stage-5 "
                  "report", text)
    (t.folder / "docs-sync.md").write_text(text)


def run_train(t: Any, expect: int = 0) -> dict[str, Any]:
    proc = mlgate(t.checkout, "--json", "run", "train", t.name, "--purpose", "EXP-001")
    assert proc.returncode == expect, proc.stdout + proc.stderr
    return json.loads(proc.stdout)[0]


def runs(t: Any) -> list[str]:
    return sorted(p.name for p in (t.folder / "runs").glob("RUN-*"))


def close_stage5(t: Any, decision: str = "Pass") -> None:
    """Fill what a person writes in the report (best run, analysis, the decision), commit,
    and advance to stage 6."""
    from mlgate import artifacts as A

    rep = t.folder / "training-validation-report.md"
    best = runs(t)[-1]
    for section, key, value in (
            ("Document Status", "Current Status", "`Current`"),
            ("Best Current Result", "Best run", best),
            ("Best Current Result", "Why it is currently the best", "the newest run"),
            ("Best Current Result", "Confidence in the result", "medium"),
            ("Failure Analysis", "Implementation defects found", "none"),
            ("Failure Analysis", "Training instability or optimization issues", "none"),
            ("Failure Analysis", "Data or split issues", "none"),
            ("Failure Analysis", "Metric interpretation issues", "none"),
            ("Failure Analysis", "Remaining unknowns", "none"),
            ("Gate Decision", "Stage 5 Decision", f"`{decision}`"),
            ("Gate Decision", "Recommended classification if not `Pass`", "`N/A`"),
            ("Gate Decision", "Next action", "code review")):
        A.set_field(rep, section, key, value)
    _commit(t, f"{t.name}: stage 5 report")
    t.advance()


def handoff(t: Any, outcome: str | None = None) -> None:
    text = (GOOD / "handoff-summary.md").read_text().replace("digits-cnn", t.name)
    text = text.replace("RUN-002", runs(t)[-1])
    if outcome is not None:
        text = re.sub(r"- Iteration outcome: .*", f"- Iteration outcome: {outcome}", text)
    (t.folder / "handoff-summary.md").write_text(text)
    _commit(t, f"{t.name}: handoff")
