"""The handler evidence interface (SPEC §9): what a stage handler returns and how it is kept.

A handler produces a :class:`HandlerResult`; mlgate saves it as
``<ticket>/evidence/<stage>-<handler>-<n>.json`` (``n`` counts up, nothing is overwritten).
A gate accepts a result only when it is ``Pass``, was taken at the ticket's current commit,
and the tracked source files were clean at the time (:func:`freshness`).

Stale temp files: every file mlgate writes goes through :func:`mlgate.util.atomic_write` (a
temp file ``.<name>.XXXXXXXX.tmp`` in the same folder, then a rename). A writer killed in
between leaves that temp file behind; :func:`remove_stale_temps` (called by every command
that takes the ticket's lock) and :func:`save` remove the ones that are provably stale.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import platform
import re
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from mlgate.constants import EVIDENCE_DIR, STATE_FILE
from mlgate.util import atomic_write, now_iso

RESULT_STATUSES = ("Pass", "Fail", "Blocked")
CHECK_STATUSES = ("pass", "fail", "skipped")
_EVIDENCE_RE = re.compile(r"^(?P<stage>\d)-(?P<handler>[A-Za-z0-9_.-]+)-(?P<n>\d+)\.json$")
#: The temp file of :func:`mlgate.util.atomic_write`: ``tempfile.mkstemp(prefix=".<name>.",
#: suffix=".tmp")``, whose random part is 8 characters of ``[a-z0-9_]``.
TEMP_RE = re.compile(r"^\.(?P<target>.+)\.[a-z0-9_]{8}\.tmp$")
#: Seconds a temp file of the ticket folder (other than the state file's) must have existed
#: before it counts as stale: ``verify`` and ``reopen`` update ``handoff-summary.md`` after
#: letting go of the ticket lock, so a younger one may belong to a write still under way.
STALE_TEMP_AGE = 5.0


@dataclass
class CheckResult:
    id: str
    status: str  # "pass" | "fail" | "skipped"
    detail: str = ""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status != "fail"


@dataclass
class HandlerResult:
    handler: str
    stage: int
    status: str  # "Pass" | "Fail" | "Blocked"
    checks: list[CheckResult] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    artifacts: list[str] = field(default_factory=list)
    commit: str | None = None
    dirty: bool = False
    dirty_files: list[str] = field(default_factory=list)  # uncommitted/untracked source files
    started: str | None = None
    finished: str | None = None
    environment: dict[str, Any] = field(default_factory=dict)
    error: str | None = None  # traceback tail when the handler raised
    extra: dict[str, Any] = field(default_factory=dict)  # handler-specific (e.g. "runs")
    evidence: str | None = None  # path of the saved JSON, relative to the ticket folder

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        extra = data.pop("extra")
        data.update(extra)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "HandlerResult":
        known = {f for f in cls.__dataclass_fields__}
        checks = [CheckResult(**{k: c.get(k) for k in ("id", "status", "detail", "seconds")
                                 if k in c}) for c in data.get("checks", [])]
        kwargs = {k: v for k, v in data.items() if k in known and k not in ("checks", "extra")}
        extra = {k: v for k, v in data.items() if k not in known}
        return cls(checks=checks, extra=extra, **kwargs)

    @property
    def passed(self) -> bool:
        return self.status == "Pass"


@dataclass
class HandlerContext:
    """What a handler sees: never the engine, only paths, options and a logger."""

    workspace: Path  # workspace root
    ticket: str
    stage: int
    folder: Path  # the ticket folder
    worktree: Path  # checkout root holding the ticket folder (the code to test)
    options: dict[str, Any] = field(default_factory=dict)  # mlgate.yaml: <handler name>: {...}
    config: dict[str, Any] = field(default_factory=dict)  # the whole config, as a dict
    commit: str | None = None
    dirty: bool = False
    dirty_files: list[str] = field(default_factory=list)  # which source files made it dirty
    logger: logging.Logger = field(default_factory=lambda: logging.getLogger("mlgate.handler"))
    progress: Any = None  # callable(str) for one progress line per check, or None
    detach: bool = False
    run_options: dict[str, Any] = field(default_factory=dict)  # per-invocation options
    #: The ticket's :class:`~mlgate.evidence.registry.Registry`: what the handler (and the
    #: runner) save is registered there; ``None`` outside a workspace (nothing registered,
    #: and no gate counts it).
    evidence_registry: Any = None

    def report(self, line: str) -> None:
        if self.progress is not None:
            self.progress(line)
        self.logger.info(line)


@runtime_checkable
class StageHandler(Protocol):
    name: str
    stages: tuple[int, ...]

    def run(self, ctx: HandlerContext) -> HandlerResult: ...


def environment() -> dict[str, Any]:
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor() or platform.machine(),
    }


def evidence_dir(folder: Path) -> Path:
    return Path(folder) / EVIDENCE_DIR


def list_evidence(folder: Path, stage: int | None = None,
                  handler: str | None = None) -> list[tuple[Path, int, str, int]]:
    """``(path, stage, handler, n)`` for each saved result, oldest first."""
    out = []
    d = evidence_dir(folder)
    if not d.is_dir():
        return []
    for p in d.iterdir():
        m = _EVIDENCE_RE.match(p.name)
        if not m:
            continue
        s, h, n = int(m.group("stage")), m.group("handler"), int(m.group("n"))
        if (stage is None or s == stage) and (handler is None or h == handler):
            out.append((p, s, h, n))
    out.sort(key=lambda t: (t[1], t[2], t[3]))
    return out


def save(folder: Path, result: HandlerResult,
         before_write: Callable[[str, bytes], None] | None = None) -> Path:
    """Save ``result`` as the next ``evidence/<stage>-<handler>-<n>.json``; never overwrites.

    The caller holds the ticket's run lock (``mlgate run`` does), the lock every writer of
    evidence files holds: the temp files of evidence files a killed run left are removed.
    ``before_write(relative path, bytes)`` runs before the file appears (the runner registers
    it there: a writer killed in between leaves a registered file that never appeared, not an
    unregistered one)."""
    d = evidence_dir(folder)
    d.mkdir(parents=True, exist_ok=True)
    for tmp in temp_files(d):
        if _EVIDENCE_RE.match(temp_target(tmp.name) or ""):
            _unlink(tmp)
    existing = [n for _, _, _, n in list_evidence(folder, result.stage, result.handler)]
    n = max(existing, default=0) + 1
    while True:
        path = d / f"{result.stage}-{result.handler}-{n}.json"
        if not path.exists():
            break
        n += 1
    result.evidence = f"{EVIDENCE_DIR}/{path.name}"
    result.finished = result.finished or now_iso()
    data = (json.dumps(result.to_dict(), indent=2, sort_keys=True, default=str) + "\n").encode()
    if before_write is not None:
        before_write(result.evidence, data)
    atomic_write(path, data)
    return path


def temp_target(name: str) -> str | None:
    """The file whose atomic-write temp file ``name`` is (``.x.json.ab12cd34.tmp`` ->
    ``x.json``), or ``None`` when ``name`` is not such a temp file."""
    m = TEMP_RE.match(name)
    return m.group("target") if m else None


def temp_files(folder: Path) -> list[Path]:
    """The atomic-write temp files directly in ``folder`` (plain files only: never a folder,
    a link or a name that does not match :data:`TEMP_RE`, such as ``notes.tmp``)."""
    out = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return []
    for entry in entries:
        with contextlib.suppress(OSError):
            if TEMP_RE.match(entry.name) and entry.is_file(follow_symlinks=False):
                out.append(Path(entry.path))
    return sorted(out)


def _unlink(path: Path) -> bool:
    try:
        path.unlink()
    except OSError:
        return False
    return True


def remove_stale_temps(folder: Path, run_lock: Path | None = None,
                       min_age: float = STALE_TEMP_AGE) -> list[Path]:
    """Remove the temp files killed writers left in the ticket folder and its ``evidence/``;
    returns the removed paths. **Call it while holding the ticket's lock.**

    * ``.workflow-state.md.XXXXXXXX.tmp``: always (every writer of the state file holds the
      ticket lock, so none is under way).
    * the other temp files of the ticket folder and ``evidence/``: only when the run lock
      ``run_lock`` (held by ``mlgate run`` while handlers write evidence and reports) is free;
      it is taken, without waiting, for the time of the removal. Those of ``evidence/``
      at once (their writers hold one of the two locks); those of the ticket folder once
      they are ``min_age`` seconds old (a few writers of artifacts hold no lock).

    Only names matching :data:`TEMP_RE` are touched; user files (``notes.tmp``,
    ``evidence/.keep``) and sub-folders (``runs/``) never are."""
    folder = Path(folder)
    removed = [p for p in temp_files(folder)
               if temp_target(p.name) == STATE_FILE and _unlink(p)]
    others = [p for p in temp_files(folder) if temp_target(p.name) != STATE_FILE]
    fresh = time.time() - min_age
    evidence = temp_files(evidence_dir(folder))
    if not others and not evidence:
        return removed
    with _try_lock(run_lock) as free:
        if not free:
            return removed
        removed += [p for p in evidence if _unlink(p)]
        for p in others:
            with contextlib.suppress(OSError):
                if p.lstat().st_mtime <= fresh and _unlink(p):
                    removed.append(p)
    return removed


@contextlib.contextmanager
def _try_lock(path: Path | None) -> Iterator[bool]:
    """Take the lock file ``path`` without waiting; yields whether it was free (``True``
    when there is no such lock to take)."""
    if path is None:
        yield True
        return
    from filelock import FileLock, Timeout  # imported here: the hook path never writes

    lock = FileLock(str(path), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        yield False
        return
    except OSError:  # the lock folder is not writable: leave everything as it is
        yield False
        return
    try:
        yield True
    finally:
        lock.release()


def load(path: Path) -> HandlerResult:
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    return HandlerResult.from_dict(data)


def latest(folder: Path, stage: int, handler: str) -> HandlerResult | None:
    items = list_evidence(folder, stage, handler)
    if not items:
        return None
    path = items[-1][0]
    try:
        return load(path)
    except (OSError, ValueError, TypeError):
        return None


def freshness(result: HandlerResult | None, commit: str | None) -> tuple[bool, str]:
    """Whether ``result`` counts as gate evidence at ``commit``, and why not."""
    if result is None:
        return False, "no evidence yet"
    where = result.evidence or "evidence"
    if result.status != "Pass":
        return False, f"{where} has status {result.status}"
    if commit is not None and result.commit != commit:
        got = (result.commit or "no commit")[:12]
        return False, (f"{where} is stale: taken at commit {got}, the ticket is now at "
                       f"{commit[:12]}")
    if result.dirty:
        files = list(result.dirty_files or [])
        if files:
            shown = ", ".join(files[:5]) + (" …" if len(files) > 5 else "")
            return False, (f"{where} is dirty: it was taken with uncommitted or untracked "
                           f"source files ({shown}), so the commit it names cannot reproduce "
                           "it; `git add` and commit them (or delete them), then run the "
                           "handler again")
        return False, f"{where} was taken with uncommitted changes to tracked source files"
    return True, f"{where} (Pass at {(result.commit or 'N/A')[:12]})"


def summarize(results: Iterable[HandlerResult]) -> str:
    return ", ".join(f"{r.handler}: {r.status}" for r in results)
