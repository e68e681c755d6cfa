"""Rounds and winners, regression check and rollback (issue 18), with real git, real runs and
the real CLI: three sibling tickets are compared, one winner is merged and the losers are
cleaned up (kept as tags); a fresh baseline is required before the next round; a merged
round whose baseline regresses is detected and rolled back with ``git revert``."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import git, json_after_prompt, mlgate, person
from mlgate.lock import governance
from mlgate.runs import baselines, regression
from mlgate.workspace import Workspace

sys.path.insert(0, str(Path(__file__).parent))
from science_ticket import PRODUCTION, project, run_train, walk  # noqa: E402

SC = ["| SC-001 | R-001 | val/acc | >= | baseline + 0.02 | val | beats production by 2 "
      "points |"]
WIDE = {"src/model.json": {"width": 2, "acc_delta": 0.06, "loss_delta": 0.05}}
DEEP = {"src/model.json": {"depth": 3, "acc_delta": 0.03, "crash_if": "results/crash-me"}}
TINY = {"src/model.json": {"width": 0.5, "acc_delta": -0.1}}


def cli(cwd: Path, *args: str, expect: int = 0) -> Any:
    """``mlgate --json ARGS``: the JSON printed, or for a refusal the message."""
    proc = mlgate(cwd, "--json", *args)
    assert proc.returncode == expect, proc.stdout + proc.stderr
    data = json.loads(proc.stdout) if proc.stdout.strip() else None
    if expect != 0 and (data is None or "error" in data):
        return data.get("message") if isinstance(data, dict) else proc.stderr
    return data


def decided(cwd: Path, *args: str, answer: str) -> Any:
    """``mlgate --json ARGS`` typed by the person at a terminal, confirming with ``answer``:
    the JSON printed."""
    rc, out = person(cwd, "--json", *args, answer=answer)
    assert rc == 0, out
    return json_after_prompt(out)


@pytest.fixture
def ws(git_workspace: Workspace) -> Workspace:
    """The project on main with a baseline measured by `mlgate baseline run` (val/acc 0.8),
    committed and pushed."""
    root = git_workspace.root
    project(root)
    git(root, "push", "-q", "origin", "main")
    out = cli(root, "baseline", "run", "--seeds", "0")
    assert out["baseline"]["metrics"]["val/acc"] == pytest.approx(0.8)
    assert out["baseline"]["commit"] == git(root, "rev-parse", "HEAD")
    assert out["baseline"]["seeds"]["val/acc"] == {"0": 0.8} or \
        out["baseline"]["seeds"]["val/acc"] == {0: 0.8}
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "baseline 1")
    git(root, "push", "-q", "origin", "main")
    return Workspace(root)


def merged_parents(root: Path, ref: str = "HEAD") -> list[str]:
    return git(root, "log", "-1", "--format=%P", ref).split()


@pytest.mark.slow
def test_round_of_three_compared_one_winner_merged_losers_cleaned(ws: Workspace) -> None:
    root = ws.root
    made = cli(root, "round", "new", "r1", "--tickets", "wide,deep,tiny")
    assert made["created"] == ["wide", "deep", "tiny"] and made["baseline"] == 1
    base = git(root, "rev-parse", "HEAD")
    assert made["base_commit"] == base
    refused = cli(root, "round", "new", "r2", "--tickets", "a,b", expect=1)
    assert "round r1 is still open" in refused
    cli(root, "new", "late", "--round", "r1")  # a late sibling, tagged with the round
    cli(root, "round", "discard", "late", "r1", "--reason", "no time to run it")

    wide = walk(ws, "wide", SC, WIDE, upto=7)
    walk(ws, "tiny", SC, TINY, upto=6, decision="Refuted")
    deep = walk(ws, "deep", SC, DEEP, upto=5)

    d = cli(root, "round", "compare", "r1")
    assert not d["ready"] and d["waiting"][0]["ticket"] == "deep" and d["recommended"] == []
    refused = cli(root, "round", "merge", "r1", "wide", "--by", "Grace Hopper", expect=1)
    assert "only once every ticket of the round is finished or discarded" in refused
    assert "deep (stage 5" in refused

    # deep: a first run crashes (a problematic run), the second completes
    (deep.checkout / "results").mkdir()
    (deep.checkout / "results" / "crash-me").write_text("")
    run_train(deep, expect=1)
    (deep.checkout / "results" / "crash-me").unlink()
    run_train(deep)
    walk(ws, "deep", SC, DEEP, upto=7)

    st = cli(root, "round", "status", "r1")
    rows = {r["ticket"]: r for r in st["tickets"]}
    assert st["ready"] and rows.pop("late")["state"] == "discarded"
    assert {r["state"] for r in rows.values()} == {"finished"}
    assert rows["deep"]["latest_run"] == "RUN-002" and rows["deep"]["runs"] == 2
    assert rows["tiny"]["outcome"] == "Refuted" and rows["wide"]["stage"] == 7
    assert rows["wide"]["metrics"]["val/acc"] == pytest.approx(0.86)
    text = mlgate(root, "round", "status", "r1").stdout
    assert "wide" in text and "RUN-001 Completed" in text and "[Refuted]" in text

    d = cli(root, "round", "compare", "r1")
    assert d["ready"] and d["metrics"] == ["train/loss", "val/acc", "val/loss"]
    vals = {r["ticket"]: r["values"] for r in d["tickets"]}
    assert vals["wide"]["val/acc"]["delta"] == pytest.approx(0.06)
    assert vals["wide"]["val/acc"]["better"] is True
    assert vals["tiny"]["val/acc"]["better"] is False
    assert d["wins"]["val/acc"] == ["wide"] and d["wins"]["val/loss"] == ["wide"]
    assert set(d["wins"]["train/loss"]) == {"wide", "deep", "tiny"}  # a tie: a win each
    assert d["ranking"][0] == {"ticket": "wide", "wins": 3}
    assert d["recommended"] == ["wide"]
    assert d["hyperparameters"]["file.content.width"] == {"wide": 2, "deep": 1, "tiny": 0.5}
    assert d["hyperparameters"]["file.content.depth"] == {"wide": None, "deep": 3,
                                                          "tiny": None}
    assert d["problems"] == [{"ticket": "deep", "run": "RUN-001", "status": "Failed",
                              "failure_class": "crashed"}]
    text = mlgate(root, "round", "compare", "r1").stdout
    assert "recommended winner(s): wide" in text and "file.content.width" in text
    assert "deep RUN-001: Failed (crashed)" in text

    refused = cli(root, "round", "merge", "r1", "tiny", "--by", "Grace Hopper", expect=1)
    assert "tiny closed stage 5 with Refuted, not Pass" in refused

    # with the git hooks installed, as a project has them: the losers' governed branches are
    # deleted through the reference-transaction hook
    assert mlgate(root, "hooks", "install", "--git").returncode == 0
    common = Path(git(root, "rev-parse", "--path-format=absolute", "--git-common-dir"))
    assert (common / "hooks" / "reference-transaction").exists()
    before_merge = git(root, "rev-parse", "HEAD")
    refused = cli(root, "round", "merge", "r1", "wide", "--by", "Grace Hopper", expect=1)
    assert "no terminal" in refused  # a script or an agent's tool: nothing merged
    assert git(root, "rev-parse", "HEAD") == before_merge
    out = decided(root, "round", "merge", "r1", "wide", "--by", "Grace Hopper", answer="r1")
    head = git(root, "rev-parse", "HEAD")
    assert out["commits"] == [head] and len(merged_parents(root)) == 2  # --no-ff
    assert merged_parents(root)[0] == base
    assert git(root, "log", "-1", "--format=%s") == \
        "Merge codex/wide: winner of round r1 (chosen by Grace Hopper)"
    assert json.loads((root / "src" / "model.json").read_text())["width"] == 2
    assert out["losers"] == {"deep": "mlgate/round/r1/deep", "tiny": "mlgate/round/r1/tiny",
                             "late": "mlgate/round/r1/late"}
    assert "discarded (no time to run it)" in git(root, "tag", "-n1", "-l",
                                                    "mlgate/round/r1/late")
    for loser in ("deep", "tiny", "late"):
        assert not git(root, "branch", "--list", f"codex/{loser}")
        assert git(root, "rev-parse", f"mlgate/round/r1/{loser}^{{commit}}")
        assert not (root.parent / f"{root.name}.worktrees" / loser).exists()
    assert "deep" not in git(root, "worktree", "list")
    reg = governance.load(ws.gdir)  # retired: they govern no branch or worktree any more
    assert {n: (reg.get(n).status, reg.get(n).branch) for n in ("deep", "tiny", "late")} == \
        {n: ("finalized", None) for n in ("deep", "tiny", "late")}
    assert reg.get("wide").status == "in-progress" and reg.get("wide").branch == "codex/wide"
    assert wide.checkout.is_dir()  # the winner finishes docs and handoff in its worktree
    # the crashed run's log is kept: committed in the tag
    assert "crashed" in git(root, "show", "mlgate/round/r1/deep:tickets/in-progress/deep/"
                                          "runs/RUN-001/meta.json")
    rec = yaml.safe_load((root / "rounds.yaml").read_text())["rounds"]["r1"]
    assert rec["status"] == "merged" and rec["merged"]["winners"] == ["wide"]
    assert rec["merged"]["by"] == "Grace Hopper" and rec["merged"]["head"] == head
    st = cli(root, "round", "status", "r1")
    assert {r["ticket"]: r["state"] for r in st["tickets"]} == {
        "wide": "finished", "deep": "missing", "tiny": "missing", "late": "discarded"}

    # the next round waits for a fresh baseline measured on the merged code
    refused = cli(root, "round", "new", "r2", "--tickets", "a,b", expect=1)
    assert "no baseline was measured on that code since" in refused
    git(root, "push", "-q", "origin", "main")
    out = cli(root, "baseline", "run", "--seeds", "0")
    assert out["baseline"]["metrics"]["val/acc"] == pytest.approx(0.86)
    assert out["check"]["regressions"] == []
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "baseline 2")
    git(root, "push", "-q", "origin", "main")
    made = cli(root, "round", "new", "r2", "--tickets", "a,b")
    assert made["baseline"] == 2


@pytest.mark.slow
def test_winners_that_conflict_are_refused_and_nothing_changes(ws: Workspace) -> None:
    root = ws.root
    cli(root, "round", "new", "r1", "--tickets", "left,right")
    walk(ws, "left", SC, {"src/model.json": {"acc_delta": 0.05, "width": 3}}, upto=7)
    right = walk(ws, "right", SC, {"src/model.json": {"acc_delta": 0.04, "width": 4}},
                 upto=7)
    head = git(root, "rev-parse", "HEAD")
    refused = cli(root, "round", "merge", "r1", "left", "right", "--by", "Ada", expect=1)
    assert "merging winner right into main (after left) would conflict in: " \
           "src/model.json" in refused
    assert git(root, "rev-parse", "HEAD") == head and not git(root, "status", "--porcelain",
                                                              "--untracked-files=no")
    assert git(root, "branch", "--list", "codex/left") and right.checkout.is_dir()
    assert yaml.safe_load((root / "rounds.yaml").read_text())["rounds"]["r1"]["status"] == \
        "open"
    assert "scratch" not in git(root, "worktree", "list")


@pytest.mark.slow
def test_regressing_baseline_is_detected_and_rolled_back(ws: Workspace) -> None:
    root = ws.root
    cli(root, "round", "new", "r1", "--tickets", "wide,fast-lr")
    # each idea alone beats production; together they interact badly
    walk(ws, "wide", SC, {"src/model.json": {"width": 2, "acc_delta": 0.05,
                                             "lr_sensitive": True}}, upto=7)
    walk(ws, "fast-lr", SC, {"src/opt.json": {"lr": 0.1, "acc_delta": 0.04,
                                              "lr_sensitive": True}}, upto=7)
    d = cli(root, "round", "compare", "r1")
    assert d["recommended"] == ["wide"]  # most wins; each beat production: both merged
    assert all(r["values"]["val/acc"]["better"] for r in d["tickets"])
    before = git(root, "rev-parse", "HEAD")
    out = decided(root, "round", "merge", "r1", "wide", "fast-lr", "--by", "Grace Hopper",
                  answer="r1")
    assert len(out["commits"]) == 2
    git(root, "push", "-q", "origin", "main")

    out = cli(root, "baseline", "run", "--seeds", "0", expect=1)  # the regression shows
    assert out["baseline"]["metrics"]["val/acc"] == pytest.approx(0.74)
    assert out["check"]["regressions"] == ["val/acc"]
    chk = cli(root, "baseline", "check", expect=1)
    row = next(r for r in chk["rows"] if r["metric"] == "val/acc")
    assert (row["old"], row["verdict"], row["regression"]) == (0.8, "worse", True)
    assert row["delta"] == pytest.approx(-0.06)
    text = mlgate(root, "baseline", "check").stdout
    assert "WORSE" in text and "regression: val/acc" in text and "baseline rollback" in text
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "baseline 2 (regressed)")

    out = decided(root, "baseline", "rollback", "--by", "Grace Hopper", answer=root.name)
    merges = [r["merge"] for r in out["reverted"]]
    assert merges == git(root, "rev-list", "--first-parent", "--merges",
                         f"{before}..HEAD~2").split()  # newest first
    log = git(root, "log", "--format=%s", "-n", "2").splitlines()
    assert log == ['Revert "Merge codex/wide: winner of round r1 (chosen by Grace Hopper)"',
                   'Revert "Merge codex/fast-lr: winner of round r1 (chosen by Grace '
                   'Hopper)"']
    body = git(root, "log", "-1", "--format=%b")
    assert "mlgate baseline rollback by Grace Hopper" in body
    assert all(len(merged_parents(root, f"HEAD~{i}")) == 1 for i in (0, 1))  # plain commits
    for rel, data in PRODUCTION.items():  # the code is back to production
        assert json.loads((root / rel).read_text()) == data
    b = baselines.load(root)
    assert b.current is not None and b.current.restored_from == 1
    assert b.current.metrics["val/acc"] == pytest.approx(0.8)
    gone = b.history[-1]
    assert gone.id == 2 and "val/acc regressed" in (gone.reason or "")
    assert any(r["metric"] == "val/acc" and r["regression"] for r in gone.regression or [])
    assert [r["revert"] for r in gone.reverted or []] == [git(root, "rev-parse", "HEAD~1"),
                                                         git(root, "rev-parse", "HEAD")]
    rec = yaml.safe_load((root / "rounds.yaml").read_text())["rounds"]["r1"]
    assert rec["status"] == "rolled-back"
    # the code measured again: the regression is gone
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "baseline rolled back")
    out = cli(root, "baseline", "run", "--seeds", "0")
    assert out["baseline"]["metrics"]["val/acc"] == pytest.approx(0.8)
    assert out["check"]["regressions"] == []


def test_regression_over_seeds_uses_the_interval(tmp_path: Path) -> None:
    b = baselines.load(tmp_path)
    old = b.set({"val/acc": 0.80}, seeds={"val/acc": {0: 0.79, 1: 0.80, 2: 0.81}})
    noisy = b.set({"val/acc": 0.795}, seeds={"val/acc": {0: 0.80, 1: 0.775, 2: 0.81}})
    [row] = regression.compare(b, old, noisy)
    assert (row.verdict, row.regression, row.test) == ("no significant change", False,
                                                       "paired t")
    worse = b.set({"val/acc": 0.75}, seeds={"val/acc": {0: 0.74, 1: 0.75, 2: 0.76}})
    [row] = regression.compare(b, old, worse)
    assert row.regression and row.verdict == "regression" and row.p is not None
    single = b.set({"val/acc": 0.7999})
    [row] = regression.compare(b, old, single)
    assert (row.verdict, row.regression) == ("worse", True)  # no seeds: no tolerance
