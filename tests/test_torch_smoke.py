"""torch-smoke on real models (CPU): a good MLP passes every check; purpose-made bad models and
data sets fail the right check with a message naming the problem; the factory is resolved from
the worktree; the readiness row of implementation.md is filled with the evidence path."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

from mlgate.evidence import results as evidence
from mlgate.evidence.results import HandlerContext, HandlerResult
from mlgate.handlers.runner import exit_code, run_handler
from mlgate.handlers.torch_smoke import (CHECK_IDS, DEFAULTS, SmokeTarget, TorchSmokeHandler,
                                         fill_readiness_row)

REPO = Path(__file__).resolve().parents[1]
ZOO = REPO / "tests" / "data" / "smoke"
TEMPLATE = REPO / "stages" / "04-implementation" / "implementation-template.md"


def make_ctx(folder: Path, factory: str | None, worktree: Path = ZOO,
             lines: list[str] | None = None, **options: object) -> HandlerContext:
    folder.mkdir(parents=True, exist_ok=True)
    opts = dict(options)
    if factory is not None:
        opts["factory"] = factory
    return HandlerContext(workspace=folder, ticket="demo", stage=4, folder=folder,
                          worktree=worktree, options=opts, commit="c0ffee" * 6 + "beef",
                          progress=(lines.append if lines is not None else None))


def smoke(tmp_path: Path, name: str, **options: object) -> HandlerResult:
    ctx = make_ctx(tmp_path / "ticket", f"smokezoo.factories:{name}", **options)
    return run_handler(TorchSmokeHandler(), ctx)


def by_id(result: HandlerResult) -> dict[str, evidence.CheckResult]:
    return {c.id: c for c in result.checks}


# -- the good model ------------------------------------------------------------------------


def test_good_model_passes_every_check(tmp_path: Path) -> None:
    # its time (goal: at most 5 s once torch is imported) is measured by bench/bench_smoke.py
    lines: list[str] = []
    ctx = make_ctx(tmp_path / "ticket", "smokezoo.factories:make", lines=lines)
    result = run_handler(TorchSmokeHandler(), ctx)
    assert result.status == "Pass", [(c.id, c.status, c.detail) for c in result.checks]
    assert [c.id for c in result.checks] == list(CHECK_IDS)
    assert all(c.status == "pass" for c in result.checks)
    assert exit_code([result]) == 0
    checks = by_id(result)
    assert "-> " in checks["overfit"].detail and "steps" in checks["overfit"].detail
    assert result.metrics["overfit_end_loss"] <= 0.1 * result.metrics["overfit_start_loss"]
    assert checks["device"].detail.startswith("cpu")
    assert result.environment["device"] == "cpu"
    assert result.environment["torch"] == torch.__version__
    # one progress line per check, in order, with status and seconds
    per_check = [ln for ln in lines if ln.split(":")[0] in CHECK_IDS]
    assert [ln.split(":")[0] for ln in per_check] == list(CHECK_IDS)
    assert per_check[0].startswith("forward: pass (") and "s) output (32, 5)" in per_check[0]


def test_saved_evidence_has_the_spec_shape(tmp_path: Path) -> None:
    result = smoke(tmp_path, "make")
    assert result.evidence == "evidence/4-torch-smoke-1.json"
    data = json.loads((tmp_path / "ticket" / result.evidence).read_text())
    for key in ("handler", "stage", "status", "checks", "metrics", "artifacts", "commit",
                "evidence", "dirty", "started", "finished", "environment"):
        assert key in data
    assert data["handler"] == "torch-smoke" and data["stage"] == 4 and data["status"] == "Pass"
    assert data["commit"] == "c0ffee" * 6 + "beef"
    assert set(data["checks"][0]) == {"id", "status", "detail", "seconds"}
    assert data["environment"]["torch"] == torch.__version__
    assert evidence.freshness(evidence.latest(tmp_path / "ticket", 4, "torch-smoke"),
                              "c0ffee" * 6 + "beef")[0]


def test_user_objects_are_not_mutated(tmp_path: Path) -> None:
    result = smoke(tmp_path, "make_shared")
    assert result.status == "Pass"
    zoo = sys.modules["smokezoo.factories"]  # the module the handler imported
    target, snap = zoo.SHARED, zoo.SNAPSHOT
    after = target.model.state_dict()
    assert all(torch.equal(snap[k], after[k]) for k in after)
    assert not target.model.training  # still in the mode the user left it in
    assert torch.equal(target.batch[0], snap["batch/x"])
    assert all(p.grad is None for p in target.model.parameters())


def test_global_random_state_is_restored(tmp_path: Path) -> None:
    import random

    torch.manual_seed(123)
    random.seed(123)
    expected = (torch.rand(3), random.random())
    torch.manual_seed(123)
    random.seed(123)
    smoke(tmp_path, "make")
    got = (torch.rand(3), random.random())
    assert torch.equal(got[0], expected[0]) and got[1] == expected[1]


def test_run_options_override_yaml_options_and_foreign_ones_are_ignored(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path / "t", "smokezoo.factories:make", overfit_steps=50)
    ctx.run_options = {"overfit_steps": 2, "detach": True}  # detach belongs to `train`
    r = run_handler(TorchSmokeHandler(), ctx)
    assert [c.id for c in r.checks] == list(CHECK_IDS)
    assert "in 2 steps" in by_id(r)["overfit"].detail


def test_dict_factory_and_batch_from_train_loader(tmp_path: Path) -> None:
    r1 = smoke(tmp_path / "a", "make_dict")
    assert r1.status == "Pass"
    checks = by_id(r1)
    assert checks["labels"].status == "skipped" and "num_classes" in checks["labels"].detail
    assert checks["leakage"].status == "skipped" and "two of" in checks["leakage"].detail
    r2 = smoke(tmp_path / "b", "make_from_loaders")
    assert r2.status == "Pass"
    assert "(64, 5)" in by_id(r2)["forward"].detail  # the first train batch


def test_smoke_target_is_a_plain_dataclass() -> None:
    t = SmokeTarget(torch.nn.Linear(2, 2), (torch.zeros(1, 2), torch.zeros(1)), torch.nn.MSELoss())
    assert t.optimizer is None and t.num_classes is None and t.loaders is None


# -- purpose-made bad models ---------------------------------------------------------------


@pytest.mark.parametrize("factory, check, needles", [
    ("make_frozen", "gradients", ["frozen", "encoder.0.weight", "encoder.0.bias",
                                  "torch-smoke.frozen"]),
    ("make_unused", "gradients", ["no gradient", "proj.weight", "proj.bias"]),
    ("make_no_grad", "gradients", ["no gradient", "encoder.0.weight"]),
    ("make_nan", "forward", ["not finite", "NaN"]),
    ("make_lr0", "overfit", ["in 50 steps", "needs <=", "learning rate"]),
    ("make_detached", "overfit", ["does not require grad", "detached"]),
    ("make_detached", "gradients", ["detached", "head.weight"]),
    ("make_dropout_eval", "eval_mode", ["eval()", "differ", "dropout"]),
    ("make_unregistered_state", "checkpoint", ["state_dict", "register_buffer"]),
    ("make_nan_backward", "anomaly", ["nan", "models.py"]),
    ("make_unreduced_loss", "loss", ["shape (32,)", "not a scalar"]),
    ("make_leaky", "leakage", ["16 samples shared", "train/val", "=="]),
    ("make_dataset_leak", "leakage", ["2 samples shared", "train[7] == test[30]",
                                      "train[9] == test[31]"]),
    ("make_bad_labels", "labels", ["outside [0, 5)", "labels 5", "train[", "= 5"]),
])
def test_bad_models_fail_the_right_check(tmp_path: Path, factory: str, check: str,
                                         needles: list[str]) -> None:
    result = smoke(tmp_path, factory)
    assert result.status == "Fail"
    row = by_id(result)[check]
    assert row.status == "fail", row
    for needle in needles:
        assert needle in row.detail, (needle, row.detail)
    assert exit_code([result]) == 1


def test_a_failed_prerequisite_skips_what_depends_on_it(tmp_path: Path) -> None:
    checks = by_id(smoke(tmp_path, "make_nan"))
    for cid in ("loss", "gradients", "overfit", "determinism", "eval_mode", "checkpoint",
                "anomaly"):
        assert checks[cid].status == "skipped"
        assert "did not pass" in checks[cid].detail
    # independent checks still run
    assert checks["labels"].status == "pass" and checks["leakage"].status == "pass"


def test_ignore_index_labels_are_not_classes(tmp_path: Path) -> None:
    r = smoke(tmp_path / "a", "make_ignore_index")
    assert by_id(r)["labels"].status == "pass"
    r = smoke(tmp_path / "b", "make_ignore_index", ignore_index=None)
    row = by_id(r)["labels"]
    assert row.status == "fail" and "-100" in row.detail


def test_soft_labels_are_not_range_checked(tmp_path: Path) -> None:
    r = smoke(tmp_path, "make_soft_labels", overfit_ratio=0.5)
    row = by_id(r)["labels"]
    assert row.status == "skipped" and "not class indices" in row.detail
    assert r.status == "Pass"


# -- options -----------------------------------------------------------------------------


def test_frozen_parameters_declared_in_options_pass(tmp_path: Path) -> None:
    r = smoke(tmp_path, "make_frozen", frozen=["encoder.*"], skip=["overfit"])
    row = by_id(r)["gradients"]
    assert row.status == "pass" and "2 frozen as declared" in row.detail


def test_overfit_steps_and_ratio_are_honoured(tmp_path: Path) -> None:
    row = by_id(smoke(tmp_path / "a", "make", overfit_steps=2))["overfit"]
    assert row.status == "fail" and "in 2 steps" in row.detail
    row = by_id(smoke(tmp_path / "b", "make", overfit_ratio=0.9))["overfit"]
    assert row.status == "pass" and "0.9 x start" in row.detail


def test_leakage_cap_limits_hashing(tmp_path: Path) -> None:
    row = by_id(smoke(tmp_path, "make", leakage_cap=10))["leakage"]
    assert row.status == "pass"
    assert "train 10 (capped)" in row.detail and "cap 10 per loader" in row.detail


def test_skip_option_marks_checks_skipped(tmp_path: Path) -> None:
    r = smoke(tmp_path, "make_lr0", skip=["overfit"])
    assert r.status == "Pass"
    assert by_id(r)["overfit"].status == "skipped"
    assert "torch-smoke.skip" in by_id(r)["overfit"].detail


@pytest.mark.parametrize("options, needle", [
    ({"overfit_ratio": 2}, "overfit_ratio"),
    ({"overfit_steps": 0}, "overfit_steps"),
    ({"colour": "red"}, "unknown option torch-smoke.colour"),
    ({"device": "tpu"}, "device"),
    ({"skip": ["forward"]}, "cannot be skipped"),
    ({"skip": ["speed"]}, "unknown check 'speed'"),
])
def test_bad_options_fail_with_the_key_named(tmp_path: Path, options: dict, needle: str) -> None:
    r = smoke(tmp_path, "make", **options)
    assert r.status == "Fail"
    assert r.checks[0].id == "options" and needle in r.checks[0].detail
    assert [c.id for c in r.checks[1:]] == list(CHECK_IDS)


def test_cuda_requested_without_cuda_fails_the_device_check(tmp_path: Path) -> None:
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    r = smoke(tmp_path, "make", device="cuda")
    row = by_id(r)["device"]
    assert r.status == "Fail" and row.status == "fail"
    assert "torch.cuda.is_available() is False" in row.detail
    assert by_id(r)["overfit"].status == "pass"  # the rest ran on the CPU


def test_defaults_match_the_spec() -> None:
    assert DEFAULTS["overfit_steps"] == 50
    assert DEFAULTS["overfit_ratio"] == 0.1
    assert DEFAULTS["leakage_cap"] == 10000


# -- the factory -------------------------------------------------------------------------


def test_factory_that_raises_is_a_fail_with_the_traceback_tail(tmp_path: Path) -> None:
    r = smoke(tmp_path, "make_raises")
    assert r.status == "Fail"
    row = r.checks[0]
    assert row.id == "factory" and row.status == "fail"
    assert "make_raises" in row.detail and "FileNotFoundError" in row.detail
    assert "/nonexistent/cifar" in row.detail
    assert r.error is not None and "factories.py" in r.error and "make_raises" in r.error
    assert all(c.status == "skipped" for c in r.checks[1:])
    assert exit_code([r]) == 1  # the user's code failed: a Fail, not a crash


@pytest.mark.parametrize("spec, needle", [
    ("smokezoo.factories", "is not of the form 'package.module:function'"),
    ("smokezoo.factories:", "is not of the form"),
    ("smoke zoo:make", "is not of the form"),
    ("nosuchpkg.mod:make", "cannot import module 'nosuchpkg.mod'"),
    ("smokezoo.factories:nope", "has no attribute 'nope'"),
    ("smokezoo.factories:make_wrong_type", "returned int"),
    ("smokezoo.data:torch", "not a function"),
])
def test_bad_factory_is_a_fail_naming_it(tmp_path: Path, spec: str, needle: str) -> None:
    r = run_handler(TorchSmokeHandler(), make_ctx(tmp_path, spec))
    assert r.status == "Fail"
    row = r.checks[0]
    assert row.id == "factory" and row.status == "fail"
    assert needle in row.detail
    assert repr(spec) in row.detail or spec in row.detail


def test_missing_factory_option_says_what_to_set(tmp_path: Path) -> None:
    r = run_handler(TorchSmokeHandler(), make_ctx(tmp_path, None))
    assert r.status == "Fail" and r.checks[0].id == "factory"
    assert "torch-smoke.factory" in r.checks[0].detail


FACTORY_V1 = """
import torch
from torch import nn

