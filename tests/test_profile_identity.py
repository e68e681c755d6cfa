"""The ``dl`` profile is the gates as they were: the same report, byte for byte, on every
ticket of the corpus (``tests/gate_corpus.py``: the gate tests' tickets, their single-defect
cases, fuzzed artifacts and a git-mode ticket; about 11,000 reports).

The digests in ``tests/data/gate-corpus.json.gz`` were recorded with the code before domain
profiles existed (re-record them from the main branch's code, never from a branch under
test: ``python tests/gate_corpus.py record``).
"""
from __future__ import annotations

import hashlib
import json
import pytest

import gate_corpus


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return gate_corpus.build(tmp_path_factory.mktemp("corpus"))


def test_dl_reports_are_byte_identical(reports: dict[str, str]) -> None:
    recorded = gate_corpus.load_digests()
    common = [k for k in recorded if k in reports]
    # the corpus must still cover what was recorded (a key disappears only when a gate test
    # case changes; most must stay, or this test would compare nothing)
    assert len(common) >= 0.95 * len(recorded), (len(common), len(recorded))
    assert len(common) > 10_000
    changed = [k for k in common
               if hashlib.sha256(reports[k].encode("utf-8")).hexdigest() != recorded[k]]
    shown = "\n".join(f"{k}\n  now: {reports[k][:600]}" for k in changed[:5])
    assert not changed, f"{len(changed)} of {len(common)} reports changed:\n{shown}"


def test_corpus_exercises_failures(reports: dict[str, str]) -> None:
    """The corpus is not a set of passing tickets: most checks fail somewhere in it."""
    parsed = [json.loads(v) for v in reports.values()]
    failing = {c["id"] for r in parsed for c in r["checks"] if not c["ok"]}
    assert sum(not r["ok"] for r in parsed) > 800
    assert len(failing) >= 130, sorted(failing)
    assert any(k.startswith("git:") for k in reports)
