"""``mlgate demo --round [DIR]``: a round of two sibling tickets, compared over seeds, one
winner merged, and a fresh baseline measured on the merged code.

The same digits project as ``mlgate demo`` (a git repository with the naive-Bayes baseline
in ``baselines.yaml``), then, by the real ``mlgate`` command line:

* ``mlgate round new digits-r1 --tickets mlp-wide,mlp-quick``: two tickets from one base;
* each ticket states its criterion against the baseline over three seeds
  (``val/acc >= baseline + 0.05``, ``Min Seeds`` 3), plans and implements an MLP (128 hidden
  units and 15 epochs for ``mlp-wide``, 32 units and 1 epoch for ``mlp-quick``), passes
  torch-smoke, and trains with ``mlgate run train --seed 0 --seed 1 --seed 2``;
* ``mlp-wide`` passes with its mean, confidence interval and p-value; ``mlp-quick``'s
  interval crosses the threshold: ``Inconclusive``, and a person discards it from the round;
* ``mlgate round status`` and ``round compare`` (metrics against the baseline, wins,
  hyperparameter diff), ``round merge digits-r1 mlp-wide --by ...`` (a ``--no-ff`` merge;
  the loser's branch kept as a tag), the next round refused until ``mlgate baseline run``
  has measured the merged code, and ``mlgate baseline check``.
"""
from __future__ import annotations

import json
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from mlgate import artifacts as A
from mlgate.demo import (REPO_NAME, VERIFIER, Demo, DemoFailed, _data, _environment, _fill,
                         _runs, _show_table, _table_lines, require_packages, setup_project)
from mlgate.errors import MlgateError

ROUND = "digits-r1"
WIDE, NARROW = "mlp-wide", "mlp-quick"
#: (hidden units, epochs) of each ticket's MLP
SHAPE = {WIDE: (128, 15), NARROW: (32, 1)}
SEEDS = ("0", "1", "2")
REPORT = "training-validation-report.md"
SC_TABLE = (
    "| Success Criteria ID | Requirement ID | Metric | Comparator | Threshold | Split | Notes "
    "| Min Seeds |\n| --- | --- | --- | --- | --- | --- | --- | --- |\n"
    "| SC-001 | R-001 | val/acc | >= | baseline + 0.05 | val | 5 points over naive Bayes, "
    "on the mean of three seeds | 3 |\n")


def _use(d: Demo, ticket: str) -> None:
    d.ticket = ticket
    d.worktree = d.repo.parent / f"{d.repo.name}.worktrees" / ticket


def _requirements(d: Demo) -> str:
    text = _fill(_data("ticket", "requirements.md"), d.values())
    start = text.index("| Success Criteria ID")
    end = text.index("\n\n", start)
    text = text[:start] + SC_TABLE.rstrip("\n") + text[end:]
    text = text.replace("- Comparation target", "- Comparison target")
    text = re.sub(r"- Comparison target: .*", "- Comparison target: val/acc at least the "
                  "baseline + 0.05, on the mean of seeds 0, 1 and 2", text)
    return text.replace("- Pass condition: SC-001 and SC-002 hold on a completed run of the "
                        "final config.", "- Pass condition: the 95% interval of the mean "
                        "val/acc over three seeds lies above the baseline + 0.05.")


