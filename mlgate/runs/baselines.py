"""``baselines.yaml``: the metrics a new result is compared with, and their history (SPEC §11).

The file lives at the workspace root (config key ``baseline_file``, default ``baselines.yaml``)::

    current:
      id: 3
      metrics: {val/acc: 0.91, val/loss: 0.31}
      direction: {val/acc: max}          # optional; else the name heuristic
      seeds:                             # optional: per-seed values, seed -> value
        val/acc: {0: 0.905, 1: 0.912, 2: 0.913}
      commit: 4f1c...                    # the code the numbers came from
      ticket: better-augmentation
      run: RUN-002
      date: '2025-01-31'
      note: promoted RUN-002
      previous: 2                        # the baseline this one replaced
    history:                             # every earlier current entry, newest last
      - {id: 1, ..., replaced: '2025-01-10', reason: replaced by baseline 2 (set)}
      - {id: 2, ..., replaced: '2025-01-31', reason: replaced by baseline 3 (promoted RUN-002)}

Nothing is ever deleted: :meth:`Baselines.set` pushes the old current onto ``history``;
:meth:`Baselines.rollback` restores an earlier entry as a *new* current entry (with
``restored_from``) and pushes the rolled-back one onto ``history`` with the reason.

``metrics`` holds one number per metric (the mean over the seeds when ``seeds`` is given).
``seeds`` lets a criterion with several seeds compare seed by seed: a paired t-test when the
candidate ran the same seeds, else Welch's t-test (:mod:`mlgate.runs.stats`).

Direction: declared per metric (``min``/``max``), else lower-is-better when the name contains
``loss``, ``error``, ``perplexity``, ``mse``, ``mae`` or ``rmse`` (case-insensitive), else
higher-is-better. Delta is always ``candidate - baseline``.

The functions return data; the CLI prints (:func:`format_show`, :func:`format_history`).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from mlgate import constants as C
from mlgate.errors import ConfigError, UsageError
from mlgate.human import require_person
from mlgate.util import atomic_write, today

DEFAULT_FILE = "baselines.yaml"
DIRECTIONS = ("min", "max")
LOWER_IS_BETTER = C.LOWER_IS_BETTER
_HEADER = (
    "# mlgate baselines (SPEC §11). Edit with `mlgate baseline set|rollback` or\n"
    "# `mlgate archive --promote RUN`; history entries are never deleted.\n"
)
_ENTRY_KEYS = ("id", "metrics", "seeds", "direction", "commit", "ticket", "run", "date",
               "note", "previous", "restored_from", "replaced", "reason", "reverted",
               "regression")


def heuristic_direction(name: str) -> str:
    """``"min"`` when ``name`` contains a loss-like word (case-insensitive), else ``"max"``."""
    return C.metric_direction(name)


def _finite_number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


@dataclass
class BaselineEntry:
    """One baseline: the current one, or an earlier one in ``history``."""

    id: int
    metrics: dict[str, float] = field(default_factory=dict)
    direction: dict[str, str] = field(default_factory=dict)
    commit: str | None = None
    ticket: str | None = None
    run: str | None = None
    date: str | None = None
    note: str | None = None
    previous: int | None = None  # id of the entry this one replaced
    restored_from: int | None = None  # set by rollback: the id that was restored
    replaced: str | None = None  # history only: date it stopped being current
    reason: str | None = None  # history only: why it was replaced
    seeds: dict[str, dict[Any, float]] = field(default_factory=dict)  # metric -> seed -> value
    reverted: list[dict[str, Any]] | None = None  # rollback: {merge, revert} newest first
    regression: list[dict[str, Any]] | None = None  # rollback: the regression table

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in _ENTRY_KEYS:
            value = getattr(self, name)
            if value is None or (name in ("direction", "seeds") and not value):
                continue
            if name == "seeds":
                value = {k: dict(v) for k, v in value.items()}
            out[name] = dict(value) if isinstance(value, dict) else (
                list(value) if isinstance(value, list) else value)
        return out

    def copy(self, **changes: Any) -> "BaselineEntry":
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["metrics"] = dict(self.metrics)
        data["direction"] = dict(self.direction)
        data["seeds"] = {k: dict(v) for k, v in self.seeds.items()}
        data.update(changes)
        return BaselineEntry(**data)

    def seed_values(self, key: str) -> dict[Any, float]:
        """``{seed: value}`` of ``key`` (empty when the entry has no per-seed values)."""
        return dict(self.seeds.get(key) or {})


class Baselines:
    """The parsed ``baselines.yaml``. Mutating methods change memory only; call :meth:`save`."""

    def __init__(self, path: Path, current: BaselineEntry | None = None,
                 history: list[BaselineEntry] | None = None,
                 extra: dict[str, Any] | None = None) -> None:
        self.path = Path(path)
        self.current = current
        self.history: list[BaselineEntry] = list(history or [])
        self.extra: dict[str, Any] = dict(extra or {})  # unknown top-level keys, kept

    # -- queries -------------------------------------------------------------------

    def direction(self, key: str) -> str:
        """``"min"`` or ``"max"``: declared for ``key`` in the current baseline, else the
        name heuristic (:func:`heuristic_direction`)."""
        if self.current is not None and key in self.current.direction:
            return self.current.direction[key]
        return heuristic_direction(key)

    def declared(self, key: str) -> bool:
        return self.current is not None and key in self.current.direction

    def value(self, key: str) -> float | None:
        if self.current is None:
            return None
        return self.current.metrics.get(key)

    def delta(self, key: str, candidate: Any) -> float | None:
        """``candidate - baseline`` for ``key``; ``None`` when there is no baseline value
        or either number is missing or not finite."""
        base = self.value(key)
        cand = _finite_number(candidate)
        if base is None or cand is None:
            return None
        return cand - base

    def improved(self, key: str, candidate: Any) -> bool | None:
        """Whether ``candidate`` beats the baseline in the metric's direction (equal is not
        an improvement); ``None`` when there is nothing to compare."""
        d = self.delta(key, candidate)
        if d is None:
            return None
        return d < 0 if self.direction(key) == "min" else d > 0

    def entry(self, entry_id: int) -> BaselineEntry | None:
        """The entry with ``entry_id`` (current first, then the newest history match)."""
        if self.current is not None and self.current.id == entry_id:
            return self.current
        for e in reversed(self.history):
            if e.id == entry_id:
                return e
        return None

    def _next_id(self) -> int:
        ids = [e.id for e in self.history]
        if self.current is not None:
            ids.append(self.current.id)
        return max(ids, default=0) + 1

    # -- changes -------------------------------------------------------------------

    def set(self, metrics: dict[str, Any], direction: dict[str, str] | None = None,
            commit: str | None = None, ticket: str | None = None, run: str | None = None,
            note: str | None = None,
            seeds: dict[str, dict[Any, Any]] | None = None) -> BaselineEntry:
        """Make ``metrics`` the current baseline (replacing it as a whole); the previous
        current entry goes onto ``history``. ``seeds`` gives per-seed values (``{metric:
        {seed: value}}``). Returns the new entry. A person's decision: refused for agent-run
        code (:func:`mlgate.human.require_person`)."""
        require_person("mlgate baseline set")
        clean: dict[str, float] = {}
        for key, value in metrics.items():
            num = _finite_number(value)
            if num is None and isinstance(value, str):
                try:
                    num = _finite_number(float(value))
                except ValueError:
                    num = None
            if num is None:
                raise UsageError(f"baseline metric {key!r} has value {value!r}, which is not a "
                                 f"finite number\nhint: give numbers, e.g. {key}=0.91",
                                 key=key, value=value)
            clean[str(key)] = num
        if not clean:
            raise UsageError("a baseline needs at least one metric\n"
                             "hint: mlgate baseline set val/acc=0.91 val/loss=0.3")
        dirs = {}
        for key, value in (direction or {}).items():
            if value not in DIRECTIONS:
                raise UsageError(f"direction of {key!r} is {value!r}; use 'min' (lower is "
                                 f"better) or 'max' (higher is better)", key=key, value=value)
            dirs[str(key)] = value
        per_seed: dict[str, dict[Any, float]] = {}
        for key, values in (seeds or {}).items():
            row = {}
            for seed, value in dict(values).items():
                num = _finite_number(value)
                if num is None:
                    raise UsageError(f"baseline metric {key!r} seed {seed!r} has value "
                                     f"{value!r}, which is not a finite number",
                                     key=key, value=value)
                row[seed] = num
            if row:
                per_seed[str(key)] = row
        entry = BaselineEntry(id=self._next_id(), metrics=clean, direction=dirs,
                              commit=commit, ticket=ticket, run=run, date=today(), note=note,
                              previous=self.current.id if self.current else None,
                              seeds=per_seed)
        self._replace(entry, f"replaced by baseline {entry.id} ({note or 'set'})")
        return entry

    def _replace(self, entry: BaselineEntry, reason: str) -> None:
        if self.current is not None:
            self.history.append(self.current.copy(replaced=today(), reason=reason))
        self.current = entry

    def rollback(self, steps: int = 1) -> BaselineEntry:
        """Restore the baseline ``steps`` back along the chain of replaced entries.

        The restored values become a new current entry (``restored_from`` names the entry
        they came from); the rolled-back entry is kept in ``history`` with the reason.
        Rolling back twice from C (which replaced B, which replaced A) gives A.
        A person's decision: refused for agent-run code.
        """
        require_person("mlgate baseline rollback")
        if steps < 1:
            raise UsageError(f"rollback steps must be >= 1, got {steps}", steps=steps)
        if self.current is None:
            raise UsageError(f"{self.path}: there is no baseline to roll back\n"
                             "hint: mlgate baseline set KEY=VALUE ...", path=str(self.path))
        target = self.current
        for n in range(steps):
            prev = self.entry(target.previous) if target.previous is not None else None
            if prev is None:
                raise UsageError(
                    f"{self.path}: cannot roll back {steps} step(s): baseline {target.id} has "
                    f"no earlier baseline (went back {n})\nhint: mlgate baseline history",
                    path=str(self.path), steps=steps)
            target = prev
        restored = target.copy(id=self._next_id(), date=today(), restored_from=target.id,
                               replaced=None, reason=None, reverted=None, regression=None)
        self._replace(restored, f"rolled back to baseline {target.id}")
        return restored

    def promote_run(self, run_dir: str | Path, ticket: str | None = None,
                    commit: str | None = None, note: str | None = None) -> BaselineEntry:
        """Make a completed run the baseline: its ``summary.json`` ``last`` values (finite
        numbers, ``_``-keys skipped), the directions it recorded, and its meta's commit and
        run id (``commit`` overrides the meta's)."""
        run_dir = Path(run_dir)
        summary = _read_json(run_dir / "summary.json", "the run has no summary; did it "
                             "finish? (`mlgate runs` lists runs and their status)")
        meta = _read_json(run_dir / "meta.json", "is this a run folder (runs/RUN-NNN)?")
        run_id = meta.get("run") or summary.get("run") or run_dir.name
        status = str(meta.get("status") or "").lower()
        fclass = str(meta.get("failure_class") or "").lower()
        if "completed" not in (status, fclass):
            raise UsageError(f"{run_id} did not complete (status {meta.get('status')!r}, "
                             f"failure class {meta.get('failure_class')!r}); only a completed "
                             f"run can become the baseline\nhint: mlgate runs",
                             run=run_id, status=meta.get("status"))
        last = summary.get("last") or {}
        metrics = {k: v for k, v in last.items()
                   if not str(k).startswith("_") and _finite_number(v) is not None}
        if not metrics:
            raise UsageError(f"{run_dir / 'summary.json'}: {run_id} logged no finite numeric "
                             f"metric to use as a baseline", run=run_id)
        directions = {k: v for k, v in (summary.get("direction") or {}).items()
                      if k in metrics and v in DIRECTIONS}
        return self.set(metrics, directions, commit=commit or meta.get("commit"),
                        ticket=ticket, run=run_id, note=note or f"promoted {run_id}")

    def promote_runs(self, run_dirs: list[str | Path], ticket: str | None = None,
                     commit: str | None = None, note: str | None = None,
                     per_seed: bool = False) -> BaselineEntry:
        """Make the runs of one seed set the baseline: each metric's mean over the runs
        (the keys every run logged), and its per-seed values in ``seeds``. One run is
        :meth:`promote_run` (with its seed's values too when ``per_seed``)."""
        if len(run_dirs) == 1 and not per_seed:
            return self.promote_run(run_dirs[0], ticket, commit, note)
        per: list[tuple[Any, dict[str, float], dict[str, Any]]] = []
        for d in run_dirs:
            d = Path(d)
            single = Baselines(self.path)
            entry = single.promote_run(d, ticket, commit)  # validates: completed, metrics
            meta = _read_json(d / "meta.json", "is this a run folder (runs/RUN-NNN)?")
            seed = meta.get("seed")
            if seed is None:
                raise UsageError(f"{d.name} records no seed; only runs of distinct seeds are "
                                 f"promoted together", run=d.name)
            per.append((seed, entry.metrics, {"run": entry.run, "commit": entry.commit,
                                              "direction": entry.direction}))
        seeds_seen = [s for s, _, _ in per]
        if len(set(map(str, seeds_seen))) != len(seeds_seen):
            raise UsageError(f"the runs repeat a seed ({seeds_seen}); promote one run per seed",
                             seeds=seeds_seen)
        keys = [k for k in per[0][1] if all(k in m for _, m, _ in per)]
        metrics = {k: float(f"{math.fsum(m[k] for _, m, _ in per) / len(per):.12g}")
                   for k in keys}
        seeds = {k: {s: m[k] for s, m, _ in per} for k in keys}
        direction: dict[str, str] = {}
        for _, _, info in per:
            direction.update({k: v for k, v in info["direction"].items() if k in keys})
        runs = ", ".join(str(info["run"]) for _, _, info in per)
        return self.set(metrics, direction, commit=commit or per[-1][2]["commit"],
                        ticket=ticket, run=runs, note=note or (f"promoted {runs} (mean of "
                        f"{len(per)} seeds)" if len(per) > 1 else f"promoted {runs}"),
                        seeds=seeds)

    # -- output --------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = dict(self.extra)
        out["current"] = self.current.to_dict() if self.current else None
        out["history"] = [e.to_dict() for e in self.history]
        return out

    def dumps(self) -> str:
        import yaml

        return _HEADER + yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True,
                                        default_flow_style=False)

    def save(self) -> Path:
        """Write the file atomically (the old file is intact if writing fails), and note its
        digest beside the seal key (:func:`record_written`): the stage-5 gate then knows a
        baselines.yaml edited by hand from one mlgate wrote."""
        text = self.dumps()
        atomic_write(self.path, text)
        record_written(self.path, text.encode("utf-8"))
        return self.path


