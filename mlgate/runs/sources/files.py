"""Readers of the logs training frameworks write themselves: Lightning's ``CSVLogger``
``metrics.csv``, TensorBoard event files and ``train.log`` (stdout) through a regex.

Each reader is incremental: ``rows()`` returns the ``metrics.jsonl``-shaped rows
(``{"step": int | None, "time"?: float, key: number}``) that appeared since the last call,
so the watchdog can follow a run live and the end of a run reads the same rows in one go.

* :class:`CsvLog` — the standard library's ``csv``; appended rows are parsed alone, and when
  Lightning rewrites the whole file (a new column) it is read again and only rows past the
  ones already returned are new.
* :class:`EventLog` — TensorBoard's own reader (``tensorboard.backend.event_processing.
  event_file_loader.EventFileLoader``, which also follows a file that is still written);
  scalars from ``add_scalar`` (``simple_value``) and from TF2 summaries (scalar tensors).
* :class:`StdoutLog` — :data:`DEFAULT_REGEX` or ``train.metrics_regex`` over each new line of
  ``train.log``.
"""
from __future__ import annotations

import csv
import io
import math
import re
from pathlib import Path
from typing import Any

from mlgate.errors import MetricSourceError

__all__ = ["CsvLog", "EventLog", "StdoutLog", "DEFAULT_REGEX", "STEP_RE", "compile_regex",
           "to_number"]

#: ``name=value`` / ``name: value`` pairs (``train.metrics: stdout`` without a regex).
DEFAULT_REGEX = (r"(?P<key>[A-Za-z_][\w./-]*)\s*[=:]\s*"
                 r"(?P<value>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?(?:nan|inf)\b)")
#: The step of a line that does not name one in the regex: ``step 3``, ``epoch=2``, ...
STEP_RE = re.compile(r"\b(?P<name>global_step|step|iteration|iter|epoch)\b\s*[=:#]?\s*"
                     r"(?P<n>\d+)", re.IGNORECASE)
_STEP_PRIORITY = {"global_step": 0, "step": 1, "iteration": 2, "iter": 2, "epoch": 3}


def to_number(text: Any) -> float | int | None:
    """A logged value as a number (``"0.91"``, ``"nan"``, ``"1e-3,"``), else ``None``."""
    if isinstance(text, bool):
        return None
    if isinstance(text, (int, float)):
        return text
    s = str(text).strip().rstrip(",;)]}")
    if not s:
        return None
    try:
        return int(s) if re.fullmatch(r"[-+]?\d+", s) else float(s)
    except ValueError:
        return None


class CsvLog:
    """Lightning's ``CSVLogger`` file (``metrics.csv``: a ``step`` column, one column per
    key, empty cells where a key was not logged).

    Lightning appends rows, and rewrites the whole file when a new column appears: while the
    header line is unchanged and the file only grew, just the appended bytes are parsed;
    otherwise the file is read again and rows past those already returned are new."""

    kind = "csv"

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.seen = 0  # data rows returned so far
        self.offset = 0  # bytes of complete lines parsed so far
        self.header: str | None = None
        self.stamp: tuple[int, int] | None = None

    def rows(self) -> list[dict[str, Any]]:
        try:
            st = self.path.stat()
            if (st.st_size, st.st_mtime_ns) == self.stamp:
                return []
            with open(self.path, "rb") as fh:
                first = fh.readline()
                appended = (self.header is not None and st.st_size >= self.offset
                            and first.decode("utf-8", "replace") == self.header)
                if appended:
                    fh.seek(self.offset)
                    data = fh.read()
                else:
                    fh.seek(0)
                    data = fh.read()
        except OSError:
            return []
        self.stamp = (st.st_size, st.st_mtime_ns)
        start = self.offset if appended else 0
        end = data.rfind(b"\n") + 1  # a line still being written waits for the next call
        if end <= 0:
            return []
        text = data[:end].decode("utf-8", errors="replace")
        if not appended:
            self.header = first.decode("utf-8", "replace")
            skip, text = self.seen, text
        else:
            skip, text = 0, self.header + text
        self.offset = start + end
        out: list[dict[str, Any]] = []
        for i, rec in enumerate(csv.DictReader(io.StringIO(text))):
            if i < skip:
                continue
            self.seen += 1
            row: dict[str, Any] = {"step": None}
            for key, cell in rec.items():
                if key is None or cell in (None, ""):
                    continue
                value = to_number(cell)
                if value is None:
                    continue
                if key == "step":
                    row["step"] = int(value)
                else:
                    row[key] = value
            if len(row) > 1:
                out.append(row)
        return out