def make():
    torch.manual_seed(0)
    x = torch.randn(16, 8)
    y = torch.randint(0, 3, (16,))
    return {"model": nn.Sequential(nn.Linear(8, 64), nn.ReLU(), nn.Linear(64, 3)),
            "batch": (x, y), "loss_fn": nn.CrossEntropyLoss(), "num_classes": 3}
"""


def test_factory_comes_from_the_worktree_and_new_code_is_seen(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The code is imported from the worktree, each run sees the file as it is now (also an
    edit within the same second, which a .pyc beside the source would hide: byte code is
    written, as on a user's machine, but to a temporary folder), and no __pycache__ is left
    in the worktree."""
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    wt = tmp_path / "wt"
    (wt / "mymodel").mkdir(parents=True)
    (wt / "mymodel" / "__init__.py").write_text("")
    (wt / "mymodel" / "smoke.py").write_text(FACTORY_V1)
    path_before = list(sys.path)
    r1 = run_handler(TorchSmokeHandler(), make_ctx(tmp_path / "t", "mymodel.smoke:make", wt))
    assert r1.status == "Pass", r1.checks
    assert sys.path == path_before
    # the engineer breaks the model; the next run must see the new code (not a cached module)
    (wt / "mymodel" / "smoke.py").write_text(FACTORY_V1.replace(
        '"num_classes": 3', '"num_classes": 2'))  # fewer classes than the labels use
    r2 = run_handler(TorchSmokeHandler(), make_ctx(tmp_path / "t", "mymodel.smoke:make", wt))
    assert r2.status == "Fail" and by_id(r2)["labels"].status == "fail"
    assert r2.evidence == "evidence/4-torch-smoke-2.json"
    # another worktree with a package of the same name is its own code
    wt2 = tmp_path / "wt2"
    (wt2 / "mymodel").mkdir(parents=True)
    (wt2 / "mymodel" / "__init__.py").write_text("")
    (wt2 / "mymodel" / "smoke.py").write_text("def make():\n    return 'not a target'\n")
    r3 = run_handler(TorchSmokeHandler(), make_ctx(tmp_path / "t2", "mymodel.smoke:make", wt2))
    assert r3.checks[0].id == "factory" and "returned str" in r3.checks[0].detail
    assert not list(wt.rglob("__pycache__")) and not list(wt2.rglob("*.pyc"))
    assert sys.pycache_prefix is None