RECORD_FILE = "baselines.json"


def key_dir_of(path: Path) -> Path | None:
    """The folder of the seal key of the workspace holding ``path`` (``<git common
    dir>/mlgate``, or ``.mlgate``), or ``None`` outside a workspace."""
    from mlgate import git as G

    for d in [path.parent, *path.parent.parents]:
        dot = d / ".git"
        if dot.is_dir():
            return dot / "mlgate"
        if dot.is_file():
            return G.common_dir(d) / "mlgate"
        if (d / ".mlgate").is_dir():
            return d / ".mlgate"
    return None


def _record_mac(key: bytes, data: dict[str, Any]) -> str:
    from mlgate.state.seal import mac

    return mac(key, json.dumps(data, sort_keys=True).encode())


def record_written(path: Path, data: bytes) -> None:
    """Note the digest of the baselines file mlgate just wrote (MAC'd with the seal key;
    nothing is noted outside a workspace or without a key)."""
    import hashlib

    from mlgate.state.seal import load_key
    from mlgate.util import now_iso

    kd = key_dir_of(Path(path).resolve())
    key = load_key(kd) if kd is not None else None
    if kd is None or key is None:
        return
    rec_path = kd / RECORD_FILE
    try:
        records = json.loads(rec_path.read_text(encoding="utf-8"))
        records = records if isinstance(records, dict) else {}
    except (OSError, ValueError):
        records = {}
    entry = {"digest": "sha256:" + hashlib.sha256(data).hexdigest(), "at": now_iso()}
    records[str(Path(path).resolve())] = dict(entry, mac=_record_mac(key, entry))
    atomic_write(rec_path, json.dumps(records, indent=1, sort_keys=True) + "\n")


