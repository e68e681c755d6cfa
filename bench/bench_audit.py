"""``mlgate audit`` on long ticket branches (issue 13): at most 10 s for a branch of 1,000
commits, and linear in the commits.

Each size is a real ticket walked 0 -> 8 by mlgate in a git workspace (evidence made by its
handlers, two training runs, a person's verification), whose stage 4 holds N commits that
change the model (written with ``git fast-import``, as N ordinary commits would be). The
audit replays all of it: every commit against the stage-4 windows, every transition and its
gate on the tree that recorded it, the evidence, the verification.

Rows: ``mlgate audit`` (the console script, a fresh process) at 250, 500 and 1,000 commits
against ``mlgate --version`` (the start-up every command pays); the 1,000-commit row has the
goal ``<= 10 s``; the linearity row divides the time at 1,000 commits by the time at 250 (goal
<= 4: linear at most, a quadratic cost would approach 16) and notes the per-commit CPU cost
fitted over the three sizes. The CPU times (the process and its git children) vary much less
with the load of a shared machine than the wall times.
"""
from __future__ import annotations

import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import MLGATE, isolated_env, sh  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SIZES = (250, 500, 1000)
GOAL_S = 10.0
QUICK = os.environ.get("MLGATE_BENCH_QUICK") == "1"
ROUNDS = 1 if QUICK else 3


def _fast_import(checkout: Path, branch: str, n: int, env: dict[str, str]) -> None:
    """``n`` commits on ``branch`` (checked out in ``checkout``), each changing
    src/digits/model.py, then the worktree reset to them."""
    tip = sh(["git", "rev-parse", "HEAD"], checkout, env).strip()
    lines: list[bytes] = []
    for i in range(n):
        body = f"class DigitsCNN:\n    width = {i}\n".encode()
        msg = f"model: width {i}\n".encode()
        lines += [f"commit refs/heads/{branch}\n".encode(),
                  f"committer Bench <bench@example.com> {1_700_000_000 + i} +0000\n".encode(),
                  f"data {len(msg)}\n".encode(), msg]
        if i == 0:
            lines.append(f"from {tip}\n".encode())
        lines += [b"M 100644 inline src/digits/model.py\n", f"data {len(body)}\n".encode(),
                  body, b"\n"]
    subprocess.run(["git", "fast-import", "--quiet"], cwd=checkout, env=env,
                   input=b"".join(lines), check=True)
    sh(["git", "reset", "-q", "--hard", branch], checkout, env)


def _ticket(root: Path, name: str, n: int) -> None:
    """Ticket ``name`` walked 0 -> 8 with ``n`` source commits in stage 4, verified."""
    tests = REPO / "tests"
    sys.path[:0] = [str(tests)]
    try:
        import evidence_kit as kit
        from conftest import git
        from mlgate.workspace import Workspace
        from test_walk import fill

        t = Workspace(root).new_ticket(name)
        for s in range(8):
            fill(t.folder, s)
            if s == 4:
                pkg = t.checkout / "src" / "digits"
                pkg.mkdir(parents=True, exist_ok=True)
                (pkg / "model.py").write_text("class DigitsCNN: ...\n")
                git(t.checkout, "add", "-A")
                git(t.checkout, "commit", "-q", "-m", "the model")
                _fast_import(t.checkout, f"codex/{name}", n - 1, dict(os.environ))
                fill(t.folder, 4)  # evidence at the last commit
            if s == 7:
                (t.checkout / "README.md").write_text("# bench\n\nval/acc 0.9806 (RUN-002)\n")
            git(t.checkout, "add", "-A")
            git(t.checkout, "commit", "-q", "-m", f"stage {s} work")
            t.advance()
        kit.handoff(t)
        from mlgate import human

        with human.acting_as_person("the benchmark"):
            t.verify("Bench Person")
        git(t.checkout, "add", "-A")
        git(t.checkout, "commit", "-q", "-m", "verified")
    finally:
        del sys.path[0]


def _time(cmd: list[str], cwd: Path, env: dict[str, str], rounds: int
          ) -> tuple[float, float]:
    """Median wall time and median CPU time (user + system of the process and its git
    children: what the load of a shared machine changes least) of ``cmd``."""
    walls, cpus = [], []
    for _ in range(rounds):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
        walls.append(time.perf_counter() - t0)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stdout}"
                               f"{proc.stderr}")
    return statistics.median(walls), statistics.median(cpus)


def run() -> list[dict]:
    tmp = Path(tempfile.mkdtemp(prefix="mlgate-bench-audit-"))
    saved = dict(os.environ)
    try:
        home = tmp / "home"
        home.mkdir()
        env = isolated_env(home)
        (home / ".gitconfig").write_text("[init]\n\tdefaultBranch = main\n[user]\n\tname = "
                                         "Bench\n\temail = bench@example.com\n")
        os.environ.clear()
        os.environ.update({k: v for k, v in env.items()})
        os.environ["WANDB_MODE"] = "offline"
        for var in ("CLAUDECODE", "CLAUDE_CODE_ENTRYPOINT", "CODEX_THREAD_ID", "MLGATE_AGENT"):
            os.environ.pop(var, None)
        root = tmp / "repo"
        root.mkdir()
        sh(["git", "init", "-q", "-b", "main"], root, env)
        (root / "README.md").write_text("# bench\n")
        (root / "src").mkdir()
        (root / "src" / "model.py").write_text("x = 1\n")
        from mlgate.workspace import Workspace

        Workspace.init(root)
        sh(["git", "add", "-A"], root, env)
        sh(["git", "commit", "-q", "-m", "init"], root, env)
        for n in SIZES:
            _ticket(root, f"a{n}", n)
        env = dict(os.environ)
        start, _ = _time([MLGATE, "--version"], root, env, ROUNDS)
        rows, med, cpu = [], {}, {}
        for n in SIZES:
            med[n], cpu[n] = _time([MLGATE, "audit", f"a{n}"], root, env, ROUNDS)
            row = {"name": f"mlgate audit, {n:,} commits", "median_s": round(med[n], 3),
                   "baseline": "mlgate --version", "ratio": round(med[n] / start, 1),
                   "goal": f"<= {GOAL_S:g} s" if n == SIZES[-1] else "",
                   "note": f"CPU {cpu[n]:.2f} s"}
            if n == SIZES[-1]:
                row["met"] = med[n] <= GOAL_S
            rows.append(row)
        # Linear at most: with a cost k*N + c, t(4N)/t(N) <= 4 (a quadratic one would
        # approach 16). The fitted slope says what each commit costs.
        lo, hi = SIZES[0], SIZES[-1]
        mean_n = statistics.fmean(SIZES)
        mean_t = statistics.fmean(cpu[n] for n in SIZES)
        k = sum((n - mean_n) * (cpu[n] - mean_t) for n in SIZES) / \
            sum((n - mean_n) ** 2 for n in SIZES)
        ratio = med[hi] / med[lo]
        rows.append({"name": f"mlgate audit, {hi:,} / {lo:,} commits",
                     "median_s": round(med[hi], 3), "baseline": f"{lo:,} commits",
                     "ratio": round(ratio, 2), "goal": f"<= {hi / lo:g} x",
                     "met": ratio <= hi / lo,
                     "note": f"linear at most; fitted CPU {k * 1e3:.3f} ms per commit above "
                             f"a fixed {mean_t - k * mean_n:.2f} s (start-up, gates of the "
                             "transitions)"})
        return rows
    finally:
        os.environ.clear()
        os.environ.update(saved)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    for r in run():
        print(r)
