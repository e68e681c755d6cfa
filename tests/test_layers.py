"""Architecture rules (SPEC §14): imports only go downward; heavy packages stay in their
modules; the hook path stays light."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "mlgate"

LAYERS: dict[str, int] = {
    "record": -1,  # stdlib only, below everything
    "errors": 0, "constants": 0,
    "mdparse": 1, "util": 1, "resources": 1, "rawconfig": 1,
    "statefile": 2, "git": 2, "config": 2,
    "model": 3, "artifacts": 3, "evidence": 3, "tickets": 3, "baselines": 3, "plots": 3,
    "policy": 4, "gates": 4, "closure": 4, "runs": 4, "track": 4,
    "watch": 5,
    "handlers": 6,
    "engine": 7,
    "workspace": 8,
    "hooks": 9, "report": 9, "demo": 9,
    "cli": 10, "__main__": 11, "__init__": 12,
}
# Third-party packages and the only modules allowed to import them (at module level or not).
HEAVY = {
    "transitions": {"engine"},
    "click": {"cli"},
    "torch": {"handlers", "runs", "track", "watch", "demo"},
    "wandb": {"track", "handlers", "runs", "demo"},
    "submitit": {"runs", "handlers"},
    "matplotlib": {"plots", "track", "report", "watch", "demo"},
    "pydantic": {"config", "model"},
    "git": set(),  # GitPython: we use the git CLI
}


def _module_key(path: Path) -> str:
    rel = path.relative_to(PKG).with_suffix("")
    return rel.parts[0] if len(rel.parts) > 1 else rel.name


def _imports(path: Path) -> list[tuple[str, int, bool]]:
    """(imported module, line, at module level) for every import in the file."""
    tree = ast.parse(path.read_text(), str(path))
    top = set(id(n) for n in tree.body)
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                out.append((a.name, node.lineno, id(node) in top))
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.module, node.lineno, id(node) in top))
            if node.module == "mlgate":
                for a in node.names:
                    if (PKG / f"{a.name}.py").exists() or (PKG / a.name).is_dir():
                        out.append((f"mlgate.{a.name}", node.lineno, id(node) in top))
    return out


FILES = sorted(p for p in PKG.rglob("*.py") if "_data" not in p.parts)


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(PKG)))
def test_imports_only_go_down(path: Path) -> None:
    me = _module_key(path)
    assert me in LAYERS, f"{path}: add the module to LAYERS in this test (and docs/architecture.md)"
    for name, line, _ in _imports(path):
        parts = name.split(".")
        if parts[0] == "mlgate" and len(parts) == 1:
            continue  # `from mlgate import __version__`
        if parts[0] == "mlgate" and len(parts) > 1:
            other = parts[1]
            if other == me:
                continue
            assert other in LAYERS, f"{path}:{line} imports unknown mlgate module {other}"
            assert LAYERS[other] < LAYERS[me], (
                f"{path}:{line}: {me} (layer {LAYERS[me]}) imports {other} "
                f"(layer {LAYERS[other]}): imports must go to lower layers only")
        elif parts[0] in HEAVY:
            assert me in HEAVY[parts[0]], f"{path}:{line}: {parts[0]} may not be imported in {me}"


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(PKG)))
def test_torch_and_wandb_only_inside_functions(path: Path) -> None:
    for name, line, top in _imports(path):
        if name.split(".")[0] in ("torch", "wandb", "submitit", "matplotlib"):
            assert not top, f"{path}:{line}: import {name} inside the function that needs it"


def test_hook_path_imports_no_heavy_module() -> None:
    code = ("import sys, mlgate.hooks.fast, mlgate.policy;"
            "heavy=[m for m in ('click','pydantic','transitions','git','torch','wandb','rich')"
            " if m in sys.modules]; print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"hook path imports: {out.stdout.strip()}"


def test_import_mlgate_is_light() -> None:
    code = ("import sys, mlgate; heavy=[m for m in ('click','pydantic','transitions','torch',"
            "'wandb') if m in sys.modules]; print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
