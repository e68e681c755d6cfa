"""``rounds.yaml``: the rounds of sibling tickets and what became of them.

The file sits at the workspace root beside ``baselines.yaml`` (config key ``round_file``)::

    rounds:
      lr-sweep:
        created: '2026-05-01'
        base_branch: main
        base_commit: 4f1c...             # main when the round started: every ticket's start
        baseline: 3                      # the baselines.yaml entry the tickets are compared with
        tickets: [lr-1e-3, lr-3e-3, lr-1e-2]
        discarded: {lr-1e-2: diverged at every seed}
        status: merged                   # open | merged | rolled-back
        merged:
          date: '2026-05-04'
          by: Grace Hopper
          winners: [lr-3e-3]
          commits: [9ab2...]             # the --no-ff merge commit of each winner
          head: 9ab2...                  # the base branch after the merges
          losers: {lr-1e-3: mlgate/round/lr-sweep/lr-1e-3, ...}   # branches kept as tags

Only ``mlgate round ...`` (and ``mlgate new --round``) writes it; reading never validates more
than it needs, and a mistake in a hand edit is a :class:`ConfigError` naming the file.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlgate.errors import ConfigError
from mlgate.util import atomic_write

DEFAULT_FILE = "rounds.yaml"
STATUSES = ("open", "merged", "rolled-back")
_HEADER = ("# mlgate rounds: sibling tickets started from one baseline. Written by "
           "`mlgate round ...`;\n# see `mlgate round status`.\n")


@dataclass
class Round:
    name: str
    created: str
    base_branch: str
    base_commit: str | None
    baseline: int | None
    tickets: list[str] = field(default_factory=list)
    discarded: dict[str, str] = field(default_factory=dict)
    status: str = "open"
    merged: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"created": self.created, "base_branch": self.base_branch,
                               "base_commit": self.base_commit, "baseline": self.baseline,
                               "tickets": list(self.tickets)}
        if self.discarded:
            out["discarded"] = dict(self.discarded)
        out["status"] = self.status
        if self.merged is not None:
            out["merged"] = dict(self.merged)
        return out


class Rounds:
    """The parsed file; change it in memory, then :meth:`save`."""

    def __init__(self, path: Path, rounds: dict[str, Round] | None = None) -> None:
        self.path = path
        self.rounds: dict[str, Round] = dict(rounds or {})

    def get(self, name: str) -> Round | None:
        return self.rounds.get(name)

    def of_ticket(self, ticket: str) -> Round | None:
        """The newest round that lists ``ticket``."""
        found = [r for r in self.rounds.values() if ticket in r.tickets]
        return found[-1] if found else None

    def open(self) -> list[Round]:
        return [r for r in self.rounds.values() if r.status == "open"]

    def last_merged(self) -> Round | None:
        merged = [r for r in self.rounds.values() if r.status == "merged"]
        return merged[-1] if merged else None

    def dumps(self) -> str:
        import yaml

        data = {"rounds": {n: r.to_dict() for n, r in self.rounds.items()}}
        return _HEADER + yaml.safe_dump(data, sort_keys=False, allow_unicode=True,
                                        default_flow_style=False)

    def save(self) -> Path:
        atomic_write(self.path, self.dumps())
        return self.path


def load(root: str | Path, filename: str = DEFAULT_FILE) -> Rounds:
    """Read ``<root>/<filename>``; a missing file is no rounds."""
    import yaml

    path = Path(root) / filename
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Rounds(path)
    except OSError as exc:
        raise ConfigError(str(path), f"cannot be read: {exc.strerror or exc}") from None
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ConfigError(str(path), f"not valid YAML: {getattr(exc, 'problem', exc)}\nhint: "
                          f"restore it from git", mark.line + 1 if mark else None) from None
    raw = data.get("rounds") if isinstance(data, dict) else None
    if raw is None:
        return Rounds(path)
    if not isinstance(raw, dict):
        raise ConfigError(str(path), "'rounds' must map each round name to its record")
    out: dict[str, Round] = {}
    for name, rec in raw.items():
        if not isinstance(rec, dict):
            raise ConfigError(str(path), f"rounds.{name}: expected a mapping")
        tickets = rec.get("tickets") or []
        status = rec.get("status") or "open"
        if not isinstance(tickets, list) or status not in STATUSES:
            raise ConfigError(str(path), f"rounds.{name}: 'tickets' must be a list and "
                              f"'status' one of {', '.join(STATUSES)}")
        out[str(name)] = Round(
            name=str(name), created=str(rec.get("created") or ""),
            base_branch=str(rec.get("base_branch") or "main"),
            base_commit=rec.get("base_commit"), baseline=rec.get("baseline"),
            tickets=[str(t) for t in tickets],
            discarded={str(k): str(v) for k, v in (rec.get("discarded") or {}).items()},
            status=status, merged=rec.get("merged"))
    return Rounds(path, out)
