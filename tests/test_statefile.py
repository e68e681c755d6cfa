"""workflow-state.md: byte-identical round trips, typed views, edits, seal, bad input."""
from __future__ import annotations

import glob
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlgate.errors import StateFileError
from mlgate.state.mdparse import Document
from mlgate.state.statefile import StateDoc, TransitionRow, ViolationRow, parse_path
from mlgate.state.seal import load_key, seal_state

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "shared" / "workflow-state-template.md"


def template() -> str:
    return TEMPLATE.read_text()


def filled() -> StateDoc:
    doc = StateDoc.parse(template())
    doc.set_snapshot(ticket="digits", current_stage=0, next_stage=1, permission="Locked",
                     active_reentry=False, classification=None, last_updated="2026-11-22")
    return doc


def test_template_round_trips_byte_identical() -> None:
    text = template()
    assert StateDoc.parse(text).render() == text


@pytest.mark.parametrize("path", sorted(glob.glob(str(ROOT / "stages" / "*" / "*.md"))))
def test_every_stage_file_round_trips(path: str) -> None:
    text = Path(path).read_text()
    assert Document(text, path).render() == text


def test_template_views() -> None:
    doc = StateDoc.parse(template())
    assert doc.snapshot.current_stage is None  # alternatives shown: unset
    assert doc.snapshot.permission is None
    assert doc.snapshot.classification is None
    assert sorted(doc.gates) == list(range(9))
    assert doc.gates[3].label == "3 Experiment Plan"
    assert doc.transitions == []  # the T-001 example row is not an entry
    assert doc.violations == []
    assert doc.sections_in_order


def test_values_with_and_without_backticks() -> None:
    text = template().replace("- Current Stage: `0` / `1` / `2` / `3` / `4` / `5` / `6` / `7` / `8`",
                              "- Current Stage: 3")
    text = text.replace("- Code Edit Permission: `Locked` / `Unlocked`",
                        "- Code Edit Permission: `Locked`")
    doc = StateDoc.parse(text)
    assert doc.snapshot.current_stage == 3
    assert doc.snapshot.permission == "Locked"


def test_hand_filled_log_from_original_workflow_parses() -> None:
    text = template().replace(
        "| T-001 | YYYY-MM-DD | 0 | 1 | Bootstrap complete, moving to investigation | N/A | Locked | requirements.md, workflow-state.md |",
        "| T-001 | 2026-03-01 | 0 | 1 | Bootstrap complete | N/A | `Locked` | requirements.md |\n"
        "| T-002 | 2026-03-02 | 1 | 2 | Investigation done | N/A | Locked | investigation-notes.md |")
    doc = StateDoc.parse(text)
    assert [t.id for t in doc.transitions] == ["T-001", "T-002"]
    assert doc.transitions[0].permission_after == "Locked"
    assert doc.transitions[1].to_stage == 2
    assert doc.next_transition_id() == "T-003"


def test_edits_touch_only_owned_lines() -> None:
    text = template().replace("## Stage Transition Contract",
                              "Some notes a person wrote.\n\n## My Notes\n\nkeep me\n\n"
                              "## Stage Transition Contract")
    doc = StateDoc.parse(text)
    doc.set_snapshot(ticket="digits", current_stage=1, next_stage=2, permission="Locked",
                     active_reentry=False, classification=None, last_updated="2026-11-22")
    doc.set_gate(0, status="Pass", evidence="requirements.md, workflow-state.md")
    doc.append_transition(TransitionRow("T-001", "2026-11-22", 0, 1, "Bootstrap complete",
                                        None, "Locked", "requirements.md"))
    out = doc.render()
    assert "Some notes a person wrote.\n\n## My Notes\n\nkeep me\n" in out
    before, after = text.splitlines(), out.splitlines()
    changed = [a for a in after if a not in before]
    assert all(("Current Stage" in c or "Next Stage" in c or "Ticket:" in c or "Permission" in c
                or "Active Re-Entry" in c or "Classification" in c or "Last Updated" in c
                or c.startswith("| 0 Bootstrap") or c.startswith("| T-001")) for c in changed), changed
    again = StateDoc.parse(out)
    assert again.snapshot.current_stage == 1
    assert again.gates[0].status == "Pass"
    assert [t.id for t in again.transitions] == ["T-001"]
    assert "YYYY-MM-DD | 0 | 1" not in out  # the example row was replaced by the real one


def test_transition_ids_must_be_contiguous() -> None:
    doc = filled()
    with pytest.raises(ValueError):
        doc.append_transition(TransitionRow("T-002", "2026-11-22", 0, 1, "x", None, "Locked", ""))


def test_violation_append_and_clear() -> None:
    doc = filled()
    doc.append_violation(ViolationRow("2026-11-22", doc.next_violation_id(),
                                      "Source code edited while Locked", 3, "stopped", False))
    assert doc.violations[0].id == "V-001" and doc.violations[0].cleared is False
    doc.clear_violation("V-001")
    assert StateDoc.parse(doc.render()).violations[0].cleared is True


