"""The handler evidence interface (SPEC §9): what a stage handler returns and how it is kept.

A handler produces a :class:`HandlerResult`; mlgate saves it as
``<ticket>/evidence/<stage>-<handler>-<n>.json`` (``n`` counts up, nothing is overwritten).
A gate accepts a result only when it is ``Pass``, was taken at the ticket's current commit,
and the tracked source files were clean at the time (:func:`freshness`).
"""
from __future__ import annotations

import json
import logging
import platform
import re
import sys
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from mlgate.constants import EVIDENCE_DIR
from mlgate.util import atomic_write, now_iso

RESULT_STATUSES = ("Pass", "Fail", "Blocked")
CHECK_STATUSES = ("pass", "fail", "skipped")
_EVIDENCE_RE = re.compile(r"^(?P<stage>\d)-(?P<handler>[A-Za-z0-9_.-]+)-(?P<n>\d+)\.json$")


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
    logger: logging.Logger = field(default_factory=lambda: logging.getLogger("mlgate.handler"))
    progress: Any = None  # callable(str) for one progress line per check, or None
    detach: bool = False
    run_options: dict[str, Any] = field(default_factory=dict)  # per-invocation options

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


def save(folder: Path, result: HandlerResult) -> Path:
    """Save ``result`` as the next ``evidence/<stage>-<handler>-<n>.json``; never overwrites."""
    d = evidence_dir(folder)
    d.mkdir(parents=True, exist_ok=True)
    existing = [n for _, _, _, n in list_evidence(folder, result.stage, result.handler)]
    n = max(existing, default=0) + 1
    while True:
        path = d / f"{result.stage}-{result.handler}-{n}.json"
        if not path.exists():
            break
        n += 1
    result.evidence = f"{EVIDENCE_DIR}/{path.name}"
    result.finished = result.finished or now_iso()
    atomic_write(path, json.dumps(result.to_dict(), indent=2, sort_keys=True, default=str) + "\n")
    return path


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
        return False, f"{where} was taken with uncommitted changes to tracked source files"
    return True, f"{where} (Pass at {(result.commit or 'N/A')[:12]})"


def summarize(results: Iterable[HandlerResult]) -> str:
    return ", ".join(f"{r.handler}: {r.status}" for r in results)
