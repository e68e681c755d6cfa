"""Run folders of a ticket: ``runs/<RUN-ID>/`` with its ``metrics.jsonl`` and ``viz/``.

What a run logged (:func:`logged_keys`) and the images it produced (:func:`run_images`),
read from disk without importing any tracking library.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from mlgate import constants as C
from mlgate.artifacts.names import IGNORED_METRIC_KEYS, IMAGE_SUFFIXES


def run_dir(folder: Path | str, run_id: str) -> Path:
    return Path(folder) / C.RUNS_DIR / run_id


@dataclass
class LoggedKeys:
    keys: set[str]
    lines: int  # JSON lines read
    bad_lines: list[int] = field(default_factory=list)  # lines that were not JSON objects


def logged_keys(run_path: Path | str) -> LoggedKeys | None:
    """The metric keys a run logged to ``metrics.jsonl`` (one JSON object per line), without
    ``_``-prefixed internals and ``step``/``time``/``epoch``; ``None`` if there is no file."""
    path = Path(run_path) / "metrics.jsonl"
    if not path.is_file():
        return None
    keys: set[str] = set()
    n = 0
    bad: list[int] = []
    with path.open(encoding="utf-8", errors="replace") as fh:
        for i, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except ValueError:
                bad.append(i)
                continue
            if not isinstance(obj, dict):
                bad.append(i)
                continue
            n += 1
            for k in obj:
                if k.startswith("_") or k in IGNORED_METRIC_KEYS:
                    continue
                keys.add(k)
    return LoggedKeys(keys=keys, lines=n, bad_lines=bad)


def run_images(run_path: Path | str) -> list[Path]:
    """Image files (png/svg/jpg/pdf/gif/webp/html) under ``<run>/viz/``."""
    viz = Path(run_path) / "viz"
    if not viz.is_dir():
        return []
    return sorted(p for p in viz.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


# --- editing -----------------------------------------------------------------------------
