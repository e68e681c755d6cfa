"""The ``train.slurm.sbatch`` lines of ``mlgate.yaml``: more ``#SBATCH`` options for a run's job.

:func:`sbatch_options` reads them into submitit's ``additional_parameters``
(``"--comment=x"`` → ``{"comment": "x"}``, ``"--exclusive"`` → ``{"exclusive": True}``);
used by :mod:`mlgate.config.schema` (validation, with the line of the key) and
:mod:`mlgate.runs.slurm` (the job). Standard library only.
"""
from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from typing import Any

from mlgate.errors import ConfigError

__all__ = ["OWNED_OPTIONS", "sbatch_options", "parse_line"]

CONFIG_NAME = "mlgate.yaml"

#: ``#SBATCH`` options that mlgate or submitit set themselves (refused in ``train.slurm.sbatch``).
OWNED_OPTIONS = frozenset({
    "output", "error", "open-mode", "array", "nodes", "ntasks", "ntasks-per-node", "wrap",
    "wait", "parsable", "job-name", "signal", "chdir", "export", "input", "test-only",
})
_SHORT_FOR = {"p": "partition", "t": "time", "c": "cpus-per-task", "A": "account",
              "C": "constraint", "q": "qos", "N": "nodes", "n": "ntasks", "J": "job-name",
              "o": "output", "e": "error", "G": "gpus", "w": "nodelist", "x": "exclude",
              "d": "dependency", "a": "array", "D": "chdir", "i": "input"}


def sbatch_options(lines: Sequence[str] | None) -> dict[str, Any]:
    """``train.slurm.sbatch`` as submitit's ``additional_parameters``: ``--comment=x`` →
    ``{"comment": "x"}``, ``--exclusive`` → ``{"exclusive": True}``. Raises
    :class:`ConfigError` naming the line for a form it cannot read or an option mlgate owns."""
    out: dict[str, Any] = {}
    for i, raw in enumerate(lines or []):
        where = f"train.slurm.sbatch[{i}]"
        try:
            key, val = parse_line(raw)
        except ValueError as exc:
            raise ConfigError(CONFIG_NAME, f"{where}: {raw!r}: {exc}") from None
        if key in out:
            raise ConfigError(CONFIG_NAME, f"{where}: --{key} is given twice")
        out[key] = val
    return out


def parse_line(raw: Any) -> tuple[str, Any]:
    """One ``#SBATCH`` line: ``(option, value)`` (``True`` for a flag). Raises
    :class:`ValueError` saying what is wrong with it."""
    if not isinstance(raw, str):
        raise ValueError("not a string; write e.g. \"--comment=my run\"")
    text = raw.strip()
    if any(ord(c) < 32 or ord(c) == 127 for c in text):
        # a line break would end the #SBATCH line and start a command of the batch script
        raise ValueError("one option per entry, on one line (no control characters)")
    if text.startswith("#SBATCH"):
        text = text[len("#SBATCH"):].strip()
    long = re.fullmatch(r"--([A-Za-z0-9_-]+)(?:(?:=|\s+)(.*))?", text, re.S)
    short = re.fullmatch(r"-([A-Za-z])(?:\s*=?\s*(.+))?", text, re.S)
    if long:
        key, value = long.group(1), long.group(2)
    elif short:
        key, value = _SHORT_FOR.get(short.group(1), ""), short.group(2)
        if not key:
            raise ValueError("write the long form of the option (e.g. --constraint=gpu)")
    else:
        raise ValueError("not an sbatch option; write \"--option=value\" or \"--flag\"")
    val: Any = True
    if value is not None and value.strip():
        val = value.strip()
        if val[0] in "'\"":
            parts = shlex.split(val)  # ValueError for an unclosed quote
            if len(parts) != 1:
                raise ValueError("more than one sbatch option")
            val = parts[0]
    key = key.strip().replace("_", "-")
    if not re.fullmatch(r"[a-z][a-z0-9-]*", key):
        raise ValueError(f"{key!r} is not an sbatch option")
    if key in OWNED_OPTIONS:
        hint = {"nodes": "set train.nnodes", "ntasks": "set train.nnodes",
                "ntasks-per-node": "set train.nnodes",
                "job-name": "it is named after the run"}.get(key, "it is set for the run")
        raise ValueError(f"--{key} is mlgate's ({hint})")
    return key, val
