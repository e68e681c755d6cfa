"""`mlgate hooks install --claude/--codex`: merging into the agents' settings files without
touching anything else, idempotently, in every checkout (and a new one); the per-machine file
for Claude Code with every hook failing closed; the files kept out of the ticket's changes;
and a real run of the installed command."""
from __future__ import annotations

import json
import re
import shlex
import subprocess
from pathlib import Path

import pytest

from mlgate.errors import UsageError
from mlgate.lock import install as I
from test_hooks_helpers import MLGATE, add_ticket, claude_payload, deny_reason

DATA = Path(__file__).parent / "data" / "clients"
FOREIGN = {
    "permissions": {"allow": ["Bash(ls:*)"], "deny": ["Read(.env)"]},
    "model": "opus",
    "hooks": {
        "PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command",
                                                      "command": "./audit.sh"}]}],
        "Stop": [{"hooks": [{"type": "command", "command": "./notify.sh"}]}],
    },
}
CLAUDE = ".claude/settings.local.json"
CODEX = ".codex/hooks.json"


def _ours(agent: str, kind: str) -> dict[str, object]:
    entry: dict[str, object] = {"type": "command", "command": I.agent_command(kind),
                                "timeout": I.HOOK_TIMEOUT}
    if agent == "claude":
        entry["onFailure"] = "block"
    return entry


@pytest.mark.parametrize("agent,rel", [("claude", CLAUDE), ("codex", CODEX)])
def test_merge_keeps_other_settings_and_is_idempotent(git_repo: Path, agent: str,
                                                      rel: str) -> None:
    path = git_repo / rel
    path.parent.mkdir()
    path.write_text(json.dumps(FOREIGN, indent=4))
    (msg,) = I.install(git_repo, **{agent: True})
    assert msg.startswith(f"installed the {'Claude Code' if agent == 'claude' else 'Codex'} "
                          f"hooks") and str(path) in msg
    data = json.loads(path.read_text())
    assert data["permissions"] == FOREIGN["permissions"] and data["model"] == "opus"
    assert data["hooks"]["Stop"] == FOREIGN["hooks"]["Stop"]
    pre = data["hooks"]["PreToolUse"]
    assert pre[0] == FOREIGN["hooks"]["PreToolUse"][0]
    assert pre[1] == {"matcher": I.CLAUDE_MATCHER if agent == "claude" else I.CODEX_MATCHER,
                      "hooks": [_ours(agent, agent)]}
    (hook,) = pre[1]["hooks"]
    assert hook["command"] == f"{shlex.quote(MLGATE)} hook {agent}"
    before = path.read_bytes()
    assert "already installed" in I.install(git_repo, **{agent: True})[0]
    assert path.read_bytes() == before
    assert "removed" in I.uninstall(git_repo, **{agent: True})[0]
    assert json.loads(path.read_text()) == FOREIGN
    assert "no mlgate" in I.uninstall(git_repo, **{agent: True})[0]


def test_fresh_install_writes_every_event_and_uninstall_leaves_it_empty(git_repo: Path) -> None:
    msgs = I.install(git_repo, claude=True, codex=True)
    claude = json.loads((git_repo / CLAUDE).read_text())
    assert claude == {"hooks": {
        "PreToolUse": [{"matcher": I.CLAUDE_MATCHER, "hooks": [_ours("claude", "claude")]}],
        "PreSkillShellCommand": [{"hooks": [_ours("claude", "claude")]}],
        "PostToolUse": [{"matcher": I.CLAUDE_MATCHER,
                         "hooks": [_ours("claude", "claude-post")]}]}}
    codex = json.loads((git_repo / CODEX).read_text())
    assert codex == {"hooks": {
        "PreToolUse": [{"matcher": I.CODEX_MATCHER, "hooks": [_ours("codex", "codex")]}],
        "PostToolUse": [{"matcher": I.CODEX_MATCHER, "hooks": [_ours("codex", "codex-post")]}]}}
    # the shared settings.json (teams commit it) gets no machine path
    assert not (git_repo / ".claude/settings.json").exists()
    # Codex runs project hooks only after a person trusts them: the install says so
    assert "review and trust" in msgs[1] and "another path" in msgs[1]
    I.uninstall(git_repo, claude=True, codex=True)
    assert json.loads((git_repo / CLAUDE).read_text()) == {}
    assert json.loads((git_repo / CODEX).read_text()) == {}


def test_the_claude_matcher_covers_every_shell_tool() -> None:
    matcher = re.compile(f"^(?:{I.CLAUDE_MATCHER})$")
    for tool in ("Edit", "Write", "MultiEdit", "NotebookEdit", "Bash", "Monitor", "PowerShell",
                 "mcp__box__exec"):
        assert matcher.match(tool), tool
    assert not matcher.match("Read")


def test_settings_match_the_shipped_claude_types() -> None:
    """The keys mlgate writes for a command hook are the ones the Claude Agent SDK (pinned
    excerpt of sdk.d.ts) declares, and onFailure takes the value "block"."""
    text = (DATA / "claude-agent-sdk-0.3.337" / "sdk-hooks-excerpt.d.ts").read_text()
    command_type = text.split("type: 'command';", 1)[1].split("} | {", 1)[0]
    declared = set(re.findall(r"^\s+(\w+)\??:", command_type, re.MULTILINE)) | {"type"}
    entry = _ours("claude", "claude")
    assert set(entry) <= declared, set(entry) - declared
    assert "onFailure?: 'continue' | 'block';" in command_type
    assert "hook_event_name: 'PreSkillShellCommand';" in text


