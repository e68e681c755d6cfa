"""``mlgate.yaml`` as a plain dict with the defaults applied (no validation), and the
path globs of ``docs`` / ``run_outputs``.

Standard library + PyYAML only (imported lazily, and only when a config file exists): the
hook path uses this module. The validated, typed view is :mod:`mlgate.config.schema`.
"""
from __future__ import annotations

import functools
import os
import re
from pathlib import Path
TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs import time on the hook path
    from typing import Any

from mlgate.constants import CONFIG_FILE
from mlgate.errors import ConfigError

# SPEC §12.1. `handlers` is empty: no handler evidence is required unless configured.
DEFAULTS: dict[str, Any] = {
    "profile": "strict",
    "stage5_policy": "strict",
    "outside_tickets": "allow",
    "docs": ["docs/**", "*.md"],
    # What training frameworks write beside the script by default (Lightning, TensorBoard, wandb)
    # is a run output too: stage 5 may commit it.
    "run_outputs": ["results*/**", "exp_log*/**", "checkpoints/**", "lightning_logs/**",
                    "logs/**", "tb_logs/**", "wandb/**"],
    "worktrees": "../{repo}.worktrees/{ticket}",
    "branch_prefix": "codex/",
    "handlers": {},
    "torch-smoke": {"overfit_steps": 50, "overfit_ratio": 0.1, "leakage_cap": 10000,
                    "seed": 0, "device": "auto", "frozen": [], "ignore_index": -100,
                    "skip": []},
    "train": {
        "launcher": "local",
        "nproc": 1,
        "batch_size": 64,
        "grad_accum": 1,
        "timeout": 86400,
        "stall_after": 900,
        "oom_retries": 3,
        "seed": 0,
        "seeds": None,
        "parallel": None,
        "nnodes": 1,
        "data": [],
        "slurm": {"partition": None, "gpus_per_node": 1, "time_min": 60, "cluster": "auto",
                  "cpus_per_task": None, "account": None, "sbatch": [], "extra": {}},
        "env": {},
        "config": None,
        "metrics": "auto",
        "metrics_regex": None,
    },
    "wandb": {"mode": "offline", "project": None, "entity": None},
    "baseline_file": "baselines.yaml",
    "verify": "record",
    "stats": {"min_seeds": 1, "confidence": 0.95},
    "round_file": "rounds.yaml",
}


def config_path(root: str | Path) -> Path:
    return Path(root) / CONFIG_FILE