def walk_ticket(d: Demo, ticket: str) -> None:
    """Stages 0-4 of one ticket of the round, then its three seeds' runs."""
    _use(d, ticket)
    hidden, epochs = SHAPE[ticket]
    what = f"an MLP with {hidden} hidden units, {epochs} epoch{'s' if epochs > 1 else ''}"
    d.header(f"{ticket}: stages 0-4 ({what})")
    d.write(d.folder / "requirements.md",
            _fill(_data("ticket", "requirements-draft.md"), d.values()),
            "goal written down, status `Draft`")
    d.mlgate("advance", ticket, must_show=["1"])
    d.artifact("investigation-notes.md", "status `Current`", status="Current")
    d.mlgate("advance", ticket)
    d.write(d.folder / "requirements.md", _requirements(d),
            "SC-001 `val/acc >= baseline + 0.05` over 3 seeds (Min Seeds), `Plan-ready`")
    d.mlgate("advance", ticket)
    plan = _fill(_data("ticket", "experiment-plan.md"), d.values())
    plan = plan.replace("128", str(hidden)).replace("15 epochs", f"{epochs} epochs").replace(
        "EXP-001 -> SC-001, SC-002", "EXP-001 -> SC-001")
    d.write(d.folder / "experiment-plan.md", plan, f"EXP-001: {what}, seeds 0, 1, 2")
    d.git("add", "-A")
    d.git("commit", "-q", "-m", f"{ticket}: investigation, requirements, plan")
    d.mlgate("advance", ticket, must_show=["Unlocked"])
    d.write(d.wt / "model.py", _data("project", "model_mlp.py.tmpl"), "add class MLP")
    cfg = json.loads((d.wt / "configs" / "train.json").read_text())
    cfg.update(model="mlp", hidden=hidden, epochs=epochs)
    d.write(d.wt / "configs" / "train.json", json.dumps(cfg, indent=2) + "\n",
            f'"model": "mlp", "hidden": {hidden}, "epochs": {epochs}')
    d.git("add", "model.py", "configs/train.json")
    d.git("commit", "-q", "-m", f"{ticket}: {what}")
    d.artifact("implementation.md", "change inventory, readiness rows",
               goal=f"{what}.", extra_changes="", extra_log="")
    d.mlgate("run", "torch-smoke", ticket, must_show=["Pass"])
    d.set_field("implementation.md", "Document Status", "Current Status",
                "`Ready For Training`", "status `Ready For Training`")
    d.mlgate("advance", ticket, must_show=["Locked"])
    d.header(f"{ticket}: stage 5, three seeds")
    d.say("One run per seed; mlgate closes SC-001 on their mean and its 95% interval, "
          "against the baseline.")
    d.mlgate("run", "train", ticket, "--seed", "0", "--seed", "1", "--seed", "2",
             "--purpose", f"EXP-001 seeds 0-2: {what}", must_show=["train: Pass"])
    _show_table(d, REPORT, "Success Criteria Closure")


def _decision(d: Demo) -> str:
    rows = _table_lines(d.folder / REPORT, "Success Criteria Closure")[2:]
    cells = [c.strip() for c in rows[0].strip().strip("|").split("|")] if rows else []
    return cells[5] if len(cells) > 5 else ""


def close_wide(d: Demo) -> None:
    _use(d, WIDE)
    decision = _decision(d)
    if decision != "Passed":
        raise DemoFailed(f"{WIDE} was expected to pass SC-001 over three seeds, the closure "
                         f"says {decision!r}")
    records = _runs(d)
    runs = sorted(r["run"] for r in records)
    # the seed with the highest final val/acc
    best = max(records, key=lambda r: r["metrics"].get("val/acc", float("-inf")))["run"]
    d.facts.update(best_run=best, first_run=runs[0], runs_list=", ".join(
        f"runs/{r}/" for r in runs))
    for section, key, value in (
            ("Document Status", "Current Status", "`Current`"),
            ("Best Current Result", "Best run", best),
            ("Best Current Result", "Why it is currently the best", "the highest final "
             "val/acc of the three seeds; SC-001 is decided on their mean"),
            ("Best Current Result", "Confidence in the result", "high: the 95% interval of "
             "the mean over three seeds clears the target"),
            ("Failure Analysis", "Implementation defects found", "none"),
            ("Failure Analysis", "Training instability or optimization issues", "none"),
            ("Failure Analysis", "Data or split issues", "none"),
            ("Failure Analysis", "Metric interpretation issues", "none"),
            ("Failure Analysis", "Remaining unknowns", "none"),
            ("Gate Decision", "Stage 5 Decision", "`Pass`"),
            ("Gate Decision", "Recommended classification if not `Pass`", "`N/A`"),
            ("Gate Decision", "Next action", "code review")):
        A.set_field(d.folder / REPORT, section, key, value)
    d.echo(f"# [edit] {REPORT}: best run, failure analysis, Gate Decision `Pass`")
    d.git("add", "-A")
    d.git("commit", "-q", "-m", f"{WIDE}: stage 5 report")
    d.mlgate("advance", WIDE)
    review = _fill(_data("ticket", "code-review.md"), d.values())
    review = re.sub(r"\| F-001 \| Medium .*\n", "| F-001 | Low | Evaluation | three seeds, "
                    "one split: the interval is over seeds, not data | N/A |\n", review)
    d.write(d.folder / "code-review.md", review, "9 mandatory checks `Pass`, decision `Pass`")
    d.git("add", "-A")
    d.git("commit", "-q", "-m", f"{WIDE}: code review")
    d.mlgate("advance", WIDE)


