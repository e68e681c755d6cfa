"""The commit a ticket entered each stage at (stage-4 "changed files", stage-6 "no source
change") is kept in the state file on a sealed ``mlgate-stage-entry`` line, written in the
same atomic write as the move: a hand edit of it breaks the seal like any owned field."""
from __future__ import annotations

from pathlib import Path

import pytest

from conftest import git
from mlgate import git as G
from mlgate.errors import SealBroken, StateFileError
from mlgate.state.statefile import StateDoc
from test_walk import fill, walk_to

TEMPLATE = Path(__file__).resolve().parents[1] / "shared" / "workflow-state-template.md"


def test_entries_are_sealed_in_the_state_file(git_workspace) -> None:  # type: ignore[no-untyped-def]
    t = walk_to(git_workspace, "entries", 4)
    head = G.head(t.checkout)
    doc = t.doc()
    assert doc.stage_entries == {1: head, 2: head, 3: head, 4: head}
    assert t.stage_entries() == doc.stage_entries
    assert not (t.folder / "evidence" / "stage-entry.json").exists()
    lines = t.state_path.read_text().splitlines()
    assert lines[-2] == f"<!-- mlgate-stage-entry: 1={head} 2={head} 3={head} 4={head} -->"
    assert lines[-1].startswith("<!-- mlgate-seal: v2 ")
    assert t.state.seal == "valid"

    # moving the stage-4 entry forward would hide source changes from the stage-4 gate
    t.state_path.write_text(t.state_path.read_text().replace(f"4={head}", "4=" + "0" * 40))
    st = t.state
    assert st.seal == "broken" and st.effective_permission == "Locked"
    assert any(p["id"] == "seal" for p in t.doctor().problems)
    with pytest.raises(SealBroken):
        t.advance()


@pytest.mark.parametrize("line", [
    "<!-- mlgate-stage-entry: 4=xyz -->",
    "<!-- mlgate-stage-entry: 9=" + "a" * 40 + " -->",
    "<!-- mlgate-stage-entry: 4=" + "a" * 40,
])
def test_a_malformed_entry_line_names_the_line(line: str) -> None:
    text = TEMPLATE.read_text()
    n = len(text.splitlines()) + 1
    with pytest.raises(StateFileError) as info:
        StateDoc.parse(text + line + "\n")
    assert info.value.line == n and "stage-entry" in str(info.value)


def test_two_entry_lines_are_refused() -> None:
    text = TEMPLATE.read_text() + ("<!-- mlgate-stage-entry: 4=" + "a" * 40 + " -->\n") * 2
    with pytest.raises(StateFileError, match="more than one"):
        StateDoc.parse(text)


def test_byte_code_caches_are_not_changed_source(git_workspace) -> None:  # type: ignore[no-untyped-def]
    """Since the stage-4 entry, a new source file must be listed in the Change Inventory;
    Python's byte-code caches written by running the code are not source."""
    t = walk_to(git_workspace, "pyc", 4)
    fill(t.folder, 4)
    pkg = t.checkout / "src"
    (pkg / "__pycache__").mkdir(parents=True, exist_ok=True)
    (pkg / "__pycache__" / "model.cpython-311.pyc").write_bytes(b"\x00")
    (pkg / "stray.pyc").write_bytes(b"\x00")
    (pkg / "brand_new.py").write_text("x = 1\n")
    git(t.checkout, "add", "-A")  # (a repository without a .gitignore for them)
    git(t.checkout, "commit", "-q", "-m", "work")
    reasons = " ".join(c.reason for c in t.check().checks if not c.ok)
    assert "src/brand_new.py" in reasons
    assert ".pyc" not in reasons and "__pycache__" not in reasons