def written_by_mlgate(path: Path, key_dir: Path, key: bytes | None) -> tuple[bool | None, str]:
    """Whether ``path`` is the baselines file mlgate last wrote: ``(None, ...)`` when
    mlgate never noted one (a file from before, or written by hand from the start),
    ``(False, why)`` when it differs or its note is not mlgate's."""
    import hashlib

    try:
        records = json.loads((Path(key_dir) / RECORD_FILE).read_text(encoding="utf-8"))
        entry = dict(records[str(Path(path).resolve())])
    except (OSError, ValueError, KeyError, TypeError):
        return None, "mlgate has not written it"
    given = entry.pop("mac", None)
    if key is not None and given != _record_mac(key, entry):
        return False, "its note beside the seal key was not written by mlgate"
    try:
        now = "sha256:" + hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        now = None
    if now != entry.get("digest"):
        return False, (f"it is not the file mlgate last wrote ({entry.get('at')}): it was "
                       "edited outside `mlgate baseline`" if now else "it was deleted")
    return True, f"written by mlgate ({entry.get('at')})"


# -- loading ---------------------------------------------------------------------------


def _read_json(path: Path, hint: str) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{path} not found: {hint}", path=str(path)) from None
    except (OSError, ValueError) as exc:
        raise UsageError(f"{path} cannot be read: {exc}", path=str(path)) from None
    if not isinstance(data, dict):
        raise UsageError(f"{path}: expected a JSON object", path=str(path))
    return data


