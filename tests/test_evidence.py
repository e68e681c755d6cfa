"""Evidence an agent cannot fake (issue 13): each shortcut an agent took is refused by a gate
with a reason a person can act on, or recorded as a violation, with real git, the real CLI,
real handlers and real training runs. The human-only actions and signed verification are in
test_human.py, ``mlgate audit`` in test_audit.py."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import evidence_kit as kit
from conftest import git
from mlgate.errors import GateFailed
from mlgate.evidence import registry as R
from mlgate.state.statefile import StateDoc
from mlgate.workspace import Workspace
from test_walk import fill

TESTS = Path(__file__).resolve().parent
ZOO = TESTS / "data" / "smoke" / "smokezoo"
SMOKE_CONFIG = ("handlers:\n  4: [torch-smoke]\n"
                "torch-smoke:\n  factory: \"smokezoo.factories:make\"\n")


def cli(cwd: Path, *args: str, env: dict[str, str] | None = None
        ) -> subprocess.CompletedProcess[str]:
    """The real CLI, with no controlling terminal (its own session)."""
    return subprocess.run([sys.executable, "-m", "mlgate", *args], cwd=cwd, text=True,
                          capture_output=True, timeout=600, env=env, start_new_session=True)


def reasons(proc: subprocess.CompletedProcess[str]) -> str:
    data = json.loads(proc.stdout)
    return "\n".join(f"[{c['id']}] {c['reason']}" for c in data["checks"] if not c["ok"])


# -- a git ticket in stage 4 with torch-smoke configured -------------------------------------


@pytest.fixture
def at4(git_repo: Path) -> Any:
    """Ticket `smoke` in stage 4 of a real repository with torch-smoke configured; the
    implementation (a model module) is committed."""
    shutil.copytree(ZOO, git_repo / "smokezoo")
    Workspace.init(git_repo)
    (git_repo / "mlgate.yaml").write_text(SMOKE_CONFIG)
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-q", "-m", "mlgate config and model")
    t = Workspace(git_repo).new_ticket("smoke")
    for s in range(4):
        fill(t.folder, s)
        t.advance()
    fill(t.folder, 4)
    (t.checkout / "src" / "digits").mkdir(parents=True)
    (t.checkout / "src" / "digits" / "model.py").write_text("class DigitsCNN: ...\n")
    git(t.checkout, "add", "-A")
    git(t.checkout, "commit", "-q", "-m", "implementation")
    return t


def handwritten(t: Any, n: int, commit: str | None = None) -> str:
    """An evidence file as an agent writes it: the shape of a real one, status Pass."""
    rel = f"evidence/4-torch-smoke-{n}.json"
    data = {"handler": "torch-smoke", "stage": 4, "status": "Pass", "commit": commit,
            "dirty": False, "checks": [{"id": "forward", "status": "pass", "detail": "ok",
                                        "seconds": 0.1}], "evidence": rel}
    (t.folder / "evidence").mkdir(exist_ok=True)
    (t.folder / rel).write_text(json.dumps(data, indent=2))
    return rel


@pytest.mark.slow
def test_handwritten_smoke_evidence_with_the_handler_configured(at4: Any) -> None:
    t = at4
    rel = handwritten(t, 1, git(t.checkout, "rev-parse", "HEAD"))
    r = cli(t.checkout, "--json", "check")
    assert r.returncode == 1
    why = reasons(r)
    assert f"[s4.handler.torch-smoke] {rel}: handler 'torch-smoke' has no Pass evidence for " \
           f"the current commit: {rel} is not registered evidence: mlgate did not write it " \
           "(written or copied by hand); it counts for nothing. Delete it and run `mlgate " \
           "run torch-smoke`" in why
    assert f"[s4.evidence.registered] {rel}: {rel} is not registered evidence" in why
    # the person's way: the real handler, whose evidence mlgate registers
    r = cli(t.checkout, "--json", "run", "torch-smoke")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)[0]["evidence"] == "evidence/4-torch-smoke-2.json"
    (t.folder / rel).unlink()
    git(t.checkout, "add", "-A")
    git(t.checkout, "commit", "-q", "-m", "smoke evidence")
    r = cli(t.checkout, "--json", "advance")
    assert r.returncode == 0, r.stdout + r.stderr


def test_handwritten_evidence_without_a_handler_configured(golden: Path, tmp_path: Path
                                                           ) -> None:
    """No handler is required, but the readiness row cites evidence: a hand-written file
    does not count, and `mlgate doctor` records a process violation for it."""
    root = kit.copy_workspace(golden, tmp_path / "ws")
    (root / "mlgate.yaml").write_text("# no handlers\n")
    t = Workspace(root).ticket("digits-cnn")
    # back to stage 4 the legitimate way (a Local Fix from stage 8 is not in the matrix:
    # use the stage-4 gate directly on the files)
    fake = handwritten(t, 9)
    impl = t.folder / "implementation.md"
    impl.write_text(impl.read_text().replace("evidence/4-torch-smoke-1.json", fake))
    rep = t.check(4)
    fails = {c.id: c.reason for c in rep.failing()}
    assert fails["s4.readiness.evidence"].endswith(
        f"readiness check 'Smoke test or dry run passes' cites {fake}, which does not count: "
        f"{fake} is not registered evidence: mlgate did not write it (written or copied by "
        "hand); it counts for nothing. Delete it and run `mlgate run torch-smoke`")
    assert "s4.evidence.registered" in fails
    r = cli(root, "--json", "doctor", "digits-cnn")
    assert r.returncode == 1
    problems = json.loads(r.stdout)[0]["problems"]
    assert {"id": "evidence-unregistered", "path": fake} in [
        {k: p[k] for k in ("id", "path")} for p in problems if "path" in p]
    doc = StateDoc.load(t.state_path)
    assert [v.violation for v in doc.violations if v.cleared is False] == [
        f"{fake}: unregistered evidence (content "
        f"{R.digest(t.folder / fake).split(':')[1][:12]}); gates count only evidence mlgate "
        "wrote"]
    cli(root, "doctor", "digits-cnn")  # a second doctor does not record it twice
    assert len(StateDoc.load(t.state_path).violations) == 1


def test_altered_evidence_and_changed_options(golden: Path, tmp_path: Path) -> None:
    root = kit.copy_workspace(golden, tmp_path / "ws")
    t = Workspace(root).ticket("digits-cnn")
    path = t.folder / "evidence" / "4-torch-smoke-1.json"
    original = path.read_text()
    path.write_text(original.replace('"seconds": ', '"seconds": 1'))
    reason = {c.id: c.reason for c in t.check(4).failing()}["s4.handler.torch-smoke"]
    assert "evidence/4-torch-smoke-1.json was altered after mlgate wrote it (now " in reason
    path.write_text(original)
    assert t.check(4).ok
    # options changed since the evidence was produced: it is stale
    (root / "mlgate.yaml").write_text(kit_config(overfit_steps=80))
    t = Workspace(root).ticket("digits-cnn")
    reason = {c.id: c.reason for c in t.check(4).failing()}["s4.handler.torch-smoke"]
    assert "was produced with other options of 'torch-smoke' than mlgate.yaml holds now" in \
        reason


def kit_config(**options: Any) -> str:
    extra = "".join(f"  {k}: {v}\n" for k, v in options.items())
    return SMOKE_CONFIG + extra


@pytest.mark.slow
def test_factory_importing_an_untracked_module_is_dirty(at4: Any) -> None:
    """The factory imports a module that was never `git add`-ed: the smoke checks pass on
    disk, but the commit cannot even import it, so the evidence is dirty and names it."""
    t = at4
    pkg = t.checkout / "digitsnet"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "smoke.py").write_text("from digitsnet.layers import make\n")
    (pkg / "layers.py").write_text("from smokezoo.factories import make  # noqa\n")
    git(t.checkout, "add", "digitsnet/__init__.py", "digitsnet/smoke.py")
    git(t.checkout, "commit", "-q", "-m", "smoke factory")
    cfg = t.ws.root / "mlgate.yaml"
    cfg.write_text(SMOKE_CONFIG.replace("smokezoo.factories:make", "digitsnet.smoke:make"))
    git(t.ws.root, "commit", "-q", "-am", "factory moved")
    shutil.copy(cfg, t.checkout / "mlgate.yaml")
    git(t.checkout, "commit", "-q", "-am", "factory moved")
    r = cli(t.checkout, "--json", "run", "torch-smoke")
    res = json.loads(r.stdout)[0]
    assert res["status"] == "Pass" and res["dirty"] is True
    assert res["dirty_files"] == ["digitsnet/layers.py"]
    r = cli(t.checkout, "--json", "check")
    assert r.returncode == 1
    assert (f"{res['evidence']} is dirty: it was taken with uncommitted or untracked source "
            "files (digitsnet/layers.py), so the commit it names cannot reproduce it; `git "
            "add` and commit them") in reasons(r)
    git(t.checkout, "add", "digitsnet/layers.py")
    git(t.checkout, "commit", "-q", "-m", "the module the factory imports")
    r = cli(t.checkout, "--json", "run", "torch-smoke")
    assert json.loads(r.stdout)[0]["dirty"] is False
    git(t.checkout, "add", "-A")
    git(t.checkout, "commit", "-q", "-m", "evidence")
    r = cli(t.checkout, "--json", "check")
    smoke = [c for c in json.loads(r.stdout)["checks"] if c["id"] == "s4.handler.torch-smoke"]
    assert [c["ok"] for c in smoke] == [True], smoke


# -- stage 5: the numbers are mlgate's ------------------------------------------------------


@pytest.fixture(scope="module")
def at5(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A git ticket in stage 5 with its two runs made by mlgate and the good report."""
    from conftest import isolate, seed_repo

    with pytest.MonkeyPatch.context() as mp:
        isolate(tmp_path_factory, mp)
        repo = seed_repo(tmp_path_factory.mktemp("at5") / "repo")
        Workspace.init(repo)
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", "mlgate init")
        t = Workspace(repo).new_ticket("numbers")
        for s in range(5):
            fill(t.folder, s)
            if s == 4:
                (t.checkout / "src" / "digits").mkdir(parents=True)
                (t.checkout / "src" / "digits" / "model.py").write_text("class CNN: ...\n")
            git(t.checkout, "add", "-A")
            git(t.checkout, "commit", "-q", "-m", f"stage {s}")
            t.advance()
        fill(t.folder, 5)
        git(t.checkout, "add", "-A")
        git(t.checkout, "commit", "-q", "-m", "runs and report")
        yield t, repo


