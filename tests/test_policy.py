"""The lock decision (SPEC §7) against real repositories, worktrees and sealed state files."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from mlgate.lock.policy import Decision, decide
from test_hooks_helpers import add_ticket, git, set_stage, write_state

SRC = "src/model.py"
RUN_OUT = "results_v1/metrics.json"
DOC = "docs/guide.md"
ROOT_MD = "README.md"


def allowed(path: str, cwd: Path, **kw: object) -> bool:
    return decide([path], cwd=cwd, **kw).allowed  # type: ignore[arg-type]


def test_stage_matrix_in_a_ticket_worktree(git_repo: Path) -> None:
    wt = add_ticket(git_repo, "exp", 0)
    folder_file = "tickets/in-progress/exp/notes.md"
    for stage in range(9):
        for perm in (("Locked", "Unlocked") if stage == 4 else ("Locked",)):
            set_stage(wt, "exp", stage, perm, root=git_repo)
            unlocked = stage == 4 and perm == "Unlocked"
            want = {SRC: unlocked, RUN_OUT: unlocked or stage == 5,
                    DOC: unlocked or stage == 7, ROOT_MD: unlocked or stage == 7,
                    folder_file: True, "tickets/in-progress/exp/runs/RUN-001/log": True}
            got = {p: allowed(p, wt) for p in want}
            assert got == want, f"stage {stage} {perm}"
            d = decide([SRC], cwd=wt)
            assert (d.ticket, d.stage) == ("exp", stage)


def test_denial_says_the_stage_and_what_to_do(git_repo: Path) -> None:
    wt = add_ticket(git_repo, "exp", 3)
    d = decide([SRC], cwd=wt)
    assert not d.allowed and d.paths == (SRC,)
    assert "stage 3 Experiment Plan" in d.reason
    assert "`mlgate check exp`" in d.reason and "`mlgate advance exp`" in d.reason
    assert d.to_dict() == {"allowed": False, "reason": d.reason, "ticket": "exp", "stage": 3,
                           "paths": [SRC], "error": "edit_denied", "message": d.reason,
                           "exit_code": 1}
    set_stage(wt, "exp", 5, root=git_repo)
    d = decide([SRC], cwd=wt)
    assert "stage 5 Training & Validation" in d.reason
    assert 'mlgate reenter "Local Fix" exp --reason' in d.reason
    assert "results*/**" in d.reason  # says what may change in this stage
    set_stage(wt, "exp", 4, "Locked", root=git_repo)
    assert "`mlgate unlock exp`" in decide([SRC], cwd=wt).reason
    set_stage(wt, "exp", 8, root=git_repo)
    assert "handoff" in decide([SRC], cwd=wt).reason


def test_allowed_decision_lists_every_path(git_repo: Path) -> None:
    wt = add_ticket(git_repo, "exp", 4, "Unlocked")
    d = decide([SRC, "tickets/in-progress/exp/x.md"], cwd=wt)
    assert d.allowed and d.paths == (SRC, "tickets/in-progress/exp/x.md")
    assert (d.ticket, d.stage) == ("exp", 4)


def test_a_denied_path_among_allowed_ones_denies_and_names_only_it(git_repo: Path) -> None:
    wt = add_ticket(git_repo, "exp", 7)
    d = decide([DOC, SRC, "tickets/in-progress/exp/docs-sync.md"], cwd=wt)
    assert not d.allowed and d.paths == (SRC,)
    assert d.reason.startswith(f"{SRC}: ")


def test_unsealed_unlocked_is_never_honoured(git_repo: Path) -> None:
    wt = add_ticket(git_repo, "exp", 4, "Unlocked", seal=False)
    d = decide([SRC], cwd=wt)
    assert not d.allowed
    assert "no mlgate seal" in d.reason and "`mlgate unlock exp`" in d.reason
    set_stage(wt, "exp", 7, seal=False, root=git_repo)  # read as written: docs allowed
    assert allowed(DOC, wt) and not allowed(SRC, wt)


def test_broken_seal_locks_everything_but_the_ticket_folder(git_repo: Path) -> None:
    wt = add_ticket(git_repo, "exp", 3)
    state = wt / "tickets/in-progress/exp/workflow-state.md"
    text = state.read_text()
    state.write_text(text.replace("- Current Stage: `3`", "- Current Stage: `4`")
                     .replace("- Code Edit Permission: `Locked`",
                              "- Code Edit Permission: `Unlocked`"))
    d = decide([SRC], cwd=wt)
    assert not d.allowed
    assert "seal broken" in d.reason and "`mlgate doctor exp --repair`" in d.reason
    state.write_text(text.replace("- Current Stage: `3`", "- Current Stage: `7`"))
    assert not allowed(DOC, wt)  # a forged stage 7 opens no docs either
    assert allowed("tickets/in-progress/exp/notes.md", wt)


@pytest.mark.parametrize("damage", ["stage9", "garbage", "no_snapshot", "binary"])
def test_unparseable_state_file_denies_naming_file_and_line(git_repo: Path, damage: str) -> None:
    wt = add_ticket(git_repo, "exp", 4, "Unlocked")
    state = wt / "tickets/in-progress/exp/workflow-state.md"
    text = state.read_text()
    if damage == "stage9":
        state.write_text(text.replace("- Current Stage: `4`", "- Current Stage: `9`"))
    elif damage == "garbage":
        state.write_text("hello\n")
    elif damage == "no_snapshot":
        state.write_text(text.replace("## Current Snapshot", "## Snapshot"))
    else:
        state.write_bytes(b"# Workflow State\n\xff\xfe\n")
    d = decide([SRC], cwd=wt)
    assert not d.allowed and d.ticket == "exp"
    assert str(state) in d.reason and "cannot read" in d.reason
    if damage in ("stage9", "binary"):
        line = text.splitlines().index("- Current Stage: `4`") + 1 if damage == "stage9" else 2
        assert f"{state}:{line}" in d.reason


def test_symlink_in_ticket_folder_is_judged_by_its_target(git_repo: Path) -> None:
    wt = add_ticket(git_repo, "exp", 3)
    folder = wt / "tickets/in-progress/exp"
    (folder / "model-link.py").symlink_to(wt / SRC)
    (folder / "srcdir").symlink_to(wt / "src", target_is_directory=True)
    d = decide(["tickets/in-progress/exp/model-link.py"], cwd=wt)
    assert not d.allowed and "a link to src/model.py" in d.reason
    assert not allowed("tickets/in-progress/exp/srcdir/new.py", wt)  # a new file via a dir link
    (folder / "own-link.md").symlink_to(folder / "notes.md")
    assert allowed("tickets/in-progress/exp/own-link.md", wt)


def test_paths_outside_the_repository_follow_outside_tickets(git_repo: Path, tmp_path: Path
                                                              ) -> None:
    wt = add_ticket(git_repo, "exp", 3)
    elsewhere = tmp_path / "scratch" / "out.txt"
    assert allowed(str(elsewhere), wt)
    assert allowed("/etc/hostname", wt)
    assert allowed(str(git_repo / SRC), wt)  # the main checkout: no ticket governs it
    # `outside_tickets: block` (read from the workspace root, the main checkout)
    (git_repo / "mlgate.yaml").write_text("outside_tickets: block\n")
    d = decide(["/etc/hostname"], cwd=wt)
    assert not d.allowed and "outside_tickets: block" in d.reason
    assert not allowed(str(git_repo / SRC), wt)
    assert not allowed(str(elsewhere), wt)
    assert allowed("tickets/in-progress/exp/x.md", wt)


def test_relative_paths_resolve_against_cwd(git_repo: Path) -> None:
    wt = add_ticket(git_repo, "exp", 3)
    assert not allowed("model.py", wt / "src")
    assert allowed("../tickets/in-progress/exp/a.md", wt / "src")
    assert allowed(f"../../{git_repo.name}/src/model.py", wt)  # up into the main checkout


def test_ticket_without_worktree_governs_the_whole_workspace(git_repo: Path) -> None:
    add_ticket(git_repo, "plain", 3, worktree=False)
    assert not allowed(SRC, git_repo)
    wt = add_ticket(git_repo, "fast", 4, "Unlocked")
    # `fast` allows its worktree, `plain` does not: the most restrictive wins
    d = decide([SRC], cwd=wt)
    assert not d.allowed and d.ticket == "plain"
    # each ticket's own folder stays editable
    assert allowed("tickets/in-progress/fast/notes.md", wt)
    assert allowed("tickets/in-progress/plain/notes.md", git_repo)
    set_stage(git_repo, "plain", 4, "Unlocked", root=git_repo)
    assert allowed(SRC, wt) and allowed(SRC, git_repo)


def test_non_git_workspace(tmp_path: Path) -> None:
    ws = tmp_path / "proj"
    (ws / "src").mkdir(parents=True)
    (ws / "src" / "model.py").write_text("x = 1\n")
    write_state(ws / "tickets/in-progress/solo", "solo", 2, root=ws)
    assert (ws / ".mlgate" / "seal.key").exists()
    d = decide([SRC], cwd=ws)
    assert not d.allowed and d.ticket == "solo" and d.stage == 2
    assert allowed("tickets/in-progress/solo/investigation-notes.md", ws)
    assert not allowed(".mlgate/seal.key", ws)
    write_state(ws / "tickets/in-progress/solo", "solo", 4, "Unlocked", root=ws)
    assert allowed(SRC, ws)


def test_outside_any_workspace_nothing_is_locked(tmp_path: Path) -> None:
    d = decide(["a.txt"], cwd=tmp_path)
    assert d.allowed and "not inside an mlgate workspace" in d.reason


def test_archived_ticket_folder_needs_reopen(git_repo: Path) -> None:
    wt = add_ticket(git_repo, "old", 8)
    (wt / "tickets" / "done").mkdir()
    git(wt, "mv", "tickets/in-progress/old", "tickets/done/old")
    git(wt, "commit", "-qm", "archive")
    d = decide(["tickets/done/old/handoff-summary.md"], cwd=wt)
    assert not d.allowed and "`mlgate reopen old`" in d.reason
    d = decide([SRC], cwd=wt)
    assert not d.allowed and "archived" in d.reason
    # a commit may record the archive move (mlgate archive commits it through the hook)
    assert decide(["tickets/done/old/workflow-state.md",
                   "tickets/in-progress/old/workflow-state.md"], cwd=wt,
                  purpose="commit").allowed
    assert not decide([SRC], cwd=wt, purpose="commit").allowed
    # once merged to the main checkout (no worktree), a done ticket governs nothing else
    git(git_repo, "merge", "-q", "--no-edit", "codex/old")
    git(git_repo, "worktree", "remove", "--force", str(wt))
    assert allowed(SRC, git_repo)
    assert not allowed("tickets/done/old/notes.md", git_repo)


def test_in_progress_ticket_may_not_write_into_done(git_repo: Path) -> None:
    wt = add_ticket(git_repo, "exp", 4, "Unlocked")
    d = decide(["tickets/done/exp/x.md"], cwd=wt)
    assert not d.allowed and "mlgate archive exp" in d.reason


def test_docs_and_run_output_globs_come_from_the_ticket_branch_config(git_repo: Path) -> None:
    wt = add_ticket(git_repo, "exp", 7)
    (wt / "mlgate.yaml").write_text("docs: ['notes/**']\nrun_outputs: ['out/**']\n")
    assert allowed("notes/a.md", wt) and not allowed(DOC, wt)
    # the main checkout's config does not widen the ticket's globs
    (git_repo / "mlgate.yaml").write_text("docs: ['**']\n")
    assert not allowed(SRC, wt)
    set_stage(wt, "exp", 5, root=git_repo)
    assert allowed("out/run1/metrics.json", wt) and not allowed(RUN_OUT, wt)
    assert allowed("out", wt)  # the folder itself (mkdir out)


def test_broken_config_fails_closed(git_repo: Path) -> None:
    wt = add_ticket(git_repo, "exp", 4, "Unlocked")
    (git_repo / "mlgate.yaml").write_text("outside_tickets: [unclosed\n")
    d = decide([SRC], cwd=wt)
    assert not d.allowed and "mlgate.yaml" in d.reason and "refused" in d.reason
    (git_repo / "mlgate.yaml").write_text("outside_tickets: sometimes\n")
    d = decide([str(git_repo / SRC)], cwd=wt)
    assert not d.allowed and "sometimes" in d.reason


def test_mlgate_machinery_is_protected_from_agents(git_repo: Path) -> None:
    wt = add_ticket(git_repo, "exp", 4, "Unlocked")
    hook = git_repo / ".git" / "hooks" / "pre-commit"
    key = git_repo / ".git" / "mlgate" / "seal.key"
    for path in (hook, key):
        d = decide([str(path)], cwd=wt)
        assert not d.allowed and "mlgate's own machinery" in d.reason
    settings = wt / ".claude" / "settings.json"
    settings.parent.mkdir()
    settings.write_text('{"permissions": {}}')
    for name in (".claude/settings.json", ".claude/settings.local.json", ".codex/hooks.json",
                 ".codex/config.toml", ".mcp.json"):
        # with or without mlgate's hook in it, existing or not, at stage 4 Unlocked: the
        # settings can turn the hooks off, so they are a person's to edit
        d = decide([name], cwd=wt)
        assert not d.allowed and "turn mlgate's hooks off" in d.reason, name
        d = decide([str(git_repo / name)], cwd=git_repo)  # the main checkout (ungoverned)
        assert not d.allowed, name
    # the commit hook judges it as any file (stage 4 Unlocked: allowed)
    assert decide([".claude/settings.json"], cwd=wt, purpose="commit").allowed


def test_decision_is_a_value() -> None:
    d = Decision(True, "ok", None, None, ("a",))
    assert d.to_dict() == {"allowed": True, "reason": "ok", "ticket": None, "stage": None,
                           "paths": ["a"]}
    with pytest.raises(ValueError):
        decide(["a"], purpose="nonsense")
    assert decide([]).allowed


def test_nested_worktree_inside_main_checkout(git_repo: Path) -> None:
    nested = git_repo / "wt" / "exp"
    git(git_repo, "worktree", "add", "-q", "-b", "codex/exp", str(nested))
    write_state(nested / "tickets/in-progress/exp", "exp", 3, root=git_repo)
    assert not allowed(str(nested / SRC), git_repo)  # the innermost checkout decides
    assert allowed(str(git_repo / SRC), git_repo)
    assert os.path.isdir(nested)


@pytest.mark.parametrize("path", ["lightning_logs/version_0/metrics.csv",
                                  "lightning_logs/version_0/checkpoints/epoch=1-step=20.ckpt",
                                  "logs/digits/version_3/metrics.csv",
                                  "tb_logs/run/events.out.tfevents.1.host",
                                  "wandb/offline-run-20250101_000000-abc/run-abc.wandb"])
def test_what_training_frameworks_write_is_a_default_run_output(git_repo: Path,
                                                                 path: str) -> None:
    """Lightning, TensorBoard and wandb write beside the script by default; stage 5 must be
    able to commit it (and no other stage)."""
    wt = add_ticket(git_repo, "exp", 5)
    assert allowed(path, wt)
    set_stage(wt, "exp", 6, root=git_repo)
    assert not allowed(path, wt)