def load(root: str | Path, filename: str = DEFAULT_FILE) -> Baselines:
    """Read ``<root>/<filename>``; a missing or empty file is an empty :class:`Baselines`.

    Raises :class:`ConfigError` (with the file and line) for malformed YAML or values.
    """
    import yaml

    path = Path(root) / filename
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Baselines(path)
    except OSError as exc:
        raise ConfigError(str(path), f"cannot be read: {exc}") from None
    try:
        data = yaml.safe_load(text)
        node = yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(str(path), f"not valid YAML: {problem}\nhint: fix the file by hand "
                          f"or restore it from git", line) from None
    if data is None:
        return Baselines(path)
    if not isinstance(data, dict):
        raise ConfigError(str(path), "expected a mapping with 'current' and 'history'", 1)
    ctx = _Loader(path, node)
    current = None
    if data.get("current") is not None:
        current = ctx.entry(data["current"], ("current",))
    raw_history = data.get("history") or []
    if not isinstance(raw_history, list):
        raise ConfigError(str(path), "'history' must be a list of entries",
                          ctx.line(("history",)))
    history = [ctx.entry(item, ("history", i)) for i, item in enumerate(raw_history)]
    _assign_ids(history, current)
    extra = {k: v for k, v in data.items() if k not in ("current", "history")}
    return Baselines(path, current, history, extra)


