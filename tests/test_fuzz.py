"""Property-based and fuzzed inputs (hypothesis).

* State files: real, sealed files written by mlgate, damaged line by line and byte by byte.
  The parser either round-trips the text or raises :class:`StateFileError` with a line number
  inside the file; never another exception, never a hang. No damage unlocks a locked ticket.
* Artifacts: each stage's filled-in artifact, damaged the same way. ``gates.evaluate`` always
  answers with checks (never raises), for both profiles, in bounded time.
* The markdown primitives that were rewritten for speed give exactly the answers of the
  straightforward versions they replaced (kept below as the reference), and stay linear on
  pathological lines (long runs of spaces, pipes, backticks) that made regexes quadratic.

The unmarked tests run a few hundred inputs; the ``heavy`` variants run >= 10,000 in all.
"""
from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlgate import constants as C
from mlgate import gates as G
from mlgate.state import mdparse
from mlgate.errors import StateFileError
from mlgate.lock.policy import decide
from mlgate.state.statefile import StateDoc
from mlgate.state.seal import load_key, seal_state
from mlgate.workspace import Workspace
from test_walk import GOOD, fill, walk_to

NORMAL = 150  # examples per property in the normal run
HEAVY = 5500  # per property in the heavy run (two state-file and two artifact properties)
PER_INPUT_S = 5.0  # bounded time per input (generous: the machine is shared)
SETTINGS = dict(deadline=None, derandomize=False,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture,
                                       HealthCheck.filter_too_much])


