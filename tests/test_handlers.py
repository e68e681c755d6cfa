"""The handler registry (entry points + explicit registration) and the safe runner: evidence
saved with commit/dirty/timing, crashes become Fail results, a missing extra is exit 4 with the
pip hint, and a third-party handler installed as a real package is discovered and run."""
from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from mlgate.evidence import results as evidence
from mlgate.constants import ENTRY_POINT_GROUP
from mlgate.errors import HandlerError, MissingExtra
from mlgate.evidence.results import CheckResult, HandlerContext, HandlerResult
from mlgate.handlers import registry as registry_mod
from mlgate.handlers.registry import Registry, register_handler
from mlgate.handlers.runner import exit_code, missing_extra, run_handler, run_stage
from mlgate.handlers.torch_smoke import TorchSmokeHandler

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def ctx_for(folder: Path, stage: int = 4, **kw: Any) -> HandlerContext:
    folder.mkdir(parents=True, exist_ok=True)
    kw.setdefault("commit", COMMIT)
    return HandlerContext(workspace=folder, ticket="demo", stage=stage, folder=folder,
                          worktree=folder, **kw)


class Ok:
    name = "ok-check"
    stages = (4,)

    def run(self, ctx: HandlerContext) -> HandlerResult:
        ctx.report("all good")
        return HandlerResult(self.name, ctx.stage, "Pass",
                             checks=[CheckResult("one", "pass", "fine", 0.01)],
                             metrics={"answer": 42}, environment={"tool": "ok 1.0"})


class Boom:
    name = "boom"
    stages = (4,)

    def run(self, ctx: HandlerContext) -> HandlerResult:
        return self.explode()

    def explode(self) -> HandlerResult:
        raise RuntimeError("the data server is unreachable")


# -- registry ------------------------------------------------------------------------------


def test_installed_entry_points_include_the_builtins() -> None:
    reg = Registry().discover()
    assert {"torch-smoke", "train"} <= set(reg.names())
    handler = reg.get("torch-smoke")
    assert isinstance(handler, TorchSmokeHandler)
    assert handler.name == "torch-smoke" and handler.stages == (4,)
    assert reg.get("torch-smoke") is handler  # loaded once


def test_unknown_name_lists_the_known_ones() -> None:
    reg = Registry(entry_points=[])
    reg.register(Ok)
    with pytest.raises(HandlerError) as info:
        reg.get("smok")
    assert info.value.exit_code == 4
    assert "unknown handler 'smok'" in str(info.value) and "ok-check" in str(info.value)
    assert info.value.data["known"] == ["ok-check"]


def test_a_broken_entry_point_only_breaks_its_own_name() -> None:
    ep = importlib.metadata.EntryPoint
    reg = Registry(entry_points=[
        ep("torch-smoke", "mlgate.handlers.torch_smoke:TorchSmokeHandler", ENTRY_POINT_GROUP),
        ep("broken", "no_such_module_xyz:Handler", ENTRY_POINT_GROUP),
        ep("not-a-handler", "mlgate.constants:STAGES", ENTRY_POINT_GROUP),
    ])
    assert reg.names() == ["broken", "not-a-handler", "torch-smoke"]
    with pytest.raises(HandlerError) as info:
        reg.get("broken")
    msg = str(info.value)
    assert "no_such_module_xyz:Handler" in msg and "ModuleNotFoundError" in msg
    assert isinstance(info.value.__cause__, ModuleNotFoundError)
    with pytest.raises(HandlerError, match="not a stage handler"):
        reg.get("not-a-handler")
    assert isinstance(reg.get("torch-smoke"), TorchSmokeHandler)
    errors = reg.errors()
    assert set(errors) == {"broken", "not-a-handler"}
    assert reg.load_all() == errors