def read_yaml(path: str | Path) -> Any:
    """Parse a YAML file; a syntax error becomes :class:`ConfigError` with its line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(str(path), f"not UTF-8 text ({exc.reason} at byte {exc.start})"
                          ) from exc
    except OSError as exc:
        raise ConfigError(str(path), f"cannot read: {exc.strerror or exc}") from exc
    return parse_yaml(text, str(path))


def parse_yaml(text: str, path: str = CONFIG_FILE) -> Any:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        return yaml.load(text, Loader=loader)  # noqa: S506 (a safe loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = exc.problem or exc.context or "syntax error"
        raise ConfigError(path, f"invalid YAML: {problem}\nhint: fix the YAML syntax "
                                f"(indentation, quotes, ':' after each key)", line) from exc
    except yaml.YAMLError as exc:
        raise ConfigError(path, f"invalid YAML: {exc}") from exc


def _copy(value: Any) -> Any:
    """A deep copy of plain config data (dicts, lists, scalars): ``copy.deepcopy`` without
    importing ``copy`` and ``weakref`` on the hook path."""
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def load_raw(root: str | Path) -> dict[str, Any]:
    """``<root>/mlgate.yaml`` deep-merged over :data:`DEFAULTS` (a fresh dict every call).

    A missing or empty file gives the defaults. A mapping-valued key left empty in the file
    (``train:`` with every sub-key commented out) keeps its defaults. ``handlers`` keys are
    normalised to int stages and a single handler name to a one-item list.
    """
    path = config_path(root)
    if not path.is_file():
        return _copy(DEFAULTS)
    return _merged(path, _cached_yaml(Path(root), path))


def _merged(path: Path, data: Any) -> dict[str, Any]:
    """The parsed file ``data`` (None: empty) deep-merged over :data:`DEFAULTS`."""
    merged = _copy(DEFAULTS)
    if data is None:
        return merged
    if not isinstance(data, dict):
        raise ConfigError(str(path), f"the top level must be a mapping of keys to values, "
                                     f"not a {_type_name(data)}\nhint: see `mlgate init` for "
                                     f"a commented example")
    merged = deep_merge(merged, data)
    merged["handlers"] = normalize_handlers(merged.get("handlers"))
    return merged


def _cache_file(root: Path) -> Path:
    """Inside git's own folders (never in the work tree): ``.git/mlgate/`` in a main
    checkout, the worktree's git dir in a linked worktree (``.git`` is then a file holding
    ``gitdir: PATH``); ``.mlgate/`` in a non-git workspace."""
    git = root / ".git"
    if git.is_dir():
        return git / "mlgate" / "config-cache.json"
    if git.is_file():
        try:
            line = git.read_text(encoding="utf-8").strip()
        except OSError:
            line = ""
        if line.startswith("gitdir:"):
            gitdir = Path(line[len("gitdir:"):].strip())
            if not gitdir.is_absolute():
                gitdir = root / gitdir
            return gitdir / "mlgate-config-cache.json"
    return root / ".mlgate" / "config-cache.json"


def _digest(text: str) -> str:
    try:
        from _blake2 import blake2b  # builtin: cheaper to load than hashlib's OpenSSL
    except ImportError:  # pragma: no cover
        from hashlib import blake2b
    return blake2b(text.encode("utf-8"), digest_size=32).hexdigest()


def _validity_tag() -> str:
    from mlgate import __version__

    return f"mlgate {__version__}"


def _read_cache(root: Path) -> dict[str, Any]:
    import json

    try:
        cached = json.loads(_cache_file(root).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return cached if isinstance(cached, dict) else {}


def _write_cache(root: Path, entry: dict[str, Any]) -> None:
    import json

    cache = _cache_file(root)
    try:
        payload = json.dumps(entry)
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_name(f".{cache.name}.{os.getpid()}.tmp")
        tmp.write_text(payload, encoding="utf-8")
        os.replace(tmp, cache)
    except (OSError, TypeError, ValueError):
        pass  # a cache that cannot be written only costs speed


def _file_text(root: Path) -> str | None:
    """The text of ``<root>/mlgate.yaml``; ``""`` when it is missing or holds only comments
    (the defaults); None when it cannot be read."""
    path = config_path(root)
    if not path.is_file():
        return ""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    if all(not ln.strip() or ln.lstrip().startswith("#") for ln in text.splitlines()):
        return ""
    return text


def validated_raw(root: str | Path) -> dict[str, Any] | None:
    """:func:`load_raw`, when ``mlgate.yaml`` is unchanged since this mlgate version
    validated it (see :func:`mark_validated`) or gives the defaults; else None. A read-only
    command uses it to skip importing the validator (pydantic): one read of the file."""
    root = Path(root)
    text = _file_text(root)
    if text is None:
        return None
    if text == "":
        return _copy(DEFAULTS)
    cached = _read_cache(root)
    if cached.get("blake2b") != _digest(text) or cached.get("valid") != _validity_tag() \
            or "data" not in cached:
        return None
    return _merged(config_path(root), cached["data"])


def mark_validated(root: str | Path) -> None:
    """Record that the current ``mlgate.yaml`` passed validation (:mod:`mlgate.config.schema`)."""
    root = Path(root)
    text = _file_text(root)
    if not text:
        return
    cached = _read_cache(root)
    digest = _digest(text)
    if cached.get("blake2b") != digest:
        cached = {"blake2b": digest, "data": parse_yaml(text, str(config_path(root)))}
    if cached.get("valid") != _validity_tag():
        _write_cache(root, cached | {"valid": _validity_tag()})


def _cached_yaml(root: Path, path: Path) -> Any:
    """The parsed YAML of ``path``, without importing PyYAML when possible (the hooks run on
    every tool call): a file of comments only is empty, and a parse is cached as JSON keyed
    by the file's content hash (in the git common dir, or ``.mlgate/``)."""
    text = _file_text(root)
    if text is None:
        return read_yaml(path)  # raises the ConfigError with the reason
    if text == "":
        return None
    digest = _digest(text)
    cached = _read_cache(root)
    if cached.get("blake2b") == digest and "data" in cached:
        return cached["data"]
    data = parse_yaml(text, str(path))
    _write_cache(root, {"blake2b": digest, "data": data})
    return data


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """Mappings merge key by key; any other value of ``over`` replaces the base value.
    ``None`` over a mapping keeps the mapping."""
    out = dict(base)
    for key, value in over.items():
        old = out.get(key)
        if isinstance(old, dict) and isinstance(value, dict):
            out[key] = deep_merge(old, value)
        elif isinstance(old, dict) and value is None:
            out[key] = old
        else:
            out[key] = value
    return out


