"""Paths in a run's meta.json survive `mlgate archive` (README "Weights & Biases").

A real training run (CPU, tracked with mlgate.track, wandb offline inside the run folder),
then a real `mlgate archive` (the ticket folder moves to tickets/done/) or `archive --finalize`
(the ticket branch is merged and its worktree removed). `mlgate runs --json` must then name a
wandb folder and a `wandb sync` command that exist -- or none, never a dead path.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conftest import git
from mlgate import constants as C
from mlgate.handlers.train import TrainHandler
from mlgate.runs import core as runs
from mlgate.runs import watch
from mlgate.workspace import Workspace
from test_walk import fill, walk_to

sys.path.insert(0, str(Path(__file__).parent / "data" / "train_scripts"))
from train_script_helpers import command, meta, wandb_history  # noqa: E402

STEPS = 12


@pytest.fixture(autouse=True)
def _wandb_in_the_run_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WANDB_DIR")  # the default: wandb writes inside the run folder
    monkeypatch.setenv("MLGATE_WANDB_NICE", "0")  # the machine is shared: don't starve it


class CompleteRun(TrainHandler):
    """The train handler with a complete tracked run (wandb offline) as its command."""

    def run(self, ctx: Any) -> Any:
        import dataclasses

        opts = {**ctx.options, "command": command("complete.py", "--steps", str(STEPS)),
                "stall_after": 300}
        return super().run(dataclasses.replace(ctx, options=opts,
                                               config={**ctx.config,
                                                       "wandb": {"mode": "offline"}}))


def real_run(folder: Path, ticket: str, worktree: Path) -> Path:
    """One complete tracked run of the ticket, launched, watched and collected by mlgate
    (`mlgate run train`: its records registered); returns its run folder once wandb
    finished."""
    from mlgate.handlers.registry import Registry

    reg = Registry()
    reg.register(CompleteRun(), name="train")
    t = Workspace.discover(folder).ticket(ticket)
    res = t.run_handlers(["train"], registry=reg, only_configured=False)[0]
    run_dir = folder / C.RUNS_DIR / res.to_dict()["runs"][-1]["run"]
    assert res.status == "Pass", (run_dir / "train.log").read_text()
    wb = meta(run_dir)["wandb"]
    if not wb.get("finished"):  # the offline writer may still be closing the run
        watch.watch(run_dir, poll=0.2)
        wb = meta(run_dir)["wandb"]
    assert wb.get("finished") is True, wb
    return run_dir


def cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    r = subprocess.run([sys.executable, "-m", "mlgate", *args], cwd=cwd, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, (args, r.stdout, r.stderr)
    return r


def runs_json(cwd: Path, ticket: str) -> dict[str, dict[str, Any]]:
    data = json.loads(cli(cwd, "--json", "runs", ticket).stdout)
    return {r["run"]: r for r in data}


def assert_relative_in_meta(run_dir: Path) -> str:
    """meta.json names the wandb folder relative to the run folder; returns it."""
    wb = meta(run_dir)["wandb"]
    rel = wb["dir"]
    assert not Path(rel).is_absolute() and Path(rel).parts[0] == "wandb", rel
    assert (run_dir / rel).is_dir()
    assert wb["sync_command"] == f"wandb sync {rel}"
    assert str(run_dir.parents[3]) not in json.dumps(wb)  # no absolute path into the tree
    return rel


def assert_sync_points_at_the_real_run(info: dict[str, Any], run_dir: Path) -> None:
    wb_dir = Path(info["wandb_dir"])
    assert wb_dir.is_dir() and wb_dir.is_relative_to(run_dir.resolve()), info
    assert info["sync_command"] == f"wandb sync {wb_dir}"
    rows = wandb_history(wb_dir)  # the real offline wandb run, readable where it now is
    assert sorted({r["_step"] for r in rows}) == list(range(STEPS))


def walk_on(t: Any, start: int, commit: Path | None = None) -> None:
    """Fill in and advance from stage ``start`` to 8, then the handoff and the verification
    (committing each step in git mode)."""
    for s in range(start, 8):
        fill(t.folder, s)
        if commit is not None:
            if s == 7:
                (commit / "README.md").write_text("# demo\n\nval/acc 0.97 (RUN-002)\n")
            git(commit, "add", "-A")
            git(commit, "commit", "-q", "-m", f"stage {s} work")
        t.advance()
    fill(t.folder, 8)
    if commit is not None:
        git(commit, "add", "-A")
        git(commit, "commit", "-q", "-m", "handoff")
    t.verify("Grace Hopper")
    if commit is not None:
        git(commit, "add", "-A")
        git(commit, "commit", "-q", "-m", "verification")


def test_wandb_folder_and_sync_command_survive_archive(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    root.mkdir()
    ws, _ = Workspace.init(root)
    t = walk_to(ws, "paths", 5)
    walk_on(t, 5)  # to stage 8, verified (with the example runs of the filled-in report)
    run_dir = real_run(t.folder, "paths", root)  # one more real run, before the archive
    run = run_dir.name
    rel = assert_relative_in_meta(run_dir)
    before = runs_json(root, "paths")[run]
    assert_sync_points_at_the_real_run(before, run_dir)

    old = t.folder
    cli(root, "archive", "paths")
    done = root / C.TICKETS_DIR / C.DONE / "paths"
    assert not old.exists() and (done / C.RUNS_DIR / run / "meta.json").is_file()
    done_run = done / C.RUNS_DIR / run
    assert meta(done_run)["wandb"]["dir"] == rel  # nothing to rewrite: it was relative
    after = runs_json(root, "paths")[run]
    assert Path(after["run_dir"]) == done_run
    assert_sync_points_at_the_real_run(after, done_run)


def test_resolve_meta_path_rules(tmp_path: Path) -> None:
    run_dir = tmp_path / "tickets" / "done" / "t" / "runs" / "RUN-004"
    (run_dir / "slurm").mkdir(parents=True)
    (run_dir / "wandb" / "offline-run-x").mkdir(parents=True)
    assert runs.resolve_meta_path(run_dir, "slurm") == run_dir.absolute() / "slurm"
    assert runs.resolve_meta_path(run_dir, "wandb/offline-run-x") == \
        run_dir.absolute() / "wandb" / "offline-run-x"
    existing = tmp_path / "wandb-elsewhere"
    existing.mkdir()
    assert runs.resolve_meta_path(run_dir, str(existing)) == existing  # outside: kept
    assert runs.resolve_meta_path(run_dir, None) is None
    assert runs.resolve_meta_path(run_dir, "") is None


def start_git_ticket(ws: Workspace, name: str) -> Any:
    """A ticket of a git workspace walked to stage 5 (each stage committed on its branch)."""
    t = ws.new_ticket(name)
    for s in range(5):
        fill(t.folder, s)
        if s == 4:
            pkg = t.checkout / "src" / "digits"
            pkg.mkdir(parents=True, exist_ok=True)
            (pkg / "model.py").write_text("class DigitsCNN: ...\n")
        git(t.checkout, "add", "-A")
        git(t.checkout, "commit", "-q", "-m", f"stage {s} work")
        t.advance()
    return t


def commit_run(t: Any, run_dir: Path) -> None:
    git(t.checkout, "add", "-A")  # meta.json, metrics, summary, log, plots: not wandb/
    git(t.checkout, "commit", "-q", "-m", "the run")
    tracked = git(t.checkout, "ls-files", str(run_dir))
    assert "meta.json" in tracked and "wandb" not in tracked


@pytest.mark.slow
def test_archive_finalize_keeps_the_ignored_run_outputs(git_workspace: Workspace) -> None:
    """`archive --finalize` removes the worktree, and `git worktree remove` deletes ignored
    files without asking; mlgate carries the runs' ignored outputs (the unsynced wandb run, a
    checkpoint) to the merged ticket folder first: `mlgate runs` shows the sync command at
    the folder's place in the main checkout, and nothing is left untracked there."""
    ws = git_workspace
    t = start_git_ticket(ws, "kept")
    walk_on(t, 5, commit=t.checkout)
    run_dir = real_run(t.folder, "kept", t.checkout)
    (run_dir / "model.pt").write_bytes(b"checkpoint")
    assert_relative_in_meta(run_dir)
    assert runs_json(t.checkout, "kept")[run_dir.name]["sync_command"]
    commit_run(t, run_dir)
    wt = t.checkout
    cli(ws.root, "archive", "kept", "--finalize")
    done_run = ws.root / C.TICKETS_DIR / C.DONE / "kept" / C.RUNS_DIR / run_dir.name
    assert not wt.exists() and (done_run / "meta.json").is_file()
    assert (done_run / "model.pt").read_bytes() == b"checkpoint"
    info = runs_json(ws.root, "kept")[run_dir.name]
    assert info["run_dir"] == str(done_run) and info["status"] == "completed"
    assert_sync_points_at_the_real_run(info, done_run)
    assert git(ws.root, "status", "--porcelain") == ""