# -- implementation.md -------------------------------------------------------------------


def _ticket_with_template(folder: Path, newline: str = "\n") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    text = TEMPLATE.read_text(encoding="utf-8")
    path = folder / "implementation.md"
    path.write_bytes(text.replace("\n", newline).encode())
    return path


def test_readiness_row_is_filled_and_nothing_else_changes(tmp_path: Path) -> None:
    folder = tmp_path / "ticket"
    path = _ticket_with_template(folder)
    before = path.read_bytes().decode().splitlines(keepends=True)
    r = smoke(tmp_path, "make")
    after = path.read_bytes().decode().splitlines(keepends=True)
    assert len(after) == len(before)
    changed = [i for i, (a, b) in enumerate(zip(before, after)) if a != b]
    assert len(changed) == 1
    assert after[changed[0]] == ("| Smoke test or dry run passes | Pass | "
                                 "evidence/4-torch-smoke-1.json |\n")
    assert r.evidence == "evidence/4-torch-smoke-1.json"
    # a later failing run records Fail and its own evidence file
    smoke(tmp_path, "make_nan")
    row = [ln for ln in path.read_text().splitlines() if ln.startswith("| Smoke test")]
    assert row == ["| Smoke test or dry run passes | Fail | evidence/4-torch-smoke-2.json |"]


