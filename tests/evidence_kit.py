"""Evidence made by mlgate itself, for the tests (never JSON or run folders written by hand):

* :class:`QuickSmoke` — a stage-4 handler that a test can afford on every walk: it goes
  through the real runner (``Ticket.run_handlers``), so its evidence file is saved and
  registered exactly as torch-smoke's is, and it fills the readiness row as torch-smoke does;
* :class:`ReplayTrain` — the real ``train`` handler, launcher and tracking API running
  ``data/train_scripts/replay_digits.py``, which logs the numbers of the good digits report
  (RUN-001, RUN-002); the run records are launched, collected and registered by mlgate;
* :func:`good_runs` — both runs, the baseline the good report compares with, and the good
  report with the Code Basis of the runs mlgate recorded.
"""
from __future__ import annotations

import dataclasses
import shutil
import sys
from pathlib import Path
from typing import Any

from mlgate import constants as C
from mlgate.evidence.results import CheckResult, HandlerContext, HandlerResult
from mlgate.handlers.train import TrainHandler

TESTS = Path(__file__).resolve().parent
GOOD = TESTS / "data" / "artifacts" / "good"
REPLAY = TESTS / "data" / "train_scripts" / "replay_digits.py"
GOOD_CODE_BASIS = "3f9c2e1a7b4d"  # the commit the good report's Run Registry names
BASELINE = {"val/acc": 0.953, "test/acc": 0.95}


class QuickSmoke:
    """Stage 4: one quick check, through the real runner and registry."""

    name = "quick-smoke"
    stages = (4,)

    def run(self, ctx: HandlerContext) -> HandlerResult:
        return HandlerResult(handler=self.name, stage=ctx.stage, status="Pass",
                             checks=[CheckResult("forward", "pass", "output finite")])

    def after_save(self, ctx: HandlerContext, result: HandlerResult) -> None:
        from mlgate.handlers.torch_smoke import fill_readiness_row

        fill_readiness_row(ctx.folder, result)


class ReplayTrain(TrainHandler):
    """The real train handler with ``train.command`` set to the replay script (the workspace's
    mlgate.yaml is left alone: changing it would make other evidence stale)."""

    def run(self, ctx: HandlerContext) -> HandlerResult:
        opts = dict(ctx.options)
        opts["command"] = f"{sys.executable} {REPLAY}"
        return super().run(dataclasses.replace(ctx, options=opts))


def handlers() -> Any:
    from mlgate.handlers.registry import Registry

    reg = Registry()
    reg.register(QuickSmoke())
    reg.register(ReplayTrain(), name="train")
    return reg


def ticket_of(folder: Path) -> Any:
    from mlgate.workspace import Workspace

    return Workspace.discover(folder).ticket(Path(folder).name)


def smoke(folder: Path) -> HandlerResult:
    """Run QuickSmoke on the ticket of ``folder`` (stage 4): registered evidence, and the
    readiness row of implementation.md citing it."""
    return ticket_of(folder).run_handlers(["quick-smoke"], registry=handlers(), only_configured=False)[0]


def set_baseline(root: Path, metrics: dict[str, float] | None = None) -> None:
    from mlgate.runs import baselines

    b = baselines.load(root)
    b.set(dict(metrics or BASELINE), note="baseline of the digits tests")
    b.save()
    if (Path(root) / ".git").exists():  # a team commits its baselines.yaml
        from conftest import git

        git(Path(root), "add", "baselines.yaml")
        git(Path(root), "commit", "-q", "-m", "baseline", "--", "baselines.yaml")


def train(folder: Path, runs: int = 1) -> list[HandlerResult]:
    """``runs`` real training runs through mlgate on the ticket of ``folder`` (stage 5)."""
    t = ticket_of(folder)
    return [t.run_handlers(["train"], registry=handlers(), only_configured=False)[0] for _ in range(runs)]


def good_runs(folder: Path) -> None:
    """RUN-001 and RUN-002 of the good report, made by mlgate; the baseline it compares with;
    then the good report itself, its Code Basis cells naming the commit the runs ran on."""
    t = ticket_of(folder)
    base = t.ws.root / "baselines.yaml"
    if not base.exists():
        set_baseline(t.ws.root)
    have = sorted(p.name for p in (Path(folder) / C.RUNS_DIR).glob("RUN-*"))
    for _ in range(max(0, 2 - len(have))):
        res = t.run_handlers(["train"], registry=handlers(), only_configured=False)[0]
        assert res.status == "Pass", [(c.id, c.status, c.detail) for c in res.checks]
    good_report(folder)


def good_report(folder: Path) -> None:
    import json

    text = (GOOD / "training-validation-report.md").read_text().replace(
        "<ticket-name>", Path(folder).name)
    meta = json.loads((Path(folder) / C.RUNS_DIR / "RUN-001" / "meta.json").read_text())
    if meta.get("commit"):
        text = text.replace(GOOD_CODE_BASIS, meta["commit"][:12])
    (Path(folder) / "training-validation-report.md").write_text(text)


def copy_workspace(src: Path, dst: Path) -> Path:
    """A copy of a non-git workspace, its `.mlgate/` (seal key, evidence registry) with it."""
    shutil.copytree(src, dst, symlinks=True)
    return dst


def walk_git(t: Any, upto: int) -> None:
    """Walk the git ticket ``t`` to stage ``upto`` as a user does: fill in each stage (the
    evidence made by mlgate), commit the work, advance. Stage 4 changes code (listed in the
    inventory), stage 7 the README (quoting the best result)."""
    from conftest import git
    from test_walk import fill

    for s in range(upto):
        fill(t.folder, s)
        if s == 4:
            pkg = t.checkout / "src" / "digits"
            pkg.mkdir(parents=True, exist_ok=True)
            (pkg / "model.py").write_text("class DigitsCNN: ...\n")
        if s == 7:
            (t.checkout / "README.md").write_text("# demo\n\nval/acc 0.9806 (RUN-002)\n")
        git(t.checkout, "add", "-A")
        git(t.checkout, "commit", "-q", "-m", f"stage {s} work")
        t.advance()


def handoff(t: Any) -> None:
    """Stage 8: the handoff summary filled in and committed."""
    from conftest import git
    from test_walk import fill

    fill(t.folder, 8)
    git(t.checkout, "add", "-A")
    git(t.checkout, "commit", "-q", "-m", "handoff")
