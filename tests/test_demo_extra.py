"""The ``demo`` extra: ``pip install 'mlgate[demo]'`` holds everything ``mlgate demo`` imports
beyond the base install, ``dev`` includes it, and without one of those packages ``mlgate
demo`` stops before building anything with a MissingExtra naming the extra.

Packages are hidden from a real ``python -m mlgate demo`` subprocess (``sys.modules[name] =
None`` or an import blocker in ``sys.meta_path``), never uninstalled."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mlgate import demo as D

ROOT = Path(__file__).resolve().parents[1]
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[([^\]]*)\])?\s*(.*)$")


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pyproject() -> dict[str, Any]:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def resolve(extras: dict[str, list[str]], extra: str,
            seen: frozenset[str] = frozenset()) -> dict[str, str]:
    """``{package: version spec}`` of an extra, following ``mlgate[...]`` self-references."""
    out: dict[str, str] = {}
    for req in extras[extra]:
        m = _NAME.match(req)
        assert m, req
        name, inner, spec = _norm(m.group(1)), m.group(2), m.group(3).strip()
        if name == "mlgate":
            for sub in (s.strip() for s in (inner or "").split(",") if s.strip()):
                assert sub in extras, f"{req}: no extra {sub!r}"
                if sub not in seen:
                    out.update(resolve(extras, sub, seen | {extra}))
        else:
            out[name] = spec
    return out


def test_demo_extra_holds_what_the_demo_imports_and_dev_includes_it() -> None:
    project = pyproject()["project"]
    extras = project["optional-dependencies"]
    demo = resolve(extras, "demo")
    for _module, package in D.REQUIRED:
        assert _norm(package) in demo, f"{package} is missing from the demo extra"
    spec = demo["scikit-learn"]
    assert ">=" in spec and "<" in spec.replace("<=", ""), f"scikit-learn {spec!r}: a range"
    dev = resolve(extras, "dev")
    assert set(demo) <= set(dev)
    assert any(_norm(r).startswith("mlgate[") and "demo" in r for r in extras["dev"])
    # the base install does not carry them (the demo extra is what adds them)
    base = {_norm(_NAME.match(r).group(1)) for r in project["dependencies"]}
    assert not base & {"scikit-learn", "torch", "wandb"}


def test_nothing_is_missing_here() -> None:
    """This environment is installed with the dev extra: the check finds everything."""
    assert D.missing_packages() == []


BLOCK_MODULES = """
import sys
sys.modules['sklearn'] = None
"""
BLOCK_FINDER = """
import sys
class Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {hidden!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None
sys.meta_path.insert(0, Blocker())
"""


def run_demo(prelude: str, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    code = prelude + "\nfrom mlgate.__main__ import main\nmain(sys.argv[1:])\n"
    return subprocess.run([sys.executable, "-c", code, *args, "demo", str(home)],
                          capture_output=True, text=True, timeout=120, cwd=str(home.parent))


def test_demo_without_scikit_learn_says_pip_install_mlgate_demo(tmp_path: Path) -> None:
    home = tmp_path / "demo-home"
    r = run_demo(BLOCK_MODULES, home)
    assert r.returncode == 4, (r.stdout, r.stderr)
    assert "mlgate demo needs 'scikit-learn', which is not installed" in r.stderr
    assert "hint: pip install 'mlgate[demo]'" in r.stderr
    assert "Traceback" not in r.stderr and r.stdout == ""
    assert not home.exists()  # stopped before building anything


def test_missing_packages_with_an_import_blocker_and_json(tmp_path: Path) -> None:
    home = tmp_path / "demo-home"
    r = run_demo(BLOCK_FINDER.format(hidden={"sklearn", "torch"}), home, "--json")
    assert r.returncode == 4, (r.stdout, r.stderr)
    data = json.loads(r.stdout)
    assert data["error"] == "missing_extra" and data["extra"] == "demo"
    assert data["packages"] == ["torch", "scikit-learn"]
    assert "'torch', 'scikit-learn', which are not installed" in data["message"]
    assert "pip install 'mlgate[demo]'" in r.stderr
    assert not home.exists()
