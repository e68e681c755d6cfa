"""Helpers shared by tests/test_runs.py, test_watch.py and test_track.py (not a test script)."""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import pytest

SCRIPTS = Path(__file__).resolve().parent
PY = sys.executable


def script(name: str) -> str:
    return str(SCRIPTS / name)


def command(name: str, *args: str) -> str:
    """A train.command running one of the test scripts with this interpreter."""
    return " ".join([PY, script(name), *args])


def meta(run_dir: Path) -> dict[str, Any]:
    return json.loads((Path(run_dir) / "meta.json").read_text())


def metrics(run_dir: Path) -> list[dict[str, Any]]:
    path = Path(run_dir) / "metrics.jsonl"
    return [json.loads(ln) for ln in path.read_text().splitlines() if ln.strip()]


def wait_for(predicate, timeout: float = 60.0, every: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(every)
    return bool(predicate())


def wandb_history(offline_dir: str | Path) -> list[dict[str, Any]]:
    """The history rows of an offline wandb run, read from its ``run-<id>.wandb`` file.

    wandb 0.31 writes no ``files/wandb-summary.json`` offline; the ``.wandb`` file is a
    LevelDB-style log (7-byte header ``:W&B`` + magic + version, 32 KiB blocks of records
    with a 7-byte header: crc32, length, type) of protobuf ``Record`` messages."""
    from wandb.proto import wandb_internal_pb2 as pb

    files = sorted(Path(offline_dir).glob("run-*.wandb"))
    assert files, f"no run-*.wandb in {offline_dir}"
    data = files[0].read_bytes()
    assert data[:4] == b":W&B"
    block = 32768
    pos, buf, rows = 7, b"", []
    while pos + 7 <= len(data):
        left = block - pos % block
        if left < 7:
            pos += left
            continue
        length = int.from_bytes(data[pos + 4:pos + 6], "little")
        kind = data[pos + 6]
        chunk = data[pos + 7:pos + 7 + length]
        pos += 7 + length
        if kind == 0:
            if length == 0:
                pos += block - pos % block if pos % block else 0
            continue
        if kind == 1:
            payloads = [chunk]
        elif kind == 2:
            buf, payloads = chunk, []
        elif kind == 3:
            buf, payloads = buf + chunk, []
        else:
            payloads, buf = [buf + chunk], b""
        for payload in payloads:
            record = pb.Record()
            record.ParseFromString(payload)
            if record.WhichOneof("record_type") == "history":
                rows.append({(i.key or "/".join(i.nested_key)): json.loads(i.value_json)
                             for i in record.history.item})
    return rows


# -- fixtures the run tests share (imported by name into each test module) ----------------------


@pytest.fixture(autouse=True)
def _fast_writer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLGATE_WANDB_NICE", "0")


@pytest.fixture
def ticket(tmp_path: Path) -> Path:
    folder = tmp_path / "tickets" / "in-progress" / "demo"
    folder.mkdir(parents=True)
    return folder
