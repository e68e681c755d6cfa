"""The tripwire (issue 12 "after"): after a tool call, every Locked worktree is compared with
its baseline; what changed outside the allowed paths is quarantined as a binary-safe patch
(plus the new files), the worktree restored and a Process Violation recorded, and the agent
is told in its client's own PostToolUse shape (validated against the schemas the clients
ship). Every class that is not refused before (1, 2, 3, and code the PreToolUse analysis
cannot see) is caught here; the controls (hooks, git config, registry, agent config files)
are checked and put back; a catalogue of ordinary work is never touched; a quarantined change
goes back in with `mlgate quarantine apply` in stage 4."""
from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from conftest import git, mlgate
from mlgate.lock import governance
from mlgate.lock.hook import post_output
from mlgate.state.seal import load_key
from mlgate.state.statefile import StateDoc
from test_governance import from_template, ticket_template
from test_hooks_helpers import MLGATE

DATA = Path(__file__).parent / "data" / "client-schemas"
SRC = "src/model.py"


# -- the clients' schemas -------------------------------------------------------------------


def _ts_schemas(text: str) -> dict[str, dict[str, Any]]:
    """The object types of a TypeScript declaration file as closed JSON schemas (only the
    constructs the excerpt uses: `A & {…}`, `name?: T;`, string/boolean/number/unknown,
    string-literal unions, references, nested object literals). A reference to a type the
    file does not declare matches nothing, so a union narrows to the declared members."""
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = re.sub(r"//[^\n]*", "", text)
    decls: dict[str, str] = {}
    for m in re.finditer(r"export declare type (\w+) =", text):
        start = m.end()
        depth, i = 0, start
        while True:
            ch = text[i]
            depth += ch == "{"
            depth -= ch == "}"
            if ch == ";" and depth == 0:
                break
            i += 1
        decls[m.group(1)] = text[start:i].strip()

    def split_top(s: str, sep: str) -> list[str]:
        out, depth, cur = [], 0, ""
        for ch in s:
            depth += ch == "{"
            depth -= ch == "}"
            if ch == sep and depth == 0:
                out.append(cur.strip())
                cur = ""
            else:
                cur += ch
        return [x for x in out + [cur.strip()] if x]

    def typ(s: str) -> dict[str, Any]:
        s = s.strip()
        if s.startswith("{"):
            return obj(s)
        alts = split_top(s, "|")
        if len(alts) > 1:
            if all(a.startswith("'") for a in alts):
                return {"enum": [a.strip("'") for a in alts]}
            return {"anyOf": [typ(a) for a in alts]}
        parts = split_top(s, "&")
        if len(parts) > 1:
            merged: dict[str, Any] = {"type": "object", "properties": {}, "required": [],
                                      "additionalProperties": False}
            for p in parts:
                sub = typ(p)
                merged["properties"].update(sub.get("properties", {}))
                merged["required"] += sub.get("required", [])
            return merged
        if s.startswith("'"):
            return {"const": s.strip("'")}
        if s in ("string", "boolean", "number"):
            return {"type": s}
        if s == "unknown":
            return {}
        if s in decls:
            return typ(decls[s])
        return {"not": {}}

    def obj(s: str) -> dict[str, Any]:
        body = s.strip()[1:-1]
        props: dict[str, Any] = {}
        required: list[str] = []
        for member in split_top(body, ";"):
            m = re.match(r"(\w+)(\?)?\s*:\s*(.*)$", member, flags=re.S)
            if not m:
                continue
            props[m.group(1)] = typ(m.group(3))
            if not m.group(2):
                required.append(m.group(1))
        return {"type": "object", "properties": props, "required": required,
                "additionalProperties": False}

    return {name: typ(body) for name, body in decls.items()}


CLAUDE = _ts_schemas((DATA / "claude-agent-sdk-0.3.337-post-tool-use.d.ts").read_text())
CODEX_IN = json.loads((DATA / "codex-0.171.0-post-tool-use.command.input.json").read_text())
CODEX_OUT = json.loads((DATA / "codex-0.171.0-post-tool-use.command.output.json").read_text())


