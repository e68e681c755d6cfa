"""``make bench``: run every ``bench/bench_*.py`` and print one table.

Each module exposes ``run() -> list[dict]``; a row is ``{"name", "median_s", "baseline",
"ratio", "goal"}`` and may add ``"met"`` (True/False/None: the module's own verdict) and
``"note"``. Without ``"met"`` the verdict is read from the goal when it is one of:
``<= N x ...`` / ``<= N`` (the ratio), ``<= N s`` / ``<= N ms`` (the median),
``>= N/s`` (1 / median), ``<= baseline + N s`` (median - median/ratio).
A module that fails to import or to run becomes a row with the error; the others still run.

Options: ``--quick`` (fewer repetitions: sets ``MLGATE_BENCH_QUICK=1`` and
``MLGATE_BENCH_ROUNDS=10`` for the modules), ``--only NAME`` (e.g. ``--only core``),
``--json FILE`` (also write the rows as JSON).
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import sys
import time
import traceback
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


def verdict(row: dict[str, Any]) -> bool | None:
    """Whether the row meets its goal (None: no measurable goal)."""
    if "met" in row:
        return row["met"]
    goal = str(row.get("goal") or "").strip().lower()
    med, ratio = row.get("median_s"), row.get("ratio")
    num = r"([0-9][0-9,]*(?:\.[0-9]+)?)"
    m = re.match(rf"^<=\s*baseline\s*\+\s*{num}\s*s\b", goal)
    if m and med is not None and ratio:
        return med - med / ratio <= float(m.group(1).replace(",", ""))
    m = re.match(rf"^>=\s*{num}\s*/\s*s\b", goal)
    if m and med:
        return 1 / med >= float(m.group(1).replace(",", ""))
    m = re.match(rf"^<=\s*{num}\s*(ms|s)\b", goal)
    if m and med is not None:
        limit = float(m.group(1).replace(",", "")) * (1e-3 if m.group(2) == "ms" else 1.0)
        return med <= limit
    m = re.match(rf"^<=\s*{num}\s*(x\b|$|\s)", goal)
    if m and ratio is not None:
        return ratio <= float(m.group(1).replace(",", ""))
    return None


def _load(path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(f"bench_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def collect(only: str | None = None) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for path in sorted(HERE.glob("bench_*.py")):
        topic = path.stem[len("bench_"):]
        if only and topic != only:
            continue
        start = time.perf_counter()
        try:
            got = _load(path).run()
            for row in got:
                row.setdefault("module", topic)
                row["met"] = verdict(row)
            rows += got
        except BaseException as exc:  # noqa: BLE001 - one broken module is one row
            if isinstance(exc, KeyboardInterrupt):
                raise
            last = traceback.format_exception_only(type(exc), exc)[-1].strip()
            rows.append({"module": topic, "name": f"{path.name}: failed", "median_s": None,
                         "baseline": None, "ratio": None, "goal": "-", "met": None,
                         "error": last, "note": last})
        print(f"  {path.name}: {time.perf_counter() - start:.1f} s", file=sys.stderr)
    return rows


def _seconds(v: float | None) -> str:
    if v is None:
        return "-"
    if v >= 1:
        return f"{v:.3f} s"
    if v >= 1e-3:
        return f"{v * 1e3:.2f} ms"
    return f"{v * 1e6:.1f} us"


def table(rows: list[dict[str, Any]]) -> str:
    head = ("benchmark", "median", "baseline", "ratio", "goal", "met?")
    body = []
    for r in rows:
        ratio = r.get("ratio")
        met = r.get("met")
        body.append((str(r["name"]), _seconds(r.get("median_s")), str(r.get("baseline") or "-"),
                     "-" if ratio is None else f"{ratio:.2f}x", str(r.get("goal") or "-"),
                     "yes" if met is True else "NO" if met is False else "-"))
    widths = [min(max(len(x[i]) for x in [head, *body]), 60) for i in range(len(head))]

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(c[:w].ljust(w) for c, w in zip(cells, widths)).rstrip()

    out = [line(head), line(tuple("-" * w for w in widths))] + [line(b) for b in body]
    notes = [f"  {r['name']}: {r['note']}" for r in rows if r.get("note")]
    if notes:
        out += ["", "notes:"] + notes
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer repetitions")
    ap.add_argument("--only", metavar="TOPIC", help="run only bench/bench_TOPIC.py")
    ap.add_argument("--json", metavar="FILE", help="also write the rows as JSON")
    args = ap.parse_args(argv)
    if args.quick:
        os.environ["MLGATE_BENCH_QUICK"] = "1"
        os.environ.setdefault("MLGATE_BENCH_ROUNDS", "10")
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)  # time what users run: compiled byte-code
    sys.dont_write_bytecode = False
    sys.path.insert(0, str(REPO))
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    print(f"mlgate benchmarks ({os.cpu_count()} CPUs"
          + (f", load average {load[0]:.1f} at the start" if load else "") + ")",
          file=sys.stderr)
    rows = collect(args.only)
    print(table(rows))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
