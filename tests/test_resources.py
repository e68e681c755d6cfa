"""Template lookup: the managed repository's override, the packaged copy, the source tree,
and the wheel actually shipping stages/ and shared/."""
from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from conftest import REPO_ROOT
from mlgate import resources
from mlgate.constants import STAGES, TICKET_PLACEHOLDER
from mlgate.errors import EnvironmentFailure, UsageError

STATE = "shared/workflow-state-template.md"


def make(root: Path, rel: str, text: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture
def packaged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Stand-in for the wheel's ``mlgate/_data`` folder."""
    data = tmp_path / "site" / "mlgate" / "_data"
    data.mkdir(parents=True)
    monkeypatch.setattr(resources, "_packaged_root", lambda: data)
    return data


def test_repository_override_wins(tmp_path: Path, packaged: Path) -> None:
    repo = tmp_path / "repo"
    make(packaged, STATE, "packaged <ticket-name>\n")
    assert resources.template_path(STATE, repo) == packaged / STATE
    make(repo, STATE, "ours <ticket-name>\n")
    assert resources.template_path(STATE, repo) == repo / STATE
    assert resources.template_text(STATE, repo, ticket="t-1") == "ours t-1\n"
    assert resources.template_text(STATE, repo) == "ours <ticket-name>\n"


def test_packaged_copy_before_source_tree(tmp_path: Path, packaged: Path) -> None:
    rel = "stages/04-implementation/implementation-template.md"
    make(packaged, rel, "from the wheel\n")
    assert resources.template_text(rel, tmp_path / "empty") == "from the wheel\n"
    assert resources.search_path(tmp_path) == [tmp_path, packaged, REPO_ROOT]


def test_source_tree_is_the_last_resort(tmp_path: Path, packaged: Path) -> None:
    # nothing in the override root nor in the (empty) packaged folder: the checkout's copy
    assert resources.template_path(STATE, tmp_path) == REPO_ROOT / STATE


def test_missing_template_says_where_it_looked(tmp_path: Path, packaged: Path) -> None:
    with pytest.raises(EnvironmentFailure) as info:
        resources.template_path("stages/99-nope/x.md", tmp_path)
    msg = str(info.value)
    assert "stages/99-nope/x.md" in msg and str(tmp_path) in msg and str(packaged) in msg
    assert "hint:" in msg
    assert info.value.exit_code == 4


@pytest.mark.parametrize("bad", ["../etc/passwd", "/etc/passwd", "stages/../../x", ""])
def test_paths_must_stay_inside(bad: str) -> None:
    with pytest.raises(UsageError):
        resources.template_path(bad)


def test_stage_template_uses_the_stage_table(tmp_path: Path) -> None:
    for stage in STAGES:
        make(tmp_path, f"stages/{stage.slug}/{stage.template}",
             f"# stage {stage.number} for {TICKET_PLACEHOLDER}\n")
    for stage in STAGES:
        assert resources.stage_template(stage.number, tmp_path, ticket="abc") == (
            f"# stage {stage.number} for abc\n")
        assert resources.stage_template_path(stage.number, tmp_path) == (
            tmp_path / "stages" / stage.slug / stage.template)
    with pytest.raises(UsageError):
        resources.stage_template(9, tmp_path)


def test_stage_dir(tmp_path: Path) -> None:
    (tmp_path / "stages" / "03-experiment-plan").mkdir(parents=True)
    assert resources.stage_dir("03-experiment-plan", tmp_path) == (
        tmp_path / "stages" / "03-experiment-plan")
    with pytest.raises(EnvironmentFailure):
        resources.stage_dir("42-nothing", tmp_path)


def test_project_ships_every_stage_template() -> None:
    """The real templates of this project are found without an override."""
    assert resources.template_text(STATE).startswith("# Workflow State")
    for stage in STAGES:
        text = resources.stage_template(stage.number, ticket="my-ticket")
        assert text.strip(), stage.slug
        assert TICKET_PLACEHOLDER not in text
        assert resources.stage_dir(stage.slug).joinpath("README.md").is_file()


@pytest.mark.slow
def test_wheel_contains_the_templates(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "build", "--wheel", "--outdir", str(tmp_path)],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    [wheel] = tmp_path.glob("mlgate-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "mlgate/_data/stages/04-implementation/implementation-template.md" in names
    assert "mlgate/_data/shared/workflow-state-template.md" in names
    for stage in STAGES:
        assert f"mlgate/_data/stages/{stage.slug}/{stage.template}" in names
        assert f"mlgate/_data/stages/{stage.slug}/README.md" in names

    # installed from the wheel (no source tree next to it), the lookup finds the packaged copy
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    code = ("from mlgate import resources; "
            "p = resources.template_path('shared/workflow-state-template.md'); "
            "print(p)")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path,
                         env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"},
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert Path(out.stdout.strip()) == site / "mlgate" / "_data" / STATE
