"""Rubric results: a person's verdict on a rubric-defined success criterion.

A criterion whose Comparator is ``rubric`` (``| SC-003 | R-002 | sample quality | rubric |
4 of 5 reviewers rate >= 4 | val |``) cannot be computed from logged numbers. A person
records its result with ``mlgate rubric SC-003 --result Passed --by NAME [--note TEXT]``;
stage 5 then closes the criterion with that result. Recording it is a human decision, like
``mlgate verify``.

Records live in ``<ticket folder>/evidence/rubric.json`` (committed with the ticket). Each
carries a MAC under the workspace's seal key (the key of the state file's seal, kept outside
the worktree), bound to the ticket, so a record written by hand, edited, or copied from
another ticket counts for nothing: :func:`load` returns only records whose MAC holds, and
names the others in ``Rubrics.invalid``. The newest valid record of a criterion wins; older
ones stay in the file as history.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlgate.constants import EVIDENCE_DIR
from mlgate.errors import StateFileError, UsageError
from mlgate.state.seal import mac
from mlgate.util import atomic_write, now_iso

FILE = "rubric.json"
RESULTS = ("Passed", "Failed")
_DOMAIN = b"mlgate-rubric-v1\0"
_FIELDS = ("ticket", "sc", "result", "by", "date", "note", "runs")


@dataclass
class RubricRecord:
    ticket: str
    sc: str
    result: str
    by: str
    date: str
    note: str = ""
    runs: list[str] = field(default_factory=list)
    mac: str = ""

    def payload(self) -> bytes:
        body = {k: getattr(self, k) for k in _FIELDS}
        return _DOMAIN + json.dumps(body, sort_keys=True, ensure_ascii=False).encode()

    def to_dict(self) -> dict[str, Any]:
        return {**{k: getattr(self, k) for k in _FIELDS}, "mac": self.mac}


@dataclass
class Rubrics:
    """The valid records by criterion (newest wins) and what did not verify."""

    records: dict[str, RubricRecord] = field(default_factory=dict)
    invalid: list[str] = field(default_factory=list)  # why each bad entry was ignored

    def get(self, sc: str) -> RubricRecord | None:
        return self.records.get(sc)


def path(folder: str | Path) -> Path:
    return Path(folder) / EVIDENCE_DIR / FILE


def _read(folder: Path) -> list[Any]:
    p = path(folder)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as exc:
        raise StateFileError(str(p), None, f"cannot be read as JSON: {exc}\nhint: restore it "
                             f"from git; rubric results are recorded with `mlgate rubric`")
    items = data.get("records") if isinstance(data, dict) else None
    return items if isinstance(items, list) else []


def load(folder: str | Path, ticket: str, key: bytes | None) -> Rubrics:
    """The rubric results of the ticket whose MAC verifies under ``key`` (none without a
    key)."""
    from _operator import _compare_digest

    out = Rubrics()
    for i, item in enumerate(_read(Path(folder))):
        where = f"{path(folder).name} record {i + 1}"
        if not isinstance(item, dict):
            out.invalid.append(f"{where}: not an object")
            continue
        try:
            rec = RubricRecord(**{k: item.get(k) for k in _FIELDS}, mac=str(item.get("mac")))
        except TypeError:
            out.invalid.append(f"{where}: malformed")
            continue
        if key is None or not _compare_digest(rec.mac, mac(key, rec.payload())):
            out.invalid.append(f"{where} ({rec.sc} {rec.result} by {rec.by}): not recorded "
                               f"by `mlgate rubric` in this workspace (its MAC does not match)")
            continue
        if rec.ticket != ticket:
            out.invalid.append(f"{where}: recorded for ticket {rec.ticket}, not {ticket}")
            continue
        out.records[rec.sc] = rec
    return out


def record(folder: str | Path, ticket: str, sc: str, result: str, by: str, key: bytes,
           note: str = "", runs: Sequence[str] = ()) -> RubricRecord:
    """Append a person's rubric result for criterion ``sc`` (``Passed`` or ``Failed``)."""
    canon = {r.lower(): r for r in RESULTS}.get(result.strip().lower())
    if canon is None:
        raise UsageError(f"rubric result {result!r} is not one of {', '.join(RESULTS)}",
                         result=result)
    if not by.strip():
        raise UsageError("--by names the person who judged the rubric; it is empty")
    rec = RubricRecord(ticket=ticket, sc=sc, result=canon, by=by.strip(), date=now_iso(),
                       note=note.strip(), runs=list(runs))
    rec.mac = mac(key, rec.payload())
    items = _read(Path(folder)) + [rec.to_dict()]
    p = path(folder)
    p.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(p, json.dumps({"records": items}, indent=2, ensure_ascii=False) + "\n")
    return rec
