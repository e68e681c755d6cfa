"""The hook path stays light (SPEC §13): run the real hooks under ``python -X importtime`` and
list every module they import."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from test_hooks_helpers import add_ticket, claude_payload, git

HEAVY = ("click", "pydantic", "transitions", "git", "torch", "wandb", "rich", "yaml",
         "numpy", "matplotlib", "filelock", "mlgate.cli", "mlgate.workspace", "mlgate.engine",
         "mlgate.config.schema", "mlgate.state.model")


def imported(args: list[str], cwd: Path, payload: bytes | None = None
             ) -> tuple[set[str], subprocess.CompletedProcess[bytes]]:
    env = {k: v for k, v in os.environ.items() if k != "GIT_INDEX_FILE"}
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "mlgate", "hook", *args],
                          input=payload, cwd=cwd, capture_output=True, env=env, timeout=60)
    names = set()
    for line in proc.stderr.decode().splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip())
    return names, proc


def heavy(names: set[str]) -> list[str]:
    return sorted(n for n in names if any(n == h or n.startswith(h + ".") for h in HEAVY))


def test_claude_hook_imports_no_heavy_module(git_repo: Path) -> None:
    wt = add_ticket(git_repo, "exp", 3)
    for payload in (claude_payload("Edit", wt, file_path=str(wt / "src/model.py")),
                    claude_payload("Bash", wt, command="python -c \"open('a', 'w')\" > b")):
        names, proc = imported(["claude"], wt, payload)
        assert b"permissionDecision" in proc.stdout  # it ran and denied
        assert "mlgate.lock.policy" in names
        assert heavy(names) == []


def test_pre_commit_hook_imports_no_heavy_module(git_repo: Path) -> None:
    wt = add_ticket(git_repo, "exp", 3)
    (wt / "src" / "model.py").write_text("x = 2\n")
    git(wt, "add", "-A")
    names, proc = imported(["pre-commit"], wt)
    assert proc.returncode == 1 and b"stage 3" in proc.stderr
    assert heavy(names) == []