def payload(agent: str, cwd: Path, command: str = "python w.py") -> bytes:
    data: dict[str, Any] = {
        "session_id": "s-1", "transcript_path": "/tmp/t.jsonl", "cwd": str(cwd),
        "permission_mode": "default", "hook_event_name": "PostToolUse", "tool_name": "Bash",
        "tool_input": {"command": command}, "tool_response": {"stdout": "", "stderr": ""},
        "tool_use_id": "toolu_01"}
    if agent == "codex":
        data.update(model="gpt-5", turn_id="turn-1")
        jsonschema.validate(data, CODEX_IN)
    else:
        jsonschema.validate(data, CLAUDE["PostToolUseHookInput"])
    return json.dumps(data).encode()


def post_hook(agent: str, cwd: Path) -> dict[str, Any] | None:
    """`mlgate hook claude-post|codex-post` as the client runs it; its answer, validated
    against that client's schema (None: nothing to say)."""
    env = {k: v for k, v in os.environ.items() if k not in ("GIT_INDEX_FILE", "GIT_DIR")}
    proc = subprocess.run([MLGATE, "hook", f"{agent}-post"], input=payload(agent, cwd),
                          cwd=cwd, capture_output=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.decode().strip()
    if not out:
        return None
    data = json.loads(out)
    if agent == "codex":
        jsonschema.validate(data, CODEX_OUT)
    else:
        jsonschema.validate(data, CLAUDE["SyncHookJSONOutput"])
        jsonschema.validate(data["hookSpecificOutput"], CLAUDE["PostToolUseHookSpecificOutput"])
    assert data["decision"] == "block" and data["reason"].startswith("mlgate")
    return data


def test_the_schemas_bite() -> None:
    """The derived and shipped schemas tell the clients apart: Codex refuses what Claude
    allows (`updatedToolOutput`, `decision: approve`)."""
    ok = post_output("codex", "mlgate: r", "s")
    jsonschema.validate(ok, CODEX_OUT)
    jsonschema.validate(post_output("claude", "mlgate: r", "s"), CLAUDE["SyncHookJSONOutput"])
    claude_only = {"decision": "block", "reason": "r",
                   "hookSpecificOutput": {"hookEventName": "PostToolUse",
                                          "updatedToolOutput": "x"}}
    jsonschema.validate(claude_only, CLAUDE["SyncHookJSONOutput"])
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(claude_only, CODEX_OUT)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"decision": "approve"}, CODEX_OUT)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"decision": "maybe"}, CLAUDE["SyncHookJSONOutput"])


# -- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def _tpl5(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return ticket_template(tmp_path_factory.mktemp("tpl"), 5, hooks=True)


@pytest.fixture
def t5(_tpl5: Path, tmp_path: Path):  # type: ignore[no-untyped-def]
    """Ticket ``exp`` walked to stage 5 (Locked), git hooks installed; a copy per test."""
    _ws, t = from_template(_tpl5, tmp_path / "w")
    return t


def status(wt: Path) -> str:
    return git(wt, "status", "--porcelain", "--untracked-files=all")


def outside_ticket(wt: Path) -> list[str]:
    return [ln for ln in status(wt).splitlines() if "tickets/in-progress/exp/" not in ln]


def violations(t) -> list[Any]:  # type: ignore[no-untyped-def]
    return [v for v in StateDoc.load(t.state_path).violations if v.cleared is False]


def entry(t, qid: str = "Q-001") -> tuple[Path, dict[str, Any]]:  # type: ignore[no-untyped-def]
    q = t.folder / "quarantine" / qid
    return q, json.loads((q / "meta.json").read_text())


def run_script(wt: Path, code: str) -> None:
    """What the PreToolUse analysis cannot see: a script file that writes source."""
    script = wt / "tickets" / "in-progress" / "exp" / "w.py"
    script.write_text(code)
    subprocess.run([sys.executable, str(script)], cwd=wt, check=True)


# -- what the analysis cannot see, caught after ---------------------------------------------