def normalize_handlers(value: Any) -> Any:
    """``{"4": "torch-smoke"}`` → ``{4: ["torch-smoke"]}``; anything unexpected is left as is
    for :mod:`mlgate.config.schema` to report."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        return value
    out: dict[Any, Any] = {}
    for key, names in value.items():
        if isinstance(key, str) and key.strip().isdigit():
            key = int(key.strip())
        if names is None:
            names = []
        elif isinstance(names, str):
            names = [names]
        out[key] = names
    return out


def _type_name(value: Any) -> str:
    return {list: "list", str: "string", int: "number", float: "number",
            bool: "boolean"}.get(type(value), type(value).__name__)


# --- globs ----------------------------------------------------------------------------


def glob_match(path: str, patterns: list[str] | tuple[str, ...]) -> bool:
    """True when ``path`` (relative to the workspace root, ``/``-separated) matches one of
    ``patterns``.

    Gitignore-like, anchored at the root: ``*`` and ``?`` stay within one path segment,
    ``[abc]`` is a character class, ``**`` spans any number of segments (``docs/**``: all
    under ``docs/``; ``**/*.md``: any ``.md`` at any depth). A pattern without ``/``
    matches at the root only (``*.md`` is ``README.md``, not ``docs/x.md``). A pattern
    matching a folder also matches everything inside it; a trailing ``/`` is the same as
    ``/**``.
    """
    rel = _normalize(path)
    if not rel:
        return False
    return any(_compile(p).match(rel) is not None for p in patterns if isinstance(p, str) and p)


def _normalize(path: str) -> str:
    rel = str(path).replace("\\", "/")
    while rel.startswith("./"):
        rel = rel[2:]
    rel = re.sub(r"/+", "/", rel)
    rel = re.sub(r"(^|/)\./", r"\1", rel)
    return rel.rstrip("/")


@functools.lru_cache(maxsize=512)
def _compile(pattern: str) -> re.Pattern[str]:
    pat = _normalize(pattern.strip())
    if pattern.strip().endswith("/") and pat:
        pat += "/**"
    pat = pat.lstrip("/")
    segments = pat.split("/")
    parts: list[str] = []
    for i, seg in enumerate(segments):
        last = i == len(segments) - 1
        if seg == "**":
            if last:
                # "a/**": something below a/ ("**" alone: anything)
                parts.append(".+" if i == 0 else "/.+")
            else:
                parts.append("(?:.*/)?" if i == 0 else "/(?:.*/)?")
            continue
        if i > 0 and segments[i - 1] != "**":
            parts.append("/")
        parts.append(_segment(seg))
    return re.compile("^" + "".join(parts) + "(?:/.*)?$", re.DOTALL)


def _segment(seg: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(seg):
        c = seg[i]
        if c == "*":
            while i + 1 < len(seg) and seg[i + 1] == "*":
                i += 1
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            end = seg.find("]", i + 2 if i + 1 < len(seg) and seg[i + 1] in "!^" else i + 1)
            if end == -1:
                out.append(re.escape(c))
            else:
                body = seg[i + 1:end]
                neg = body[:1] in ("!", "^")
                body = body[1:] if neg else body
                body = body.replace("\\", "\\\\")
                out.append(f"[{'^' if neg else ''}{body}]" if not neg else f"(?![/])[^{body}]")
                i = end
        elif c == "\\" and i + 1 < len(seg):
            i += 1
            out.append(re.escape(seg[i]))
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)
