"""A corpus of gate reports, to prove that a refactoring of the gates changes no report.

The corpus is built from the tickets the gate tests already use and from fuzzed variants
of them, entirely in a temporary folder and deterministically (no hypothesis, a seeded
``random.Random``; git commits with fixed dates and identities):

* the good digits ticket of ``tests/data/artifacts/good``, every stage, with several gate
  contexts (strictness, stage-5 policy, handlers, verification);
* every single-defect case of ``tests/test_gates.py`` (``CASES``), every stage;
* the hurried agent's plan and report of ``tests/data/artifacts/bad``;
* each stage artifact damaged by a few random line edits (delete, duplicate, swap, replace
  by junk or by a line taken from another artifact), every stage;
* a git-mode copy of the ticket in a real repository with a worktree, with source changes
  committed, left uncommitted, and docs changed.

Each report is keyed by *what was evaluated* (the case's name, the stage, the context, a
digest of the ticket's files), never by its position in a list, so adding a case to the
gate tests adds keys without shifting the others. Paths of the temporary folder are
replaced by ``<TMP>`` before a report is digested.

Only the public gate API that existed before domain profiles is used (``GateContext``,
``evaluate``, ``GateReport.to_dict``), so the same file builds the reports of an older
mlgate too: ``tests/test_profile_identity.py`` builds the corpus with this code and, in a
subprocess, with the code of the last commit before domain profiles (taken from git
history), on the same golden workspace, and compares every report::

    python tests/gate_corpus.py digests OUT.json GOLDEN   # a digest of every report
    python tests/gate_corpus.py dump DIR GOLDEN           # every report as a file, to diff
"""
from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

FUZZ_SEED = 19
FUZZ_PER_ARTIFACT = 60
GIT_DATE = "2026-05-01T12:00:00+00:00"