@pytest.mark.parametrize("agent", ["claude", "codex"])
def test_a_script_writing_source_is_caught_quarantined_and_restored(t5, agent: str) -> None:  # type: ignore[no-untyped-def]
    wt = t5.checkout
    head_model = (wt / SRC).read_bytes()
    run_script(wt, "import os, pathlib\n"
                   "pathlib.Path('src/model.py').write_text('x = 42\\n')\n"
                   "pathlib.Path('src/evil.py').write_text('import os\\n')\n"
                   "os.remove('README.md')\n")
    out = post_hook(agent, wt)
    assert out is not None
    reason = out["reason"]
    assert "src/model.py (modified)" in reason and "src/evil.py (created)" in reason
    assert "README.md (deleted)" in reason and "V-001" in reason and "Q-001" in reason
    assert "stage 5" in reason and "mlgate reenter" in reason
    assert outside_ticket(wt) == []  # the worktree is back at HEAD
    assert (wt / SRC).read_bytes() == head_model and (wt / "README.md").exists()
    assert not (wt / "src" / "evil.py").exists()
    q, meta = entry(t5)
    patch = (q / "changes.patch").read_text()
    assert "+x = 42" in patch and "deleted file mode" in patch and "src/evil.py" in patch
    assert (q / "files" / "src" / "evil.py").read_text() == "import os\n"
    assert meta["violation"] == "V-001" and meta["commit"] == git(wt, "rev-parse", "HEAD")
    assert {c["path"] for c in meta["changes"]} == {SRC, "src/evil.py", "README.md"}
    (v,) = violations(t5)
    assert "src/model.py" in v.violation and "quarantine/Q-001" in v.action
    again = post_hook(agent, wt)
    assert again is None, again["reason"]  # nothing left to catch: silent


def test_hard_link_from_the_ticket_folder_into_source(t5) -> None:  # type: ignore[no-untyped-def]
    """Class 3: edit source through a hard link in the ticket folder."""
    wt = t5.checkout
    link = t5.folder / "h.py"
    os.link(wt / SRC, link)
    with open(link, "a") as fh:
        fh.write("y = 'through the link'\n")
    out = post_hook("claude", wt)
    assert out is not None and "src/model.py (modified)" in out["reason"]
    assert "through the link" not in (wt / SRC).read_text()
    q, _ = entry(t5)
    assert "through the link" in (q / "changes.patch").read_text()


def test_state_file_moved_away_is_put_back(t5) -> None:  # type: ignore[no-untyped-def]
    """Class 1: the state file moved out of the ticket folder (to the worktree root)."""
    wt = t5.checkout
    before = governance.read_head(wt.parent.parent / "clone" / ".git" / "mlgate", "exp")
    os.rename(t5.state_path, wt / "moved.md")
    out = post_hook("claude", wt)
    assert out is not None
    assert "is gone (moved or deleted)" in out["reason"]
    doc = StateDoc.load(t5.state_path)
    assert doc.snapshot.current_stage == 5 and doc.snapshot.last_transition_id == \
        before.transition
    assert ["is gone" in v.violation for v in doc.violations] == [True, False]
    assert "moved.md (created)" in doc.violations[1].violation  # quarantined too
    assert not (wt / "moved.md").exists()
    assert outside_ticket(wt) == []


def test_self_sealed_unlocked_state_is_replaced_by_the_head(t5) -> None:  # type: ignore[no-untyped-def]
    """Class 2: a validly sealed Unlocked state written with the readable key."""
    wt = t5.checkout
    key = load_key(t5.ws.gdir)
    doc = StateDoc.load(t5.state_path)
    doc.set_snapshot(current_stage=4, next_stage=5, permission="Unlocked")
    doc.apply_seal(key)
    t5.state_path.write_text(doc.render())
    (wt / SRC).write_text("x = 'while forged'\n")
    out = post_hook("codex", wt)
    assert out is not None
    assert "a file sealed outside mlgate" in out["reason"]
    doc = StateDoc.load(t5.state_path)
    assert doc.snapshot.current_stage == 5 and doc.snapshot.permission == "Locked"
    assert "x = 'while forged'" not in (wt / SRC).read_text()  # judged on the real state
    forged = t5.folder / "quarantine" / "Q-001" / "files" / "workflow-state.md"
    assert "Unlocked" in forged.read_text()


def test_branch_in_the_main_checkout_and_edited_gitdir(t5) -> None:  # type: ignore[no-untyped-def]
    ws = t5.ws
    git(ws.root, "checkout", "-q", "--ignore-other-worktrees", "codex/exp")
    (ws.root / SRC).write_text("x = 'in main'\n")
    out = post_hook("claude", ws.root)
    assert out is not None and str(ws.root) in out["reason"]
    assert "in main" not in (ws.root / SRC).read_text()
    git(ws.root, "checkout", "-q", "main")
    admin = ws.root / ".git" / "worktrees" / "exp"
    (admin / "gitdir").write_text(str(ws.root.parent / "elsewhere" / ".git") + "\n")
    (t5.checkout / SRC).write_text("x = 'hidden'\n")
    out = post_hook("claude", ws.root)
    assert out is not None and "hidden" not in (t5.checkout / SRC).read_text()