def test_entries_an_older_mlgate_put_in_settings_json_are_moved(git_repo: Path) -> None:
    path = git_repo / ".claude/settings.json"
    path.parent.mkdir()
    path.write_text(json.dumps({"model": "opus", "hooks": {"PreToolUse": [
        {"matcher": "Edit|Write", "hooks": [{"type": "command", "command": "mlgate hook claude"}]},
        {"matcher": "Bash", "hooks": [{"type": "command", "command": "./audit.sh"},
                                      {"type": "command", "command": "mlgate hook claude"}]},
    ]}}))
    I.install(git_repo, claude=True)
    assert json.loads(path.read_text()) == {"model": "opus", "hooks": {"PreToolUse": [
        {"matcher": "Bash", "hooks": [{"type": "command", "command": "./audit.sh"}]}]}}
    local = json.loads((git_repo / CLAUDE).read_text())
    assert local["hooks"]["PreToolUse"] == [{"matcher": I.CLAUDE_MATCHER,
                                             "hooks": [_ours("claude", "claude")]}]


@pytest.mark.parametrize("bad", ["{not json", "[1, 2]", '{"hooks": []}',
                                 '{"hooks": {"PreToolUse": {}}}'])
def test_unreadable_settings_are_not_overwritten(git_repo: Path, bad: str) -> None:
    path = git_repo / CLAUDE
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
    settings = json.loads((wt / CLAUDE).read_text())
    command = settings["hooks"]["PreToolUse"][0]["hooks"][0]["command"]
    # run the command exactly as Claude Code does (through a shell, payload on stdin)
    payload = claude_payload("Edit", wt, file_path=str(wt / "src/model.py"), old_string="x",
                             new_string="y")
    proc = subprocess.run(["sh", "-c", command], input=payload, capture_output=True, cwd=wt)
    reason = deny_reason(proc)
    assert reason is not None and "stage 3 Experiment Plan" in reason
    # the PostToolUse command runs too (exit 0 on a payload)
    post = settings["hooks"]["PostToolUse"][0]["hooks"][0]["command"]
    proc = subprocess.run(["sh", "-c", post], input=payload.replace(b"PreToolUse",
                                                                      b"PostToolUse"),
                          capture_output=True, cwd=wt)
    assert proc.returncode == 0, proc.stderr


def test_hook_files_are_never_a_change_of_the_ticket(git_repo: Path) -> None:
    """Written into a worktree, the settings are ignored by git (common info/exclude): not
    untracked, so neither the stage-4 changed-files check nor `archive --finalize` sees
    them; a team's committed settings.json is left unchanged; and `mlgate new` gives a new
    worktree the same hooks."""
    shared = git_repo / ".claude" / "settings.json"
    shared.parent.mkdir()
    shared.write_text(json.dumps(FOREIGN))
    subprocess.run(["git", "add", "-A"], cwd=git_repo, check=True)
    subprocess.run(["git", "commit", "-qm", "team settings"], cwd=git_repo, check=True)
    I.install(git_repo, claude=True, codex=True)
    assert json.loads(shared.read_text()) == FOREIGN
    proc = subprocess.run([MLGATE, "new", "exp2"], cwd=git_repo, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    wt = git_repo.parent / f"{git_repo.name}.worktrees" / "exp2"
    assert json.loads((wt / CLAUDE).read_text())["hooks"]["PreToolUse"]
    assert json.loads((wt / CODEX).read_text())["hooks"]["PreToolUse"]
    for checkout in (git_repo, wt):
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"],
                                cwd=checkout, capture_output=True, text=True).stdout
        assert ".claude" not in status and ".codex" not in status, status
    from mlgate import git

    assert not [f for f in git.dirty_files(wt, untracked=True) if f.startswith((".claude",
                                                                                 ".codex"))]
    exclude = (git_repo / ".git/info/exclude").read_text()
    assert "/.claude/settings.local.json" in exclude and exclude.count("/.codex/hooks.json") == 1


def test_cli_install_claude_and_codex(git_repo: Path) -> None:
    proc = subprocess.run([MLGATE, "hooks", "install", "--claude", "--codex"], cwd=git_repo,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert (git_repo / CLAUDE).exists() and (git_repo / CODEX).exists()
    assert "trust" in proc.stdout
    assert not (git_repo / ".git/hooks/pre-commit").exists()


def test_doctor_reports_hooks_that_are_installed_but_not_in_force(git_repo: Path,
                                                                  tmp_path: Path) -> None:
    codex_home = tmp_path / "codex-home"
    codex_home.mkdir()
    env = {**__import__("os").environ, "CODEX_HOME": str(codex_home)}
    I.install(git_repo, claude=True, codex=True)

    def doctor() -> subprocess.CompletedProcess[str]:
        return subprocess.run([MLGATE, "doctor"], cwd=git_repo, capture_output=True, text=True,
                              env=env)

    proc = doctor()
    assert proc.returncode == 1 and "codex-untrusted" in proc.stdout
    (codex_home / "config.toml").write_text(f'[projects."{git_repo}"]\ntrust_level = "trusted"\n')
    proc = doctor()
    assert "codex-hooks-unreviewed" in proc.stdout and "codex-project-untrusted" not in proc.stdout
    key = f"{git_repo}/.codex/hooks.json:pre_tool_use:0:0"
    (codex_home / "config.toml").write_text(
        f'[projects."{git_repo}"]\ntrust_level = "trusted"\n\n'
        f'[hooks.state."{key}"]\ntrusted_hash = "sha256:abc"\n')
    proc = doctor()
    assert proc.returncode == 0 and "codex" not in proc.stdout, proc.stdout
    # Claude Code: disableAllHooks in the shared settings turns every hook off
    (git_repo / ".claude" / "settings.json").write_text('{"disableAllHooks": true}')
    proc = doctor()
    assert proc.returncode == 1 and "claude-hooks-disabled" in proc.stdout
