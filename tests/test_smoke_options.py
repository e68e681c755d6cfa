"""Every documented torch-smoke option (``seed``, ``device``, ``frozen``, ``ignore_index``,
``skip``) is accepted by ``mlgate.yaml`` validation and changes what the checks do (real torch
on CPU); the options a run used are recorded in its evidence; a bad value is refused when
``mlgate.yaml`` is read, naming the line."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlgate.config.schema import load_config
from mlgate.errors import ConfigError
from mlgate.evidence.results import HandlerContext, HandlerResult
from mlgate.handlers.runner import run_handler

from conftest import git, mlgate, write_goal

torch = pytest.importorskip("torch")

from mlgate.handlers.torch_smoke import TorchSmokeHandler  # noqa: E402

ZOO = Path(__file__).resolve().parent / "data" / "smoke"


def smoke(tmp_path: Path, factory: str, yaml_options: str) -> HandlerResult:
    """Validate ``torch-smoke:`` as mlgate.yaml would hold it, then run the handler with the
    options the config gives it."""
    root = tmp_path / "ws"
    root.mkdir(exist_ok=True)
    (root / "mlgate.yaml").write_text(
        f"torch-smoke:\n  factory: smokezoo.factories:{factory}\n{yaml_options}")
    opts = load_config(root).handler_options("torch-smoke")
    folder = tmp_path / "ticket"
    folder.mkdir(exist_ok=True)
    ctx = HandlerContext(workspace=root, ticket="demo", stage=4, folder=folder, worktree=ZOO,
                         options=opts, commit="c0ffee" * 6 + "beef")
    return run_handler(TorchSmokeHandler(), ctx)


def checks(result: HandlerResult) -> dict[str, tuple[str, str]]:
    return {c.id: (c.status, c.detail) for c in result.checks}


def recorded(tmp_path: Path, result: HandlerResult) -> dict:
    saved = json.loads((tmp_path / "ticket" / result.evidence).read_text())
    return saved["smoke"]["options"]


def test_seed(tmp_path: Path) -> None:
    r = smoke(tmp_path, "make", "  seed: 7\n  skip: [leakage, labels]\n")
    status, detail = checks(r)["determinism"]
    assert status == "pass" and "seed 7" in detail
    assert recorded(tmp_path, r)["seed"] == 7


def test_device_cpu_and_cuda(tmp_path: Path) -> None:
    r = smoke(tmp_path, "make", "  device: cpu\n")
    assert r.status == "Pass" and r.environment["device"] == "cpu"
    assert "configured" in checks(r)["device"][1]
    assert recorded(tmp_path, r)["device"] == "cpu"
    r = smoke(tmp_path, "make", "  device: cuda\n")
    if torch.cuda.is_available():
        assert r.status == "Pass" and r.environment["device"] == "cuda"
    else:  # asked for CUDA on a machine without it: the device check says so
        status, detail = checks(r)["device"]
        assert status == "fail" and "cuda" in detail.lower(), detail


def test_frozen(tmp_path: Path) -> None:
    r = smoke(tmp_path, "make_frozen", "")
    status, detail = checks(r)["gradients"]
    assert status == "fail" and "torch-smoke.frozen" in detail
    r = smoke(tmp_path, "make_frozen", '  frozen: ["encoder.*"]\n  skip: [overfit]\n')
    status, detail = checks(r)["gradients"]
    assert status == "pass" and "frozen as declared" in detail
    assert recorded(tmp_path, r)["frozen"] == ["encoder.*"]


def test_ignore_index(tmp_path: Path) -> None:
    r = smoke(tmp_path, "make_padding_minus_one", "")  # default -100: -1 is out of range
    status, detail = checks(r)["labels"]
    assert status == "fail" and "-1" in detail
    r = smoke(tmp_path, "make_padding_minus_one", "  ignore_index: -1\n")
    assert checks(r)["labels"][0] == "pass", checks(r)["labels"]
    assert recorded(tmp_path, r)["ignore_index"] == -1


def test_skip(tmp_path: Path) -> None:
    r = smoke(tmp_path, "make_leaky", "  skip: [leakage, anomaly]\n")
    got = checks(r)
    assert got["leakage"] == ("skipped", "skipped by configuration (torch-smoke.skip)")
    assert got["anomaly"][0] == "skipped" and r.status == "Pass"
    assert recorded(tmp_path, r)["skip"] == ["leakage", "anomaly"]


def test_every_option_is_recorded_in_the_evidence(tmp_path: Path) -> None:
    r = smoke(tmp_path, "make", "")
    assert set(recorded(tmp_path, r)) == {"factory", "overfit_steps", "overfit_ratio",
                                          "leakage_cap", "seed", "device", "frozen",
                                          "ignore_index", "skip"}


@pytest.mark.parametrize("line, needle", [
    ("  device: tpu\n", "torch-smoke.device"),
    ("  skip: [forward]\n", "cannot be skipped"),
    ("  skip: [gradient]\n", "unknown check 'gradient'"),
    ("  seed: -1\n", "torch-smoke.seed"),
    ("  ignore_index: '-1'\n", "torch-smoke.ignore_index"),
    ("  frozen: [1]\n", "torch-smoke.frozen"),
])
def test_bad_values_are_refused_when_mlgate_yaml_is_read(tmp_path: Path, line: str,
                                                         needle: str) -> None:
    (tmp_path / "mlgate.yaml").write_text("torch-smoke:\n  factory: a.b:c\n" + line)
    with pytest.raises(ConfigError) as exc:
        load_config(tmp_path)
    assert needle in str(exc.value) and exc.value.line == 3, str(exc.value)


@pytest.mark.slow
def test_frozen_backbone_passes_through_the_cli(git_repo: Path) -> None:
    """The real CLI at stage 4: a model with an intentionally frozen part passes `gradients`
    once `torch-smoke.frozen` declares it (it could never pass before)."""
    import shutil

    shutil.copytree(ZOO / "smokezoo", git_repo / "smokezoo")
    (git_repo / "mlgate.yaml").write_text(
        "handlers: {4: [torch-smoke]}\ntorch-smoke:\n  factory: smokezoo.factories:make_frozen\n"
        '  frozen: ["encoder.*"]\n  skip: [overfit]\n')
    (git_repo / "tickets" / "in-progress").mkdir(parents=True)
    (git_repo / "tickets" / "in-progress" / ".gitkeep").write_text("")
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-q", "-m", "smoke factory")
    r = mlgate(git_repo, "new", "frozen", "--no-worktree")
    assert r.returncode == 0, r.stderr
    folder = git_repo / "tickets" / "in-progress" / "frozen"
    write_goal(folder)
    from mlgate.workspace import Workspace

    t = Workspace(git_repo).ticket("frozen")
    # take the ticket to stage 4 the quick way the tests allow: the stage-4 handler only
    # needs the stage it runs in (written by mlgate's own writer, so its head follows)
    with t._locked_doc() as (doc, key):
        doc.set_snapshot(current_stage=4, next_stage=5)
        t._write(doc, key)
    r = mlgate(git_repo, "run", "torch-smoke", "--json", timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    res = json.loads(r.stdout)[0]
    by_id = {c["id"]: c for c in res["checks"]}
    assert by_id["gradients"]["status"] == "pass"
    assert res["smoke"]["options"]["frozen"] == ["encoder.*"]
