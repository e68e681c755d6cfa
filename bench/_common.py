"""Shared helpers of the benchmark modules: an isolated git identity and a checked shell."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent
MLGATE = str(BIN / "mlgate")


def isolated_env(home: Path) -> dict[str, str]:
    """The environment for timed subprocesses: compiled bytecode allowed (what users get), no
    inherited git hook variables, a throwaway git identity under ``home``."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONDONTWRITEBYTECODE", "GIT_DIR", "GIT_INDEX_FILE", "GIT_WORK_TREE")}
    env.update({"HOME": str(home), "GIT_CONFIG_NOSYSTEM": "1",
                "GIT_CONFIG_GLOBAL": str(home / ".gitconfig"),
                "GIT_AUTHOR_NAME": "Bench", "GIT_AUTHOR_EMAIL": "bench@example.com",
                "GIT_COMMITTER_NAME": "Bench", "GIT_COMMITTER_EMAIL": "bench@example.com"})
    return env


def sh(cmd: list[str], cwd: Path, env: dict[str, str]) -> str:
    """Run ``cmd``; its stdout, or RuntimeError with everything it printed."""
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}"
                           f"{proc.stderr}")
    return proc.stdout