def test_extra_worktree_of_the_branch_and_a_deleted_ticket_folder(t5, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Class 1: the branch checked out again with `git worktree add -f`, and the whole
    ticket folder deleted: the extra checkout is compared and restored, and the state comes
    back from the head."""
    import shutil

    ws = t5.ws
    extra = tmp_path / "extra"
    git(ws.root, "worktree", "add", "-q", "-f", str(extra), "codex/exp")
    (extra / SRC).write_text("x = 'in the extra worktree'\n")
    shutil.rmtree(t5.folder)
    out = post_hook("claude", extra)
    assert out is not None
    assert str(extra) in out["reason"] and "is gone (moved or deleted)" in out["reason"]
    assert "extra worktree" not in (extra / SRC).read_text()
    doc = StateDoc.load(t5.state_path)
    assert doc.snapshot.current_stage == 5 and "is gone" in doc.violations[0].violation
    patch = next(t5.folder.glob("quarantine/Q-*/changes.patch")).read_text()
    assert "in the extra worktree" in patch


def test_head_moved_off_the_branch_is_put_back(t5) -> None:  # type: ignore[no-untyped-def]
    wt = t5.checkout
    tip = git(wt, "rev-parse", "HEAD")
    git(wt, "checkout", "-q", "-b", "escape")
    (wt / SRC).write_text("x = 'on another branch'\n")
    git(wt, "commit", "-qam", "escape", "--no-verify")
    escaped = git(wt, "rev-parse", "HEAD")
    out = post_hook("claude", wt)
    assert out is not None and "HEAD left the ticket's branch codex/exp" in out["reason"]
    assert git(wt, "symbolic-ref", "HEAD") == "refs/heads/codex/exp"
    assert git(wt, "rev-parse", "HEAD") == tip and outside_ticket(wt) == []
    _, meta = entry(t5)
    assert git(wt, "rev-parse", meta["kept_ref"]) == escaped  # the commit is kept
    assert "on another branch" in (t5.folder / "quarantine" / "Q-001" /
                                   "changes.patch").read_text()


# -- nothing is lost: the round trip -------------------------------------------------------------


def test_quarantine_round_trip_binary_deletion_rename_mode_symlink(t5) -> None:  # type: ignore[no-untyped-def]
    wt = t5.checkout
    run_script(wt, "import os, pathlib\n"
                   "p = pathlib.Path\n"
                   "p('blob.bin').write_bytes(bytes([0, 255, 1, 254]) * 300)\n"
                   "os.remove('README.md')\n"
                   "os.rename('src/model.py', 'src/renamed.py')\n"
                   "os.symlink('renamed.py', 'src/link.py')\n"
                   "os.makedirs('tools', exist_ok=True)\n"
                   "p('tools/x.sh').write_text('#!/bin/sh\\n')\n"
                   "os.chmod('tools/x.sh', 0o755)\n"
                   "os.chmod('src/digits/model.py', 0o755)\n")
    after = {p: (wt / p) for p in ("blob.bin", "src/renamed.py", "src/link.py", "tools/x.sh")}
    expect_bytes = {p: (os.readlink(f) if f.is_symlink() else f.read_bytes())
                    for p, f in after.items()}
    out = post_hook("claude", wt)
    assert out is not None and "src/digits/model.py (mode)" in out["reason"]
    assert outside_ticket(wt) == [] and (wt / SRC).exists()
    assert not stat.S_IMODE((wt / "src" / "digits" / "model.py").stat().st_mode) & 0o111
    # in stage 5 it cannot go back in
    r = mlgate(wt, "quarantine", "apply", "Q-001")
    assert r.returncode == 1 and "stage 5" in r.stderr
    r = mlgate(wt, "--json", "quarantine", "list")
    assert json.loads(r.stdout)[0]["id"] == "Q-001"
    # back in stage 4 (a re-entry), a person applies it: everything is back
    r = mlgate(wt, "reenter", "Local Fix", "exp", "--reason", "bring the change back")
    assert r.returncode == 0, r.stderr
    r = mlgate(wt, "quarantine", "apply", "Q-001")
    assert r.returncode == 0, r.stdout + r.stderr
    assert not (wt / "README.md").exists() and not (wt / SRC).exists()
    for p, f in after.items():
        got = os.readlink(f) if f.is_symlink() else f.read_bytes()
        assert got == expect_bytes[p], p
    assert (wt / "src" / "link.py").is_symlink()
    assert stat.S_IMODE((wt / "tools" / "x.sh").stat().st_mode) & 0o111
    assert stat.S_IMODE((wt / "src" / "digits" / "model.py").stat().st_mode) & 0o111
    _, meta = entry(t5)
    assert meta["applied"]


# -- the controls ------------------------------------------------------------------------------


def test_git_hooks_and_config_are_put_back(t5) -> None:  # type: ignore[no-untyped-def]
    ws = t5.ws
    hooks = ws.root / ".git" / "hooks"
    (hooks / "reference-transaction").unlink()
    (hooks / "pre-commit").chmod(0o644)
    (hooks / "pre-merge-commit").write_text("#!/bin/sh\nexit 0\n")
    git(ws.root, "config", "core.hooksPath", "/dev/null")
    git(ws.root, "config", "include.path", "../evil.cfg")
    out = post_hook("claude", t5.checkout)
    assert out is not None
    reason = out["reason"]
    for what in ("reference-transaction hook", "pre-commit hook", "pre-merge-commit hook",
                 "core.hooksPath", "include.path"):
        assert what in reason, what
    for name in ("pre-commit", "pre-merge-commit", "reference-transaction"):
        assert "mlgate-managed-hook" in (hooks / name).read_text()
        assert os.access(hooks / name, os.X_OK)
    assert (hooks / "pre-merge-commit.mlgate-chained").read_text() == "#!/bin/sh\nexit 0\n"
    assert subprocess.run(["git", "config", "--get", "core.hooksPath"], cwd=ws.root,
                          capture_output=True).returncode == 1
    assert "the lock's controls were changed" in violations(t5)[-1].violation
    assert post_hook("claude", t5.checkout) is None  # in place again: silent


def test_registry_markers_and_agent_configs_are_put_back(t5) -> None:  # type: ignore[no-untyped-def]
    from mlgate.lock import install as I

    ws = t5.ws
    wt = t5.checkout
    I.install(ws.root, claude=True, codex=True)
    marker = ws.root / ".git" / "mlgate" / "governed" / "refs" / "heads" / "codex" / "exp"
    marker.unlink()
    settings = wt / ".claude" / "settings.local.json"
    data = json.loads(settings.read_text())
    data.pop("hooks")
    data["disableAllHooks"] = True
    settings.write_text(json.dumps(data))
    (wt / ".codex" / "config.toml").write_text("[features]\ncodex_hooks = false\n")
    out = post_hook("codex", wt)
    assert out is not None
    assert marker.is_file()
    data = json.loads(settings.read_text())
    assert "disableAllHooks" not in data and "hook claude" in settings.read_text()
    assert "codex_hooks" not in (wt / ".codex" / "config.toml").read_text()
    assert post_hook("claude", wt) is None
    # an MCP server added: reported once (a person reviews it), not on every call
    (ws.root / ".mcp.json").write_text('{"mcpServers": {"x": {"command": "x"}}}')
    out = post_hook("claude", wt)
    assert out is not None and ".mcp.json" in out["reason"]
    assert post_hook("claude", wt) is None


# -- no false positives ---------------------------------------------------------------------------

ORDINARY = [
    "ls -la", "git status", "git log --oneline -5", "git diff", "git show --stat HEAD",
    "git branch --list", "git stash list", "cat README.md", "grep -rn x src",
    "find . -name '*.py' -not -path './.git/*'", "python -c 'print(1)'",
    "python -c 'import json; print(json.dumps({\"a\": 1}))'", "wc -l src/model.py",
    "head -5 src/model.py", "python -m py_compile src/model.py",
    "python -c 'import src.model' || true",
    "echo note >> tickets/in-progress/exp/notes.md",
    "mkdir -p tickets/in-progress/exp/scratch && echo 1 > tickets/in-progress/exp/scratch/a",
    "mkdir -p results_run && echo '{}' > results_run/m.json",
    "mkdir -p checkpoints && echo w > checkpoints/last.pt",
    "echo tmp > /tmp/mlgate-tripwire-scratch.txt",
    "git add tickets && git commit -qm 'ticket notes' || true",
    f"{MLGATE} status", f"{MLGATE} check exp || true", f"{MLGATE} list",
    f"{MLGATE} can-edit src/model.py || true", f"{MLGATE} runs exp || true",
    "printf 'def test_a():\\n    assert 1\\n' > tickets/in-progress/exp/test_a.py && "
    "python -m pytest -q -p no:cacheprovider tickets/in-progress/exp/test_a.py",
]


def test_ordinary_work_is_never_touched(t5) -> None:  # type: ignore[no-untyped-def]
    wt = t5.checkout
    env = {k: v for k, v in os.environ.items() if k not in ("GIT_INDEX_FILE", "GIT_DIR")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # byte-code caches get written, as for users
    for cmd in ORDINARY:
        proc = subprocess.run(["bash", "-c", cmd], cwd=wt, capture_output=True, text=True,
                              env=env)
        assert proc.returncode == 0, (cmd, proc.stderr)
        assert post_hook("claude", wt) is None, cmd
    assert not (t5.folder / "quarantine").exists()
    assert violations(t5) == []


def test_stage_4_unlocked_is_not_compared_and_stage_7_allows_docs(t5) -> None:  # type: ignore[no-untyped-def]
    wt = t5.checkout
    assert mlgate(wt, "reenter", "Local Fix", "exp", "--reason", "fix").returncode == 0
    (wt / SRC).write_text("x = 'stage 4 work'\n")
    assert post_hook("claude", wt) is None
    assert "stage 4 work" in (wt / SRC).read_text()


def test_outside_any_workspace_and_a_bad_payload(tmp_path: Path) -> None:
    proc = subprocess.run([MLGATE, "hook", "claude-post"], input=payload("claude", tmp_path),
                          cwd=tmp_path, capture_output=True)
    assert proc.returncode == 0 and proc.stdout == b""
    proc = subprocess.run([MLGATE, "hook", "codex-post"], input=b"{not json", cwd=tmp_path,
                          capture_output=True)
    data = json.loads(proc.stdout)
    jsonschema.validate(data, CODEX_OUT)
    assert "tripwire failed" in data["reason"]  # fail closed: the agent is told to stop


def test_parallel_tool_calls_quarantine_a_change_once(t5) -> None:  # type: ignore[no-untyped-def]
    """Claude Code runs the PostToolUse hooks of parallel tool calls at the same time."""
    wt = t5.checkout
    (wt / SRC).write_text("x = 'parallel'\n")
    env = {k: v for k, v in os.environ.items() if k not in ("GIT_INDEX_FILE", "GIT_DIR")}
    procs = [subprocess.Popen([MLGATE, "hook", "claude-post"], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=wt, env=env)
             for _ in range(3)]
    outs = [p.communicate(payload("claude", wt), timeout=120)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert sum(1 for o in outs if o.strip()) == 1  # one caught it, the others found it done
    assert [e.name for e in (t5.folder / "quarantine").iterdir()] == ["Q-001"]
    assert outside_ticket(wt) == [] and len(violations(t5)) == 1


def test_guard_cli_check_only_and_json(t5) -> None:  # type: ignore[no-untyped-def]
    wt = t5.checkout
    (wt / SRC).write_text("x = 'seen'\n")
    r = mlgate(wt, "--json", "guard", "--check")
    assert r.returncode == 1
    data = json.loads(r.stdout)
    assert data["ok"] is False and data["findings"][0]["restored"] is False
    assert "seen" in (wt / SRC).read_text()  # --check changes nothing
    r = mlgate(wt, "guard")
    assert r.returncode == 1 and "Q-001" in r.stdout
    r = mlgate(wt, "guard")
    assert r.returncode == 0 and r.stdout.startswith("ok: 1 Locked checkout")


# -- what the tripwire does not trust ------------------------------------------------------------


def test_ignore_patterns_added_outside_the_worktree_do_not_hide_files(t5) -> None:  # type: ignore[no-untyped-def]
    wt = t5.checkout
    assert post_hook("claude", wt) is None  # the first run notes the ignore files as they are
    exclude = t5.ws.root / ".git" / "info" / "exclude"
    before = exclude.read_text() if exclude.exists() else ""
    exclude.parent.mkdir(exist_ok=True)
    exclude.write_text(before + "src/hidden.py\n")
    (wt / "src" / "hidden.py").write_text("import os\n")
    out = post_hook("claude", wt)
    assert out is not None
    assert "info/exclude was changed" in out["reason"] and "src/hidden.py" in out["reason"]
    assert exclude.read_text() == before and not (wt / "src" / "hidden.py").exists()


def test_untracked_cache_and_fsmonitor_of_the_repository_are_not_used(t5, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """git's untracked cache trusts a folder's mtime (a file made in the same second as the
    last scan stays unseen), and an fsmonitor hook can report that nothing changed: the
    tripwire uses neither, whatever the repository's config says."""
    wt = t5.checkout
    monitor = tmp_path / "monitor.sh"
    called = tmp_path / "monitor-called"
    monitor.write_text(f"#!/bin/sh\ntouch {called}\nexit 1\n")
    monitor.chmod(0o755)
    git(wt, "config", "core.untrackedCache", "true")
    git(wt, "config", "core.fsmonitor", str(monitor))
    assert post_hook("claude", wt) is None
    for i in range(5):  # a file made right after the previous scan, in the same second
        (wt / "src" / f"quick{i}.py").write_text("x\n")
        out = post_hook("claude", wt)
        assert out is not None and f"src/quick{i}.py (created)" in out["reason"]
    assert not called.exists()


# -- whatever slipped past the analysis before the call, caught after ----------------------------

T = "tickets/in-progress/exp"
SLIPPED = {  # issue 12 classes 4-7: writes the command text does not show plainly
    "variable target": f"cd {T} && F=../../../src/model.py; echo 'x = 4' > \"$F\"",
    "command substitution": "echo 'x = 4' > \"$(printf src/model.py)\"",
    "xargs rm": "echo README.md | xargs rm",
    "git -C reset": f"git -C {T} rm -q --cached ../../../README.md",
    "GIT_DIR/GIT_WORK_TREE": "GIT_DIR=$(git rev-parse --git-dir) GIT_WORK_TREE=. git rm -q src/model.py",
    "cd - and OLDPWD": f"cd {T} && cd - >/dev/null && echo 'x = 5' > src/model.py",
    "glob": "echo 'x = 6' > src/mode?.py",
    "awk print >": "awk 'BEGIN { print \"x = 7\" > \"src/model.py\" }'",
    "sed w": "sed -n 'w src/copy.py' src/model.py",
    "perl": "perl -e 'open(F, \">src/model.py\"); print F \"x = 8\\n\"'",
    "node": "node -e 'require(\"fs\").writeFileSync(\"src/model.py\", \"x = 9\\n\")'",
    "python on stdin": "printf 'open(\"src/model.py\", \"w\").write(\"x = 10\")' | python -",
    "python aliased open": "python -c 'o = open; o(\"src/model.py\", \"a\").write(\"#\")'",
    "base64 | sh": "echo 'echo x > src/b64.py' | base64 | base64 -d | sh",
    "bash -c $(...)": "bash -c \"$(echo 'touch src/made.py')\"",
    "nested env/xargs": "echo src/model.py | env env xargs env chmod +x",
    "symlink swap": "rm src/model.py && ln -s ../README.md src/model.py",
    "interactive python fed later": "python -i -q < /dev/stdin <<'X'\nopen('src/i.py', 'w').write('1')\nX",
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SLIPPED))
def test_effects_the_analysis_could_not_see_are_caught(t5, name: str) -> None:  # type: ignore[no-untyped-def]
    wt = t5.checkout
    cmd = SLIPPED[name]
    tool = cmd.split()[0]
    if tool in ("perl", "node") and subprocess.run(["which", tool],
                                                   capture_output=True).returncode:
        pytest.skip(f"{tool} is not installed here")
    head = {p: (wt / p).read_bytes() for p in (SRC, "README.md")}
    proc = subprocess.run(["bash", "-c", cmd], cwd=wt, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert outside_ticket(wt) != [], "the command changed nothing: the case proves nothing"
    out = post_hook("claude", wt)
    assert out is not None and "Q-001" in out["reason"]
    assert outside_ticket(wt) == []
    assert git(wt, "diff", "HEAD", "--stat") == "" or all(
        T in ln for ln in git(wt, "diff", "HEAD", "--name-only").splitlines())
    for p, data in head.items():
        assert (wt / p).read_bytes() == data and not (wt / p).is_symlink()
    q, meta = entry(t5)
    assert meta["changes"] and ((q / "changes.patch").exists() or (q / "files").exists())
