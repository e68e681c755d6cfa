"""Two MCP sessions (two server processes) and the CLI move the same ticket at the same time:
the ticket's file lock serialises them, so no transition is lost or doubled."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import pytest

pytest.importorskip("mcp")

from conftest import mlgate  # noqa: E402
from mcp_client import payload, session  # noqa: E402
from mlgate.workspace import Workspace  # noqa: E402
from test_walk import fill  # noqa: E402

ROUNDS = {"a": 12, "b": 12, "cli": 4}  # block + unblock attempts per client, in stage 5


@pytest.mark.slow
def test_two_sessions_and_the_cli_never_lose_a_transition(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    root.mkdir()
    ws, _ = Workspace.init(root)
    t = ws.new_ticket("race")
    for s in range(5):  # gates 0..4 hold, 5 does not: five advances, then refusals
        fill(t.folder, s)
    ok: dict[str, list[dict[str, Any]]] = {"a": [], "b": [], "cli": []}
    refused: dict[str, int] = {"a": 0, "b": 0, "cli": 0}
    ready = {"a": anyio.Event(), "b": anyio.Event()}

    def record(who: str, data: dict[str, Any], failed: bool) -> None:
        if failed:
            assert data["error"] in ("gate_failed", "transition_not_allowed"), data
            refused[who] += 1
        else:
            ok[who].append(data)

    async def mcp_client(who: str) -> None:
        async with session(root, log=tmp_path / f"server-{who}.log") as s:
            ready[who].set()
            for other in ready.values():
                await other.wait()  # both servers up: the moves overlap
            while True:  # advance until the stage-5 gate refuses
                r = await s.call_tool("advance", {"ticket": "race", "reason": f"by {who}"})
                record(who, payload(r), r.is_error)
                if r.is_error and payload(r)["stage"] == 5:
                    break
            for _ in range(ROUNDS[who]):
                for move in ("block", "unblock"):
                    r = await s.call_tool(move, {"ticket": "race", "reason": f"by {who}"})
                    record(who, payload(r), r.is_error)

    def cli_client() -> None:
        def call(*args: str) -> dict[str, Any]:
            r = mlgate(root, "--json", *args, "race", "--reason", "by cli")
            assert r.returncode in (0, 1), r.stderr
            data = json.loads(r.stdout)
            record("cli", data, r.returncode != 0)
            return data
        while True:
            data = call("advance")
            if data.get("error") and data.get("stage") == 5:
                break
        for _ in range(ROUNDS["cli"]):
            call("block")
            call("unblock")

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            tg.start_soon(mcp_client, "a")
            tg.start_soon(mcp_client, "b")
            await ready["a"].wait()
            await ready["b"].wait()
            tg.start_soon(anyio.to_thread.run_sync, cli_client)

    anyio.run(main)
    log = t.state.transitions
    moves = [(who, d) for who, ds in ok.items() for d in ds]
    # every move that was answered "done" is in the log once, under its own id, and the log
    # holds nothing else: no move lost, none applied twice
    ids = sorted(d["transition"] for _, d in moves)
    assert ids == [r.id for r in log] == [f"T-{i:03d}" for i in range(1, len(log) + 1)]
    by_id = {r.id: r for r in log}
    for who, d in moves:
        row = by_id[d["transition"]]
        assert f"by {who}" in row.reason, (who, d, row.reason)
        assert (row.from_stage, row.to_stage) == (d["from_stage"], d["to_stage"])
    advances = sorted((d["from_stage"], d["to_stage"]) for _, d in moves
                      if d["action"] == "advance")
    assert advances == [(s, s + 1) for s in range(5)]
    # the block/unblock moves alternate in the log, whoever made them
    actions = [d["action"] for _, d in sorted(moves, key=lambda m: m[1]["transition"])]
    rest = actions[5:]
    assert rest and rest == ["block", "unblock"] * (len(rest) // 2) + \
        (["block"] if len(rest) % 2 else [])
    st = t.state
    assert st.stage == 5 and st.seal == "valid"
    assert st.gates[5].status == ("Blocked" if len(rest) % 2 else st.gates[5].status)
    assert sum(refused.values()) > 0  # they did collide: moves were refused meanwhile
    assert sum(1 for who in ok if ok[who]) >= 2, f"moves by one client only: {ok}"
