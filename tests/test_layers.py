"""Architecture rules (SPEC §14, docs/architecture.md): the package is cut into domains;
imports only go down the layers below; no import cycle anywhere (type-checking and
function-level imports included); heavy packages stay in their modules; the hook path stays
light."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "mlgate"

# A module's layer is that of the longest entry that prefixes its dotted name (under
# ``mlgate.``): ``lock.shell.lexer`` -> ``lock.shell``. Modules that share an entry form one
# unit and may import each other (without cycles); across entries imports go strictly down.
LAYERS: dict[str, int] = {
    "record": -1,                                     # stdlib only, below everything
    "errors": 0, "constants": 0,
    "util": 1, "resources": 1, "human": 1, "config": 1, "config.raw": 1, "config.sbatch": 1,
    "state": 1, "state.mdparse": 1,
    "state.seal": 1, "lock": 1, "lock.patch": 1,
    "lock.shell": 2, "lock.quarantine": 2,
    "git": 2, "config.schema": 2, "state.statefile": 2, "runs.plots": 2, "runs.stats": 2,
    "artifacts.names": 2,
    "state.model": 3, "artifacts": 3, "evidence": 3, "tickets": 3, "runs": 3, "profiles": 3,
    "runs.baselines": 3, "runs.slurm": 3, "runs.nodes": 3, "runs.sources": 3,
    "runs.rubric": 3,
    "lock.governance": 4, "lock.policy": 5, "lock.install": 5, "lock.tripwire": 7,
    "lock.refs": 6, "lock.controls": 6,
    "runs.criteria": 4, "runs.regression": 4, "runs.core": 4,
    "track": 4, "track.__main__": 5, "track.integrations": 5,
    "runs.watch": 5, "runs.closure": 5, "gates": 6,
    "handlers": 7,
    "engine": 8, "evidence.audit": 8,
    "workspace": 9,
    "lock.hook": 10, "report": 10, "demo": 10, "rounds": 10,
    "mcp": 11,
    "cli": 12,
    "__main__": 13, "__init__": 14,
}
# Third-party packages and the only units allowed to import them (at module level or not).
HEAVY = {
    "transitions": {"engine"},
    "click": {"cli"},
    "torch": {"handlers", "runs", "track", "demo"},
    "wandb": {"track", "handlers", "runs", "demo"},
    "submitit": {"runs", "handlers"},
    "matplotlib": {"runs", "track", "report", "demo"},
    "pydantic": {"config.schema", "state.model", "mcp"},  # mcp: the SDK's tool schemas
    "git": {"evidence.audit"},  # GitPython: only the history walk of `mlgate audit`
    "mcp": {"mcp"},  # the MCP SDK (mlgate.mcp.server; see also test_mcp_sdk_stays_out)
    "tensorboard": {"runs.sources"},
    "lightning": {"track.integrations"},
    "pytorch_lightning": {"track.integrations"},
    "transformers": {"track.integrations"},
    "scipy": {"runs.stats"},
}
FILES = sorted(p for p in PKG.rglob("*.py") if "_data" not in p.parts)


def module_name(path: Path) -> str:
    """``mlgate/lock/shell/lexer.py`` -> ``lock.shell.lexer``; a package's ``__init__`` is
    the package (``lock``); the top ``__init__`` stays ``__init__``."""
    parts = list(path.relative_to(PKG).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p) for p in FILES}


def unit(name: str) -> str:
    """The LAYERS entry that governs module ``name`` (the longest prefix)."""
    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        key = ".".join(parts[:i])
        if key in LAYERS:
            return key
    raise AssertionError(f"mlgate.{name}: add it to LAYERS in this test "
                         f"(and to docs/architecture.md)")


def _imports(path: Path) -> list[tuple[str, int, bool]]:
    """(imported module, line, at module level) for every import in the file; mlgate modules
    are given without the ``mlgate.`` prefix, ``from mlgate.x import y`` names ``x.y`` when
    ``y`` is a module."""
    tree = ast.parse(path.read_text(), str(path))
    top = {id(n) for n in tree.body}
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                out.append((a.name, node.lineno, id(node) in top))
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            mod = node.module
            if mod == "mlgate" or mod.startswith("mlgate."):
                base = mod[len("mlgate."):] if mod != "mlgate" else ""
                for a in node.names:
                    sub = f"{base}.{a.name}" if base else a.name
                    if sub in MODULES:
                        out.append((f"mlgate.{sub}", node.lineno, id(node) in top))
                    elif base:
                        out.append((mod, node.lineno, id(node) in top))
            else:
                out.append((mod, node.lineno, id(node) in top))
    return out


def graph() -> dict[str, set[str]]:
    g: dict[str, set[str]] = {}
    for p in FILES:
        me = module_name(p)
        g[me] = {n[len("mlgate."):] for n, _, _ in _imports(p)
                 if n.startswith("mlgate.") and n[len("mlgate."):] != me}
    return g


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(PKG)))
def test_imports_only_go_down(path: Path) -> None:
    me = module_name(path)
    mine = unit(me)
    for name, line, _ in _imports(path):
        parts = name.split(".")
        if parts[0] == "mlgate" and len(parts) > 1:
            other = ".".join(parts[1:])
            assert other in MODULES, f"{path}:{line} imports unknown mlgate module {other}"
            theirs = unit(other)
            if theirs == mine:
                continue  # one unit: checked for cycles below
            assert LAYERS[theirs] < LAYERS[mine], (
                f"{path}:{line}: {me} ({mine}, layer {LAYERS[mine]}) imports {other} "
                f"({theirs}, layer {LAYERS[theirs]}): imports must go to lower layers only")
        elif parts[0] in HEAVY:
            assert any(mine == u or mine.startswith(u + ".") for u in HEAVY[parts[0]]), \
                f"{path}:{line}: {parts[0]} may not be imported in {me}"


def test_no_import_cycles() -> None:
    """No cycle in the import graph, counting imports inside functions and under
    ``TYPE_CHECKING`` (a cycle there is a layering problem hidden from the interpreter)."""
    g = graph()
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> None:
        state[n] = 1
        stack.append(n)
        for m in sorted(g.get(n, ())):
            if state.get(m) == 1:
                cycle = stack[stack.index(m):] + [m]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if m not in state:
                visit(m)
        stack.pop()
        state[n] = 2

    for n in sorted(g):
        if n not in state:
            visit(n)


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(PKG)))
def test_torch_and_wandb_only_inside_functions(path: Path) -> None:
    for name, line, top in _imports(path):
        if name.split(".")[0] in ("torch", "wandb", "submitit", "matplotlib"):
            assert not top, f"{path}:{line}: import {name} inside the function that needs it"


def test_hook_path_imports_no_heavy_module() -> None:
    code = ("import sys, mlgate.lock.hook, mlgate.lock.policy;"
            "heavy=[m for m in ('click','pydantic','transitions','git','torch','wandb','rich',"
            "'mcp') if m in sys.modules]; print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"hook path imports: {out.stdout.strip()}"


def test_post_and_ref_hook_paths_import_no_heavy_module() -> None:
    """The tripwire (PostToolUse) and the reference-transaction hook run on every tool call
    and ref update: standard library and PyYAML only, no subprocess either."""
    code = ("import sys, mlgate.lock.hook, mlgate.lock.tripwire, mlgate.lock.controls, "
            "mlgate.lock.refs; heavy=[m for m in ('click','pydantic','transitions','git',"
            "'torch','wandb','rich','subprocess','filelock') if m in sys.modules]; "
            "print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"post/ref hook path imports: {out.stdout.strip()}"
def test_integrations_load_their_framework_only_when_asked() -> None:
    code = ("import sys, mlgate.track, mlgate.track.integrations as i;"
            "before=[m for m in ('lightning','pytorch_lightning','transformers','tensorboard',"
            "'torch','wandb') if m in sys.modules]; print(','.join(before))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_import_mlgate_is_light() -> None:
    code = ("import sys, mlgate; heavy=[m for m in ('click','pydantic','transitions','torch',"
            "'wandb','mcp') if m in sys.modules]; print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def layer_table() -> str:
    """The layer table of docs/architecture.md, written from :data:`LAYERS`."""
    by: dict[int, list[str]] = {}
    for name, layer in LAYERS.items():  # a package's own entry: its __init__ and the
        by.setdefault(layer, []).append(name)  # modules not named on their own
    rows = [f"| {n} | " + ", ".join(f"`{m}`" for m in by[n]) + " |" for n in sorted(by)]
    return "\n".join(["| layer | modules |", "| --- | --- |", *rows])


def test_architecture_page_shows_these_layers() -> None:
    """The table in docs/architecture.md is this file's LAYERS (regenerate it with
    ``python tests/test_layers.py``)."""
    doc = (PKG.parent / "docs" / "architecture.md").read_text()
    assert layer_table() in doc, "docs/architecture.md: the layer table is stale; run " \
                                 "`python tests/test_layers.py` and paste its output"


if __name__ == "__main__":
    print(layer_table())
