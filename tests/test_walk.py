"""A full walk 0 -> 8 -> done through the Python API (non-git workspace), with artifacts
filled in as a user would, asserting the log, snapshot, gates and lock at every step; every
re-entry row of the matrix and the refusal of every combination not in it."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mlgate import constants as C
from mlgate.errors import GateFailed, SealBroken, TransitionNotAllowed
from mlgate.state.statefile import StateDoc
from mlgate.workspace import Workspace

from conftest import write_goal
import evidence_kit as kit

GOOD = Path(__file__).parent / "data" / "artifacts" / "good"
# Which filled-in artifacts make stage s's gate hold (copied in before advancing from s).
ARTIFACTS = {
    0: [],
    1: ["investigation-notes.md"],
    2: ["requirements.md"],
    3: ["experiment-plan.md"],
    4: ["implementation.md"],
    5: ["training-validation-report.md"],
    6: ["code-review.md"],
    7: ["docs-sync.md"],
    8: ["handoff-summary.md"],
}


def fill(folder: Path, stage: int) -> None:
    """Fill in what the stage-``stage`` gate needs, as a user would; the evidence is made by
    mlgate itself (stage 4: a handler run; stage 5: two training runs through `train`)."""
    if stage == 0:
        write_goal(folder)
    if stage == 7:  # the user updated the project's docs
        root = folder.parents[2]
        (root / "README.md").write_text("# project\n\nBest run: see the ticket.\n")
    for name in ARTIFACTS[stage]:
        text = (GOOD / name).read_text().replace("<ticket-name>", folder.name)
        (folder / name).write_text(text)
    if stage == 4:
        kit.smoke(folder)
    if stage == 5:
        kit.good_runs(folder)


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    root = tmp_path / "proj"
    root.mkdir()
    ws, _ = Workspace.init(root)
    return ws


def walk_to(ws: Workspace, name: str, stage: int):
    t = ws.new_ticket(name)
    for s in range(stage):
        fill(t.folder, s)
        t.advance()
    return t


def test_full_walk_to_done(ws: Workspace) -> None:
    t = ws.new_ticket("digits")
    st = t.state
    assert (st.stage, st.next_stage, st.permission, st.active_reentry) == (0, 1, "Locked", False)
    assert [g.status for g in st.gates] == ["In Progress"] + ["Not Started"] * 8
    assert st.bootstrap["Bootstrap Mode"] == "Non-Git"
    assert st.seal == "valid"
    assert (t.folder / "requirements.md").exists()
    for s in range(8):
        fill(t.folder, s)
        out = t.advance()
        st = t.state
        assert (out.from_stage, out.to_stage) == (s, s + 1)
        assert st.stage == s + 1 and st.next_stage == (s + 2 if s + 2 <= 8 else None)
        assert st.transitions[-1].id == f"T-{s + 1:03d}" == st.last_transition_id
        assert [r.id for r in st.transitions] == [f"T-{i:03d}" for i in range(1, s + 2)]
        assert st.transitions[-1].classification is None
        assert st.gates[s].status == "Pass" and st.gates[s].evidence
        assert st.gates[s + 1].status == "In Progress"
        assert all(g.status == "Pass" for g in st.gates[: s + 1])
        assert all(g.status == "Not Started" for g in st.gates[s + 2:])
        want = "Unlocked" if s + 1 == 4 else "Locked"
        assert st.permission == want == st.transitions[-1].permission_after
        assert st.effective_permission == want
        assert st.pre_edit["Pre-Edit Checklist Result"] == ("Pass" if s + 1 == 4 else "Fail")
        art = C.STAGES[s + 1].artifact
        assert art is None or (t.folder / art).exists(), f"stage {s + 1} artifact scaffolded"
        assert st.seal == "valid"
    with pytest.raises(TransitionNotAllowed, match="mlgate verify"):
        t.advance()
    fill(t.folder, 8)
    with pytest.raises(TransitionNotAllowed, match="no user verification"):
        t.archive()
    t.verify("Ada Lovelace")
    out = t.archive()
    assert out.ok
    done = ws.root / "tickets" / "done" / "digits"
    assert done.is_dir() and not (ws.root / "tickets" / "in-progress" / "digits").exists()
    t2 = ws.ticket("digits")
    assert t2.archived and t2.state.gates[8].status == "Pass"
    assert "User verification received: `Yes`" in (done / "handoff-summary.md").read_text()
    with pytest.raises(TransitionNotAllowed, match="reopen"):
        t2.advance()
    reopened = ws.reopen("digits")
    assert not reopened.archived and reopened.state.gates[8].status == "In Progress"
    # verification must be given again after a reopen
    with pytest.raises(TransitionNotAllowed, match="no user verification"):
        reopened.archive()


def test_refused_advance_changes_only_the_gate_row(ws: Workspace) -> None:
    t = walk_to(ws, "refuse", 1)
    before = t.state_path.read_text()
    with pytest.raises(GateFailed) as exc:
        t.advance()  # investigation-notes.md is still the Draft template
    rep = exc.value.report
    assert rep.stage == 1 and not rep.ok and rep.failing()
    assert all(c.reason for c in rep.failing())
    after = t.state_path.read_text()
    changed = [ln for ln in after.splitlines() if ln not in before.splitlines()]
    assert all(ln.startswith("| 1 Investigation") or ln.startswith("<!-- mlgate-seal")
               for ln in changed), changed
    st = t.state
    assert st.stage == 1 and st.gates[1].status == "Fail" and len(st.transitions) == 1


def test_hand_edit_breaks_seal_and_doctor_repairs(ws: Workspace) -> None:
    t = walk_to(ws, "tamper", 3)
    text = t.state_path.read_text().replace("- Code Edit Permission: `Locked`",
                                            "- Code Edit Permission: `Unlocked`")
    t.state_path.write_text(text)
    st = t.state
    assert st.seal == "broken" and st.permission == "Unlocked"
    assert st.effective_permission == "Locked"
    with pytest.raises(SealBroken, match="doctor"):
        t.advance()
    rep = t.doctor(repair=True)
    assert t.state.seal == "valid" and t.state.permission == "Locked"
    v = t.state.violations
    assert len(v) == 1 and v[0].cleared is False and "seal broken" in v[0].violation
    fill(t.folder, 3)
    with pytest.raises(TransitionNotAllowed, match="V-001"):
        t.advance()  # an uncleared violation blocks forward moves (rule 22)
    assert t.clear_violations() == ["V-001"]
    assert t.advance().to_stage == 4
    assert rep.repaired


def test_unsealed_hand_written_unlocked_is_not_honoured(ws: Workspace) -> None:
    t = walk_to(ws, "handwritten", 4)
    lines = [ln for ln in t.state_path.read_text().splitlines(keepends=True)
             if not ln.startswith("<!-- mlgate-seal")]
    t.state_path.write_text("".join(lines))
    st = t.state
    assert st.seal == "missing" and st.permission == "Unlocked"
    assert st.effective_permission == "Locked"
    out = t.unlock()  # re-checks the stage-3 gate, then seals
    assert out.permission == "Unlocked" and t.state.seal == "valid"


def _path_from(trigger: int, cls: str) -> tuple[int, ...] | None:
    return C.REENTRY_MATRIX[trigger][cls]


REENTRY_CASES = [(t, c) for t, paths in C.REENTRY_MATRIX.items() for c in paths]


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    """Workspaces with one ticket at each stage 4..8, its artifacts filled in (copied per
    test): one walk, a copy of the workspace (seal key and evidence registry included) at
    each stage."""
    out = {}
    root = tmp_path_factory.mktemp("walk") / "proj"
    root.mkdir()
    ws, _ = Workspace.init(root)
    t = ws.new_ticket("re")
    for s in range(9):
        fill(t.folder, s)
        if s >= 4:
            out[s] = kit.copy_workspace(root, tmp_path_factory.mktemp(f"at{s}") / "proj")
        if s < 8:
            t.advance()
    return out


@pytest.mark.parametrize("trigger,cls", REENTRY_CASES, ids=lambda v: str(v))
def test_every_reentry_row(prepared: dict[int, Path], tmp_path: Path, trigger: int, cls: str
                           ) -> None:
    root = tmp_path / "proj"
    shutil.copytree(prepared[trigger], root)
    ws = Workspace(root)
    t = ws.ticket("re")
    out = t.reenter(cls, f"{cls} found at stage {trigger}")
    path = _path_from(trigger, cls)
    st = t.state
    last = st.transitions[-1]
    assert last.classification == cls and last.from_stage == trigger
    assert st.active_reentry and st.classification == cls
    assert st.reentry.trigger_stage == trigger and st.reentry.classification == cls
    if path is None:  # stage-4 Local Fix stays in 4
        assert st.stage == 4 and out.to_stage == 4
        assert st.reentry.return_path == [4]
        visited = [4]
    else:
        assert st.stage == path[0] == last.to_stage
        assert st.reentry.return_path == list(path)
        assert st.permission == ("Unlocked" if path[0] == 4 else "Locked")
        assert last.permission_after == st.permission
        assert st.gates[trigger].status == "Fail"
        for n in path[1:]:
            assert st.gates[n].status in ("Not Started", "Fail")
        visited = [st.stage]
        upstream = [a.strip() for a in st.reentry.upstream_artifacts.split(",")]
        while st.active_reentry:
            revise(t, st.stage, upstream)
            t.advance()
            st = t.state
            visited.append(st.stage)
        assert visited[:-1] == list(path), (visited, path)
        assert visited[-1] == trigger + 1
    st = t.state
    if path is None:
        revise(t, 4, ["implementation.md"])
        t.advance()
        st = t.state
        assert st.stage == 5
    assert not st.active_reentry and st.classification is None
    assert st.reentry.classification is None and st.reentry.return_path is None
    assert st.permission == "Locked"
    ids = [r.id for r in st.transitions]
    assert ids == [f"T-{i:03d}" for i in range(1, len(ids) + 1)]


def revise(t, stage: int, upstream: list[str]) -> None:  # type: ignore[no-untyped-def]
    """What a re-entry is for: the stage's artifact, when the re-entry names it, is updated
    with what was learned (without it, the path is not walked: test below)."""
    art = C.STAGES[stage].artifact
    if art in upstream:
        with (t.folder / art).open("a") as fh:
            fh.write(f"\n<!-- revised after the re-entry (stage {stage}) -->\n")


def test_reentry_path_needs_the_upstream_artifacts_changed(prepared: dict[int, Path],
                                                          tmp_path: Path) -> None:
    """A Plan Impact re-entry from stage 5 names investigation-notes.md, experiment-plan.md
    and implementation.md: each stage of the path 1 -> 3 -> 4 -> 5 passes only once its own
    artifact changed since the re-entry (by content: touching the file is not enough)."""
    root = tmp_path / "proj"
    shutil.copytree(prepared[5], root)
    t = Workspace(root).ticket("re")
    t.reenter("Plan Impact", "the plan ignored class imbalance")
    assert t.state.stage == 1
    notes = t.folder / "investigation-notes.md"
    notes.write_text(notes.read_text())  # rewritten, same bytes: not a change
    with pytest.raises(GateFailed) as exc:
        t.advance()
    bad = [c for c in exc.value.report.failing() if c.id == "s1.reentry.changed"]
    assert len(bad) == 1 and bad[0].file == "investigation-notes.md"
    assert "investigation-notes.md is unchanged since the Plan Impact re-entry from stage 5" \
        in bad[0].reason and "update investigation-notes.md" in bad[0].reason
    assert t.state.stage == 1
    revise(t, 1, ["investigation-notes.md"])
    assert t.advance().to_stage == 3
    with pytest.raises(GateFailed, match="experiment-plan.md is unchanged"):
        t.advance()
    revise(t, 3, ["experiment-plan.md"])
    assert t.advance().to_stage == 4
    with pytest.raises(GateFailed, match="implementation.md is unchanged"):
        t.advance()
    revise(t, 4, ["implementation.md"])
    assert t.advance().to_stage == 5  # the trigger stage: the path ends when it passes
    assert t.state.active_reentry and t.state.stage == 5


INVALID = [(s, c) for s in range(9) for c in C.CLASSIFICATIONS
           if c not in C.REENTRY_MATRIX.get(s, {})]


@pytest.mark.parametrize("stage,cls", INVALID, ids=lambda v: str(v))
def test_every_other_reentry_is_refused(prepared: dict[int, Path], tmp_path: Path, stage: int,
                                        cls: str) -> None:
    root = tmp_path / "proj"
    if stage in prepared:
        shutil.copytree(prepared[stage], root)
        ws = Workspace(root)
        t = ws.ticket("re")
    else:
        root.mkdir()
        ws, _ = Workspace.init(root)
        t = walk_to(ws, "re", min(stage, 8))
    before = t.state_path.read_bytes()
    with pytest.raises(TransitionNotAllowed) as exc:
        t.reenter(cls, "x")
    err = exc.value
    assert err.stage == stage and err.allowed
    if stage in C.REENTRY_MATRIX:
        assert "valid:" in err.reason
    else:
        assert "stages 4-7" in err.reason
    assert t.state_path.read_bytes() == before  # nothing written


def test_block_and_unblock(ws: Workspace) -> None:
    t = walk_to(ws, "blk", 2)
    with pytest.raises(TransitionNotAllowed, match="only stages 0, 5, 7, 8"):
        t.block("no gpu")
    t = walk_to(ws, "blk5", 5)
    t.block("cluster down")
    assert t.state.gates[5].status == "Blocked"
    fill(t.folder, 5)
    with pytest.raises(TransitionNotAllowed, match="Blocked"):
        t.advance()
    t.unblock("cluster back")
    assert t.state.gates[5].status == "In Progress"
    assert t.advance().to_stage == 6


def test_graph_is_clean_mermaid_with_the_path_and_the_current_stage(ws: Workspace) -> None:
    t = walk_to(ws, "g", 5)
    t.reenter("Plan Impact", "the plan missed the epochs")  # 5 -> 1, path 1 -> 3 -> 4 -> 5
    revise(t, 1, ["investigation-notes.md"])  # a re-entry must change what it names
    t.advance()  # 1 -> 3: the return path skips stage 2
    text = t.graph()
    lines = [line.strip() for line in text.splitlines()]
    assert "stateDiagram-v2" in lines and '"2 Requirements & Success Criteria"' in text
    assert "class S3 current" in lines  # the current stage is marked
    assert "class S0,S1,S2,S4,S5 visited" in lines  # and the stages visited so far
    assert "S0 --> S1: T-001" in lines and "S5 --> S1: T-006 Plan Impact" in lines
    assert "S1 --> S3: T-007" in lines  # the skip taken on the return path
    defined = {line.split()[1] for line in lines if line.startswith("classDef ")}
    used = {line.split()[-1] for line in lines if line.startswith("class ")}
    assert defined == used == {"current", "visited"}  # no unused classDefs
    edge_labels = [line.split(": ", 1)[1] for line in lines if "-->" in line and ": " in line]
    for label in edge_labels:
        parts = label.split(", ")
        assert len(parts) == len(set(parts)), label  # no duplicated labels
    assert "[internal]" not in text and "reenter | reenter" not in text


def test_state_file_structure_preserved_through_walk(ws: Workspace) -> None:
    t = walk_to(ws, "keep", 3)
    doc = StateDoc.load(t.state_path)
    assert doc.sections_in_order
    tmpl = (Path(__file__).resolve().parents[1] / "shared" / "workflow-state-template.md").read_text()
    # The fixed tables (contract, matrix) are untouched.
    for title in ("Stage Transition Contract", "Transition Matrix"):
        a = doc.doc.section(title)
        assert a is not None and "\n".join(a.body).strip() in tmpl


def test_statuses_cache_follows_every_change(ws: Workspace) -> None:
    """`mlgate status` of all tickets answers unchanged tickets from a cache: any change of a
    state file (a move, a hand edit) must show at once."""
    a = walk_to(ws, "cache-a", 1)
    walk_to(ws, "cache-b", 2)
    first = {d["ticket"]: d for d in ws.statuses()}
    assert (first["cache-a"]["stage"], first["cache-b"]["stage"]) == (1, 2)
    cache = ws.root / ".mlgate" / "status-cache.json"
    assert cache.exists()
    assert {d["ticket"]: d for d in Workspace(ws.root).statuses()} == first  # from the cache
    fill(a.folder, 1)
    a.advance()
    again = {d["ticket"]: d for d in Workspace(ws.root).statuses()}
    assert again["cache-a"]["stage"] == 2 and again["cache-b"] == first["cache-b"]
    text = a.state_path.read_text().replace("- Code Edit Permission: `Locked`",
                                            "- Code Edit Permission: `Unlocked`")
    a.state_path.write_text(text)
    tampered = {d["ticket"]: d for d in Workspace(ws.root).statuses()}["cache-a"]
    assert tampered["seal"] == "broken" and tampered["permission"] == "Locked"
    a.state_path.write_text("# not a state file\n")
    broken = {d["ticket"]: d for d in Workspace(ws.root).statuses()}["cache-a"]
    assert "error" in broken and "Workflow State" in broken["error"]


def _status_from_model(t) -> dict:  # type: ignore[no-untyped-def]
    st = t.state
    return {"stage": st.stage, "stage_name": st.stage_name, "next_stage": st.next_stage,
            "permission": st.effective_permission, "recorded_permission": st.permission,
            "seal": st.seal, "active_reentry": st.active_reentry,
            "classification": st.classification, "return_path": st.reentry.return_path,
            "last_transition": st.last_transition_id,
            "gates": [{"stage": g.stage, "name": g.name, "status": g.status,
                       "evidence": g.evidence} for g in st.gates],
            "violations": [v.model_dump() for v in st.violations if v.cleared is False]}


def test_status_agrees_with_the_public_model(ws: Workspace) -> None:
    """`status` is built straight from the parsed file (no pydantic); at every step of a walk
    with a re-entry, a hand edit and a repair it says what `ticket.state` says."""
    t = ws.new_ticket("agree")
    seen = []
    for s in range(6):
        data = t.status()
        assert {k: data[k] for k in _status_from_model(t)} == _status_from_model(t)
        seen.append(data["stage"])
        fill(t.folder, s)
        if s < 5:
            t.advance()
    t.reenter("Local Fix", "smoke fails on the new loss")
    assert t.status()["active_reentry"] and t.status()["return_path"]
    assert {k: t.status()[k] for k in _status_from_model(t)} == _status_from_model(t)
    t.state_path.write_text(t.state_path.read_text().replace(
        "- Code Edit Permission: `Unlocked`", "- Code Edit Permission: `Locked`", 1))
    broken = t.status()
    assert broken["seal"] == "broken"
    assert {k: broken[k] for k in _status_from_model(t)} == _status_from_model(t)
    t.doctor(repair=True)
    repaired = t.status()
    assert repaired["violations"] and repaired["violations"][0]["cleared"] is False
    assert {k: repaired[k] for k in _status_from_model(t)} == _status_from_model(t)
    assert seen == [0, 1, 2, 3, 4, 5]
