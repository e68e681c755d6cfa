"""`mlgate hooks install --claude/--codex`: merging into the agents' settings files without
touching anything else, idempotently, in every checkout; and a real run of the installed
command."""
from __future__ import annotations

import json
import shlex
import subprocess
from pathlib import Path

import pytest

from mlgate.errors import UsageError
from mlgate.lock import install as I
from test_hooks_helpers import MLGATE, add_ticket, claude_payload, deny_reason

FOREIGN = {
    "permissions": {"allow": ["Bash(ls:*)"], "deny": ["Read(.env)"]},
    "model": "opus",
    "hooks": {
        "PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command",
                                                      "command": "./audit.sh"}]}],
        "Stop": [{"hooks": [{"type": "command", "command": "./notify.sh"}]}],
    },
}


@pytest.mark.parametrize("agent,rel,matcher", [
    ("claude", ".claude/settings.json", I.CLAUDE_MATCHER),
    ("codex", ".codex/hooks.json", I.CODEX_MATCHER),
])
def test_merge_keeps_other_settings_and_is_idempotent(git_repo: Path, agent: str, rel: str,
                                                      matcher: str) -> None:
    path = git_repo / rel
    path.parent.mkdir()
    path.write_text(json.dumps(FOREIGN, indent=4))
    msgs = I.install(git_repo, **{agent: True})
    assert msgs == [f"installed the {'Claude Code' if agent == 'claude' else 'Codex'} "
                    f"PreToolUse hook ({matcher}) in {path}"]
    data = json.loads(path.read_text())
    assert data["permissions"] == FOREIGN["permissions"] and data["model"] == "opus"
    assert data["hooks"]["Stop"] == FOREIGN["hooks"]["Stop"]
    pre = data["hooks"]["PreToolUse"]
    assert pre[0] == FOREIGN["hooks"]["PreToolUse"][0]
    assert pre[1]["matcher"] == matcher
    (hook,) = pre[1]["hooks"]
    assert hook["type"] == "command" and hook["command"] == f"{shlex.quote(MLGATE)} hook {agent}"
    before = path.read_bytes()
    assert "already installed" in I.install(git_repo, **{agent: True})[0]
    assert path.read_bytes() == before
    assert "removed" in I.uninstall(git_repo, **{agent: True})[0]
    assert json.loads(path.read_text()) == FOREIGN
    assert "no mlgate" in I.uninstall(git_repo, **{agent: True})[0]


def test_fresh_install_creates_the_file_and_uninstall_leaves_it_empty(git_repo: Path) -> None:
    I.install(git_repo, claude=True, codex=True)
    claude = json.loads((git_repo / ".claude/settings.json").read_text())
    assert claude == {"hooks": {"PreToolUse": [{"matcher": I.CLAUDE_MATCHER, "hooks": [
        {"type": "command", "command": I.agent_command("claude"), "timeout": I.HOOK_TIMEOUT}]}]}}
    I.uninstall(git_repo, claude=True, codex=True)
    assert json.loads((git_repo / ".claude/settings.json").read_text()) == {}
    assert json.loads((git_repo / ".codex/hooks.json").read_text()) == {}


def test_an_old_entry_is_updated_in_place(git_repo: Path) -> None:
    path = git_repo / ".claude/settings.json"
    path.parent.mkdir()
    path.write_text(json.dumps({"hooks": {"PreToolUse": [
        {"matcher": "Edit|Write", "hooks": [{"type": "command", "command": "mlgate hook claude"}]},
        {"matcher": "Bash", "hooks": [{"type": "command", "command": "./audit.sh"},
                                      {"type": "command", "command": "mlgate hook claude"}]},
    ]}}))
    I.install(git_repo, claude=True)
    pre = json.loads(path.read_text())["hooks"]["PreToolUse"]
    assert pre == [
        {"matcher": I.CLAUDE_MATCHER, "hooks": [{"type": "command",
                                                 "command": I.agent_command("claude"),
                                                 "timeout": I.HOOK_TIMEOUT}]},
        {"matcher": "Bash", "hooks": [{"type": "command", "command": "./audit.sh"}]},
    ]


@pytest.mark.parametrize("bad", ["{not json", "[1, 2]", '{"hooks": []}',
                                 '{"hooks": {"PreToolUse": {}}}'])
def test_unreadable_settings_are_not_overwritten(git_repo: Path, bad: str) -> None:
    path = git_repo / ".claude/settings.json"
    path.parent.mkdir()
    path.write_text(bad)
    with pytest.raises(UsageError) as err:
        I.install(git_repo, claude=True)
    assert str(path) in str(err.value)
    assert path.read_text() == bad


def test_installs_into_every_worktree_and_the_hook_runs(git_repo: Path) -> None:
    wt = add_ticket(git_repo, "exp", 3)
    msgs = I.install(git_repo, claude=True)
    assert len(msgs) == 2 and all("installed" in m for m in msgs)
    settings = json.loads((wt / ".claude/settings.json").read_text())
    command = settings["hooks"]["PreToolUse"][0]["hooks"][0]["command"]
    # run the command exactly as Claude Code does (through a shell, payload on stdin)
    payload = claude_payload("Edit", wt, file_path=str(wt / "src/model.py"), old_string="x",
                             new_string="y")
    proc = subprocess.run(["sh", "-c", command], input=payload, capture_output=True, cwd=wt)
    reason = deny_reason(proc)
    assert reason is not None and "stage 3 Experiment Plan" in reason


def test_cli_install_claude_and_codex(git_repo: Path) -> None:
    proc = subprocess.run([MLGATE, "hooks", "install", "--claude", "--codex"], cwd=git_repo,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert (git_repo / ".claude/settings.json").exists()
    assert (git_repo / ".codex/hooks.json").exists()
    assert not (git_repo / ".git/hooks/pre-commit").exists()