@pytest.fixture
def report(at5: Any) -> Any:
    """The stage-5 ticket; its report is restored after the test."""
    t, _ = at5
    path = t.folder / "training-validation-report.md"
    before = path.read_text()
    assert cli(t.checkout, "check").returncode == 0
    yield t, path
    path.write_text(before)


def edit(path: Path, old: str, new: str) -> int:
    text = path.read_text()
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new))
    return next(i for i, ln in enumerate(path.read_text().splitlines(), 1) if new.strip()
                and new.strip().splitlines()[0] in ln)


def test_passed_criterion_that_misses_its_threshold(report: Any) -> None:
    t, path = report
    req = t.folder / "requirements.md"
    before = req.read_text()
    req.write_text(before.replace("| `>=` | 0.97 |", "| `>=` | 0.99 |"))
    try:
        r = cli(t.checkout, "--json", "check")
        line = next(i for i, ln in enumerate(path.read_text().splitlines(), 1)
                    if ln.startswith("| SC-001 |"))
        assert r.returncode == 1
        assert (f"[s5.closure.computed] training-validation-report.md:{line}: SC-001 is "
                "Passed, but max:val/acc of RUN-002 is 0.9806, which misses max:val/acc >= "
                "0.99 (computed from runs/RUN-002); write Failed, or re-enter and fix") in \
            reasons(r)
    finally:
        req.write_text(before)