@pytest.mark.parametrize("old,new,line_has,msg", [
    ("- Current Stage: `0` / `1` / `2` / `3` / `4` / `5` / `6` / `7` / `8`", "- Current Stage: `9`",
     "Current Stage", "expected a stage number 0-8"),
    ("- Code Edit Permission: `Locked` / `Unlocked`", "- Code Edit Permission: `Open`",
     "Code Edit Permission", "allowed: Locked, Unlocked"),
    ("| 3 Experiment Plan | Not Started |", "| 3 Experiment Plan | Done |",
     "3 Experiment Plan", "gate status of stage 3 is 'Done'"),
])
def test_bad_values_name_file_and_line(old: str, new: str, line_has: str, msg: str) -> None:
    text = template()
    assert old in text
    bad = text.replace(old, new)
    with pytest.raises(StateFileError) as exc:
        StateDoc.parse(bad, "tickets/in-progress/x/workflow-state.md")
    err = exc.value
    assert err.line is not None and line_has in bad.splitlines()[err.line - 1]
    assert msg in str(err)
    assert str(err).startswith(f"tickets/in-progress/x/workflow-state.md:{err.line}:")


def test_missing_section_is_an_error() -> None:
    text = template().replace("## Transition Log", "## Transitions")
    with pytest.raises(StateFileError, match="missing section '## Transition Log'"):
        StateDoc.parse(text)


def test_seal_detects_hand_edits(tmp_path: Path) -> None:
    key = load_key(tmp_path, create=True)
    assert key is not None and (tmp_path / "seal.key").stat().st_mode & 0o777 == 0o600
    assert load_key(tmp_path) == key
    doc = filled()
    assert seal_state(doc, key) == "missing"
    doc.apply_seal(key)
    assert seal_state(StateDoc.parse(doc.render()), key) == "valid"
    tampered = doc.render().replace("- Code Edit Permission: `Locked`",
                                    "- Code Edit Permission: `Unlocked`")
    assert seal_state(StateDoc.parse(tampered), key) == "broken"
    prose = doc.render().replace("## Stage Transition Contract",
                                 "a note\n\n## Stage Transition Contract")
    assert seal_state(StateDoc.parse(prose), key) == "valid"  # prose is not sealed
    assert seal_state(StateDoc.parse(doc.render()), b"other-key") == "broken"


def test_parse_path() -> None:
    assert parse_path("`1 -> 3 -> 4 -> 5`") == (1, 3, 4, 5)
    assert parse_path("stay in `4`") == (4,)
    assert parse_path("whatever") is None


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40),
                max_size=6), st.integers(min_value=0, max_value=400))
def test_parser_only_raises_state_file_errors(snippets: list[str], cut: int) -> None:
    """Arbitrary damage to a real file: either it parses and round-trips, or a
    StateFileError with a line number; never another exception."""
    base = template().splitlines(keepends=True)
    pos = min(cut, len(base))
    text = "".join(base[:pos]) + "\n".join(snippets) + "".join(base[pos:])
    try:
        doc = StateDoc.parse(text)
    except StateFileError as exc:
        assert exc.line is None or exc.line >= 1
        return
    assert doc.render() == text


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_arbitrary_text_never_crashes(text: str) -> None:
    try:
        StateDoc.parse(text)
    except StateFileError:
        pass


@pytest.mark.parametrize("stage", range(9))
def test_model_built_without_revalidation_passes_validation(stage: int) -> None:
    """WorkflowState.from_doc skips pydantic's checks (status builds one per ticket); what
    the parser accepts must pass them anyway: the template, every stage, a re-entry, a
    violation, a gate Blocked, the template's alternatives left unset."""
    from mlgate.state.model import WorkflowState

    doc = filled()
    doc.set_snapshot(current_stage=stage, next_stage=stage + 1 if stage < 8 else None,
                     permission="Unlocked" if stage == 4 else "Locked",
                     active_reentry=stage == 5, classification="Local Fix" if stage == 5 else None)
    for n in range(9):
        doc.set_gate(n, status="Pass" if n < stage else ("Blocked" if n == stage else None),
                     evidence="requirements.md" if n < stage else "")
    if stage == 5:
        doc.set_reentry(5, "Local Fix", "5 -> 4 -> 5", "implementation.md", "smoke passes")
    for n in range(stage):
        doc.append_transition(TransitionRow(doc.next_transition_id(), "2026-11-22", n, n + 1,
                                            "moved", None, "Locked", "requirements.md"))
    doc.append_violation(ViolationRow("2026-11-22", doc.next_violation_id(), "edited", stage,
                                      "stopped", stage % 2 == 0))
    for d in (StateDoc.parse(doc.render()), StateDoc.parse(template())):
        for seal in ("valid", "missing", "broken"):
            st = WorkflowState.from_doc(d, seal)
            assert st.validated() == st
            assert st.model_dump() == st.validated().model_dump()
