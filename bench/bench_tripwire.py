"""The tripwire and the ref hook (issue 12):

* the tripwire after a tool call (``mlgate hook claude-post``, a fresh process fed the
  PostToolUse JSON, as Claude Code runs it) on a repository with 20,000 tracked files and
  2,000 untracked ones, when nothing changed (every tool call): at most 100 ms; a catch costs
  per file that changed (rows for 1 and 100 changed files), and the rows for a 2,000-file
  repository show what part grows with the repository (git's own scan);
* ``reference-transaction`` on a ref no ticket governs: at most 3x ``python -c pass`` (the
  installed hook script itself, run by git's rules: state argument, lines on stdin).

The workspace is made as a user makes it (git, ``mlgate init``, ``mlgate hooks install
--git``, ``mlgate new exp``: stage 0, Locked). The untracked files sit where the stage allows
them (the ticket folder: half directly in it, listed one by one, half in run folders). Each
round runs every command once, interleaved, so that load on the machine hits all alike; the
medians and ratios come from the same run. Byte-code caching is on, as for users.
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
from _common import MLGATE, isolated_env, sh  # noqa: E402

QUICK = bool(os.environ.get("MLGATE_BENCH_QUICK"))
ROUNDS = int(os.environ.get("MLGATE_BENCH_ROUNDS", "10" if QUICK else "25"))
TRACKED = 20_000
UNTRACKED = 2_000


def _repo(tmp: Path, env: dict[str, str], tracked: int, untracked: int) -> Path:
    repo = tmp / f"repo{tracked}"
    per_dir = 50
    for d in range(tracked // per_dir):
        folder = repo / "src" / f"pkg{d // 20}" / f"m{d}"
        folder.mkdir(parents=True)
        for f in range(per_dir):
            (folder / f"f{f}.py").write_text(f"x = {d * per_dir + f}\n")
    (repo / "README.md").write_text("# bench\n")
    sh(["git", "init", "-q", "-b", "main"], repo, env)
    sh([MLGATE, "init"], repo, env)
    sh(["git", "add", "-A"], repo, env)
    sh(["git", "commit", "-qm", "init"], repo, env)
    sh([MLGATE, "hooks", "install", "--git"], repo, env)
    wt = Path(json.loads(sh([MLGATE, "--json", "new", "exp"], repo, env))["worktree"])
    folder = wt / "tickets" / "in-progress" / "exp"
    sh(["git", "add", "tickets"], wt, env)
    sh(["git", "commit", "-qm", "ticket"], wt, env)
    for i in range(untracked // 2):  # listed one by one (their folder is tracked)
        (folder / f"note{i}.md").write_text("n\n")
    for i in range(untracked - untracked // 2):  # whole untracked run folders
        run = folder / "runs" / f"RUN-{i // 100:03d}"
        run.mkdir(parents=True, exist_ok=True)
        (run / f"m{i}.json").write_text("{}\n")
    sh(["git", "status", "--porcelain"], wt, env)  # (refresh the index's stat data once)
    time.sleep(1.1)  # past git's racy-timestamp window
    sh(["git", "update-index", "-q", "--refresh"], wt, env)
    return wt


def _payload(cwd: Path) -> bytes:
    return json.dumps({"session_id": "bench", "transcript_path": "/dev/null",
                       "cwd": str(cwd), "permission_mode": "default",
                       "hook_event_name": "PostToolUse", "tool_name": "Bash",
                       "tool_input": {"command": "true"}, "tool_response": {},
                       "tool_use_id": "toolu_bench"}).encode()


def _once(cmd: list[str], stdin: bytes | None, cwd: Path, env: dict[str, str]) -> tuple[float,
                                                                                         bytes]:
    start = time.perf_counter()
    proc = subprocess.run(cmd, input=stdin, cwd=cwd, env=env, capture_output=True)
    return time.perf_counter() - start, proc.stdout


def run() -> list[dict]:
    tmp = Path(tempfile.mkdtemp(prefix="mlgate-bench-tripwire-"))
    try:
        env = isolated_env(tmp / "home")
        (tmp / "home").mkdir()
        (tmp / "home" / ".gitconfig").write_text("[init]\n\tdefaultBranch = main\n")
        setup = dict(env, MLGATE_FSYNC="off")  # (fast set-up; the timed runs sync as users do)
        big = _repo(tmp, setup, TRACKED, UNTRACKED)
        small = _repo(tmp, setup, 2_000, UNTRACKED)
        hook = [MLGATE, "hook", "claude-post"]
        src = [big / "src" / "pkg0" / "m0" / f"f{i}.py" for i in range(100)]

        def change(n: int):  # type: ignore[no-untyped-def]
            def before() -> None:
                for p in src[:n]:
                    p.write_text("x = 'changed'\n")
            return before

        refhook = tmp / f"repo{TRACKED}" / ".git" / "hooks" / "reference-transaction"
        sha = sh(["git", "rev-parse", "HEAD"], big, env).strip()
        ungoverned = f"{'0' * 40} {sha} refs/heads/other\n".encode()
        governed = f"{sha} {sha} refs/heads/codex/exp\n".encode()
        base = "python -c pass"
        cases: dict[str, tuple[list[str], bytes | None, Path, object]] = {
            base: ([sys.executable, "-c", "pass"], None, big, None),
            "tripwire clean, 20,000 tracked + 2,000 untracked": (hook, _payload(big), big,
                                                                 None),
            "tripwire clean, 2,000 tracked + 2,000 untracked": (hook, _payload(small), small,
                                                                None),
            "tripwire, 1 file changed (quarantine + restore)": (hook, _payload(big), big,
                                                                change(1)),
            "tripwire, 100 files changed (quarantine + restore)": (hook, _payload(big), big,
                                                                   change(100)),
            "reference-transaction, ungoverned ref": ([str(refhook), "prepared"], ungoverned,
                                                      big, None),
            "reference-transaction, governed ref (no change)": ([str(refhook), "prepared"],
                                                                governed, big, None),
        }
        for name, (cmd, stdin, cwd, before) in cases.items():  # warm up and check
            if callable(before):
                before()
            _, out = _once(cmd, stdin, cwd, env)
            caught = b'"decision": "block"' in out
            if name.startswith("tripwire") and caught != callable(before):
                raise RuntimeError(f"{name}: the tripwire answered {out[:300]!r}")
        samples: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(ROUNDS):
            for name, (cmd, stdin, cwd, before) in cases.items():
                if callable(before):
                    before()
                took, _ = _once(cmd, stdin, cwd, env)
                samples[name].append(took)
        quarantined = len(list((big / "tickets" / "in-progress" / "exp" / "quarantine"
                                ).iterdir()))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    med = {name: statistics.median(v) for name, v in samples.items()}
    rows = [{"name": base, "median_s": med[base], "baseline": None, "ratio": None,
             "goal": "baseline"}]
    for name, m in med.items():
        if name == base:
            continue
        row = {"name": name, "median_s": m, "baseline": base, "ratio": m / med[base]}
        if name.startswith("tripwire clean, 20,000"):
            row["goal"] = "<= 100 ms"
        elif name.startswith("tripwire clean, 2,000"):
            row["goal"] = "-"
            row["note"] = (f"the same check on a tenth of the files: "
                           f"{med[name] * 1000:.0f} ms against "
                           f"{med['tripwire clean, 20,000 tracked + 2,000 untracked'] * 1000:.0f}"
                           f" ms (git status stats every tracked file)")
        elif name.startswith("tripwire, 1 file"):
            row["goal"] = "-"
            row["note"] = (f"{quarantined} quarantine entries made during the run (a catch "
                           f"also syncs the quarantine and the state file to disk)")
        elif name.startswith("tripwire, 100"):
            one = med["tripwire, 1 file changed (quarantine + restore)"]
            clean = med["tripwire clean, 20,000 tracked + 2,000 untracked"]
            row["goal"] = "-"
            row["note"] = (f"cost of a catch: {(one - clean) * 1000:.0f} ms for 1 file, "
                           f"{(m - clean) * 1000:.0f} ms for 100 "
                           f"({(m - clean) / 100 * 1000:.1f} ms a file)")
        elif name == "reference-transaction, ungoverned ref":
            row["goal"] = "<= 3x python -c pass"
        else:
            row["goal"] = "-"
            row["note"] = "a governed ref starts Python (registry, state, git diff)"
        rows.append(row)
    return rows


if __name__ == "__main__":
    for row in run():
        ratio = f"{row['ratio']:.2f}x" if row["ratio"] is not None else "-"
        print(f"{row['name']:<52} {row['median_s'] * 1000:8.1f} ms  {ratio:>7}  {row['goal']}"
              + (f"  ({row['note']})" if row.get("note") else ""))
