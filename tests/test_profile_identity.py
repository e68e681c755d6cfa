"""The ``dl`` profile is the gates as they were: the same report, byte for byte, on every
ticket of the corpus (``tests/gate_corpus.py``: the gate tests' tickets, their single-defect
cases, fuzzed artifacts and a git-mode ticket; about 11,500 reports).

The reports of the gates before domain profiles are not stored: they are rebuilt here from
the code of the last commit before the profiles merge (``BEFORE``), taken from this
repository's git history with ``git archive`` and run in a subprocess on the same golden
workspace. Each report is keyed by what was evaluated (case, stage, context and a digest of
the ticket's files), so the two sides compare the same inputs even where the gate tests
gained cases since.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

import gate_corpus

pytestmark = pytest.mark.slow  # two corpora of ~11,500 gate reports: ~90 s on 2 cores

REPO = Path(__file__).resolve().parent.parent
#: the last commit whose gates knew nothing of domain profiles
BEFORE = "f530b65"


@pytest.fixture(scope="module")
def corpora(golden: Path, tmp_path_factory: pytest.TempPathFactory
            ) -> tuple[dict[str, str], dict[str, str] | None]:
    """Every report of this code (built here), and the digest of every report of the code
    at ``BEFORE`` (built at the same time in a subprocess; None where the commit is not in
    this clone's history)."""
    have = subprocess.run(["git", "cat-file", "-e", f"{BEFORE}^{{commit}}"], cwd=REPO,
                          capture_output=True)
    proc = None
    if have.returncode == 0:
        old = tmp_path_factory.mktemp("before")
        tar = subprocess.run(["git", "archive", "--format=tar", BEFORE, "mlgate", "tests",
                              "shared"], cwd=REPO, capture_output=True, check=True).stdout
        with tarfile.open(fileobj=io.BytesIO(tar)) as tf:
            tf.extractall(old, filter="data")
        out = old / "digests.json"
        env = {**os.environ, "PYTHONPATH": f"{old}{os.pathsep}{old / 'tests'}"}
        proc = subprocess.Popen([sys.executable, str(old / "tests" / "gate_corpus.py"),
                                 "digests", str(out), str(golden)], cwd=old, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        reports = gate_corpus.build(golden, tmp_path_factory.mktemp("corpus"))
    finally:
        if proc is not None:
            _, err = proc.communicate(timeout=600)
    if proc is None:
        return reports, None
    assert proc.returncode == 0, err[-3000:]
    assert f"mlgate from {old / 'mlgate'}" in err  # the old code, not this checkout's
    return reports, json.loads(out.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def reports(corpora: tuple[dict[str, str], dict[str, str] | None]) -> dict[str, str]:
    return corpora[0]


@pytest.fixture(scope="module")
def before(corpora: tuple[dict[str, str], dict[str, str] | None]) -> dict[str, str]:
    if corpora[1] is None:
        pytest.skip(f"commit {BEFORE} is not in this clone's history (a shallow clone?): "
                    f"the gates before profiles cannot be rebuilt to compare with")
    return corpora[1]


def test_dl_reports_are_byte_identical(reports: dict[str, str],
                                       before: dict[str, str]) -> None:
    common = [k for k in before if k in reports]
    # the corpus must still cover what the old code evaluated (a key disappears only when a
    # gate test case changes; most must stay, or this test would compare nothing)
    assert len(common) >= 0.95 * len(before), (len(common), len(before))
    assert len(common) > 10_000
    changed = [k for k in common
               if hashlib.sha256(reports[k].encode("utf-8")).hexdigest() != before[k]]
    shown = "\n".join(f"{k}\n  now: {reports[k][:600]}" for k in changed[:5])
    assert not changed, f"{len(changed)} of {len(common)} reports changed:\n{shown}"


def test_corpus_exercises_failures(reports: dict[str, str]) -> None:
    """The corpus is not a set of passing tickets: most checks fail somewhere in it."""
    parsed = [json.loads(v) for v in reports.values()]
    failing = {c["id"] for r in parsed for c in r["checks"] if not c["ok"]}
    assert sum(not r["ok"] for r in parsed) > 800
    assert len(failing) >= 130, sorted(failing)
    assert any(k.startswith("git:") for k in reports)
