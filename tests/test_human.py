"""Human-only decisions (issue 13): an agent running `mlgate verify --by anyone` or `mlgate
doctor --clear-violations` itself is refused; a person at a terminal confirms by typing the
ticket's name (driven here through a real pseudo-terminal); with `verify: signed` the
verification is a signed tag checked with `git verify-tag` (a real SSH key from ssh-keygen)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import evidence_kit as kit
from conftest import git
from mlgate import human
from mlgate.demo.terminal import run_in_terminal
from mlgate.errors import HumanRequired
from mlgate.runs import baselines
from mlgate.state.statefile import StateDoc, ViolationRow
from mlgate.workspace import Workspace

NAME = "digits-cnn"


def cli(cwd: Path, *args: str, env: dict[str, str] | None = None
        ) -> subprocess.CompletedProcess[str]:
    """The real CLI with no controlling terminal (its own session), as an agent's tool or a
    script runs it."""
    return subprocess.run([sys.executable, "-m", "mlgate", *args], cwd=cwd, text=True,
                          capture_output=True, timeout=300, start_new_session=True,
                          env=env)


def person(cwd: Path, *args: str, answer: str | None) -> tuple[int, str]:
    """The real CLI at a terminal, the person typing ``answer`` at the prompt."""
    return run_in_terminal([sys.executable, "-m", "mlgate", *args], answer, cwd, timeout=300)


def agent_env(var: str = "CLAUDECODE") -> dict[str, str]:
    return {**os.environ, var: "1"}


@pytest.fixture
def at8(golden: Path, tmp_path: Path) -> Any:
    """The golden digits ticket (non-git) in stage 8, not verified."""
    root = kit.copy_workspace(golden, tmp_path / "ws")
    return Workspace(root).ticket(NAME)


def verified(t: Any) -> str | None:
    from mlgate.engine import Engine

    doc = StateDoc.load(t.state_path)
    return Engine(t.name, doc, t.folder, False, lambda d: None).verified_by()  # type: ignore


@pytest.mark.parametrize("var", ["CLAUDECODE", "CODEX_THREAD_ID", "MLGATE_AGENT"])
def test_agent_running_verify_is_refused(at8: Any, var: str) -> None:
    r = cli(at8.ws.root, "verify", NAME, "--by", "anyone", env=agent_env(var))
    assert r.returncode == 1
    client = human.AGENT_VARS[var]
    assert (f"mlgate verify needs a person: it was asked for from a {client} session ({var} "
            "is set in the environment); an agent cannot take this decision") in r.stderr
    assert "hint: the person runs it in their own terminal" in r.stderr
    assert verified(at8) is None
    # ... even through a terminal of its own
    rc, out = run_in_terminal([sys.executable, "-m", "mlgate", "verify", NAME, "--by", "x"],
                              NAME, at8.ws.root, env=agent_env(var), keep_agent_env=True)
    assert rc == 1 and "needs a person" in out and verified(at8) is None


def test_agent_calling_the_api_is_refused(at8: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLAUDECODE", "1")
    with pytest.raises(HumanRequired, match="mlgate verify needs a person"):
        at8.verify("anyone")
    with pytest.raises(HumanRequired, match="clear-violations needs a person"):
        at8.clear_violations()
    b = baselines.load(at8.ws.root)
    with pytest.raises(HumanRequired, match="mlgate baseline set needs a person"):
        b.set({"val/acc": 0.5})
    with pytest.raises(HumanRequired, match="mlgate baseline rollback needs a person"):
        b.rollback()
    from mlgate.lock import install

    with pytest.raises(HumanRequired, match="mlgate hooks uninstall needs a person"):
        install.uninstall(at8.ws.root, git=True)
    assert verified(at8) is None
    with human.acting_as_person("the demo"):  # the demo acts as the person, openly
        at8.verify("Demo Person")
    assert verified(at8) == "Demo Person"


def test_verify_without_a_terminal_is_refused(at8: Any) -> None:
    r = cli(at8.ws.root, "verify", NAME, "--by", "Ada")
    assert r.returncode == 1
    assert ("mlgate verify needs a person: there is no terminal to confirm it at (this "
            "process has no controlling terminal: a script, CI or an agent's tool runs it)"
            ) in r.stderr
    assert f"hint: the person runs `mlgate verify` in a terminal and types '{NAME}' to " \
        "confirm" in r.stderr
    assert verified(at8) is None


def test_person_confirms_verify_by_typing_the_ticket_name(at8: Any) -> None:
    rc, out = person(at8.ws.root, "verify", NAME, "--by", "Ada", answer="digits")
    assert rc == 1 and "the confirmation typed was not 'digits-cnn'" in out
    assert verified(at8) is None
    rc, out = person(at8.ws.root, "verify", NAME, "--by", "Ada", answer=None)
    assert rc != 0 and verified(at8) is None  # the terminal hung up without an answer
    rc, out = person(at8.ws.root, "verify", NAME, "--by", "Ada Lovelace", answer=NAME)
    assert rc == 0, out
    assert "you, Ada Lovelace, record that you checked ticket 'digits-cnn'" in out
    assert f"Type '{NAME}' to confirm" in out
    assert verified(at8) == "Ada Lovelace"
    assert at8.check().ok


def test_clear_violations_needs_the_person(at8: Any) -> None:
    with at8._locked_doc() as (doc, key):
        doc.append_violation(ViolationRow(date="2026-05-05", id=doc.next_violation_id(),
                                          violation="hand-written evidence", stage=8,
                                          action="recorded", cleared=False))
        at8._write(doc, key)
    r = cli(at8.ws.root, "doctor", NAME, "--clear-violations", env=agent_env())
    assert r.returncode == 1 and "clear-violations needs a person" in r.stderr
    r = cli(at8.ws.root, "doctor", NAME, "--clear-violations")
    assert r.returncode == 1 and "no terminal" in r.stderr
    assert [v.cleared for v in StateDoc.load(at8.state_path).violations] == [False]
    rc, out = person(at8.ws.root, "doctor", NAME, "--clear-violations", answer=NAME)
    assert rc == 0, out
    assert [v.cleared for v in StateDoc.load(at8.state_path).violations] == [True]


def test_baseline_changes_and_hook_removal_need_the_person(git_repo: Path) -> None:
    Workspace.init(git_repo)
    folder = git_repo.name
    r = cli(git_repo, "baseline", "set", "val/acc=0.9")
    assert r.returncode == 1 and "mlgate baseline set needs a person" in r.stderr
    assert f"types '{folder}' to confirm" in r.stderr
    assert not (git_repo / "baselines.yaml").exists()
    rc, out = person(git_repo, "baseline", "set", "val/acc=0.9", answer=folder)
    assert rc == 0, out
    rc, out = person(git_repo, "baseline", "set", "val/acc=0.95", answer=folder)
    assert rc == 0 and baselines.load(git_repo).value("val/acc") == 0.95
    r = cli(git_repo, "baseline", "rollback", "--by", "Ada", env=agent_env("CODEX_THREAD_ID"))
    assert r.returncode == 1 and "from a Codex session" in r.stderr
    rc, out = person(git_repo, "baseline", "rollback", "--by", "Ada", answer=folder)
    assert rc == 1 and "do not record the commits" in out  # said before the person is asked
    assert "to confirm" not in out and baselines.load(git_repo).value("val/acc") == 0.95
    rc, out = person(git_repo, "baseline", "rollback", "--by", "Ada", "--no-revert",
                     answer=folder)
    assert rc == 0, out
    assert baselines.load(git_repo).value("val/acc") == 0.9
    assert cli(git_repo, "hooks", "install", "--git").returncode == 0
    r = cli(git_repo, "hooks", "uninstall", "--git")
    assert r.returncode == 1 and "mlgate hooks uninstall needs a person" in r.stderr
    hook = Path(git(git_repo, "rev-parse", "--git-common-dir"))
    hook = (git_repo / hook if not hook.is_absolute() else hook) / "hooks" / "pre-commit"
    assert hook.exists()
    rc, out = person(git_repo, "hooks", "uninstall", "--git", answer=folder)
    assert rc == 0 and not hook.exists()


# -- signed verification ------------------------------------------------------------------


def ssh_key(where: Path, name: str) -> tuple[Path, str]:
    """A real ed25519 key pair made by ssh-keygen (no passphrase: a test); returns the
    public key file and its line."""
    where.mkdir(parents=True, exist_ok=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f",
                    str(where / name)], check=True)
    pub = where / f"{name}.pub"
    return pub, pub.read_text().strip()


@pytest.mark.slow
def test_signed_verification(git_workspace: Workspace, tmp_path: Path) -> None:
    """`verify: signed`: `mlgate verify` signs the tag mlgate/verified/<ticket> with the
    person's own key and checks it with `git verify-tag` against the allowed signers; a key
    not on the list, or no list at all, does not make a verification."""
    if shutil.which("ssh-keygen") is None:
        pytest.skip("ssh-keygen is not installed")
    root = git_workspace.root
    (root / "mlgate.yaml").write_text("verify: signed\n")
    git(root, "commit", "-q", "-am", "mlgate: signed verification")
    git(root, "push", "-q", "origin", "main")
    keys = tmp_path / "keys"
    ada, ada_line = ssh_key(keys, "ada")
    mallory, _ = ssh_key(keys, "mallory")
    allowed = keys / "allowed_signers"
    allowed.write_text(f'test@example.com namespaces="git" {ada_line}\n')
    git(root, "config", "gpg.format", "ssh")
    git(root, "config", "gpg.ssh.allowedSignersFile", str(allowed))
    t = Workspace(root).new_ticket("signed")
    kit.walk_git(t, 8)
    kit.handoff(t)
    tag = "mlgate/verified/signed"

    # a key that is not on the allowed signers list: the tag is made, but is no verification
    git(root, "config", "user.signingkey", str(mallory))
    rc, out = person(t.checkout, "verify", "--by", "Mallory", answer="signed")
    assert rc == 1, out
    assert f"`git verify-tag {tag}` failed:" in out and verified(t) is None
    git(root, "tag", "-d", tag)
    # an agent cannot make one either: a lightweight tag is not signed
    git(t.checkout, "tag", tag)
    assert not t.signed_verification()[0]
    git(root, "tag", "-d", tag)

    git(root, "config", "user.signingkey", str(ada))
    rc, out = person(t.checkout, "verify", "--by", "Ada", answer="signed")
    assert rc == 0, out
    assert "and sign the tag mlgate/verified/signed" in out
    assert verified(t) == "Ada"
    ok, why = t.signed_verification()
    assert ok and why.startswith(f"signed tag {tag} verified (Good \"git\" signature for "
                                 "test@example.com with ED25519 key")
    git(t.checkout, "add", "-A")
    git(t.checkout, "commit", "-q", "-m", "verified")
    report = t.check()
    assert report.ok, [c.reason for c in report.failing()]
    assert any("signed tag" in c.reason for c in report.checks if c.id == "s8.verification")

    # where no allowed signers are configured (CI without the list) the signature cannot be
    # trusted: the gate refuses, the audit says it could not check it
    git(root, "config", "--unset", "gpg.ssh.allowedSignersFile")
    fails = {c.id: c.reason for c in t.check().failing()}
    assert "mlgate.yaml asks for a signed verification: `git verify-tag" in \
        fails["s8.verification"] and "allowedSignersFile" in fails["s8.verification"]
    from mlgate.evidence.audit import audit

    rep = audit(root, "signed", use_registry=False, use_key=False)
    assert any("the signature of the verification tag" in n for n in rep.not_checked)
    git(root, "config", "gpg.ssh.allowedSignersFile", str(allowed))
    t.archive(finalize=True)  # the audit (signature checked) passes and it merges
    assert "Merge codex/signed" in git(root, "log", "-1", "--format=%s")