def test_register_class_instance_factory_and_decorator() -> None:
    reg = Registry(entry_points=[])
    reg.register(Ok)  # a class: instantiated with no arguments
    assert isinstance(reg.get("ok-check"), Ok)
    inst = Boom()
    reg.register(inst)  # an instance: used as is
    assert reg.get("boom") is inst

    def make_handler() -> Ok:  # a factory without a name attribute: built to learn its name
        h = Ok()
        h.name = "from-factory"
        return h

    reg.register(make_handler)
    assert reg.get("from-factory").name == "from-factory"
    reg.register(Ok, name="alias")
    assert isinstance(reg.get("alias"), Ok)

    @reg.register(name="decorated")
    class Decorated(Ok):
        name = "decorated"

    assert Decorated.__name__ == "Decorated"  # the decorator returns the class
    assert isinstance(reg.get("decorated"), Decorated)
    assert reg.names() == ["alias", "boom", "decorated", "from-factory", "ok-check"]


def test_explicit_registration_overrides_an_entry_point() -> None:
    ep = importlib.metadata.EntryPoint
    reg = Registry(entry_points=[
        ep("torch-smoke", "mlgate.handlers.torch_smoke:TorchSmokeHandler", ENTRY_POINT_GROUP)])
    assert isinstance(reg.get("torch-smoke"), TorchSmokeHandler)

    class MySmoke(Ok):
        name = "torch-smoke"

    reg.register(MySmoke)
    assert isinstance(reg.get("torch-smoke"), MySmoke)
    reg.unregister("torch-smoke")
    assert isinstance(reg.get("torch-smoke"), TorchSmokeHandler)


def test_register_rejects_what_is_not_a_handler() -> None:
    reg = Registry(entry_points=[])
    with pytest.raises(HandlerError, match="not a stage handler"):
        reg.register(lambda: 42)


def test_default_registry_and_register_handler(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry_mod, "_DEFAULT", None)
    register_handler(Ok)
    reg = registry_mod.default_registry()
    assert "ok-check" in reg.names() and "torch-smoke" in reg.names()
    assert isinstance(registry_mod.get_handler("ok-check"), Ok)


# -- runner --------------------------------------------------------------------------------


def test_run_handler_saves_stamped_evidence(tmp_path: Path) -> None:
    lines: list[str] = []
    ctx = ctx_for(tmp_path / "ticket", dirty=True, progress=lines.append)
    result = run_handler(Ok(), ctx)
    assert lines == ["all good"]
    assert result.evidence == "evidence/4-ok-check-1.json"
    saved = evidence.load(tmp_path / "ticket" / result.evidence)
    assert saved.status == "Pass" and saved.commit == COMMIT and saved.dirty is True
    assert saved.started and saved.finished and saved.started <= saved.finished
    assert saved.environment["tool"] == "ok 1.0" and saved.environment["python"]
    assert saved.metrics["answer"] == 42 and saved.metrics["seconds"] >= 0
    assert saved.checks == [CheckResult("one", "pass", "fine", 0.01)]
    # a dirty tree is never gate evidence
    ok, why = evidence.freshness(saved, COMMIT)
    assert not ok and "uncommitted" in why
    again = run_handler(Ok(), ctx_for(tmp_path / "ticket"))
    assert again.evidence == "evidence/4-ok-check-2.json"
    assert evidence.freshness(evidence.latest(tmp_path / "ticket", 4, "ok-check"), COMMIT)[0]


def test_a_crashing_handler_becomes_a_fail_with_the_traceback(tmp_path: Path) -> None:
    folder = tmp_path / "ticket"
    state = folder / "workflow-state.md"
    folder.mkdir()
    state.write_text("# state\n")
    result = run_handler(Boom(), ctx_for(folder))
    assert result.status == "Fail"
    assert result.checks[0].id == "crash" and result.checks[0].status == "fail"
    assert "RuntimeError: the data server is unreachable" in result.checks[0].detail
    assert "explode" in result.error and "the data server is unreachable" in result.error
    assert len(result.error.splitlines()) <= 20
    assert exit_code([result]) == 4
    data = json.loads((folder / result.evidence).read_text())
    assert data["status"] == "Fail" and "explode" in data["error"]
    assert state.read_text() == "# state\n"  # the runner never touches the state file


