"""Hook latency (SPEC §13: `mlgate hook claude` and `mlgate hook pre-commit` on a workspace with
one ticket: median <= 4x `python -c pass` on the same machine).

The workspace is made the way a user makes it: a git repository, `mlgate init` (the commented
``mlgate.yaml``), `mlgate new exp` (the ticket's worktree on ``codex/exp``, stage 0, sealed).
Every command runs as the tools run it: the venv's ``mlgate`` console script in a fresh
process, the PreToolUse JSON on stdin, from inside the ticket worktree. The commands are
interleaved (one of each per round, >= 30 rounds) so that load on the machine hits them
alike; the medians and the ratios to ``python -c pass`` come from the same run. Byte-code
caching is on (``PYTHONDONTWRITEBYTECODE`` is dropped), as on a user's machine, and each
command is warmed up first.
"""
from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import BIN, MLGATE, isolated_env, sh  # noqa: E402

GOAL = "<= 4x python -c pass"
BIG_GOAL = "<= 2 s"  # a 200 KB patch in a Bash command: read well inside the 5 s budget


def _big_patch() -> str:
    """A 200 KB unified diff whose last file is source (the hook must read all of it)."""
    out = []
    for k in range(20):
        name = "src/model.py" if k == 19 else f"tickets/in-progress/exp/gen{k}.py"
        out.append(f"diff --git a/{name} b/{name}\n--- a/{name}\n+++ b/{name}\n@@ -1,150 +1,150 @@\n"
                   + "".join(f"-old line {i} {'x' * 40}\n+new line {i}\n" for i in range(150)))
    return "".join(out)
ROUNDS = int(os.environ.get("MLGATE_BENCH_ROUNDS", "40"))




def _workspace(tmp: Path, env: dict[str, str]) -> Path:
    (tmp / "home").mkdir(exist_ok=True)
    (tmp / "home" / ".gitconfig").write_text("[init]\n\tdefaultBranch = main\n")
    repo = tmp / "repo"
    (repo / "src").mkdir(parents=True)
    (repo / "src" / "model.py").write_text("x = 1\n")
    (repo / "README.md").write_text("# bench\n")
    sh(["git", "init", "-q", "-b", "main"], repo, env)
    sh([MLGATE, "init"], repo, env)
    sh(["git", "add", "-A"], repo, env)
    sh(["git", "commit", "-qm", "init"], repo, env)
    out = sh([MLGATE, "--json", "new", "exp"], repo, env)
    return Path(json.loads(out)["worktree"])


def _payload(tool: str, cwd: Path, **tool_input: object) -> bytes:
    return json.dumps({"session_id": "bench", "transcript_path": "/dev/null", "cwd": str(cwd),
                       "permission_mode": "default", "hook_event_name": "PreToolUse",
                       "tool_name": tool, "tool_input": tool_input,
                       "tool_use_id": "toolu_bench"}).encode()


def _time(cmds: dict[str, tuple[list[str], bytes | None, Path, int | None]],
          env: dict[str, str], rounds: int) -> dict[str, float]:
    for name, (cmd, stdin, cwd, want) in cmds.items():  # warm up; check each does its job
        for _ in range(3):
            proc = subprocess.run(cmd, input=stdin, cwd=cwd, env=env, capture_output=True)
        if want is not None and proc.returncode != want:
            raise RuntimeError(f"{name}: exit {proc.returncode}: {proc.stderr.decode()}")
        if name.endswith("(denied)") and b"permissionDecision" not in proc.stdout + proc.stderr \
                and proc.returncode == 0:
            raise RuntimeError(f"{name} did not deny: {proc.stdout!r}")
    samples: dict[str, list[float]] = {name: [] for name in cmds}
    for _ in range(rounds):
        for name, (cmd, stdin, cwd, _want) in cmds.items():
            start = time.perf_counter()
            subprocess.run(cmd, input=stdin, cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
            samples[name].append(time.perf_counter() - start)
    return {name: statistics.median(v) for name, v in samples.items()}


def run() -> list[dict]:
    tmp = Path(tempfile.mkdtemp(prefix="mlgate-bench-hooks-"))
    try:
        env = isolated_env(tmp / "home")
        (tmp / "home").mkdir()
        wt = _workspace(tmp, env)
        (wt / "src" / "model.py").write_text("x = 2\n")
        sh(["git", "add", "src/model.py"], wt, env)  # a staged source change (stage 0: refused)
        base = "python -c pass"
        cmds = {
            base: ([sys.executable, "-c", "pass"], None, wt, 0),
            "mlgate hook claude (allowed)": (
                [MLGATE, "hook", "claude"],
                _payload("Edit", wt, file_path=str(wt / "tickets/in-progress/exp/notes.md"),
                         old_string="a", new_string="b"), wt, 0),
            "mlgate hook claude (denied)": (
                [MLGATE, "hook", "claude"],
                _payload("Edit", wt, file_path=str(wt / "src/model.py"), old_string="x = 1",
                         new_string="x = 3"), wt, 0),
            "mlgate hook claude Bash (denied)": (
                [MLGATE, "hook", "claude"],
                _payload("Bash", wt, command="sed -i 's/1/3/' src/model.py"), wt, 0),
            "mlgate hook claude Bash read-only (allowed)": (
                [MLGATE, "hook", "claude"],
                _payload("Bash", wt, command="git status --short && grep -rn 'x' src | head"),
                wt, 0),
            "mlgate hook claude Bash unknown target (denied)": (
                [MLGATE, "hook", "claude"],
                _payload("Bash", wt, command='F=$(git ls-files src | head -1); echo x > "$F"'),
                wt, 0),
            "mlgate hook claude Bash python -c (allowed)": (
                [MLGATE, "hook", "claude"],
                _payload("Bash", wt, command="python3 -c 'import json; print(json.dumps(1))'"),
                wt, 0),
            "mlgate hook claude Bash 200 KB patch (denied)": (
                [MLGATE, "hook", "claude"],
                _payload("Bash", wt, command=f"git apply <<'EOF'\n{_big_patch()}EOF"), wt, 0),
            "mlgate hook pre-commit (denied)": (
                [MLGATE, "hook", "pre-commit"], None, wt, 1),
        }
        medians = _time(cmds, env, ROUNDS)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    rows = []
    for name, med in medians.items():
        is_base = name == base
        big = "200 KB" in name
        rows.append({"name": name, "median_s": med, "baseline": None if is_base else base,
                     "ratio": None if is_base else med / medians[base],
                     "goal": "baseline" if is_base else (BIG_GOAL if big else GOAL)})
    return rows


if __name__ == "__main__":
    for row in run():
        ratio = f"{row['ratio']:.2f}x" if row["ratio"] is not None else "-"
        print(f"{row['name']:<36} {row['median_s'] * 1000:8.1f} ms  {ratio:>7}  {row['goal']}")