class EventLog:
    """TensorBoard event files of one log folder, each followed by TensorBoard's loader."""

    kind = "tensorboard"

    def __init__(self, paths: list[Path]) -> None:
        self.paths = sorted(paths)
        self.path = self.paths[0].parent if self.paths else Path(".")
        self._loaders: dict[Path, Any] = {}

    def rows(self) -> list[dict[str, Any]]:
        try:
            from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
            from tensorboard.util import tensor_util
        except ImportError as exc:
            raise MetricSourceError(
                f"{self.path}: reading TensorBoard event files needs the tensorboard "
                f"package\nhint: pip install 'mlgate[tensorboard]'", path=str(self.path)
            ) from exc
        for p in self.path.glob("events.out.tfevents.*"):
            if p not in self._loaders and p.is_file():
                self.paths = sorted({*self.paths, p})
        out: list[dict[str, Any]] = []
        for p in self.paths:
            loader = self._loaders.get(p)
            if loader is None:
                loader = self._loaders[p] = EventFileLoader(str(p))
            by_step: dict[int, dict[str, Any]] = {}
            try:
                events = list(loader.Load())
            except Exception as exc:  # a damaged file: say which
                raise MetricSourceError(f"{p}: TensorBoard could not read it: {exc}",
                                        path=str(p)) from exc
            for event in events:
                if not event.HasField("summary"):
                    continue
                for value in event.summary.value:
                    number = _scalar(value, tensor_util)
                    if number is None:
                        continue
                    row = by_step.setdefault(int(event.step), {"step": int(event.step),
                                                                "time": float(event.wall_time)})
                    row[value.tag] = number
            out.extend(by_step.values())
        return out


def _scalar(value: Any, tensor_util: Any) -> float | None:
    kind = value.WhichOneof("value")
    if kind == "simple_value":
        return float(value.simple_value)
    if kind == "tensor":
        plugin = value.metadata.plugin_data.plugin_name
        if plugin and plugin != "scalars":
            return None
        try:
            array = tensor_util.make_ndarray(value.tensor)
        except Exception:
            return None
        if array.size != 1 or array.dtype.kind not in "fiu":
            return None
        return float(array.reshape(()).item())
    return None


def compile_regex(pattern: str | None) -> re.Pattern[str]:
    """``train.metrics_regex`` compiled; a bad pattern is a :class:`MetricSourceError`
    naming it."""
    text = pattern or DEFAULT_REGEX
    try:
        rx = re.compile(text)
    except re.error as exc:
        raise MetricSourceError(f"train.metrics_regex: {text!r} is not a valid regular "
                                f"expression: {exc}\nhint: e.g. 'epoch (?P<step>\\d+) "
                                f"val_acc=(?P<val_acc>\\S+)'", pattern=text) from exc
    names = set(rx.groupindex)
    if not names - {"step"}:
        raise MetricSourceError(
            f"train.metrics_regex: {text!r} names no metric\nhint: name a group after each "
            f"metric ((?P<val_acc>\\S+)), or use the groups (?P<key>...) and (?P<value>...)",
            pattern=text)
    if ("key" in names) != ("value" in names):
        raise MetricSourceError(f"train.metrics_regex: {text!r}: the groups key and value go "
                                f"together", pattern=text)
    return rx


class StdoutLog:
    """A regex over the lines of ``train.log``.

    Each line with at least one match becomes a row. A pattern with the groups ``key`` and
    ``value`` gives one metric per match (``val/acc=0.91``); otherwise each named group is a
    metric of that name (``(?P<val_acc>\\S+)``). The step is the group ``step`` when the
    pattern has one, else a ``step N``/``epoch N`` on the line (:data:`STEP_RE`), else one
    more than the previous row's."""

    kind = "stdout"

    def __init__(self, path: str | Path, pattern: str | None = None) -> None:
        self.path = Path(path)
        self.rx = compile_regex(pattern)
        self.offset = 0
        self.partial = b""
        self.step = -1

    def rows(self) -> list[dict[str, Any]]:
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self.offset)
                data = fh.read()
        except OSError:
            return []
        self.offset += len(data)
        lines = (self.partial + data).split(b"\n")
        self.partial = lines.pop()
        out = []
        for raw in lines:
            row = self.parse(raw.decode("utf-8", errors="replace"))
            if row is not None:
                out.append(row)
        return out

    def parse(self, line: str) -> dict[str, Any] | None:
        values: dict[str, Any] = {}
        step: int | None = None
        paired = "key" in self.rx.groupindex
        for m in self.rx.finditer(line):
            groups = m.groupdict()
            if groups.get("step") is not None:
                n = to_number(groups["step"])
                step = int(n) if n is not None and math.isfinite(n) else step
            if paired:
                key, value = groups.get("key"), to_number(groups.get("value"))
                if key and value is not None:
                    values[key] = value
                continue
            for name, text in groups.items():
                if name == "step" or text is None:
                    continue
                value = to_number(text)
                if value is not None:
                    values[name] = value
        if not values:
            return None
        for name in ("global_step", "step"):
            if step is None and name in values:
                step = int(values.pop(name))
        if step is None:
            found = sorted(((_STEP_PRIORITY[m.group("name").lower()], int(m.group("n")))
                            for m in STEP_RE.finditer(line)))
            step = found[0][1] if found else self.step + 1
        self.step = step
        return {"step": step, **values}