def test_metric_summary_that_differs_from_the_runs(report: Any) -> None:
    t, path = report
    line = edit(path, "| RUN-002 | val/acc | 0.9806 | 0.9530 | 0.0276 |",
                "| RUN-002 | val/acc | 0.9906 | 0.9530 | 0.0376 |")
    r = cli(t.checkout, "--json", "check")
    assert r.returncode == 1
    assert (f"[s5.metrics.computed] training-validation-report.md:{line}: RUN-002 val/acc: "
            "Result 0.9906 differs from the value mlgate computes, 0.9806 (last logged value, "
            "runs/RUN-002/summary.json); write 0.9806") in reasons(r)
    # and the closure may not quote another number either
    path.write_text(path.read_text().replace("| 0.9906 | 0.9530 | 0.0376 |",
                                             "| 0.9806 | 0.9530 | 0.0276 |").replace(
        "| RUN-002 | 0.9806 | Passed |", "| RUN-002 | 0.9906 | Passed |"))
    assert "SC-001: Observed Result quotes 0.9906, which is not what mlgate computes for " \
           "max:val/acc (RUN-002 0.9806)" in reasons(cli(t.checkout, "--json", "check"))


def test_baseline_delta_that_differs_from_baselines_yaml(report: Any) -> None:
    t, path = report
    edit(path, "| RUN-002 | val/acc | 0.9806 | 0.9530 | 0.0276 |",
         "| RUN-002 | val/acc | 0.9806 | 0.9000 | 0.0806 |")
    assert ("RUN-002 val/acc: Baseline 0.9000 differs from baselines.yaml (0.953); write "
            "0.953") in reasons(cli(t.checkout, "--json", "check"))