def _env_for_git() -> dict[str, str]:
    env = dict(os.environ)
    env.update({"GIT_AUTHOR_NAME": "Corpus", "GIT_AUTHOR_EMAIL": "corpus@example.com",
                "GIT_COMMITTER_NAME": "Corpus", "GIT_COMMITTER_EMAIL": "corpus@example.com",
                "GIT_AUTHOR_DATE": GIT_DATE, "GIT_COMMITTER_DATE": GIT_DATE,
                "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull})
    for var in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):
        env.pop(var, None)
    return env


def _git(cwd: Path, *args: str) -> str:
    out = subprocess.run(["git", "-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false",
                          *args], cwd=cwd, capture_output=True, text=True, check=True,
                         env=_env_for_git())
    return out.stdout.strip()


def _folder_digest(folder: Path, normalise: Callable[[str], str]) -> str:
    """A digest of the ticket's files (temporary paths in them normalised)."""
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            h.update(p.relative_to(folder).as_posix().encode())
            h.update(b"\0")
            h.update(normalise(p.read_bytes().decode("utf-8", "replace")).encode("utf-8"))
            h.update(b"\0")
    return h.hexdigest()[:16]


class _Collector:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.reports: dict[str, str] = {}

    def normalise(self, text: str) -> str:
        for p in {str(self.tmp), str(self.tmp.resolve())}:
            text = text.replace(p, "<TMP>")
        return text

    def add(self, key: str, report: Any) -> None:
        text = json.dumps(report.to_dict(), sort_keys=True, ensure_ascii=False)
        if key in self.reports and self.reports[key] != self.normalise(text):
            raise AssertionError(f"corpus key {key!r} names two different reports")
        self.reports[key] = self.normalise(text)


# Context variants: name -> GateContext keyword arguments (on top of the ticket's own).
CONTEXTS: dict[str, dict[str, Any]] = {
    "strict": {"profile": "strict", "handlers": {4: ["torch-smoke"]}},
    "basic": {"profile": "basic", "handlers": {4: ["torch-smoke"]}},
}
GOOD_CONTEXTS: dict[str, dict[str, Any]] = {
    **CONTEXTS,
    "strict-nohandlers": {"profile": "strict", "handlers": {}},
    "strict-train": {"profile": "strict", "handlers": {4: ["torch-smoke"], 5: ["train"]}},
    "strict-permissive": {"profile": "strict", "stage5_policy": "permissive"},
    "strict-unverified": {"profile": "strict", "verified_by": None},
    "basic-unverified": {"profile": "basic", "verified_by": None},
    "strict-other-handler": {"profile": "strict", "handlers": {4: ["my-smoke"], 7: ["x"]}},
}


def _evaluate_all(col: _Collector, key: str, ticket: Any, contexts: dict[str, dict[str, Any]],
                  stages: range = range(9)) -> None:
    import mlgate.gates as G

    digest = _folder_digest(ticket.folder, col.normalise)
    for cname, kw in contexts.items():
        for stage in stages:
            report = G.evaluate(ticket.ctx(**kw), stage)
            col.add(f"{key}|{digest}|{cname}|s{stage}", report)


@contextmanager
def _fresh(tmp: Path, name: str) -> Iterator[Path]:
    root = tmp / name
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _apply(case: Any, ticket: Any) -> None:
    if callable(case.edits):
        case.edits(ticket)
    else:
        for old, new in case.edits:
            ticket.edit(case.file, old, new)


# --- fuzzing ---------------------------------------------------------------------------

JUNK = [
    "", " ", "#", "## Notes", "### sub", "```", "---", "| a | b |", "| --- | --- |", "|  |  |",
    "- Current Status: `Current`", "- Current Status: `Draft`", "- Current Status:",
    "- Last Updated:", "- Last Updated: 2026-05-02", "- Best run: RUN-009",
    "| RUN-003 | rerun | abc1234 | cfg | 1 | v1 | cpu | Running |  |",
    "| SC-009 | R-001 |  | RUN-001 |  | Passed |  |", "| EXP-001 |  |  |  |  | High |",
    "| W-009 | src/x.py | Create | why | none |", "| C-009 | src/x.py | Modify | p | Planned |",
    "| F-001 | High | data | leak | fix it |", "- Stage 5 Decision: `Fail`",
    "- Ready to unlock code edits: `No`", "- Docs impacted: `No`", "- Docs impacted: maybe",
    "| val/acc | accuracy | see code | wandb |", "| Smoke test or dry run passes | Fail |  |",
    "- Classification: `Huge`", "| Paper | arxiv | x | y |", "`", "é ☃", "\t- nested",
    "- YYYY-MM-DD: template", "| T-001 | YYYY-MM-DD |", "- Stage 6 Decision: `Pass`",
    "| R-001 | requirement | x |", "- Comparator: >=", "| Data leakage / split contamination | Fail | x |",
]


def _damaged(rng: random.Random, text: str, donors: list[str]) -> str:
    lines = text.splitlines(keepends=True)
    for _ in range(rng.randint(1, 4)):
        op = rng.choice(("delete", "duplicate", "swap", "junk", "donor", "truncate", "blank"))
        n = len(lines)
        if not n:
            break
        i = rng.randrange(n)
        if op == "delete":
            del lines[i]
        elif op == "duplicate":
            lines.insert(rng.randrange(n + 1), lines[i])
        elif op == "swap":
            j = rng.randrange(n)
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "junk":
            lines[i] = rng.choice(JUNK) + "\n"
        elif op == "donor":
            donor = rng.choice(donors).splitlines(keepends=True)
            if donor:
                lines.insert(rng.randrange(n + 1), rng.choice(donor))
        elif op == "truncate":
            lines[i] = lines[i][: rng.randrange(len(lines[i]) + 1)].rstrip("\n") + "\n"
        elif op == "blank":
            head, sep, _ = lines[i].partition(":")
            lines[i] = (head + sep + "\n") if sep else "\n"
    return "".join(lines)


# --- the corpus ---------------------------------------------------------------------------


def build(golden: Path, tmp: Path | None = None) -> dict[str, str]:
    """Every report of the corpus, by key, as normalised JSON text. ``golden`` is the golden
    digits workspace the gate tests copy (the ``golden`` fixture of ``conftest.py``: its
    evidence and runs made by mlgate itself)."""
    import test_gates as TG

    TG._GOLDEN[:] = [golden]

    own = tmp is None
    tmp = Path(tempfile.mkdtemp(prefix="mlgate-corpus-")) if tmp is None else tmp
    col = _Collector(tmp)
    try:
        # the good ticket
        with _fresh(tmp, "good") as root:
            t = TG.Ticket(root / "ws")
            _evaluate_all(col, "good", t, GOOD_CONTEXTS)
            for stage in range(9):  # the state file's own stage picks the gate
                t.state = TG.make_state(t.folder / "workflow-state.md", stage, TG.NON_GIT)
                col.add(f"good|default-stage|{stage}", G_evaluate(t.ctx()))
        # the single-defect cases of the gate tests
        for param in TG.CASES:
            case = param.values[0]
            with _fresh(tmp, "case") as root:
                t = TG.Ticket(root / "ws")
                _apply(case, t)
                ctxs = {n: {**kw, **case.ctx} for n, kw in CONTEXTS.items()}
                extra = json.dumps(case.ctx, sort_keys=True, default=str)
                _evaluate_all(col, f"case:{case.check}:{case.file}:{extra}", t, ctxs)
        # the hurried agent's files
        with _fresh(tmp, "bad") as root:
            t = TG.Ticket(root / "ws")
            for p in TG.BAD.iterdir():
                shutil.copy(p, t.folder / p.name)
            _evaluate_all(col, "bad", t, CONTEXTS)
        # fuzzed artifacts
        rng = random.Random(FUZZ_SEED)
        names = sorted(p.name for p in TG.GOOD.glob("*.md"))
        donors = [(TG.GOOD / n).read_text(encoding="utf-8") for n in names]
        for name in names:
            original = (TG.GOOD / name).read_text(encoding="utf-8")
            for _ in range(FUZZ_PER_ARTIFACT):
                text = _damaged(rng, original, donors)
                with _fresh(tmp, "fuzz") as root:
                    t = TG.Ticket(root / "ws")
                    (t.folder / name).write_text(text, encoding="utf-8")
                    _evaluate_all(col, f"fuzz:{name}", t, CONTEXTS)
        _git_corpus(col, tmp, TG)
    finally:
        if own:
            shutil.rmtree(tmp, ignore_errors=True)
    return col.reports


def G_evaluate(ctx: Any) -> Any:
    import mlgate.gates as G

    return G.evaluate(ctx)


def _git_corpus(col: _Collector, tmp: Path, TG: Any) -> None:
    """The ticket in a real repository: a worktree on codex/digits-cnn, the ticket and the
    stage-4 sources committed with fixed dates (so every sha is the same on every run)."""
    with _fresh(tmp, "git") as root:
        repo = root / "repo"
        repo.mkdir()
        _git(repo, "init", "-q", "-b", "main")
        (repo / "README.md").write_text("# demo\n")
        (repo / "src").mkdir()
        (repo / "src" / "model.py").write_text("x = 1\n")
        _git(repo, "add", "-A")
        _git(repo, "commit", "-q", "-m", "initial")
        wt = root / "repo.worktrees" / TG.TICKET
        _git(repo, "worktree", "add", "-q", "-b", f"codex/{TG.TICKET}", str(wt), "main")
        boot = {"Bootstrap Mode": "Git", "User-Specified Base Branch": "N/A",
                "Resolved Base Remote": "N/A", "Resolved Base Branch": "main",
                "Default Finalization Target Remote": "N/A",
                "Default Finalization Target Branch": "main",
                "Remote Refresh Performed": "N/A",
                "Remote Refresh Result": "no remote configured",
                # relative (to the worktree): no temporary path gets into a commit
                "Ticket Worktree Path": f"../repo.worktrees/{TG.TICKET}",
                "Ticket Branch": f"codex/{TG.TICKET}"}
        t = TG.Ticket(wt, TG.RepoFacts(wt), boot)
        t.git._run = _fixed_run(wt)  # fixed identities and dates for git, too
        _git(wt, "add", "-A")
        _git(wt, "commit", "-q", "-m", "ticket")
        entry4 = _git(wt, "rev-parse", "HEAD")
        for rel, text in TG.SOURCES.items():
            (wt / rel).parent.mkdir(parents=True, exist_ok=True)
            (wt / rel).write_text(text)
        _git(wt, "add", "-A")
        _git(wt, "commit", "-q", "-m", "CNN")
        code = _git(wt, "rev-parse", "HEAD")
        import mlgate.artifacts as A

        for run in ("RUN-001", "RUN-002"):
            A.set_table_row(t.path(TG.REPORT), "Run Registry", run, {"Code Basis": f"`{code}`"})
        _git(wt, "commit", "-q", "-am", "report")
        entries = {4: entry4, 5: code, 6: _git(wt, "rev-parse", "HEAD")}
        base: dict[str, Any] = {"stage_entry_commits": entries, "base_ref": "main",
                                "source_filter": _not_markdown}
        ctxs = {n: {**kw, **base} for n, kw in CONTEXTS.items()}
        ctxs["strict-no-entries"] = {"profile": "strict", "base_ref": "main"}
        ctxs["strict-no-base"] = {"profile": "strict", "stage_entry_commits": entries}
        steps: list[tuple[str, Callable[[], None]]] = [
            ("committed", lambda: None),
            ("docs", lambda: _commit(wt, "README.md", "# digits\n\nTrain: python -m digits\n")),
            ("extra-source", lambda: _commit(wt, "src/digits/extra.py", "x = 1\n")),
            ("ticket-file", lambda: _commit(wt, f"tickets/in-progress/{TG.TICKET}/n.md", "n\n")),
            ("dirty", lambda: (wt / "src" / "model.py").write_text("x = 2\n")),
            ("untracked", lambda: (wt / "src" / "new.py").write_text("y = 1\n")),
            ("old-basis", lambda: A.set_table_row(t.path(TG.REPORT), "Run Registry", "RUN-002",
                                                  {"Code Basis": f"`{entry4}`"})),
            ("bad-basis", lambda: A.set_table_row(t.path(TG.REPORT), "Run Registry", "RUN-001",
                                                  {"Code Basis": "`deadbeefcafe`"})),
            ("branch-gone", lambda: t.state.set_bootstrap({"Ticket Branch": "codex/other"})),
        ]
        for name, step in steps:
            step()
            _evaluate_all(col, f"git:{name}", t, ctxs)


def _fixed_run(root: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True,
                              env=_env_for_git())
    return run


def _commit(wt: Path, rel: str, text: str) -> None:
    p = wt / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)
    _git(wt, "add", "-A")
    _git(wt, "commit", "-q", "-m", f"change {rel}")


def _not_markdown(path: str) -> bool:
    return not path.endswith(".md")


# --- digests ------------------------------------------------------------------------------


def digests(reports: dict[str, str]) -> dict[str, str]:
    return {k: hashlib.sha256(v.encode("utf-8")).hexdigest() for k, v in sorted(reports.items())}


def main(argv: list[str]) -> int:
    """``gate_corpus.py digests OUT.json GOLDEN`` / ``gate_corpus.py dump DIR GOLDEN``."""
    if len(argv) != 4 or argv[1] not in ("digests", "dump"):
        print(__doc__)
        return 2
    import mlgate

    print(f"mlgate from {Path(mlgate.__file__).resolve().parent}", file=sys.stderr)
    reports = build(Path(argv[3]))
    out = Path(argv[2])
    if argv[1] == "digests":
        out.write_text(json.dumps(digests(reports), sort_keys=True), encoding="utf-8")
        print(f"{len(reports)} report digests written to {out}")
    else:
        out.mkdir(parents=True, exist_ok=True)
        for i, (key, text) in enumerate(sorted(reports.items())):
            (out / f"{i:06d}.json").write_text(key + "\n" + text + "\n", encoding="utf-8")
        print(f"{len(reports)} reports written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
