"""The CLI through click's runner and through a real ``mlgate`` subprocess: JSON schemas of
SPEC §12, exit codes 0/1/2/3, help texts."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import mlgate, write_goal
from mlgate.cli import cli, main

GOOD = Path(__file__).parent / "data" / "artifacts" / "good"




@pytest.fixture
def proj(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    return root


def test_help_explains_every_command() -> None:
    runner = CliRunner()
    res = runner.invoke(cli, ["--help"])
    assert res.exit_code == 0
    for name, cmd in cli.commands.items():
        assert name in res.output
        sub = runner.invoke(cli, [name, "--help"])
        assert sub.exit_code == 0, name
        assert (cmd.help or "").strip(), f"{name} has no help text"


def test_non_git_lifecycle_with_json(proj: Path) -> None:
    r = mlgate(proj, "init")
    assert r.returncode == 0, r.stderr
    assert (proj / "mlgate.yaml").exists() and (proj / "tickets" / "in-progress").is_dir()
    r = mlgate(proj, "--json", "new", "digits")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert {"ticket", "worktree", "branch"} <= set(data)
    assert data["ticket"] == "digits" and data["branch"] == "N/A"

    r = mlgate(proj, "--json", "status", "digits")
    st = json.loads(r.stdout)
    assert {"ticket", "stage", "next_stage", "permission", "active_reentry", "classification",
            "gates"} <= set(st)
    assert st["stage"] == 0 and st["permission"] == "Locked"
    assert {"stage", "status", "evidence"} <= set(st["gates"][0])

    r = mlgate(proj, "--json", "list")
    rows = json.loads(r.stdout)
    assert rows and {"ticket", "stage", "permission", "location"} <= set(rows[0])

    r = mlgate(proj, "--json", "check", "digits")
    rep = json.loads(r.stdout)
    assert {"ticket", "stage", "ok", "checks"} <= set(rep)
    assert r.returncode == (0 if rep["ok"] else 1)

    write_goal(proj / "tickets" / "in-progress" / "digits")
    r = mlgate(proj, "advance", "digits")
    assert r.returncode == 0, r.stderr
    # stage 1: investigation notes are still a template -> refused with exit 1 and reasons
    r = mlgate(proj, "--json", "advance", "digits")
    assert r.returncode == 1
    refused = json.loads(r.stdout)
    assert refused["ok"] is False and refused["stage"] == 1
    assert refused["checks"] and all({"id", "ok", "reason"} <= set(c) for c in refused["checks"])
    assert "investigation-notes.md" in r.stderr

    r = mlgate(proj, "--json", "can-edit", "src/model.py")
    dec = json.loads(r.stdout)
    assert {"allowed", "reason", "ticket", "stage", "paths"} <= set(dec)
    assert dec["allowed"] is False and r.returncode == 1

    r = mlgate(proj, "graph", "digits")
    assert r.returncode == 0 and "stateDiagram-v2" in r.stdout


def test_exit_codes(proj: Path) -> None:
    mlgate(proj, "init")
    mlgate(proj, "new", "t1")
    # 2: usage (bad ticket name, unknown option)
    r = mlgate(proj, "new", "Bad_Name")
    assert r.returncode == 2 and "ticket name" in r.stderr
    r = mlgate(proj, "status", "--nope")
    assert r.returncode == 2
    # 1: an invalid transition
    r = mlgate(proj, "reenter", "Local Fix", "t1", "--reason", "x")
    assert r.returncode == 1 and "stages 4-7" in r.stderr
    # 3: state file invalid
    state = proj / "tickets" / "in-progress" / "t1" / "workflow-state.md"
    state.write_text(state.read_text().replace("- Current Stage: `0`", "- Current Stage: `11`"))
    r = mlgate(proj, "status", "t1")
    assert r.returncode == 3 and "workflow-state.md:" in r.stderr and "Current Stage" in r.stderr
    # unknown config key: usage error naming the file and line
    (proj / "mlgate.yaml").write_text("profile: strict\nprofil: basic\n")
    r = mlgate(proj, "list")
    assert r.returncode == 2 and "mlgate.yaml" in r.stderr and "profil" in r.stderr


def test_cli_runner_in_process(proj: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(proj)
    runner = CliRunner()
    assert runner.invoke(cli, ["init"]).exit_code == 0
    res = runner.invoke(cli, ["new", "inproc"])
    assert res.exit_code == 0, res.output
    assert "created ticket inproc" in res.output
    res = runner.invoke(cli, ["status"])  # the only ticket is the default
    assert res.exit_code == 0 and "0 Bootstrap" in res.output and "Locked" in res.output
    with pytest.raises(SystemExit) as exc:
        main(["advance", "nope"])
    assert exc.value.code == 2