def test_evidence_cannot_claim_a_pass_its_rows_contradict(tmp_path: Path) -> None:
    class Liar(Ok):
        def run(self, ctx: HandlerContext) -> HandlerResult:
            return HandlerResult(self.name, ctx.stage, "Pass",
                                 checks=[CheckResult("x", "fail", "broken")])

    class Wrong(Ok):
        def run(self, ctx: HandlerContext) -> Any:
            return {"status": "Pass"}

    assert run_handler(Liar(), ctx_for(tmp_path / "a")).status == "Fail"
    r = run_handler(Wrong(), ctx_for(tmp_path / "b"))
    assert r.status == "Fail" and "not a HandlerResult" in r.checks[0].detail


@pytest.mark.parametrize("package, extra", [("torch", "torch"), ("torch.nn", "torch"),
                                            ("wandb", "wandb"), ("matplotlib", "wandb"),
                                            ("submitit", "slurm")])
def test_missing_extra_raises_with_the_pip_hint(tmp_path: Path, package: str, extra: str) -> None:
    class NeedsExtra(Ok):
        name = "needs-extra"

        def run(self, ctx: HandlerContext) -> HandlerResult:
            raise ModuleNotFoundError(f"No module named {package!r}", name=package)

    with pytest.raises(MissingExtra) as info:
        run_handler(NeedsExtra(), ctx_for(tmp_path / "t"))
    err = info.value
    assert err.exit_code == 4
    assert err.package == package.split(".")[0] and err.extra == extra
    assert f"pip install 'mlgate[{extra}]'" in str(err) and "needs-extra" in str(err)
    assert not (tmp_path / "t" / "evidence").exists()  # no evidence for a run that never ran


