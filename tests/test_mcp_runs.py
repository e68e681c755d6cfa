"""Training runs through ``mlgate mcp``: a detached run followed with ``watch`` (progress
notifications) goes on when the watch is cancelled, and is stopped by cancelling a watch with
``stop_on_cancel``; one is stopped with ``stop_run``; a foreground ``run`` is cancelled by the
client. Each is stopped for real (its processes gone) and recorded as ``cancelled``."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import anyio
import pytest

pytest.importorskip("mcp")

from mcp_client import exit_code, payload, session  # noqa: E402
from mlgate.runs import core as runs  # noqa: E402
from mlgate.workspace import Workspace  # noqa: E402
from test_walk import fill  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent / "data" / "train_scripts"))
from train_script_helpers import command, meta, wait_for  # noqa: E402


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    """A non-git workspace whose ticket ``demo`` is in stage 5, with a training command
    that logs a metric every 0.1 s for five minutes."""
    root = tmp_path / "proj"
    root.mkdir()
    ws, _ = Workspace.init(root)
    (root / "mlgate.yaml").write_text(
        "handlers:\n  5: [train]\n"
        f"train:\n  command: \"{command('slow.py')}\"\n  stall_after: 120\n"
        "  env: {TEST_NO_WANDB: '1'}\n")
    ws = Workspace(root)
    t = ws.new_ticket("demo")
    for s in range(5):
        fill(t.folder, s)
        t.advance()
    assert t.state.stage == 5
    return ws


def _stopped(run_dir: Path) -> dict[str, Any]:
    """The run's record once it has ended, after checking its processes are gone."""
    assert wait_for(lambda: meta(run_dir).get("failure_class") is not None, timeout=60), \
        meta(run_dir)
    m = meta(run_dir)
    pid = m.get("pid")
    assert pid and wait_for(lambda: not runs.pid_alive(pid), timeout=30), f"{pid} still runs"
    assert not runs.run_alive(run_dir)
    return m


@pytest.mark.slow
def test_runs_are_stopped_and_recorded_as_cancelled(ws: Workspace) -> None:
    folder = ws.ticket("demo").folder
    seen: dict[str, list[str]] = {"watch": [], "run": []}

    async def follow_then_cancel(s: Any, tool: str, args: dict[str, Any]) -> None:
        """Call ``tool``; cancel the call (the client sends notifications/cancelled) once a
        progress notification has arrived."""
        got_progress = anyio.Event()

        async def on_progress(value: float, total: float | None, message: str | None) -> None:
            seen[tool].append(message or "")
            got_progress.set()

        async with anyio.create_task_group() as tg:
            async def call() -> None:
                await s.call_tool(tool, args, progress_callback=on_progress)
                raise AssertionError(f"{tool} returned before it was cancelled")
            tg.start_soon(call)
            with anyio.fail_after(60):
                await got_progress.wait()
            tg.cancel_scope.cancel()

    async def main() -> dict[str, Any]:
        out: dict[str, Any] = {}
        async with session(ws.root) as s:
            # 1. a detached run, followed with `watch`: cancelling the watch stops following
            #    it, the run goes on; with stop_on_cancel, cancelling the watch stops the run
            launched = await s.call_tool("run", {"handler": "train", "detach": True})
            out["launched"] = launched
            await follow_then_cancel(s, "watch", {"run": "RUN-001"})
            await anyio.sleep(2.0)
            out["alive_after_plain_cancel"] = runs.run_alive(folder / "runs" / "RUN-001")
            await follow_then_cancel(s, "watch", {"run": "RUN-001", "stop_on_cancel": True})
            out["m1"] = await anyio.to_thread.run_sync(_stopped, folder / "runs" / "RUN-001")
            # 2. a detached run stopped with the stop_run tool
            await s.call_tool("run", {"handler": "train", "detach": True})
            assert runs.run_alive(folder / "runs" / "RUN-002")
            out["stop"] = payload(await s.call_tool("stop_run", {"run": "2"}))
            out["m2"] = await anyio.to_thread.run_sync(_stopped, folder / "runs" / "RUN-002")
            out["stop_again"] = payload(await s.call_tool("stop_run", {"run": "RUN-002"}))
            # 3. a foreground run (the call waits for the run): the call cancelled
            await follow_then_cancel(s, "run", {"handler": "train"})
            out["m3"] = await anyio.to_thread.run_sync(_stopped, folder / "runs" / "RUN-003")
            # the server still answers after three cancelled calls, and lists the runs
            out["runs"] = payload(await s.call_tool("runs", {}))
        return out

    out = anyio.run(main)
    launched = out["launched"]
    assert exit_code(launched) == 1  # Blocked: the run is still going
    (res,) = payload(launched)
    assert res["handler"] == "train" and res["status"] == "Blocked"
    assert "RUN-001 launched detached" in " ".join(c["detail"] for c in res["checks"])
    assert out["alive_after_plain_cancel"] is True
    assert seen["watch"] and seen["watch"][0].startswith("RUN-001")
    assert any("RUN-003 launched" in line for line in seen["run"])
    for key, how in (("m1", "`watch`"), ("m2", "stop_run"), ("m3", "`run`")):
        m = out[key]
        assert (m["status"], m["failure_class"], m["kill_reason"]) == \
            ("failed", "cancelled", "cancelled"), (key, m)
        assert how in m["kill_detail"] and m["exit_code"] not in (None, 0)
    assert out["stop"] == {"run": "RUN-002", "failure_class": "cancelled", "stopped": True}
    assert out["stop_again"] == {"run": "RUN-002", "failure_class": "cancelled",
                                 "stopped": False}
    assert [(r["run"], r["status"], r["failure_class"]) for r in out["runs"]] == \
        [(f"RUN-00{i}", "failed", "cancelled") for i in (1, 2, 3)]
