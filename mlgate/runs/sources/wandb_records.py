"""A reader for wandb's own record of a run: the ``run-<id>.wandb`` file in its run folder.

wandb (0.31) has no Python reader of this file any more, offline or online, so this module
reads it: a LevelDB-style log (a 7-byte file header ``:W&B`` + magic ``0xBEE1`` + version
``0``; 32 KiB blocks of chunks, each with a 7-byte header: CRC-32 of type byte + data,
length, type FULL/FIRST/MIDDLE/LAST) of protobuf ``Record`` messages, parsed with the classes
wandb itself ships (``wandb.proto.wandb_internal_pb2``).

It is pinned to the wandb versions it was tested on (:data:`TESTED_WANDB`). The file names
the wandb version that wrote it (its ``header`` record); a file from another version is still
read when its framing checks out, with a warning (:attr:`RecordFile.warning`) that says so,
and a file whose framing it does not know raises :class:`MetricSourceError`.

Incremental: :meth:`RecordFile.read_new` returns the records appended since the last call.
wandb buffers the file in 32 KiB blocks while a run is going, so a live reader sees a slow
run's rows in batches, and all of them once the run has finished.
"""
from __future__ import annotations

import json
import math
import zlib
from pathlib import Path
from typing import Any

from mlgate.errors import MetricSourceError

__all__ = ["RecordFile", "TESTED_WANDB", "history_row", "find_record_files"]

HEADER = b":W&B\xe1\xbe\x00"  # ident, magic 0xBEE1 (little-endian), version 0
BLOCK = 32768
CHUNK_HEADER = 7
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4
#: The wandb versions (major.minor) whose record files this reader was tested on.
TESTED_WANDB = ("0.31",)
#: Keys that frameworks log as the x axis: the row's step, not a metric.
STEP_KEYS = ("trainer/global_step", "train/global_step", "global_step")


def find_record_files(folder: Path) -> list[Path]:
    """``run-*.wandb`` files of the wandb run folders under ``folder`` (a ``wandb`` folder,
    or a folder holding one), each once (``latest-run`` is a link to one of them)."""
    out: dict[Path, Path] = {}
    for pattern in ("run-*.wandb", "*/run-*.wandb", "wandb/*/run-*.wandb"):
        for p in folder.glob(pattern):
            if p.parent.name == "latest-run" or not p.is_file():
                continue
            out.setdefault(p.resolve(), p)
    return sorted(out.values())


