"""``mlgate mcp`` through the ``mcp`` SDK's own stdio client: the tools and their schemas, the
resources and the ``next-step`` prompt, the same JSON as the CLI, refusals as results with
their checks, no human-only action, no way around the edit lock, and the exit codes of the
command itself."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest

pytest.importorskip("mcp")

from conftest import mlgate  # noqa: E402
from mcp.shared.exceptions import MCPError  # noqa: E402
from mcp_client import exit_code, payload, session  # noqa: E402
from mlgate import constants as C  # noqa: E402
from mlgate.mcp import NOT_TOOLS, TOOLS  # noqa: E402
from mlgate.workspace import Workspace  # noqa: E402
from test_walk import fill  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    """A non-git workspace with ticket ``demo`` in stage 1 (its gate not met yet)."""
    root = tmp_path / "proj"
    root.mkdir()
    (root / "src").mkdir()
    (root / "src" / "model.py").write_text("x = 1\n")
    ws, _ = Workspace.init(root)
    t = ws.new_ticket("demo")
    fill(t.folder, 0)
    t.advance()
    return ws


def test_tools_resources_and_prompt_are_listed(ws: Workspace) -> None:
    async def main() -> None:
        async with session(ws.root) as s:
            tools = {t.name: t for t in (await s.list_tools()).tools}
            assert tuple(tools) == TOOLS
            for t in tools.values():
                assert t.description and t.input_schema["type"] == "object", t.name
            # typed input schemas: an enum of the classifications, a ticket-name pattern
            props = tools["reenter"].input_schema["properties"]
            assert props["classification"]["enum"] == list(C.CLASSIFICATIONS)
            assert set(tools["reenter"].input_schema["required"]) == {"classification",
                                                                      "reason"}
            ticket = props["ticket"]["anyOf"][0]
            assert ticket["pattern"] == C.TICKET_NAME_RE.pattern
            assert tools["can_edit"].input_schema["properties"]["paths"]["type"] == "array"
            assert tools["run"].input_schema["properties"]["detach"]["type"] == "boolean"
            assert tools["status"].annotations.read_only_hint is True
            assert tools["advance"].annotations.read_only_hint is False

            uris = [str(r.uri) for r in (await s.list_resources()).resources]
            assert uris == ["mlgate://config", "mlgate://tickets/demo/workflow-state.md",
                            "mlgate://tickets/demo/guide.md",
                            "mlgate://tickets/demo/requirements.md",
                            "mlgate://tickets/demo/investigation-notes.md"]
            templates = (await s.list_resource_templates()).resource_templates
            assert [t.uri_template for t in templates] == ["mlgate://tickets/{ticket}/{name}"]
            prompts = {p.name: p for p in (await s.list_prompts()).prompts}
            assert list(prompts) == ["next-step"]
            assert [a.name for a in prompts["next-step"].arguments] == ["ticket"]
            assert not prompts["next-step"].arguments[0].required
    anyio.run(main)


def test_resources_are_the_ticket_files_and_nothing_else(ws: Workspace) -> None:
    t = ws.ticket("demo")

    async def read(s: Any, uri: str) -> str:
        res = await s.read_resource(uri)
        return res.contents[0].text

    async def main() -> None:
        async with session(ws.root) as s:
            assert await read(s, "mlgate://tickets/demo/workflow-state.md") == \
                t.state_path.read_text()
            assert await read(s, "mlgate://tickets/demo/requirements.md") == \
                (t.folder / "requirements.md").read_text()
            assert await read(s, "mlgate://config") == (ws.root / "mlgate.yaml").read_text()
            guide = await read(s, "mlgate://tickets/demo/guide.md")  # stage 1 now
            assert guide == (REPO / "stages" / "01-investigation" / "README.md").read_text()
            # a workspace's own copy of a stage guide wins, as for the templates
            own = ws.root / "stages" / "01-investigation"
            own.mkdir(parents=True)
            (own / "README.md").write_text("# Our own stage 1 guide\n")
            assert await read(s, "mlgate://tickets/demo/guide.md") == "# Our own stage 1 guide\n"
            # only the ticket files: not the evidence, the runs, the seal key
            secret = ws.root / ".mlgate" / "seal.key"
            assert secret.exists()
            for uri in ("mlgate://tickets/demo/evidence",
                        "mlgate://tickets/demo/experiment-plan.md",  # not written yet
                        "mlgate://tickets/demo/..%2F..%2F..%2F.mlgate%2Fseal.key",
                        "mlgate://tickets/demo/../../../.mlgate/seal.key",
                        "mlgate://tickets/nope/workflow-state.md",
                        "mlgate://tickets/Bad Name/workflow-state.md",
                        "file:///etc/passwd"):
                with pytest.raises(MCPError) as exc:
                    await read(s, uri)
                assert secret.read_bytes().hex() not in str(exc.value)
            with pytest.raises(MCPError, match="not a ticket resource"):
                await read(s, "mlgate://tickets/demo/evidence")
            with pytest.raises(MCPError, match="no experiment-plan.md yet"):
                await read(s, "mlgate://tickets/demo/experiment-plan.md")
            with pytest.raises(MCPError, match="no ticket named 'nope'"):
                await read(s, "mlgate://tickets/nope/workflow-state.md")
    anyio.run(main)


def test_next_step_prompt_has_the_guide_and_the_failing_checks(ws: Workspace) -> None:
    async def main() -> tuple[str, str]:
        async with session(ws.root) as s:
            before = (await s.get_prompt("next-step", {})).messages[0].content.text
            fill(ws.ticket("demo").folder, 1)
            after = (await s.get_prompt("next-step", {"ticket": "demo"})).messages[0].content.text
            return before, after
    before, after = anyio.run(main)
    assert before.startswith("# Next step for ticket demo")
    assert "stage: 1 Investigation" in before and "code edits: Locked" in before
    # every failing check of the stage-1 gate, by id and with its file:line reason
    assert "[s1.status.final] investigation-notes.md:" in before
    assert "[s1.scope.classification]" in before
    guide = (REPO / "stages" / "01-investigation" / "README.md").read_text().rstrip()
    assert guide in before and guide in after
    assert "advance" in before and "mlgate reenter" not in before.split("## Moves")[0]
    # once the artifact is filled in, nothing is missing and the prompt says to advance
    assert "[s1." not in after and "the stage-1 gate holds. Call the `advance` tool" in after


def _cli(root: Path, *args: str) -> tuple[Any, int]:
    r = mlgate(root, "--json", *args)
    return json.loads(r.stdout), r.returncode


def test_same_json_and_exit_codes_as_the_cli(ws: Workspace) -> None:
    """Each tool answers with the JSON of ``mlgate --json`` for the same command and is an
    error exactly when the CLI exits non-zero (its exit code in ``_meta``)."""
    calls = [("status", {"ticket": "demo"}, ["status", "demo"]),
             ("status", {}, ["status"]),
             ("list", {}, ["list"]),
             ("list", {"all": True}, ["list", "--all"]),
             ("check", {"ticket": "demo"}, ["check", "demo"]),
             ("can_edit", {"paths": ["src/model.py"]}, ["can-edit", "src/model.py"]),
             ("can_edit", {"paths": ["tickets/in-progress/demo/notes.md"]},
              ["can-edit", "tickets/in-progress/demo/notes.md"]),
             ("runs", {}, ["runs"]),
             ("status", {"ticket": "nope"}, ["status", "nope"]),
             ("advance", {"ticket": "demo"}, ["advance", "demo"])]  # refused: gate fails

    async def main() -> list[tuple[Any, int, bool]]:
        out = []
        async with session(ws.root) as s:
            for name, args, argv in calls:  # each tool call, then the same CLI command
                r = await s.call_tool(name, args)
                out.append((payload(r), exit_code(r), r.is_error))
                assert r.structured_content == (payload(r) if isinstance(payload(r), dict)
                                                else {"result": payload(r)})
                want, want_code = await anyio.to_thread.run_sync(lambda: _cli(ws.root, *argv))
                assert payload(r) == want, (name, args)
                assert exit_code(r) == want_code and r.is_error == (want_code != 0), \
                    (name, args, exit_code(r), want_code)
        return out
    got = anyio.run(main)
    codes = {c[0]: g[1] for c, g in zip(calls, got)}
    assert codes["advance"] == 1 and codes["check"] == 1 and codes["runs"] == 0


def test_a_refused_advance_is_a_result_with_every_failing_check(ws: Workspace) -> None:
    t = ws.ticket("demo")
    before = t.state_path.read_text()

    async def main() -> Any:
        async with session(ws.root) as s:
            return await s.call_tool("advance", {"ticket": "demo"})
    r = anyio.run(main)
    assert r.is_error and exit_code(r) == 1  # a tool result, not a protocol error
    data = payload(r)
    assert data["error"] == "gate_failed" and data["ok"] is False and data["stage"] == 1
    failing = [c for c in data["checks"] if not c["ok"]]
    assert {c["id"] for c in failing} >= {"s1.status.final", "s1.scope.classification"}
    assert all(c["reason"] and c["file"] == "investigation-notes.md" for c in failing)
    assert data["message"].startswith("stage 1 gate not met for ticket 'demo'")
    # nothing moved: same stage, same log; only the stage-1 gate row may say Fail
    st = t.state
    assert st.stage == 1 and [x.id for x in st.transitions] == ["T-001"]
    changed = [ln for ln in t.state_path.read_text().splitlines()
               if ln not in before.splitlines()]
    assert all("1 Investigation" in ln or "mlgate-seal" in ln for ln in changed), changed


def test_moves_reenter_block_unblock(ws: Workspace) -> None:
    """The moves of a re-entry walk through the tools: the classification enum is enforced
    by the schema, a matrix refusal is an exit-1 result naming what is allowed."""
    t = ws.ticket("demo")
    for s in range(1, 5):
        fill(t.folder, s)
        t.advance()
    assert t.state.stage == 5

    async def main() -> list[Any]:
        async with session(ws.root) as s:
            return [await s.call_tool("reenter", {"classification": "Sideways",
                                                  "reason": "x"}),
                    await s.call_tool("reenter", {"classification": "Validation Gap",
                                                  "reason": "x"}),
                    await s.call_tool("block", {"reason": "waiting for a GPU"}),
                    await s.call_tool("unblock", {"reason": "GPU free"}),
                    await s.call_tool("reenter", {"classification": "Plan Impact",
                                                  "reason": "the plan missed a metric"}),
                    await s.call_tool("status", {"ticket": "demo"})]
    bad_enum, not_in_matrix, block, unblock, reenter, status = anyio.run(main)
    assert bad_enum.is_error and "Validation Gap" in bad_enum.content[0].text
    assert not_in_matrix.is_error and exit_code(not_in_matrix) == 1
    assert payload(not_in_matrix)["error"] == "transition_not_allowed"
    assert payload(block)["action"] == "block" and not block.is_error
    assert payload(unblock)["action"] == "unblock" and not unblock.is_error
    data = payload(reenter)
    assert (data["from_stage"], data["to_stage"], data["permission"]) == (5, 1, "Locked")
    st = payload(status)
    assert (st["stage"], st["active_reentry"], st["classification"]) == \
        (1, True, "Plan Impact")
    assert st["return_path"] == [1, 3, 4, 5]
    assert [x.id for x in t.state.transitions][-3:] == ["T-006", "T-007", "T-008"]


def test_human_only_actions_are_not_reachable(ws: Workspace) -> None:
    t = ws.ticket("demo")
    before = t.state_path.read_text()

    async def main() -> tuple[list[Any], list[Any]]:
        async with session(ws.root) as s:
            tools = (await s.list_tools()).tools
            calls = [await s.call_tool(name, {"ticket": "demo", "by": "Agent Smith"})
                     for name in ("verify", "archive", "clear_violations", "doctor",
                                  "baseline_set", "hooks_uninstall", "reopen", "shell")]
            return tools, calls
    tools, calls = anyio.run(main)
    for tool in tools:
        assert not any(word in tool.name for word in NOT_TOOLS), tool.name
        props = set(tool.input_schema.get("properties", {}))
        # no argument that records a person, clears, promotes, or runs a command
        assert not props & {"by", "clear_violations", "repair", "promote", "finalize",
                            "command", "cmd", "argv"}, (tool.name, props)
    for r in calls:
        assert r.is_error and "Unknown tool" in r.content[0].text
    assert t.state_path.read_text() == before


def test_report_is_no_way_around_the_edit_lock(ws: Workspace) -> None:
    """Attack: the server writes files for the agent, so an agent that may not edit
    ``src/model.py`` (ticket Locked in stage 1) asks the report tool to write it there."""
    src = ws.root / "src" / "model.py"

    async def main() -> tuple[Any, Any, Any]:
        async with session(ws.root) as s:
            return (await s.call_tool("report", {"html": "src/model.py"}),
                    await s.call_tool("report", {"html": str(src)}),
                    await s.call_tool("report", {}))
    rel, absolute, default = anyio.run(main)
    for r in (rel, absolute):
        assert r.is_error and exit_code(r) == 1
        data = payload(r)
        assert data["error"] == "edit_denied" and data["allowed"] is False
        assert "source edits are locked" in data["message"]
    assert src.read_text() == "x = 1\n"
    assert not default.is_error
    page = ws.ticket("demo").folder / "report.html"
    assert payload(default) == {"ticket": "demo", "html": str(page)}
    assert page.read_text().startswith("<!DOCTYPE html>")


def test_the_command_without_the_extra_exits_4_with_the_pip_command(tmp_path: Path) -> None:
    Workspace.init(tmp_path)
    code = ("import sys; sys.modules['mcp'] = None; from mlgate.__main__ import main; "
            "main(['mcp'])")
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 4
    assert "pip install 'mlgate[mcp]'" in r.stderr


def test_the_command_outside_a_workspace_exits_2(tmp_path: Path) -> None:
    r = mlgate(tmp_path, "mcp", "--workspace", str(tmp_path))
    assert r.returncode == 2 and "no mlgate workspace" in r.stderr
    r = mlgate(tmp_path, "mcp", "--workspace", str(tmp_path / "nope"))
    assert r.returncode == 2 and "no such folder" in r.stderr


def test_importing_mlgate_mcp_does_not_load_the_sdk() -> None:
    code = ("import sys, mlgate.mcp, mlgate.mcp.ops, mlgate.mcp.content, mlgate.mcp.register, "
            "mlgate.cli; print('mcp' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       check=True)
    assert r.stdout.strip() == "False"


def test_the_docs_client_example_runs_and_the_docs_name_every_tool(
        ws: Workspace, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
        ) -> None:
    page = (REPO / "docs" / "mcp.md").read_text()
    for tool in TOOLS:
        assert f"| `{tool}` |" in page, tool
    assert "SPEC" not in page and not re.search(r"\brule \d", page)
    (example,) = re.findall(r"```python\n(.*?)```", page, flags=re.S)
    monkeypatch.chdir(ws.root)  # the example serves "."
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    exec(compile(example, "docs/mcp.md", "exec"), {"__name__": "docs_example"})
    out = capsys.readouterr().out
    assert "demo 1 Locked" in out and "# Next step for ticket demo" in out


def test_a_linked_ticket_file_does_not_serve_what_it_points_to(ws: Workspace) -> None:
    """Attack: the ticket folder is always writable; an agent with a shell replaces an
    artifact (or the workspace's own stage guide) by a link to mlgate's seal key and reads
    it through a resource."""
    t = ws.ticket("demo")
    key = ws.root / ".mlgate" / "seal.key"
    (t.folder / "investigation-notes.md").unlink()
    (t.folder / "investigation-notes.md").symlink_to(key)
    own = ws.root / "stages" / "01-investigation"
    own.mkdir(parents=True)
    (own / "README.md").symlink_to(key)
    (t.folder / "requirements.md").unlink()
    (t.folder / "requirements.md").symlink_to(ws.root / "src" / "model.py")

    async def main() -> list[str]:
        errors = []
        async with session(ws.root) as s:
            for name in ("investigation-notes.md", "guide.md", "requirements.md"):
                with pytest.raises(MCPError) as exc:
                    await s.read_resource(f"mlgate://tickets/demo/{name}")
                errors.append(str(exc.value))
        return errors
    errors = anyio.run(main)
    for err in errors:
        assert "is a link or leads outside" in err, err
        assert key.read_bytes().hex() not in err and "x = 1" not in err