def test_readiness_row_keeps_crlf_and_other_cells(tmp_path: Path) -> None:
    folder = tmp_path / "ticket"
    path = _ticket_with_template(folder, newline="\r\n")
    text = path.read_bytes().decode().replace(
        "| Training entrypoint resolves |  |  |",
        "| Training entrypoint resolves | Pass | `python train.py --help` |")
    path.write_bytes(text.encode())
    smoke(tmp_path, "make")
    out = path.read_bytes().decode()
    assert "| Smoke test or dry run passes | Pass | evidence/4-torch-smoke-1.json |\r\n" in out
    assert "| Training entrypoint resolves | Pass | `python train.py --help` |\r\n" in out
    assert out.replace("| Smoke test or dry run passes | Pass | evidence/4-torch-smoke-1.json |",
                       "| Smoke test or dry run passes |  |  |") == text


def test_missing_row_is_added_and_missing_file_is_not_created(tmp_path: Path) -> None:
    folder = tmp_path / "t"
    path = _ticket_with_template(folder)
    path.write_text(path.read_text().replace("| Smoke test or dry run passes |  |  |\n", ""))
    res = HandlerResult("torch-smoke", 4, "Pass", evidence="evidence/4-torch-smoke-7.json")
    assert fill_readiness_row(folder, res) == path
    lines = path.read_text().splitlines()
    i = lines.index("| Smoke test or dry run passes | Pass | evidence/4-torch-smoke-7.json |")
    assert lines[i - 1].startswith("| Output paths or permissions are correct")
    assert lines[i + 1] == ""
    empty = tmp_path / "none"
    empty.mkdir()
    assert fill_readiness_row(empty, res) is None
    assert not (empty / "implementation.md").exists()


# -- CUDA (real GPU only) ----------------------------------------------------------------


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_good_model_on_cuda_with_bf16_autocast(tmp_path: Path) -> None:
    r = smoke(tmp_path, "make")
    assert r.status == "Pass", [(c.id, c.status, c.detail) for c in r.checks]
    assert r.environment["device"] == "cuda" and r.environment["device_name"]
    assert by_id(r)["device"].detail.startswith("cuda (")