@pytest.mark.slow
def test_carry_run_outputs_keeps_the_wandb_run_when_the_worktree_goes(
        git_workspace: Workspace) -> None:
    """runs.carry_run_outputs moves the ignored run outputs (the wandb offline run) from the
    worktree's ticket folder to the merged one in the main checkout; after `git worktree
    remove` the wandb folder is there and the sync command points at it."""
    ws = git_workspace
    t = start_git_ticket(ws, "kept")
    run_dir = real_run(t.folder, "kept", t.checkout)
    (run_dir / "model.pt").write_bytes(b"checkpoint")  # another ignored output
    commit_run(t, run_dir)
    git(ws.root, "merge", "--no-ff", "-q", "-m", "merge", "codex/kept")
    main_folder = ws.root / C.TICKETS_DIR / C.IN_PROGRESS / "kept"
    main_run = main_folder / C.RUNS_DIR / run_dir.name
    committed = (main_run / "meta.json").read_bytes()
    assert not (main_run / "wandb").exists()  # git did not carry it
    moved = runs.carry_run_outputs(t.folder, main_folder)
    assert main_run / "model.pt" in moved and any("wandb" in p.parts for p in moved)
    assert (main_run / "meta.json").read_bytes() == committed  # tracked files: left alone
    git(ws.root, "worktree", "remove", str(t.checkout))
    assert (main_run / "model.pt").read_bytes() == b"checkpoint"
    assert_sync_points_at_the_real_run(runs_json(ws.root, "kept")[run_dir.name], main_run)
    assert git(ws.root, "status", "--porcelain") == ""  # what moved is ignored
    assert runs.carry_run_outputs(t.folder, main_folder) == []  # the source is gone: no-op