def _assign_ids(history: list[BaselineEntry], current: BaselineEntry | None) -> None:
    """Hand-written files may omit ``id``/``previous``: number entries in file order and
    chain each to the one before it."""
    seq = history + ([current] if current is not None else [])
    used = {e.id for e in seq if e.id > 0}
    nxt = max(used, default=0) + 1
    prev: int | None = None
    for e in seq:
        if e.id <= 0:
            e.id = nxt
            nxt += 1
            if e.previous is None:
                e.previous = prev
        prev = e.id


class _Loader:
    """Validates entries and finds line numbers for error messages."""

    def __init__(self, path: Path, node: Any) -> None:
        self.path = path
        self.node = node

    def line(self, keys: tuple[Any, ...]) -> int | None:
        import yaml

        node = self.node
        line = node.start_mark.line + 1 if node is not None else None
        for key in keys:
            nxt = None
            if isinstance(node, yaml.MappingNode):
                for k, v in node.value:
                    if k.value == key:
                        nxt = v
                        break
            elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) \
                    and key < len(node.value):
                nxt = node.value[key]
            if nxt is None:
                break
            node = nxt
            line = node.start_mark.line + 1
        return line

    def fail(self, keys: tuple[Any, ...], message: str) -> ConfigError:
        where = ".".join(str(k) for k in keys)
        return ConfigError(str(self.path), f"{where}: {message}", self.line(keys))

    def entry(self, raw: Any, keys: tuple[Any, ...]) -> BaselineEntry:
        if not isinstance(raw, dict):
            raise self.fail(keys, "expected a mapping with 'metrics' (and optional "
                            "'direction', 'commit', 'ticket', 'run', 'date', 'note')")
        metrics_raw = raw.get("metrics") or {}
        if not isinstance(metrics_raw, dict):
            raise self.fail(keys + ("metrics",), "expected a mapping of metric name to number")
        metrics: dict[str, float] = {}
        for k, v in metrics_raw.items():
            num = _finite_number(v)
            if num is None:
                raise self.fail(keys + ("metrics", k),
                                f"value {v!r} of metric {k!r} is not a finite number")
            metrics[str(k)] = num
        dir_raw = raw.get("direction") or {}
        if not isinstance(dir_raw, dict):
            raise self.fail(keys + ("direction",), "expected a mapping of metric name to "
                            "'min' or 'max'")
        direction: dict[str, str] = {}
        for k, v in dir_raw.items():
            if v not in DIRECTIONS:
                raise self.fail(keys + ("direction", k),
                                f"direction {v!r} of {k!r} must be 'min' or 'max'")
            direction[str(k)] = v
        seeds_raw = raw.get("seeds") or {}
        if not isinstance(seeds_raw, dict):
            raise self.fail(keys + ("seeds",), "expected a mapping of metric name to "
                            "{seed: value}")
        seeds: dict[str, dict[Any, float]] = {}
        for k, per in seeds_raw.items():
            if not isinstance(per, dict) or not per:
                raise self.fail(keys + ("seeds", k), f"seeds of {k!r} must map each seed to "
                                f"its value, e.g. {{0: 0.91, 1: 0.92}}")
            row = {}
            for seed, v in per.items():
                num = _finite_number(v)
                if num is None:
                    raise self.fail(keys + ("seeds", k, seed), f"value {v!r} of {k!r} seed "
                                    f"{seed!r} is not a finite number")
                row[seed] = num
            seeds[str(k)] = row
        ident = raw.get("id", 0)
        if isinstance(ident, bool) or not isinstance(ident, int):
            raise self.fail(keys + ("id",), f"id {ident!r} must be a whole number")

        def opt_int(name: str) -> int | None:
            value = raw.get(name)
            if value is None:
                return None
            if isinstance(value, bool) or not isinstance(value, int):
                raise self.fail(keys + (name,), f"{name} {value!r} must be a baseline id")
            return value

        def opt_str(name: str) -> str | None:
            value = raw.get(name)
            return None if value is None else str(value)

        def opt_list(name: str) -> list[Any] | None:
            value = raw.get(name)
            if value is None:
                return None
            if not isinstance(value, list):
                raise self.fail(keys + (name,), f"{name} must be a list")
            return value

        return BaselineEntry(id=ident, metrics=metrics, direction=direction,
                             commit=opt_str("commit"), ticket=opt_str("ticket"),
                             run=opt_str("run"), date=opt_str("date"), note=opt_str("note"),
                             previous=opt_int("previous"),
                             restored_from=opt_int("restored_from"),
                             replaced=opt_str("replaced"), reason=opt_str("reason"),
                             seeds=seeds, reverted=opt_list("reverted"),
                             regression=opt_list("regression"))


