"""`mlgate audit` replays a ticket branch where an agent cannot reach it: a full honest ticket
audits clean (with and without this clone's registry and seal key); a source commit made with
the hooks removed and `--no-verify` outside stage 4, a restored older state file, a state file
rewritten with the key (an illegal transition), and hand-written evidence are each named with
the commit, the file and the rule; `archive --finalize` refuses to merge until the history is
clean, then merges."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import evidence_kit as kit
from conftest import git
from mlgate.errors import AuditFailed
from mlgate.evidence.audit import audit
from mlgate.state.seal import load_key
from mlgate.state.statefile import StateDoc, TransitionRow
from mlgate.tickets import key_dir
from mlgate.workspace import Workspace

pytestmark = pytest.mark.slow
NAME = "full"
STATE = f"tickets/in-progress/{NAME}/workflow-state.md"


def cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mlgate", *args], cwd=cwd, text=True,
                          capture_output=True, timeout=600, start_new_session=True)


@pytest.fixture(scope="module")
def walked(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """One honest ticket in a clone of a bare remote, hooks installed, walked 0 -> 8 with
    every piece of evidence made by mlgate, verified by a person and committed."""
    from conftest import isolate, seed_repo
    from mlgate.lock import install

    with pytest.MonkeyPatch.context() as mp:
        isolate(tmp_path_factory, mp)
        tmp = tmp_path_factory.mktemp("audit")
        seed = seed_repo(tmp / "seed")
        git(tmp, "clone", "-q", "--bare", str(seed), str(tmp / "remote.git"))
        git(tmp, "clone", "-q", str(tmp / "remote.git"), str(tmp / "clone"))
        root = tmp / "clone"
        Workspace.init(root)
        kit.set_baseline(root)  # baselines.yaml is committed: the audit checks the deltas
        git(root, "add", "-A")
        git(root, "commit", "-q", "-m", "mlgate init")
        git(root, "push", "-q", "origin", "main")
        install.install(root, git=True)
        t = Workspace(root).new_ticket(NAME)
        kit.walk_git(t, 8)
        kit.handoff(t)
        t.verify("Grace Hopper")
        git(t.checkout, "add", "-A")
        git(t.checkout, "commit", "-q", "-m", "verification")
        yield t


@pytest.fixture
def honest(walked: Any) -> Any:
    """The walked ticket; the branch is put back where it was after the test."""
    tip = git(walked.checkout, "rev-parse", "HEAD")
    yield walked
    if walked.checkout.exists():  # (the last test merges it)
        git(walked.checkout, "reset", "-q", "--hard", tip)


def test_an_honest_ticket_audits_clean(honest: Any) -> None:
    t = honest
    r = cli(t.ws.root, "--json", "audit", NAME)
    assert r.returncode == 0, r.stdout + r.stderr
    data = json.loads(r.stdout)
    assert data["ok"] and data["findings"] == [] and data["branch"] == f"codex/{NAME}"
    assert data["not_checked"] == []
    checked = "\n".join(data["checked"])
    for what in ("commit(s) touching source, against 1 stage-4 window(s)",
                 "transition(s) legal; the gates of", "seals of the state file versions",
                 "evidence registered by mlgate", "verification recorded"):
        assert what in checked, (what, checked)
    # from inside the worktree, in text: the ticket of the worktree
    r = cli(t.checkout, "audit")
    assert r.returncode == 0 and r.stdout.startswith(f"audit of codex/{NAME} (")
    assert ": ok" in r.stdout.splitlines()[0]
    # what CI can check: no seal key, no evidence registry; it says so and checks the rest
    r = cli(t.ws.root, "--json", "audit", "--branch", f"codex/{NAME}", "--no-registry")
    data = json.loads(r.stdout)
    assert r.returncode == 0 and data["ok"], data
    assert any(n.startswith("the seals of the state file") for n in data["not_checked"])
    assert any(n.startswith("the evidence registry") for n in data["not_checked"])


def test_a_restored_older_state_file_is_flagged(honest: Any) -> None:
    t = honest
    old = git(t.checkout, "log", "--format=%H", "--reverse", "--", STATE).splitlines()[2]
    git(t.checkout, "checkout", old, "--", STATE)
    git(t.checkout, "commit", "-q", "--no-verify", "-m", "restore an earlier state")
    sha = git(t.checkout, "rev-parse", "HEAD")
    rep = audit(t.ws.root, NAME)
    lines = [f.line() for f in rep.findings]
    assert f"{sha[:12]} {STATE} log-rewritten: the Transition Log does not extend the one " \
           "committed in" in "\n".join(lines)


def test_a_state_file_rewritten_with_the_key_is_flagged(honest: Any) -> None:
    """The determined adversary of the threat model reads the seal key and writes a sealed
    state with a move the workflow does not have (stage 8 straight back to 4, unlocked):
    the seal holds, the replay of the transitions does not."""
    t = honest
    doc = StateDoc.load(t.state_path)
    doc.append_transition(TransitionRow(id=doc.next_transition_id(), date="2026-05-06",
                                        from_stage=8, to_stage=4, reason="back to coding",
                                        classification=None, permission_after="Unlocked",
                                        evidence_updated="workflow-state.md"))
    doc.set_snapshot(current_stage=4, permission="Unlocked")
    doc.apply_seal(load_key(key_dir(t.ws.root)))
    t.state_path.write_text(doc.render())
    git(t.checkout, "commit", "-q", "--no-verify", "-am", "state")
    sha = git(t.checkout, "rev-parse", "HEAD")
    rep = audit(t.ws.root, NAME)
    assert [f.line() for f in rep.findings if f.rule == "transition"] == [
        f"{sha[:12]} {STATE} transition: {doc.transitions[-1].id}: advance from stage 8 goes "
        "to 9, not 4"]


def test_handwritten_evidence_is_flagged(honest: Any) -> None:
    t = honest
    rel = f"tickets/in-progress/{NAME}/evidence/4-torch-smoke-1.json"
    (t.checkout / rel).write_text(json.dumps({"handler": "torch-smoke", "stage": 4,
                                              "status": "Pass", "commit": "0" * 40}))
    git(t.checkout, "add", rel)
    git(t.checkout, "commit", "-q", "-m", "smoke evidence")
    sha = git(t.checkout, "rev-parse", "HEAD")
    rep = audit(t.ws.root, NAME)
    assert {f.line() for f in rep.findings if f.file == rel} == {
        f"{sha[:12]} {rel} evidence-unbound: names commit 000000000000, which is not on "
        f"codex/{NAME}",
        f"{sha[:12]} {rel} evidence-unregistered: mlgate did not register this file (written "
        "or copied by hand)"}
    # without the registry (CI) the binding to commits is still checked
    rep = audit(t.ws.root, NAME, use_registry=False, use_key=False)
    assert [f.rule for f in rep.findings] == ["evidence-unbound"]


def docs_block(lang: str, marker: str) -> str:
    """The fenced ``lang`` block of docs/audit.md that contains ``marker``."""
    import re

    text = (Path(__file__).resolve().parents[1] / "docs" / "audit.md").read_text()
    blocks = re.findall(rf"```{lang}\n(.*?)```", text, re.S)
    return next(b for b in blocks if marker in b)


def test_the_documented_pre_receive_hook_and_ci_step(honest: Any, tmp_path: Path) -> None:
    """The pre-receive hook of docs/audit.md on a bare server repository: an honest ticket
    branch is accepted, one with a source commit outside stage 4 refused with the audit's
    findings; the CI step's command in a fresh clone (no key, no registry) does the same."""
    t = honest
    server = tmp_path / "server.git"
    git(tmp_path, "clone", "-q", "--bare", str(t.ws.root), str(server))
    hook = server / "hooks" / "pre-receive"
    hook.parent.mkdir(exist_ok=True)
    hook.write_text(docs_block("sh", "pre-receive"))
    hook.chmod(0o755)
    env = {**__import__("os").environ,
           "PATH": f"{Path(sys.executable).parent}:{__import__('os').environ['PATH']}"}

    def push() -> subprocess.CompletedProcess[str]:
        return subprocess.run(["git", "push", str(server), f"codex/{NAME}"], cwd=t.checkout,
                              text=True, capture_output=True, env=env, timeout=600)

    r = push()
    assert r.returncode == 0, r.stderr
    (t.checkout / "src" / "model.py").write_text("x = 7\n")
    # made where no mlgate hook runs (another clone, hooks switched off): the server refuses it
    git(t.checkout, "-c", "core.hooksPath=/dev/null", "commit", "-q", "--no-verify", "-am",
        "one more thing")
    sneaky = git(t.checkout, "rev-parse", "HEAD")
    r = push()
    assert r.returncode != 0
    assert f"{sneaky[:12]} src/model.py source-outside-stage-4" in r.stderr
    assert f"mlgate: push of refs/heads/codex/{NAME} refused" in r.stderr
    assert git(server, "rev-parse", f"codex/{NAME}") != sneaky
    # the CI job's audit step, in a fresh clone of the server plus the rejected commit
    ci = tmp_path / "ci"
    git(tmp_path, "clone", "-q", str(t.ws.root), str(ci))
    step = docs_block("yaml", "mlgate audit").split("run: mlgate audit", 1)[1].strip()
    assert step.startswith('"${GITHUB_HEAD_REF#codex/}" --branch "origin/$GITHUB_HEAD_REF"')
    r = subprocess.run(f"mlgate audit \"${{GITHUB_HEAD_REF#codex/}}\" --branch "
                       f"\"origin/$GITHUB_HEAD_REF\"", shell=True, cwd=ci, text=True,
                       capture_output=True, env={**env, "GITHUB_HEAD_REF": f"codex/{NAME}"})
    assert r.returncode == 1 and f"{sneaky[:12]} src/model.py source-outside-stage-4" in \
        r.stdout
    assert "not checked here: the seals of the state file" in r.stdout