def play_round(home: Path, out: Any = sys.stdout) -> Demo:
    home = home.resolve()
    d = Demo(home=home, repo=home / REPO_NAME, env=_environment(home), out=out)
    t0 = time.monotonic()
    setup_project(d)
    d.header(f"A round: {WIDE} and {NARROW} from one baseline")
    d.mlgate("round", "new", ROUND, "--tickets", f"{WIDE},{NARROW}", cwd=d.repo,
             must_show=[WIDE, NARROW])
    walk_ticket(d, WIDE)
    walk_ticket(d, NARROW)
    if _decision(d) != "Inconclusive":
        raise DemoFailed(f"{NARROW} (1 epoch) was expected to be Inconclusive over "
                         f"three seeds, the closure says {_decision(d)!r}")
    d.say("The one-epoch MLP's interval crosses the threshold: Inconclusive. One lucky seed "
          "alone would have been a claim the seeds do not support.")
    d.mlgate("round", "compare", ROUND, cwd=d.repo, must_show=["waits for"])
    close_wide(d)
    d.header("Winner selection: a person decides")
    d.say("The one-epoch MLP would need many more seeds to settle; the person takes it out "
          "of the round.")
    d.mlgate("round", "discard", NARROW, ROUND, "--reason", "inconclusive over 3 seeds; not "
             "worth more compute", cwd=d.repo)
    d.mlgate("round", "status", ROUND, cwd=d.repo, must_show=["finished", "discarded"])
    d.mlgate("round", "compare", ROUND, cwd=d.repo, must_show=[f"recommended winner(s): {WIDE}"])
    d.person("round", "merge", ROUND, WIDE, "--by", VERIFIER, confirm=ROUND, cwd=d.repo,
             must_show=[f"kept as tag mlgate/round/{ROUND}/{NARROW}"])
    d.git("log", "--oneline", "--graph", "-n", "6", cwd=d.repo)
    d.git("tag", "-l", "mlgate/*", cwd=d.repo, must_show=[NARROW])
    d.header("A fresh baseline on the merged code before the next round")
    d.mlgate("round", "new", "digits-r2", "--tickets", "cnn,mlp-deeper", cwd=d.repo,
             expect=1, must_show=["baseline run"], what="starting the next round at once")
    d.mlgate("baseline", "run", "--seeds", ",".join(SEEDS), cwd=d.repo,
             must_show=["better"])
    d.mlgate("baseline", "check", cwd=d.repo, must_show=["no regression"])
    d.mlgate("baseline", "show", cwd=d.repo, must_show=["mean of 3 seeds"])
    d.header("Summary")
    d.echo(f"round {ROUND}: {WIDE} merged into main, {NARROW} discarded (kept as tag "
           f"mlgate/round/{ROUND}/{NARROW}); a baseline of 3 seeds measured on the merged "
           f"code; {len(d.steps)} commands, {time.monotonic() - t0:.0f} s")
    d.echo(f"project: {d.repo}")
    return d


def main(directory: str | None = None) -> int:
    """Entry point of ``mlgate demo --round [DIR]``."""
    require_packages()
    home = Path(tempfile.mkdtemp(prefix="mlgate-round-")) if directory is None else \
        Path(directory).expanduser()
    home.mkdir(parents=True, exist_ok=True)
    if (home / REPO_NAME).exists():
        print(f"mlgate demo --round: {home / REPO_NAME} already exists\nhint: give an empty "
              "or new directory", file=sys.stderr)
        return 2
    print(f"mlgate demo --round: building the demo project in {home.resolve()}", flush=True)
    try:
        play_round(home)
    except MlgateError as exc:
        print(f"\nmlgate demo --round: FAILED: {exc}\nThe project is left in {home.resolve()} "
              "to inspect.", file=sys.stderr, flush=True)
        return 1
    return 0
