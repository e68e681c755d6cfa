"""A ticket walked from stage 0 to 4 through ``mlgate mcp`` alone (real git, real worktree,
real artifacts), then torch-smoke run through the ``run`` tool on a small model with its
progress arriving as MCP progress notifications."""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import anyio
import pytest

pytest.importorskip("mcp")
pytest.importorskip("torch")

from conftest import git  # noqa: E402
from mcp_client import exit_code, payload, session  # noqa: E402
from mlgate.workspace import Workspace  # noqa: E402
from test_walk import fill  # noqa: E402

ZOO = Path(__file__).parent / "data" / "smoke" / "smokezoo"
CHECKS = {"forward", "loss", "gradients", "overfit", "determinism", "eval_mode", "checkpoint",
          "labels", "leakage", "anomaly", "device"}


@pytest.mark.slow
def test_walk_to_stage_4_and_smoke_with_progress(git_repo: Path) -> None:
    shutil.copytree(ZOO, git_repo / "smokezoo")
    Workspace.init(git_repo)
    (git_repo / "mlgate.yaml").write_text(
        "handlers:\n  4: [torch-smoke]\n"
        "torch-smoke:\n  factory: \"smokezoo.factories:make\"\n")
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-q", "-m", "mlgate config and model")
    progress: list[tuple[float, float | None, str | None]] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append((value, total, message))

    async def main() -> dict[str, Any]:
        out: dict[str, Any] = {}
        async with session(git_repo) as s:
            created = await s.call_tool("new", {"name": "smoke"})
            assert not created.is_error, created.content[0].text
            out["new"] = payload(created)
            folder = Path(out["new"]["folder"])
            out["advances"] = []
            for stage in range(4):
                if stage == 1:  # not filled in yet: refused, with the checks
                    out["refused"] = await s.call_tool("advance", {"ticket": "smoke"})
                fill(folder, stage)
                checked = await s.call_tool("check", {"ticket": "smoke"})
                assert not checked.is_error, checked.content[0].text
                moved = await s.call_tool("advance", {"ticket": "smoke",
                                                      "reason": f"stage {stage} done"})
                assert not moved.is_error, moved.content[0].text
                out["advances"].append(payload(moved))
            worktree = Path(out["new"]["worktree"])
            out["can_edit"] = payload(await s.call_tool(
                "can_edit", {"paths": [str(worktree / "src" / "model.py")]}))
            out["status"] = payload(await s.call_tool("status", {"ticket": "smoke"}))
            # stage 4: the implementation, committed on the ticket branch
            fill(folder, 4)
            (worktree / "src" / "digits").mkdir(parents=True)
            (worktree / "src" / "digits" / "model.py").write_text("class DigitsCNN: ...\n")
            git(worktree, "add", "-A")
            git(worktree, "commit", "-q", "-m", "implementation")
            out["head"] = git(worktree, "rev-parse", "HEAD")
            ran = await s.call_tool("run", {"handler": "torch-smoke", "ticket": "smoke"},
                                    progress_callback=on_progress)
            assert not ran.is_error and exit_code(ran) == 0, ran.content[0].text
            out["run"] = payload(ran)
            out["state"] = (await s.read_resource(
                "mlgate://tickets/smoke/workflow-state.md")).contents[0].text
            out["guide"] = (await s.read_resource(
                "mlgate://tickets/smoke/guide.md")).contents[0].text
        return out

    out = anyio.run(main)
    ws = Workspace(git_repo)
    t = ws.ticket("smoke")
    # the worktree and branch mlgate made, reported as `mlgate new --json` does
    assert out["new"]["branch"] == "codex/smoke" and Path(out["new"]["worktree"]) == t.checkout
    assert t.checkout != git_repo and (t.checkout / ".git").exists()
    # the refusal at stage 1 carried its failing checks and moved nothing
    refused = out["refused"]
    assert refused.is_error and exit_code(refused) == 1
    assert payload(refused)["stage"] == 1
    assert any(not c["ok"] and c["id"] == "s1.status.final" for c in payload(refused)["checks"])
    # four moves, 0 -> 4, the log contiguous, code edits unlocked on entering 4
    moves = out["advances"]
    assert [(m["from_stage"], m["to_stage"]) for m in moves] == [(0, 1), (1, 2), (2, 3), (3, 4)]
    assert [m["transition"] for m in moves] == ["T-001", "T-002", "T-003", "T-004"]
    assert [m["permission"] for m in moves] == ["Locked"] * 3 + ["Unlocked"]
    st = t.state
    assert st.stage == 4 and st.effective_permission == "Unlocked" and st.seal == "valid"
    assert [r.id for r in st.transitions] == ["T-001", "T-002", "T-003", "T-004"]
    assert st.transitions[-1].reason == "stage 3 done"
    assert out["can_edit"]["allowed"] is True and out["status"]["stage"] == 4
    assert "Stage 4" in out["guide"].splitlines()[0]
    # torch-smoke through the tool: Pass at HEAD, evidence recorded, readiness row filled
    (res,) = out["run"]
    assert res["handler"] == "torch-smoke" and res["status"] == "Pass"
    assert {c["id"] for c in res["checks"]} >= CHECKS
    assert res["commit"] == out["head"]
    assert (t.folder / res["evidence"]).is_file()
    assert res["evidence"] in t.state.gates[4].evidence
    assert res["evidence"] in out["state"]
    assert f"| Smoke test or dry run passes | Pass | {res['evidence']}" in \
        (t.folder / "implementation.md").read_text()
    # one progress notification per check line, increasing, naming the checks
    values = [p[0] for p in progress]
    assert len(progress) >= len(CHECKS) and values == sorted(values) and len(set(values)) == \
        len(values)
    said = " ".join(p[2] or "" for p in progress)
    assert all(c in said for c in CHECKS), said
    assert progress[0][2].startswith("factory: smokezoo.factories:make")