def test_baselines_yaml_edited_by_hand(report: Any) -> None:
    """Lowering the baseline in baselines.yaml (and the report with it) to make the deltas
    look better: the file is not the one mlgate last wrote, and the gate says so."""
    t, path = report
    base = t.ws.root / "baselines.yaml"
    before = base.read_text()
    try:
        base.write_text(before.replace("val/acc: 0.953", "val/acc: 0.9"))
        path.write_text(path.read_text().replace("| 0.9806 | 0.9530 | 0.0276 |",
                                                 "| 0.9806 | 0.9000 | 0.0806 |").replace(
            "| 0.9722 | 0.9530 | 0.0192 |", "| 0.9722 | 0.9000 | 0.0722 |"))
        why = reasons(cli(t.checkout, "--json", "check"))
        assert ("[s5.metrics.baseline-file] baselines.yaml: baselines.yaml: it is not the file "
                "mlgate last wrote (") in why
        assert "it was edited outside `mlgate baseline`; the baseline is a person's decision: " \
               "they set it with `mlgate baseline set`" in why
        assert "s5.metrics.computed" not in why  # the report agrees with the edited file
    finally:
        base.write_text(before)


def test_code_basis_relabelled_without_rerunning(report: Any) -> None:
    t, path = report
    ran_on = json.loads((t.folder / "runs/RUN-002/meta.json").read_text())["commit"]
    head = git(t.checkout, "rev-parse", "HEAD")
    assert head != ran_on  # the report was committed after the runs
    text = path.read_text()
    row = next(ln for ln in text.splitlines() if ln.startswith("| RUN-002 |"))
    path.write_text(text.replace(row, row.replace(ran_on[:12], head[:12])))
    r = cli(t.checkout, "--json", "check")
    assert r.returncode == 1
    assert (f"RUN-002: Code Basis {head[:12]} is not the commit the run was launched from "
            f"({ran_on[:12]}, runs/RUN-002/meta.json); a new code basis needs a new run "
            "(`mlgate run train`)") in reasons(r)


def test_invented_run_folder(report: Any) -> None:
    t, path = report
    fake = t.folder / "runs" / "RUN-003"
    shutil.copytree(t.folder / "runs" / "RUN-002", fake)
    (fake / "meta.json").write_text((fake / "meta.json").read_text().replace("RUN-002",
                                                                            "RUN-003"))
    try:
        edit(path, "| RUN-002 | EXP-002: CNN lr 3e-3 |", "| RUN-003 | EXP-002: CNN lr 3e-3 |\n"
             "| RUN-002 | EXP-002: CNN lr 3e-3 |")
        why = reasons(cli(t.checkout, "--json", "check"))
        assert ("runs/RUN-003 is not a run mlgate launched (no registered meta.json): an "
                "invented run counts for nothing; delete it, run `mlgate run train`") in why
        # `mlgate run train --collect` leaves it out of the report, and says so
        reg = t.evidence_registry()
        from evidence_kit import ReplayTrain
        from mlgate.evidence.results import HandlerContext
        from mlgate.handlers.runner import run_handler

        ctx = HandlerContext(workspace=t.ws.root, ticket=t.name, stage=5, folder=t.folder,
                             worktree=t.checkout, options={}, evidence_registry=reg,
                             config=t.ws.config.to_dict(), run_options={"collect": True})
        res = run_handler(ReplayTrain(), ctx)
        checks = {c.id: (c.status, c.detail) for c in res.checks}
        assert checks["registry"] == ("fail", "runs/RUN-003: not launched by mlgate (no "
                                      "evidence registry entry), left out of the report; an "
                                      "invented run counts for nothing: delete it")
        assert "RUN-003" not in [r["run"] for r in res.to_dict()["runs"]]
    finally:
        shutil.rmtree(fake)


def test_best_run_is_computed(report: Any) -> None:
    t, path = report
    line = edit(path, "- Best run: RUN-002", "- Best run: RUN-001")
    assert (f"[s5.best.computed] training-validation-report.md:{line}: Best run RUN-001 is "
            "not the best run: RUN-002 meets 3 of 3 criteria (RUN-001: 3) and does better "
            "on max:val/acc; name RUN-002") in reasons(cli(t.checkout, "--json", "check"))


