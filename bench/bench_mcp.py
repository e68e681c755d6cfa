"""The MCP server (``mlgate mcp``): start-up, and the latency of the ``status`` and
``can_edit`` tools, each as a ratio against the same operation through the Python API.

The workspace is made as a user makes it (a git repository, ``mlgate init``, ``mlgate new
exp``: a ticket worktree) and the server serves the ticket's worktree, as the entry
``mlgate hooks install --claude`` writes into its ``.mcp.json`` does. The client is the
``mcp`` SDK's own stdio client.

* **start-up**: spawn the server, ``initialize``, the first ``status`` answered -- against a
  fresh Python process that answers the same ``status`` through the API
  (``Workspace.discover(wt).ticket(cwd=wt).status()``): both pay an interpreter start.
* **status** / **can_edit**: one ``tools/call`` on an open session -- against the same
  operation in this process (a fresh :class:`~mlgate.workspace.Workspace` per call, as the
  server takes one per call), so the ratio is what the protocol, the JSON and the worker
  thread add.

Samples are interleaved (one of each per round) so that machine load hits them alike.
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
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import MLGATE, isolated_env, sh  # noqa: E402

ROUNDS = int(os.environ.get("MLGATE_BENCH_ROUNDS", "40"))
STARTS = max(5, ROUNDS // 4)  # server start-ups (each about a second)
# start-up: most of it is importing the SDK (its pydantic wire types), measured alongside; the
# goal is that mlgate adds little to that floor. A tool call: the JSON-RPC round trip over the
# pipes and a worker thread on top of the API call.
GOALS = {"start-up": "<= 1.5x the SDK import", "status": "<= 5x", "can_edit": "<= 5x"}
START_UP_GOAL = 1.5
SDK_IMPORT = "python -c 'import mcp.server.mcpserver'"


def _workspace(tmp: Path, env: dict[str, str]) -> Path:
    (tmp / "home").mkdir(exist_ok=True)
    (tmp / "home" / ".gitconfig").write_text("[init]\n\tdefaultBranch = main\n")
    repo = tmp / "repo"
    (repo / "src").mkdir(parents=True)
    (repo / "src" / "model.py").write_text("x = 1\n")
    sh(["git", "init", "-q", "-b", "main"], repo, env)
    sh([MLGATE, "init"], repo, env)
    sh(["git", "add", "-A"], repo, env)
    sh(["git", "commit", "-qm", "init"], repo, env)
    out = sh([MLGATE, "--json", "new", "exp"], repo, env)
    return Path(json.loads(out)["worktree"])


def _api_process(wt: Path, env: dict[str, str]) -> list[str]:
    code = ("import sys; from mlgate.workspace import Workspace; "
            f"d = Workspace.discover({str(wt)!r}).ticket(None, cwd={str(wt)!r}).status(); "
            "assert d['ticket'] == 'exp'")
    return [sys.executable, "-c", code]


def _measure(wt: Path, env: dict[str, str]) -> dict[str, list[float]]:
    import anyio
    from mcp import ClientSession, StdioServerParameters, stdio_client

    from mlgate.workspace import Workspace

    params = StdioServerParameters(command=MLGATE, args=["mcp", "--workspace", str(wt)],
                                   env=env, cwd=str(wt))
    target = str(wt / "src" / "model.py")
    samples: dict[str, list[float]] = {k: [] for k in (
        "start-up", "start-up (API process)", SDK_IMPORT, "status", "status (API)",
        "can_edit", "can_edit (API)")}

    def api_status() -> dict[str, Any]:
        return Workspace.discover(wt).ticket(None, cwd=wt).status()

    def api_can_edit() -> dict[str, Any]:
        return Workspace.discover(wt).decide([target], cwd=wt).to_dict()

    async def start_once(devnull: Any) -> float:
        t0 = time.perf_counter()
        async with stdio_client(params, errlog=devnull) as (r, w):
            async with ClientSession(r, w) as s:
                await s.initialize()
                res = await s.call_tool("status", {})
                elapsed = time.perf_counter() - t0
                assert not res.is_error, res
        return elapsed

    async def main() -> None:
        with open(os.devnull, "w") as devnull:
            for i in range(STARTS + 1):  # the first of each is a warm-up
                t = await start_once(devnull)
                t0 = time.perf_counter()
                subprocess.run(_api_process(wt, env), env=env, check=True,
                               stdout=subprocess.DEVNULL)
                t_api = time.perf_counter() - t0
                t0 = time.perf_counter()
                subprocess.run([sys.executable, "-c", "import mcp.server.mcpserver"], env=env,
                               check=True)
                t_sdk = time.perf_counter() - t0
                if i:
                    samples["start-up"].append(t)
                    samples["start-up (API process)"].append(t_api)
                    samples[SDK_IMPORT].append(t_sdk)
            async with stdio_client(params, errlog=devnull) as (r, w):
                async with ClientSession(r, w) as s:
                    await s.initialize()
                    for i in range(ROUNDS + 3):
                        for tool, args, api in (("status", {}, api_status),
                                                ("can_edit", {"paths": [target]},
                                                 api_can_edit)):
                            t0 = time.perf_counter()
                            res = await s.call_tool(tool, args)
                            t_mcp = time.perf_counter() - t0
                            t0 = time.perf_counter()
                            want = api()
                            t_api = time.perf_counter() - t0
                            got = json.loads(res.content[0].text)
                            assert got == json.loads(json.dumps(want, default=str)), tool
                            if i >= 3:
                                samples[tool].append(t_mcp)
                                samples[f"{tool} (API)"].append(t_api)
    anyio.run(main)
    return samples


def run() -> list[dict]:
    try:
        import mcp  # noqa: F401
    except ImportError:
        return [{"name": "mcp server", "median_s": None, "baseline": None, "ratio": None,
                 "goal": "-", "met": None,
                 "note": "skipped: the mcp extra is not installed (pip install 'mlgate[mcp]')"}]
    tmp = Path(tempfile.mkdtemp(prefix="mlgate-bench-mcp-"))
    try:
        env = isolated_env(tmp / "home")
        (tmp / "home").mkdir()
        wt = _workspace(tmp, env)
        old = {k: os.environ.get(k) for k in ("HOME", "GIT_CONFIG_GLOBAL", "GIT_CONFIG_NOSYSTEM")}
        os.environ.update({k: env[k] for k in old})
        try:
            samples = _measure(wt, env)
        finally:
            for k, v in old.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    med = {k: statistics.median(v) for k, v in samples.items()}
    base = "start-up (API process)"
    rows: list[dict[str, Any]] = [
        {"name": base, "median_s": med[base], "baseline": None, "ratio": None,
         "goal": "baseline"},
        {"name": SDK_IMPORT, "median_s": med[SDK_IMPORT], "baseline": base,
         "ratio": med[SDK_IMPORT] / med[base], "goal": "-",
         "note": "the SDK's own import: the floor under the server's start-up"}]
    start = med["start-up"] / med[SDK_IMPORT]
    rows.append({"name": "mlgate mcp: spawn, initialize, first status",
                 "median_s": med["start-up"], "baseline": base,
                 "ratio": med["start-up"] / med[base], "goal": GOALS["start-up"],
                 "met": start <= START_UP_GOAL,
                 "note": f"{start:.2f}x the SDK import ({med[SDK_IMPORT]:.2f} s)"})
    for name, what in (("status", "tools/call status on an open session"),
                       ("can_edit", "tools/call can_edit on an open session")):
        base = f"{name} (API)"
        rows.append({"name": base, "median_s": med[base], "baseline": None, "ratio": None,
                     "goal": "baseline"})
        rows.append({"name": what, "median_s": med[name], "baseline": base,
                     "ratio": med[name] / med[base], "goal": f"{GOALS[name]} {base}"})
    return rows


if __name__ == "__main__":
    for row in run():
        ratio = f"{row['ratio']:.2f}x" if row.get("ratio") is not None else "-"
        med = row["median_s"]
        print(f"{row['name']:<44} {'-' if med is None else f'{med * 1000:8.1f} ms'}  "
              f"{ratio:>7}  {row['goal']}  {row.get('note') or ''}")