class RecordFile:
    """One ``run-<id>.wandb`` file, read incrementally."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.pos = 0  # the next unread byte, at a chunk boundary
        self._pending = b""  # FIRST/MIDDLE chunks of a record not complete yet
        self.producer: str | None = None  # the wandb version that wrote the file
        self.warning: str | None = None
        self.run: dict[str, Any] = {}  # run_id, project, entity, name (from the run record)
        self.exit_code: int | None = None

    def _pb(self) -> Any:
        try:
            from wandb.proto import wandb_internal_pb2 as pb
        except ImportError as exc:
            raise MetricSourceError(
                f"{self.path}: reading a wandb run needs wandb's own protobuf classes, and "
                f"wandb is not installed here\nhint: pip install 'mlgate[wandb]', or choose "
                f"another train.metrics source", path=str(self.path)) from exc
        return pb

    def read_new(self) -> list[Any]:
        """The records (``wandb_internal_pb2.Record``) appended since the last call."""
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self.pos)
                data = fh.read()
        except OSError:
            return []
        base = self.pos
        if base == 0:
            if len(data) < len(HEADER):
                return []
            if data[:len(HEADER)] != HEADER:
                raise MetricSourceError(
                    f"{self.path}: not a wandb record file this reader knows (header "
                    f"{data[:7]!r}, expected {HEADER!r}); it was tested on wandb "
                    f"{', '.join(TESTED_WANDB)}\nhint: log the metrics with mlgate.track, or "
                    f"choose another train.metrics source", path=str(self.path))
            base = len(HEADER)
            data = data[len(HEADER):]
        pb = self._pb()
        records: list[Any] = []
        off = 0
        while True:
            pos = base + off
            left = BLOCK - pos % BLOCK
            if left < CHUNK_HEADER:  # the writer pads the rest of the block with zeros
                if off + left > len(data):
                    break
                off += left
                continue
            if off + CHUNK_HEADER > len(data):
                break
            head = data[off:off + CHUNK_HEADER]
            crc = int.from_bytes(head[:4], "little")
            length = int.from_bytes(head[4:6], "little")
            kind = head[6]
            if off + CHUNK_HEADER + length > len(data):
                break  # not written completely yet
            chunk = data[off + CHUNK_HEADER:off + CHUNK_HEADER + length]
            if kind == 0 and length == 0 and crc == 0:  # zero padding up to the block's end
                off += left
                continue
            if zlib.crc32(chunk, zlib.crc32(bytes([kind]))) & 0xFFFFFFFF != crc:
                raise MetricSourceError(
                    f"{self.path}: record at byte {pos} fails its checksum: the file is "
                    f"damaged or written by a wandb version this reader does not know "
                    f"(tested on {', '.join(TESTED_WANDB)})", path=str(self.path), offset=pos)
            off += CHUNK_HEADER + length
            if kind == FULL:
                payload: bytes | None = chunk
            elif kind == FIRST:
                self._pending, payload = chunk, None
            elif kind == MIDDLE:
                self._pending, payload = self._pending + chunk, None
            elif kind == LAST:
                payload, self._pending = self._pending + chunk, b""
            else:
                raise MetricSourceError(f"{self.path}: unknown chunk type {kind} at byte "
                                        f"{pos}", path=str(self.path), offset=pos)
            if payload is None:
                continue
            record = pb.Record()
            record.ParseFromString(payload)
            self._note(record)
            records.append(record)
        self.pos = base + off
        return records

    def _note(self, record: Any) -> None:
        kind = record.WhichOneof("record_type")
        if kind == "header":
            self.producer = record.header.version_info.producer or None
            version = (self.producer or "").split("+")[0]
            if ".".join(version.split(".")[:2]) not in TESTED_WANDB:
                self.warning = (f"{self.path.name} was written by wandb {version or '?'}; this "
                                f"reader was tested on wandb {', '.join(TESTED_WANDB)}: check "
                                f"the numbers against the wandb run")
        elif kind == "run":
            r = record.run
            self.run = {"run_id": r.run_id or None, "project": r.project or None,
                        "entity": r.entity or None, "name": r.display_name or None}
        elif kind == "exit":
            self.exit_code = int(record.exit.exit_code)

    def rows(self) -> list[dict[str, Any]]:
        """The history rows appended since the last call (see :func:`history_row`)."""
        out = []
        for record in self.read_new():
            if record.WhichOneof("record_type") == "history":
                row = history_row(record.history)
                if row is not None:
                    out.append(row)
        return out


def history_row(history: Any) -> dict[str, Any] | None:
    """One wandb history record as a ``metrics.jsonl`` row: ``step`` from ``_step`` (or a
    framework's global-step key, :data:`STEP_KEYS`), ``time`` from ``_timestamp``, and the
    numeric values (nested keys joined with ``.``, as wandb shows them)."""
    values: dict[str, Any] = {}
    for item in history.item:
        key = item.key or ".".join(item.nested_key)
        text = item.value_json
        try:
            value: Any = float(text)  # numbers (and NaN/Infinity): most items, fast
        except ValueError:
            try:
                value = json.loads(text)
            except ValueError:
                continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        values[key] = value
    step: Any = values.pop("_step", None)
    if step is None and history.HasField("step"):
        step = history.step.num
    for key in STEP_KEYS:
        if key in values:
            v = values.pop(key)
            if math.isfinite(v):
                step = int(v)
    t = values.pop("_timestamp", None)
    values.pop("_runtime", None)
    if not values:
        return None
    row: dict[str, Any] = {"step": int(step) if step is not None else None}
    if t is not None:
        row["time"] = float(t)
    row.update(values)
    return row