# -- formatting for the CLI --------------------------------------------------------------


def fmt_number(value: Any) -> str:
    """A metric value for people and for report cells: integers as integers, other floats
    with up to 10 significant digits (which parse back within 5e-10 relative), ``NaN`` and
    ``inf`` spelled out."""
    if isinstance(value, bool) or isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return f"{value:.10g}"
    return str(value)


def _describe(e: BaselineEntry) -> str:
    bits = [f"baseline {e.id}"]
    if e.date:
        bits.append(f"set {e.date}")
    if e.run:
        bits.append(e.run + (f" of {e.ticket}" if e.ticket else ""))
    elif e.ticket:
        bits.append(f"ticket {e.ticket}")
    if e.commit:
        bits.append(f"commit {e.commit[:12]}")
    if e.restored_from is not None:
        bits.append(f"restored from baseline {e.restored_from}")
    return ", ".join(bits)


def format_show(b: Baselines) -> str:
    """The current baseline as a small table (what ``mlgate baseline show`` prints)."""
    if b.current is None:
        return (f"no baseline set ({b.path})\n"
                "hint: mlgate baseline set val/acc=0.91 --direction val/acc=max, or "
                "mlgate archive --promote RUN-NNN")
    e = b.current
    lines = [_describe(e)]
    if e.note:
        lines.append(f"note: {e.note}")
    width = max(len("metric"), *(len(k) for k in e.metrics)) if e.metrics else len("metric")
    vals = {k: fmt_number(v) for k, v in e.metrics.items()}
    vwidth = max(len("value"), *(len(v) for v in vals.values())) if vals else len("value")
    lines.append(f"  {'metric':<{width}}  {'value':>{vwidth}}  direction")
    for key in e.metrics:
        how = "declared" if key in e.direction else "by name"
        word = "lower" if b.direction(key) == "min" else "higher"
        per = e.seed_values(key)
        seeds = f"; mean of {len(per)} seeds" if per else ""
        lines.append(f"  {key:<{width}}  {vals[key]:>{vwidth}}  {b.direction(key)} "
                     f"({word} is better, {how}{seeds})")
    return "\n".join(lines)


def format_history(b: Baselines) -> str:
    """Every baseline, newest first, one line each (``mlgate baseline history``)."""
    if b.current is None and not b.history:
        return f"no baselines recorded ({b.path})"
    lines = []
    if b.current is not None:
        lines.append(f"* {_describe(b.current)} (current): {_metrics_text(b.current)}")
    for e in reversed(b.history):
        why = f" — replaced {e.replaced or '?'}: {e.reason or 'no reason recorded'}"
        lines.append(f"  {_describe(e)}: {_metrics_text(e)}{why}")
    return "\n".join(lines)


def _metrics_text(e: BaselineEntry) -> str:
    return " ".join(f"{k}={fmt_number(v)}" for k, v in e.metrics.items()) or "(no metrics)"