# -- stage 7: docs sync reads the docs -----------------------------------------------------


@pytest.mark.parametrize("line, flagged", [
    ("Our CNN reaches 99.1% accuracy on the digits test set.", "99.1%"),
    ("Accuracy: 98.3%, up from the baseline.", "98.3%"),
    ("The CNN gets val/acc 0.9906 (RUN-002).", "0.9906"),
    ("Training loss falls to 0.05.", "0.05"),
    ("It beats the baseline by +3.1 points.", "+3.1%"),
    ("val/acc 0.9806 (RUN-002), +2.76 points over the baseline 0.9530.", None),
    ("Best run RUN-002: test/acc 97.5%.", None),
    ("Target: max:val/acc >= 0.97 (SC-001).", None),
    ("Released 2026-05-04 with torch 2.13.0 and python 3.11; accuracy details below.", None),
    ("See src/digits/train.py:42 and line 17 for the loss.", None),
    ("We train for 20 epochs with lr 0.003, batch 64 and seed 0 for the best accuracy.", None),
    ("Half (50%) of the images are augmented.", None),
    ("Inline `val/acc=0.11` is code, and so is [the log](http://x.org/acc/0.5).", None),
])
def test_docs_numbers_that_match_no_result(golden: Path, tmp_path: Path, line: str,
                                           flagged: str | None) -> None:
    root = kit.copy_workspace(golden, tmp_path / "ws")
    (root / "README.md").write_text(f"# digits\n\nThe digits classifier.\n\n{line}\n")
    t = Workspace(root).ticket("digits-cnn")
    fails = [c for c in t.check(7).failing() if c.id == "s7.docs.numbers"]
    if flagged is None:
        assert not fails, fails[0].reason
    else:
        assert [(c.file, c.line) for c in fails] == [("README.md", 5)]
        assert fails[0].reason.startswith(f"README.md:5: {flagged} is quoted as a result but "
                                          "matches no registered result (the nearest: ")
        assert fails[0].reason.endswith("quote the numbers of `mlgate runs` and the report "
                                        "exactly, or remove it")


@pytest.mark.slow
def test_optimistic_readme_number_in_git(report: Any) -> None:
    """The same check on a git ticket: the docs changed on the branch (or uncommitted) are
    read, README included."""
    t, _ = report
    (t.checkout / "docs").mkdir(exist_ok=True)
    (t.checkout / "docs" / "results.md").write_text("# Results\n\nval/acc 0.9806 (RUN-002)\n")
    (t.checkout / "README.md").write_text("# demo\n\nThe CNN reaches 99.3% accuracy.\n")
    shutil.copy(kit.GOOD / "docs-sync.md", t.folder / "docs-sync.md")
    from mlgate import gates as G

    try:
        ctx = t.gate_context(t.doc())
        fails = [c for c in G.evaluate(ctx, 7).failing() if c.id == "s7.docs.numbers"]
        assert [c.reason.split(" matches")[0] for c in fails] == [
            "README.md:3: 99.3% is quoted as a result but"]
    finally:
        git(t.checkout, "checkout", "--", "README.md")
        shutil.rmtree(t.checkout / "docs")
        (t.folder / "docs-sync.md").unlink()


# -- registry ----------------------------------------------------------------------------


def test_registry_entries_carry_mlgates_seal(tmp_path: Path) -> None:
    folder = tmp_path / "t"
    (folder / "evidence").mkdir(parents=True)
    (folder / "evidence" / "4-x-1.json").write_text("{}")
    reg = R.Registry.open(tmp_path / "key", "t", create_key=True)
    e = reg.register(folder, "evidence/4-x-1.json", stage=4, commit="abc1234",
                     options=R.options_hash({"b": 1, "a": 2}), dirty=["z.py", "a.py"])
    assert e.sealed and e.handler == "x" and e.dirty == ("a.py", "z.py")
    assert R.options_hash({"a": 2, "b": 1}) == e.options
    assert reg.verify(folder) == []
    # a line forged by hand (no MAC, or a wrong one) is named as such
    line = json.loads(reg.path.read_text().splitlines()[0])
    line["digest"] = "sha256:" + "0" * 64
    with reg.path.open("a") as fh:
        fh.write(json.dumps(line) + "\n")
    [f] = R.Registry.open(tmp_path / "key", "t").verify(folder)
    assert f.kind == "forged" and "does not carry mlgate's seal" in f.message
    # the module function the tripwire calls
    assert [x.kind for x in R.verify(folder, tmp_path / "key")] == ["forged"]