def test_torch_smoke_without_torch_is_a_missing_extra(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now fails as if absent
    with pytest.raises(MissingExtra) as info:
        run_handler(TorchSmokeHandler(), ctx_for(tmp_path / "t", options={"factory": "a.b:c"}))
    assert "pip install 'mlgate[torch]'" in str(info.value)
    assert "torch-smoke" in str(info.value)


def test_other_missing_modules_are_ordinary_crashes(tmp_path: Path) -> None:
    class NeedsTimm(Ok):
        def run(self, ctx: HandlerContext) -> HandlerResult:
            import importlib
            importlib.import_module("timm_not_installed_here")
            raise AssertionError("unreachable")

    r = run_handler(NeedsTimm(), ctx_for(tmp_path / "t"))
    assert r.status == "Fail" and "timm_not_installed_here" in r.checks[0].detail
    assert missing_extra(ImportError("cannot import name 'x' from 'torch'", name="torch")) is None


def test_after_save_hook_sees_the_saved_result(tmp_path: Path) -> None:
    seen: list[str | None] = []

    class Hooked(Ok):
        def after_save(self, ctx: HandlerContext, result: HandlerResult) -> None:
            seen.append(result.evidence)
            assert (ctx.folder / result.evidence).is_file()

    class BadHook(Ok):
        name = "bad-hook"

        def after_save(self, ctx: HandlerContext, result: HandlerResult) -> None:
            raise OSError("read-only file system")

    run_handler(Hooked(), ctx_for(tmp_path / "a"))
    assert seen == ["evidence/4-ok-check-1.json"]
    lines: list[str] = []
    r = run_handler(BadHook(), ctx_for(tmp_path / "b", progress=lines.append))
    assert r.status == "Pass"  # the evidence stands; the failed hook is reported
    assert any("read-only file system" in ln for ln in lines)


def test_run_stage_resolves_everything_before_running(tmp_path: Path) -> None:
    reg = Registry(entry_points=[])
    reg.register(Ok)
    reg.register(Boom)
    asked: list[str] = []

    def make_ctx(name: str) -> HandlerContext:
        asked.append(name)
        return ctx_for(tmp_path / "t")

    results = run_stage(reg, ["ok-check", "boom"], make_ctx)
    assert asked == ["ok-check", "boom"]
    assert [r.status for r in results] == ["Pass", "Fail"]
    assert exit_code(results) == 4
    assert exit_code(results[:1]) == 0
    with pytest.raises(HandlerError, match="unknown handler 'nope'"):
        run_stage(reg, ["ok-check", "nope"], make_ctx)
    assert len(evidence.list_evidence(tmp_path / "t", 4, "ok-check")) == 1  # nothing new ran


def test_run_stage_turns_an_entry_point_needing_an_extra_into_missing_extra(
        tmp_path: Path) -> None:
    mod = tmp_path / "needs_wandb_plugin.py"
    mod.write_text("import wandb_is_not_this  # noqa\n")
    sys.path.insert(0, str(tmp_path))
    try:
        ep = importlib.metadata.EntryPoint("tracker", "needs_wandb_plugin:H", ENTRY_POINT_GROUP)
        reg = Registry(entry_points=[ep])
        with pytest.raises(HandlerError) as info:
            run_stage(reg, ["tracker"], lambda n: ctx_for(tmp_path / "t"))
        assert not isinstance(info.value, MissingExtra)
        mod.write_text("raise ModuleNotFoundError(\"No module named 'wandb'\", name='wandb')\n")
        sys.modules.pop("needs_wandb_plugin", None)
        reg = Registry(entry_points=[ep])
        with pytest.raises(MissingExtra, match=r"pip install 'mlgate\[wandb\]'"):
            run_stage(reg, ["tracker"], lambda n: ctx_for(tmp_path / "t"))
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("needs_wandb_plugin", None)


# -- a third-party plug-in, installed for real -------------------------------------------


PLUGIN_PYPROJECT = """
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "mycheck"
version = "0.1.0"

[tool.setuptools]
py-modules = ["mycheck"]

[project.entry-points."mlgate.handlers"]
my-check = "mycheck:MyCheck"
my-broken = "mycheck:DoesNotExist"
"""

PLUGIN_MODULE = '''
from mlgate.evidence.results import CheckResult, HandlerResult


class MyCheck:
    name = "my-check"
    stages = (4, 5)

    def run(self, ctx):
        n = len(list(ctx.worktree.glob("*.py")))
        ctx.report(f"files: {n}")
        return HandlerResult(self.name, ctx.stage, "Pass",
                             checks=[CheckResult("files", "pass", f"{n} python files", 0.0)],
                             metrics={"files": n})
'''

DRIVER = '''
import json, sys
from pathlib import Path
from mlgate.evidence.results import HandlerContext
from mlgate.handlers.registry import Registry
from mlgate.handlers.runner import run_handler

folder = Path(sys.argv[1])
reg = Registry().discover()
out = {"names": reg.names(), "imported_before_get": "mycheck" in sys.modules}
handler = reg.get("my-check")
ctx = HandlerContext(workspace=folder, ticket="demo", stage=4, folder=folder,
                     worktree=folder, commit="abc")
result = run_handler(handler, ctx)
out["result"] = result.to_dict()
try:
    reg.get("my-broken")
except Exception as exc:
    out["broken"] = f"{type(exc).__name__}: {exc}"
out["smoke_still_loads"] = type(reg.get("torch-smoke")).__name__
print(json.dumps(out))
'''


@pytest.mark.slow
def test_third_party_handler_from_an_installed_package(tmp_path: Path) -> None:
    src = tmp_path / "mycheck-src"
    src.mkdir()
    (src / "pyproject.toml").write_text(PLUGIN_PYPROJECT)
    (src / "mycheck.py").write_text(PLUGIN_MODULE)
    target = tmp_path / "site"
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                          "--no-build-isolation", "--no-index", "--target", str(target),
                          str(src)], capture_output=True, text=True, timeout=300)
    assert pip.returncode == 0, pip.stderr
    folder = tmp_path / "ticket"
    folder.mkdir()
    (folder / "a.py").write_text("")
    (folder / "b.py").write_text("")
    env = dict(os.environ, PYTHONPATH=str(target))
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(DRIVER), str(folder)],
                          capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert {"my-check", "my-broken", "torch-smoke"} <= set(out["names"])
    assert out["imported_before_get"] is False  # discovery imports nothing
    assert out["result"]["status"] == "Pass" and out["result"]["metrics"]["files"] == 2
    assert out["result"]["evidence"] == "evidence/4-my-check-1.json"
    assert (folder / "evidence" / "4-my-check-1.json").is_file()
    assert "HandlerError" in out["broken"] and "mycheck:DoesNotExist" in out["broken"]
    assert out["smoke_still_loads"] == "TorchSmokeHandler"