# -- inputs ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """Real files written by mlgate: a ticket walked to stage 3 (locked), one walked to 5 and
    re-entered (`Plan Impact`: a log with classifications), and the template."""
    root = tmp_path_factory.mktemp("fuzz") / "proj"
    root.mkdir()
    ws, _ = Workspace.init(root)
    locked = walk_to(ws, "locked", 3)
    moved = walk_to(ws, "moved", 5)
    fill(moved.folder, 5)
    moved.reenter("Plan Impact", "the plan missed a metric")
    (root / "src").mkdir()
    (root / "src" / "model.py").write_text("x = 1\n")
    return {
        "root": root, "ws": ws, "locked": locked,
        "texts": [locked.state_path.read_text(), moved.state_path.read_text(),
                  (Path(__file__).resolve().parents[1] / "shared" /
                   "workflow-state-template.md").read_text()],
        "key": load_key(Path(root) / ".mlgate"),
    }


FRAGMENTS = [
    "", " ", "\t", "#", "# Workflow State", "## Current Snapshot", "## Transition Log",
    "## Stage Gates", "## Process Violation Log", "### sub", "```", "~~~", "---",
    "- Current Stage: `9`", "- Current Stage: `4`", "- Code Edit Permission: `Unlocked`",
    "- Code Edit Permission: Maybe", "- Active Re-Entry: `Perhaps`", "- Ticket:",
    "- Last Transition ID: `X-1`", "- Bootstrap Mode: `Svn`", "- : empty label",
    "| Transition ID | Date | From Stage | To Stage |", "| --- | --- | --- | --- |",
    "| T-001 | 2026-01-01 | 0 | 1 | r | N/A | Locked | x |", "| T-1 | d | 9 | 1 |",
    "| T-999 | d | a | b |", "| 4 Implementation | Pass | rule | ev |", "| 9 Nine | Pass |",
    "| 3 Experiment Plan | Done |", "| V-001 | x |", "| `a|b` | c \\| d |", "|", "||", "| |",
    "<!-- mlgate-seal: v1 " + "0" * 64 + " -->", "<!-- mlgate-seal: v2 zz -->",
    "<!-- mlgate-seal:", "\ufeff", "\x00", "\u2028", "\r", "\x0b", "é", "☃", "`", "``",
    "(`a` / `b`)", "- K (`A` / `B`): `A`",
]
junk_line = st.one_of(
    st.sampled_from(FRAGMENTS),
    st.text(max_size=60),
    st.text(alphabet="|`\\-:#*+ \t()/<>!0123456789abcTV", max_size=80),
    st.builds(lambda f, n: f * n, st.sampled_from(["|", "`", " ", "#", "- ", "(`a` ", "| a "]),
              st.integers(1, 3000)),
)
EDITS = ("delete", "duplicate", "replace", "insert", "truncate", "swap", "ending", "case")


@st.composite
def damaged(draw: st.DrawFn, texts: list[str]) -> str:
    """One of ``texts`` after 1-6 random line edits."""
    lines = draw(st.sampled_from(texts)).splitlines(keepends=True)
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(EDITS))
        n = len(lines)
        i = draw(st.integers(0, max(0, n - 1)))
        if op == "delete" and n:
            del lines[i]
        elif op == "duplicate" and n:
            lines.insert(draw(st.integers(0, n)), lines[i])
        elif op == "replace" and n:
            lines[i] = draw(junk_line) + "\n"
        elif op == "insert":
            lines.insert(draw(st.integers(0, n)), draw(junk_line) + "\n")
        elif op == "truncate" and n:
            lines[i] = lines[i][: draw(st.integers(0, len(lines[i])))]
        elif op == "swap" and n > 1:
            j = draw(st.integers(0, n - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "ending" and n:
            lines[i] = lines[i].rstrip("\r\n") + draw(st.sampled_from(["\r\n", "\r", "", "\n\n"]))
        elif op == "case" and n:
            lines[i] = lines[i].swapcase()
    return "".join(lines)


# -- the state-file parser --------------------------------------------------------------------


def parse_or_error(text: str, path: str = "tickets/in-progress/x/workflow-state.md"
                   ) -> StateDoc | StateFileError:
    start = time.perf_counter()
    try:
        result: StateDoc | StateFileError = StateDoc.parse(text, path)
    except StateFileError as exc:
        result = exc
    elapsed = time.perf_counter() - start
    assert elapsed < PER_INPUT_S, f"parsing took {elapsed:.1f}s ({len(text)} characters)"
    return result


def check_state_property(text: str, key: bytes | None) -> None:
    res = parse_or_error(text)
    if isinstance(res, StateFileError):
        n_lines = max(1, len(mdparse.split_lines(text)))  # as editors count lines
        assert res.line is not None and 1 <= res.line <= n_lines, (res.line, n_lines, str(res))
        assert str(res).startswith(f"{res.path}:{res.line}: "), str(res)
        assert res.exit_code == 3
        return
    assert res.render() == text  # never changes what it read
    assert seal_state(res, key) in ("valid", "missing", "broken")
    again = StateDoc.parse(res.render(), res.path)  # and parses what it renders
    assert again.snapshot == res.snapshot and again.transitions == res.transitions


@settings(max_examples=NORMAL, **SETTINGS)
@given(data=st.data())
def test_damaged_state_files_parse_or_name_the_line(corpus: dict, data: st.DataObject) -> None:
    check_state_property(data.draw(damaged(corpus["texts"])), corpus["key"])


@pytest.mark.heavy
@settings(max_examples=HEAVY, **SETTINGS)
@given(data=st.data())
def test_damaged_state_files_heavy(corpus: dict, data: st.DataObject) -> None:
    check_state_property(data.draw(damaged(corpus["texts"])), corpus["key"])


def check_bytes_property(tmp: Path, raw: bytes) -> None:
    path = tmp / "workflow-state.md"
    path.write_bytes(raw)
    start = time.perf_counter()
    try:
        StateDoc.load(path)
    except StateFileError as exc:
        n_lines = max(1, len(mdparse.split_lines(raw.decode("utf-8", "replace"))))
        assert exc.line is not None and 1 <= exc.line <= n_lines, (exc.line, n_lines, str(exc))
        assert str(path) in str(exc)
    assert time.perf_counter() - start < PER_INPUT_S


@st.composite
def flipped_bytes(draw: st.DrawFn, texts: list[str]) -> bytes:
    raw = bytearray(draw(st.sampled_from(texts)).encode("utf-8"))
    for _ in range(draw(st.integers(1, 8))):
        i = draw(st.integers(0, len(raw) - 1))
        raw[i] = draw(st.sampled_from([0x00, 0x0A, 0x0D, 0x7C, 0x60, 0x80, 0xC3, 0xFF, 0xFE,
                                       0xE2, draw(st.integers(0, 255))]))
    return bytes(raw)


@settings(max_examples=NORMAL, **SETTINGS)
@given(data=st.data())
def test_flipped_bytes_load_or_name_the_line(corpus: dict, tmp_path: Path,
                                            data: st.DataObject) -> None:
    check_bytes_property(tmp_path, data.draw(flipped_bytes(corpus["texts"])))


@pytest.mark.heavy
@settings(max_examples=HEAVY, **SETTINGS)
@given(data=st.data())
def test_flipped_bytes_heavy(corpus: dict, tmp_path: Path, data: st.DataObject) -> None:
    check_bytes_property(tmp_path, data.draw(flipped_bytes(corpus["texts"])))


def test_line_numbers_count_lines_as_editors_do() -> None:
    """A form feed, vertical tab or U+2028 inside a line does not start a new line (Python's
    str.splitlines would say it does, and every later line number would be off)."""
    template = (Path(__file__).resolve().parents[1] / "shared" /
                "workflow-state-template.md").read_text()
    bad = template.replace("- Current Stage: `0` / `1` / `2` / `3` / `4` / `5` / `6` / `7` / `8`",
                           "- Current Stage: `9`")
    bad = bad.replace("# Workflow State", "# Workflow State\n\nnotes\x0cpage\u2028two\x0bvt", 1)
    with pytest.raises(StateFileError) as exc:
        StateDoc.parse(bad)
    want = next(i for i, ln in enumerate(bad.split("\n"), 1) if "Current Stage: `9`" in ln)
    assert exc.value.line == want
    assert StateDoc.parse(template.replace("\n\n", "\n\x0c\n", 1)).render() == \
        template.replace("\n\n", "\n\x0c\n", 1)


@settings(max_examples=80, **SETTINGS)
@given(data=st.data())
def test_no_damage_unlocks_a_locked_ticket(corpus: dict, data: st.DataObject) -> None:
    """Whatever is done to the sealed state file of a stage-3 ticket, the lock keeps the
    source locked (an edit of what mlgate owns breaks the seal; no seal is never Unlocked)."""
    state = corpus["locked"].state_path
    original = state.read_text()
    text = data.draw(damaged([original]))
    # the attacker's favourite edits, on top of the random ones
    text = data.draw(st.sampled_from([text, text.replace("`3`", "`4`").replace(
        "`Locked`", "`Unlocked`"), re.sub(r"<!-- mlgate-seal.*\n?", "", text)]))
    state.write_text(text)
    try:
        d = decide(["src/model.py"], cwd=corpus["root"], root=corpus["root"])
    finally:
        state.write_text(original)
    assert not d.allowed, d.reason
    assert d.reason


# -- artifacts and gates ----------------------------------------------------------------------

ARTIFACT_STAGES = [(s.number, s.artifact) for s in C.STAGES if s.number > 0 and s.artifact]


@pytest.fixture(scope="module")
def artifact_ticket(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """The good digits ticket (every gate passes), non-git, with a stage-5 state file."""
    from mlgate.state.statefile import BOOTSTRAP_KEYS

    ws = tmp_path_factory.mktemp("arts")
    folder = ws / "tickets" / "in-progress" / "digits-cnn"
    shutil.copytree(GOOD, folder)
    (ws / "README.md").write_text("# digits\n")
    text = (Path(__file__).resolve().parents[1] / "shared" /
            "workflow-state-template.md").read_text()
    doc = StateDoc.parse(text, folder / C.STATE_FILE)
    doc.set_snapshot(ticket="digits-cnn", current_stage=5, permission="Locked")
    doc.set_bootstrap({k: ("Non-Git" if k == "Bootstrap Mode" else "N/A")
                       for k in BOOTSTRAP_KEYS})
    (folder / C.STATE_FILE).write_text(doc.render())
    originals = {name: (folder / name).read_text() for _, name in ARTIFACT_STAGES}
    return {"folder": folder, "state": StateDoc.load(folder / C.STATE_FILE),
            "originals": originals}


def check_gate_property(ticket: dict, stage: int, name: str, text: str) -> None:
    folder: Path = ticket["folder"]  # type: ignore[assignment]
    path = folder / name
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    n_lines = max(1, len(mdparse.split_lines(text)))
    try:
        for profile in ("strict", "basic"):
            ctx = G.GateContext(ticket="digits-cnn", folder=folder, state=ticket["state"],
                                profile=profile, handlers={4: ["torch-smoke"], 5: ["train"]},
                                verified_by="Ada Lovelace")
            start = time.perf_counter()
            report = G.evaluate(ctx, stage)  # never raises
            elapsed = time.perf_counter() - start
            assert elapsed < PER_INPUT_S, f"stage {stage} gate took {elapsed:.1f}s"
            assert report.stage == stage and report.checks
            assert report.ok == all(c.ok for c in report.checks)
            for c in report.checks:
                assert c.id.startswith(f"s{stage}.") and (c.ok or c.reason)
                if c.line is not None and c.file == name:
                    assert 1 <= c.line <= n_lines + 1, (c.id, c.line, n_lines)
    finally:
        path.write_text(ticket["originals"][name])  # type: ignore[index]


@st.composite
def damaged_artifact(draw: st.DrawFn, originals: dict[str, str]) -> tuple[int, str, str]:
    stage, name = draw(st.sampled_from(ARTIFACT_STAGES))
    return stage, name, draw(damaged([originals[name]]))


@settings(max_examples=NORMAL, **SETTINGS)
@given(data=st.data())
def test_damaged_artifacts_get_checks_not_tracebacks(artifact_ticket: dict,
                                                     data: st.DataObject) -> None:
    stage, name, text = data.draw(damaged_artifact(artifact_ticket["originals"]))
    check_gate_property(artifact_ticket, stage, name, text)


@pytest.mark.heavy
@settings(max_examples=HEAVY, **SETTINGS)
@given(data=st.data())
def test_damaged_artifacts_heavy(artifact_ticket: dict, data: st.DataObject) -> None:
    stage, name, text = data.draw(damaged_artifact(artifact_ticket["originals"]))
    check_gate_property(artifact_ticket, stage, name, text)


@settings(max_examples=60, **SETTINGS)
@given(data=st.data(), text=st.text(max_size=2000))
def test_arbitrary_text_as_an_artifact(artifact_ticket: dict, data: st.DataObject,
                                       text: str) -> None:
    stage, name = data.draw(st.sampled_from(ARTIFACT_STAGES))
    check_gate_property(artifact_ticket, stage, name, text)


# -- the rewritten markdown primitives: same answers, linear time -----------------------------


def ref_split_row(line: str) -> list[str] | None:
    """The character loop ``mdparse.split_row`` replaced (the reference behaviour)."""
    s = line.strip()
    if not s.startswith("|"):
        return None
    cells: list[str] = []
    buf: list[str] = []
    in_tick = False
    i = 1
    while i < len(s):
        ch = s[i]
        if ch == "\\" and i + 1 < len(s) and s[i + 1] == "|":
            buf.append("|")
            i += 2
            continue
        if ch == "`":
            in_tick = not in_tick
        if ch == "|" and not in_tick:
            cells.append("".join(buf).strip())
            buf = []
        else:
            buf.append(ch)
        i += 1
    tail = "".join(buf).strip()
    if tail:
        cells.append(tail)
    return cells


def ref_split_label(body: str) -> tuple[str, str] | None:
    in_tick = False
    for i, ch in enumerate(body):
        if ch == "`":
            in_tick = not in_tick
        elif ch == ":" and not in_tick:
            if i + 1 == len(body) or body[i + 1] in " \t":
                label = body[:i].strip()
                if not label:
                    return None
                return label, body[i + 1:].strip()
    return None


_REF_PAREN = re.compile(r"\s*\((?:`[^`]*`\s*/?\s*)+\)")
_REF_HEADING = re.compile(r"^(#{1,6})[ \t]+(.*?)[ \t#]*$")


def ref_label_key(label: str) -> str:
    return _REF_PAREN.sub("", label).strip()


def ref_heading(line: str) -> tuple[int, str] | None:
    m = _REF_HEADING.match(line)
    return (len(m.group(1)), m.group(2).strip()) if m else None


MD_ALPHABET = "|`\\:-#*+ \t()/ab\u00a0\x0b~"


@settings(max_examples=3000, deadline=None)
@given(st.text(alphabet=MD_ALPHABET, max_size=40))
def test_fast_primitives_match_the_reference(text: str) -> None:
    assert mdparse.split_row(text) == ref_split_row(text)
    assert mdparse.split_label(text) == ref_split_label(text)
    assert mdparse.label_key(text) == ref_label_key(text)
    line = text.replace("\n", "")
    heading = _REF_ATX.match(line)
    want = (len(heading.group(1)), heading.group(2).rstrip(" \t#").strip()) if heading else None
    assert mdparse.heading(line) == want == ref_heading(line)
    item = _REF_BULLET.match(line)
    assert mdparse.bullet(line) == (item.group(1, 2) if item else None)


# The regexes that mdparse.heading / mdparse.bullet replace with string operations.
_REF_ATX = re.compile(r"^(#{1,6})[ \t]+(.*)$")
_REF_BULLET = re.compile(r"^([ \t]*)[-*+][ \t]+(.*)$")


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(alphabet=MD_ALPHABET,
                                                             max_size=20)), max_size=40),
       st.sampled_from(["\n", "\r\n"]))
def test_documents_parse_alike_with_the_line_cache(lines: list[str], nl: str) -> None:
    """Parsing twice (the second time from the per-line cache) gives the same document."""
    text = nl.join(lines)

    def dump(d: mdparse.Document) -> object:
        return (d.title, d.title_line, [
            (s.title, s.level, s.line, s.end, [(f.label, f.key, f.raw, f.line, f.indent)
                                               for f in s.fields],
             [(t.header, t.line, t.end_line, [(r.cells, r.line) for r in t.rows], t.keys)
              for t in s.tables], s.body) for s in d.sections])

    mdparse._LINE_KINDS.clear()
    first = dump(mdparse.Document(text))
    assert dump(mdparse.Document(text)) == first


def _seconds(fn) -> float:  # type: ignore[no-untyped-def]
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


PATHOLOGICAL = {
    "heading + spaces": lambda n: "# a" + " " * n + "b\n",
    "label + spaces before an enum": lambda n: "## S\n- (`a`" + " " * n + "x: y\n",
    "row of ticked pipes": lambda n: "## S\n| `" + "a|" * n + "` |\n",
    "row of escaped pipes": lambda n: "## S\n| a " + "\\|" * n + " |\n",
    "many short lines": lambda n: "## S\n" + "- k: v\n" * (n // 10),
}


@pytest.mark.parametrize("kind", PATHOLOGICAL)
def test_pathological_lines_parse_in_linear_time(kind: str) -> None:
    """Eight times the input may cost about eight times the time, not sixty-four."""
    make = PATHOLOGICAL[kind]
    small, large = make(20_000), make(160_000)
    t_small = _seconds(lambda: mdparse.Document(small))
    t_large = _seconds(lambda: mdparse.Document(large))
    assert t_large < 1.0 or t_large < 24 * max(t_small, 1e-3), (kind, t_small, t_large)
    with pytest.raises(StateFileError):  # and the state parser says what is wrong, quickly
        StateDoc.parse(large)


def test_long_path_cells_are_read_in_linear_time() -> None:
    from mlgate import artifacts as A

    for make in (lambda n: "a" + " " * n + "b", lambda n: "[a](" + "b" * n):
        t_small = _seconds(lambda: A.paths_in_cell(make(2_000)))
        start = time.perf_counter()
        A.paths_in_cell(make(16_000))
        t_large = time.perf_counter() - start
        assert t_large < 0.1 or t_large < 24 * max(t_small, 1e-4), (t_small, t_large)