def test_no_verify_source_commit_outside_stage_4_then_finalize(honest: Any) -> None:
    """Hooks removed, a source commit with --no-verify in stage 8: the audit names the commit
    and the file, `archive --finalize` archives but refuses to merge; once the commit is
    dropped from the branch, `archive --finalize` audits again and merges."""
    t = honest
    hooks = Path(git(t.ws.root, "rev-parse", "--git-common-dir"))
    hooks = (hooks if hooks.is_absolute() else t.ws.root / hooks) / "hooks"
    for hook in ("pre-commit", "reference-transaction"):
        (hooks / hook).unlink(missing_ok=True)  # the hooks removed by hand
    (t.checkout / "src" / "model.py").write_text("x = 42  # tuned after the review\n")
    git(t.checkout, "commit", "-q", "--no-verify", "-am", "small tweak")
    sneaky = git(t.checkout, "rev-parse", "HEAD")
    r = cli(t.ws.root, "audit", NAME)
    assert r.returncode == 1
    assert f"{sneaky[:12]} src/model.py source-outside-stage-4: source changed outside every " \
           "stage-4 window (windows: " in r.stdout
    main_before = git(t.ws.root, "rev-parse", "main")
    with pytest.raises(AuditFailed) as exc:
        t.archive(finalize=True)
    assert f"{sneaky[:12]} src/model.py source-outside-stage-4" in str(exc.value)
    assert "nothing was merged" in str(exc.value)
    assert git(t.ws.root, "rev-parse", "main") == main_before
    assert git(t.ws.root, "branch", "--list", f"codex/{NAME}")  # the branch is still there
    r = cli(t.ws.root, "archive", NAME, "--finalize")
    assert r.returncode == 1 and "source-outside-stage-4" in r.stderr
    # the fix: the commit is taken out of the branch's history; the archive commit stays
    git(t.checkout, "rebase", "-q", "--onto", f"{sneaky}^", sneaky)
    r = cli(t.ws.root, "archive", NAME, "--finalize")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "audited and merged into main" in r.stdout
    parents = git(t.ws.root, "log", "-1", "--format=%P").split()
    assert len(parents) == 2 and f"Merge codex/{NAME}" in git(t.ws.root, "log", "-1",
                                                             "--format=%s")
    assert (t.ws.root / "tickets" / "done" / NAME / "workflow-state.md").is_file()
