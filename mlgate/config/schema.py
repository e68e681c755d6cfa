"""The validated ``mlgate.yaml`` (SPEC §12.1) as a pydantic model.

:func:`load_config` reads ``<root>/mlgate.yaml`` through :mod:`mlgate.config.raw` (defaults
applied) and validates it. Every mistake (unknown key, bad value) becomes a
:class:`~mlgate.errors.ConfigError` that names the file, the line of the key, the key path
(``train.launcher``), the bad value and what is allowed.

Not on the hook path (pydantic): hooks use :mod:`mlgate.config.raw` directly.
"""
from __future__ import annotations

import difflib
import re
import string
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError
from pydantic import ValidationInfo, field_validator, model_validator

from mlgate.constants import (BUILTIN_PROFILES, CONFIG_FILE, DEFAULT_PROFILE, LAST_STAGE,
                              PROFILE_ENTRY_POINT_GROUP, SMOKE_CHECK_IDS, STRICTNESS)
from mlgate.errors import ConfigError
from mlgate.config.raw import DEFAULTS, config_path, load_raw, mark_validated
from mlgate.config.sbatch import parse_line

__all__ = [
    "Config", "SmokeConfig", "TrainConfig", "SlurmConfig", "WandbConfig", "StatsConfig",
    "load_config",
    "COMMENTED_TEMPLATE", "BUILTIN_HANDLERS", "ENUMS", "profile_values",
]

BUILTIN_HANDLERS = ("torch-smoke", "train")
# Allowed values of every enumerated key, by key path (also used in error messages).
ENUMS: dict[str, tuple[str, ...]] = {
    "profile": (*STRICTNESS, *BUILTIN_PROFILES),  # and the installed third-party profiles
    "strictness": STRICTNESS,
    "stage5_policy": ("strict", "permissive"),
    "outside_tickets": ("allow", "block"),
    "train.launcher": ("local", "torchrun", "slurm"),
    "train.metrics": ("auto", "track", "wandb", "csv", "tensorboard", "stdout"),
    "wandb.mode": ("offline", "online"),
    "verify": ("record", "signed"),
}
_WORKTREE_FIELDS = ("repo", "ticket")
_REF_FORBIDDEN = set(" ~^:?*[\\\x7f")

HandlerName = Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
Stage = Annotated[int, Field(ge=0, le=LAST_STAGE)]
Glob = Annotated[str, Field(min_length=1)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, validate_default=True,
                              populate_by_name=True)


class SmokeConfig(_Model):
    """Options of the ``torch-smoke`` stage-4 handler."""

    factory: str | None = Field(
        None, description="`module:function` returning a SmokeTarget (or a dict with its keys)")
    overfit_steps: int = Field(50, ge=1, description="steps allowed for the one-batch overfit")
    overfit_ratio: float = Field(0.1, gt=0, lt=1,
                                 description="loss must reach <= ratio x its first value")
    leakage_cap: int = Field(10000, ge=0, description="samples hashed per loader at most")
    seed: int = Field(0, ge=0, description="the seed set before every check")
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="auto (CUDA when available, else CPU), cpu or cuda")
    frozen: list[str] = Field(default_factory=list, description="fnmatch patterns of "
                              "parameter names meant to be frozen (requires_grad=False)")
    ignore_index: int | None = Field(-100, description="a label value that is not a class; "
                                     "null: every value is a class")
    skip: list[str] = Field(default_factory=list,
                            description="check ids not to run (recorded as skipped)")

    @field_validator("frozen", "skip", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("skip")
    @classmethod
    def _known_checks(cls, value: list[str]) -> list[str]:
        for cid in value:
            if cid not in SMOKE_CHECK_IDS:
                raise ValueError(f"unknown check {cid!r}; checks: {', '.join(SMOKE_CHECK_IDS)}")
            if cid in ("forward", "loss"):
                raise ValueError(f"the {cid!r} check cannot be skipped (the others need it)")
        return value

    @field_validator("factory")
    @classmethod
    def _factory_form(cls, value: str | None) -> str | None:
        if value is None:
            return value
        module, sep, func = value.partition(":")
        ident = all(p.isidentifier() for p in module.split(".")) and all(
            p.isidentifier() for p in func.split("."))
        if not sep or not module or not func or not ident:
            raise ValueError(f"{value!r} is not of the form 'package.module:function'")
        return value


def _sbatch_line(value: str) -> str:
    parse_line(value)  # ValueError: what is wrong with the line
    return value


class SlurmConfig(_Model):
    """Slurm options for ``train.launcher: slurm`` (submitit)."""

    partition: str | None = Field(None, pattern=r"^[^\s;'\"\\]+$",
                                  description="partition to submit to (cluster default)")
    gpus_per_node: int = Field(1, ge=0, description="--gpus-per-node (0: none requested)")
    time_min: int = Field(60, ge=1, description="time limit in minutes")
    cluster: Literal["auto", "slurm", "local"] = Field(
        "auto", description="submitit executor: auto (Slurm when srun exists), slurm, local")
    cpus_per_task: int | None = Field(None, ge=1, description="--cpus-per-task")
    account: str | None = Field(None, pattern=r"^[^\s;'\"\\]+$",
                                description="--account to charge")
    sbatch: list[Annotated[str, AfterValidator(_sbatch_line)]] = Field(
        default_factory=list, description='more #SBATCH lines, e.g. ["--qos=high", "--exclusive"]')
    extra: dict[str, Any] = Field(default_factory=dict,
                                  description="more submitit update_parameters() keys")

    @field_validator("sbatch")
    @classmethod
    def _sbatch_once(cls, value: list[str]) -> list[str]:
        seen = [parse_line(line)[0] for line in value]
        twice = sorted({k for k in seen if seen.count(k) > 1})
        if twice:
            raise ValueError(f"--{twice[0]} is given twice")
        return value


class TrainConfig(_Model):
    """Options of the ``train`` stage-5 handler."""

    command: str | None = Field(
        None, min_length=1,
        description="training command; {batch_size} and {grad_accum} are substituted")
    launcher: Literal["local", "torchrun", "slurm"] = "local"
    nproc: int = Field(1, ge=1, description="processes per node (torchrun/slurm)")
    batch_size: int = Field(64, ge=1)
    grad_accum: int = Field(1, ge=1)
    timeout: int | float = Field(86400, gt=0, description="seconds")
    stall_after: int | float = Field(900, gt=0, description="seconds without a new metric")
    oom_retries: int = Field(3, ge=0)
    seed: int = Field(0, ge=0)
    seeds: list[Annotated[int, Field(ge=0)]] | None = Field(
        None, min_length=1, description="one run per seed (a Slurm array job); replaces seed")
    parallel: int | None = Field(None, ge=1, description="seed runs at once (local default 1; "
                                                        "Slurm: no limit)")
    nnodes: int = Field(1, ge=1, description="nodes of a torchrun run (slurm; torchrun "
                                             "simulates them on this machine)")
    data: list[Glob] = Field(default_factory=list,
                             description="paths hashed into the run's data version")
    slurm: SlurmConfig = Field(default_factory=SlurmConfig)
    env: dict[str, str] = Field(default_factory=dict,
                                description="extra environment variables for the run")
    config: str | None = Field(None, description="a YAML/JSON config file of the training "
                                                 "script, hashed and recorded in meta.json")
    metrics: Literal["auto", "track", "wandb", "csv", "tensorboard", "stdout"] = Field(
        "auto", description="where the run's metrics come from: auto (the first found of "
                            "track, wandb, csv, tensorboard; stdout with metrics_regex)")
    metrics_regex: str | None = Field(
        None, min_length=1, description="a regex over train.log (stdout) giving metrics: "
                                        "named groups, or the groups key and value")

    @field_validator("metrics_regex")
    @classmethod
    def _regex_compiles(cls, value: str | None) -> str | None:
        if value is None:
            return value
        try:
            rx = re.compile(value)
        except re.error as exc:
            raise ValueError(f"{value!r} is not a valid regular expression: {exc}") from None
        if not set(rx.groupindex) - {"step"}:
            raise ValueError(f"{value!r} names no metric: name a group after each metric, "
                             f"e.g. (?P<val_acc>\\S+), or use the groups key and value")
        return value

    @field_validator("seeds")
    @classmethod
    def _distinct_seeds(cls, value: list[int] | None) -> list[int] | None:
        if value is not None and len(set(value)) != len(value):
            raise ValueError(f"{value!r} repeats a seed")
        return value

    @field_validator("nnodes")
    @classmethod
    def _nodes_need_a_launcher(cls, value: int, info: ValidationInfo) -> int:
        if value > 1 and info.data.get("launcher") == "local":
            raise ValueError(f"{value} nodes need launcher torchrun (simulated on this "
                             f"machine) or slurm")
        return value


class WandbConfig(_Model):
    """Weights & Biases settings of the tracking API."""

    mode: Literal["offline", "online"] = "offline"
    project: str | None = Field(None, description="defaults to the ticket name")
    entity: str | None = None

    @field_validator("mode", mode="before")
    @classmethod
    def _no_disabled(cls, value: Any) -> Any:
        if value == "disabled":
            raise ValueError(
                "'disabled' is refused: mlgate never turns tracking off silently, a run's "
                "metrics are evidence. Use 'offline' (logs locally, no network; the default) "
                "or 'online'")
        return value


class StatsConfig(_Model):
    """How success criteria are judged over several seeds (requirements.md's Min Seeds
    column overrides ``min_seeds`` per criterion)."""

    min_seeds: int = Field(1, ge=1, le=1000, description="runs of distinct seeds a criterion "
                           "needs; >= 2 closes it on the mean and a confidence interval")
    confidence: float = Field(0.95, gt=0.5, lt=1.0,
                              description="level of the confidence intervals, e.g. 0.95")
def profile_values() -> tuple[str, ...]:
    """What ``profile:`` accepts: ``strict``, ``basic`` (the ``dl`` profile at that
    strictness), the built-in profiles and those installed under the entry point group
    ``mlgate.profiles``."""
    import importlib.metadata

    extra = sorted({ep.name for ep in importlib.metadata.entry_points(
        group=PROFILE_ENTRY_POINT_GROUP)} - set(ENUMS["profile"]))
    return (*ENUMS["profile"], *extra)


class Config(_Model):
    """Every key of ``mlgate.yaml``. Extra top-level keys are allowed only as option blocks
    of a handler listed under ``handlers``."""

    model_config = ConfigDict(extra="allow", strict=True, validate_default=True,
                              populate_by_name=True)

    profile: str = "strict"
    strictness: Literal["strict", "basic"] | None = None
    stage5_policy: Literal["strict", "permissive"] = "strict"
    outside_tickets: Literal["allow", "block"] = "allow"
    docs: list[Glob] = Field(default_factory=lambda: list(DEFAULTS["docs"]))
    run_outputs: list[Glob] = Field(default_factory=lambda: list(DEFAULTS["run_outputs"]))
    worktrees: str = DEFAULTS["worktrees"]
    branch_prefix: str = DEFAULTS["branch_prefix"]
    handlers: dict[Stage, list[HandlerName]] = Field(default_factory=dict)
    torch_smoke: SmokeConfig = Field(default_factory=SmokeConfig, alias="torch-smoke")
    train: TrainConfig = Field(default_factory=TrainConfig)
    wandb: WandbConfig = Field(default_factory=WandbConfig)
    baseline_file: str = Field(DEFAULTS["baseline_file"], min_length=1)
    verify: Literal["record", "signed"] = Field(
        "record", description="record: `mlgate verify` records the person's verification; "
                              "signed: it is a signed tag mlgate/verified/<ticket>, checked "
                              "with `git verify-tag`")
    stats: StatsConfig = Field(default_factory=StatsConfig)
    round_file: str = Field(DEFAULTS["round_file"], min_length=1)

    @field_validator("profile")
    @classmethod
    def _known_profile(cls, value: str) -> str:
        allowed = profile_values()
        if value not in allowed:
            close = difflib.get_close_matches(value, allowed, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(f"{value!r} is not allowed{hint}; allowed values: "
                             f"{', '.join(allowed)}")
        return value

    @model_validator(mode="after")
    def _one_strictness(self) -> "Config":
        if self.profile in STRICTNESS and self.strictness not in (None, self.profile):
            raise ValueError(f"strictness: {self.strictness!r} contradicts `profile: "
                             f"{self.profile}`, which already means the {DEFAULT_PROFILE} "
                             f"profile at strictness {self.profile}; write `profile: "
                             f"{DEFAULT_PROFILE}` and `strictness: {self.strictness}`")
        return self

    @property
    def gate_profile(self) -> str:
        """The domain profile ``profile:`` selects (``strict``/``basic`` mean ``dl``)."""
        return DEFAULT_PROFILE if self.profile in STRICTNESS else self.profile

    @property
    def gate_strictness(self) -> str:
        """``strict`` or ``basic``: ``strictness:``, else a ``profile: strict|basic``, else
        ``strict``."""
        if self.strictness is not None:
            return self.strictness
        return self.profile if self.profile in STRICTNESS else "strict"

    @field_validator("worktrees")
    @classmethod
    def _worktree_template(cls, value: str) -> str:
        try:
            fields = [f for _, f, _, _ in string.Formatter().parse(value) if f is not None]
        except ValueError as exc:
            raise ValueError(f"{value!r} is not a valid template ({exc})") from None
        unknown = [f for f in fields if f not in _WORKTREE_FIELDS]
        if unknown:
            raise ValueError(f"{value!r} uses {{{unknown[0]}}}; only {{repo}} and {{ticket}} "
                             f"can be used")
        if "ticket" not in fields:
            raise ValueError(f"{value!r} must contain {{ticket}} so that each ticket gets its "
                             f"own worktree")
        return value

    @field_validator("branch_prefix")
    @classmethod
    def _ref_safe(cls, value: str) -> str:
        bad = sorted({c for c in value if c in _REF_FORBIDDEN or ord(c) < 32})
        if bad or ".." in value or "//" in value or "@{" in value or value.startswith(
                ("/", "-", ".")) or ".lock/" in value or "/." in value:
            raise ValueError(f"{value!r} cannot start a git branch name (see `git help "
                             f"check-ref-format`); e.g. 'codex/' or 'exp/'")
        return value

    @model_validator(mode="after")
    def _handler_blocks(self) -> "Config":
        listed = self.handler_names()
        for key, value in (self.model_extra or {}).items():
            if key not in listed:
                raise ValueError(_unknown_key_message((key,), self))
            if value is not None and not isinstance(value, dict):
                raise ValueError(f"{key}: the options of handler {key!r} must be a mapping, "
                                 f"not {value!r}")
        return self

    # --- queries --------------------------------------------------------------------

    def handler_names(self) -> set[str]:
        """Every handler named under ``handlers`` (any stage)."""
        return {name for names in self.handlers.values() for name in names}

    def handlers_for(self, stage: int) -> list[str]:
        """The handlers configured for ``stage`` (empty: none required)."""
        return list(self.handlers.get(stage, []))

    def handler_options(self, name: str) -> dict[str, Any]:
        """The option block of handler ``name`` (the built-ins' with defaults applied)."""
        if name == "torch-smoke":
            return self.torch_smoke.model_dump()
        if name == "train":
            return self.train.model_dump()
        return dict((self.model_extra or {}).get(name) or {})

    def to_dict(self) -> dict[str, Any]:
        """Plain data with the file's key names (``torch-smoke``), extras included."""
        return self.model_dump(by_alias=True)


# --- loading ----------------------------------------------------------------------------

_SUBMODELS: dict[tuple[str, ...], type[BaseModel]] = {
    (): Config, ("torch-smoke",): SmokeConfig, ("train",): TrainConfig,
    ("train", "slurm"): SlurmConfig, ("wandb",): WandbConfig, ("stats",): StatsConfig,
}


def load_config(root: str | Path) -> Config:
    """Load and validate ``<root>/mlgate.yaml`` (defaults when it does not exist)."""
    path = config_path(root)
    raw = load_raw(root)
    lines: dict[tuple[Any, ...], int] = {}
    if path.is_file():
        lines = key_lines(path.read_text(encoding="utf-8"), str(path))
    config = validate(raw, str(path), lines)
    mark_validated(root)  # read-only commands may now skip validation until the file changes
    return config


def validate(raw: dict[str, Any], path: str = CONFIG_FILE,
             lines: dict[tuple[Any, ...], int] | None = None) -> Config:
    """Validate a raw config dict; errors name ``path`` and the line from ``lines``."""
    lines = lines or {}
    handler_names = _listed_handlers(raw.get("handlers"))
    for key in raw:
        if key in Config.model_fields or key in _aliases() or key in handler_names:
            continue
        message = _unknown_key_message((key,), None, handler_names)
        raise _config_error(path, [(message, _line_for((key,), lines), (key,), None, None)])
    try:
        return Config.model_validate(raw)
    except ValidationError as exc:
        problems: list[Problem] = []
        for err in exc.errors(include_url=False):
            problem = _describe(err, lines, raw)
            if all(p[2] != problem[2] for p in problems):  # one per key (unions repeat)
                problems.append(problem)
        problems.sort(key=lambda p: p[1] if p[1] is not None else 10**9)
        raise _config_error(path, problems) from None


def _aliases() -> set[str]:
    return {f.alias for f in Config.model_fields.values() if f.alias}


def _listed_handlers(handlers: Any) -> set[str]:
    names: set[str] = set()
    if isinstance(handlers, dict):
        for value in handlers.values():
            if isinstance(value, list):
                names.update(v for v in value if isinstance(v, str))
    return names


Problem = tuple[str, "int | None", tuple[Any, ...], Any, "tuple[str, ...] | None"]


def _config_error(path: str, problems: list[Problem]) -> ConfigError:
    first_line = problems[0][1]
    parts = [problems[0][0]]
    for message, line, _, _, _ in problems[1:]:
        parts.append(f"{path}:{line}: {message}" if line else f"{path}: {message}")
    parts.append(f"hint: fix {Path(path).name}" + (f" line {first_line}" if first_line else "")
                 + "; `mlgate init` writes a commented example of every key")
    err = ConfigError(path, "\n".join(parts), first_line)
    _, _, key, value, allowed = problems[0]
    err.data.update({
        "key": _dotted(key), "value": value, "allowed": list(allowed) if allowed else None,
        "errors": [{"key": _dotted(k), "line": ln, "message": m, "value": v,
                    "allowed": list(a) if a else None} for m, ln, k, v, a in problems],
    })
    return err


_UNION_TAG = re.compile(r"^(int|float|str|bool|none)$|\[|^constrained-")


def _describe(err: Any, lines: dict[tuple[Any, ...], int], raw: dict[str, Any]) -> Problem:
    loc = tuple(p for p in err["loc"]
                if p != "[key]" and not (isinstance(p, str) and _UNION_TAG.search(p)))
    key = _dotted(loc)
    value = err.get("input")
    kind = err["type"]
    msg = str(err.get("msg", ""))
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    allowed = profile_values() if key == "profile" else ENUMS.get(key)
    if kind == "extra_forbidden":
        text = _unknown_key_message(loc, None)
    elif allowed is not None:
        text = (f"{key}: {value!r} is not allowed; allowed values: {', '.join(allowed)}"
                if kind == "literal_error" else f"{key}: {msg}")
    elif not loc:  # a model-level check (handler option blocks)
        text = msg
        first = msg.split(":", 1)[0]
        loc = (first,) if first and " " not in first else ()
        key = _dotted(loc)
        value = raw.get(first) if loc else None
    elif err["loc"][-1:] == ("[key]",) and loc[:1] == ("handlers",):
        text = (f"handlers: {value!r} is not a stage; stages are the numbers 0 to "
                f"{LAST_STAGE}, e.g. {{4: [torch-smoke], 5: [train]}}")
    elif kind.endswith("_type") and value is None:
        text = f"{key}: a value is required here ({msg.lower()}), not an empty value"
    else:
        text = f"{key}: {value!r} is not valid: {msg[:1].lower() + msg[1:]}"
    return text, _line_for(loc, lines), loc, value, allowed


def _unknown_key_message(loc: tuple[Any, ...], config: Config | None,
                         handler_names: set[str] | None = None) -> str:
    parent, name = loc[:-1], loc[-1]
    model = _SUBMODELS.get(tuple(str(p) for p in parent))
    known: list[str] = []
    if model is not None:
        known = [f.alias or n for n, f in model.model_fields.items()]
    text = f"unknown key {_dotted(loc)!r}"
    close = difflib.get_close_matches(str(name), known, n=1)
    if close:
        text += f" (did you mean {_dotted(parent + (close[0],))!r}?)"
    if known:
        text += f"; known keys{' under ' + _dotted(parent) if parent else ''}: {', '.join(known)}"
    if not parent:
        text += (". A handler's options may sit at the top level under its name once the "
                 "handler is listed under `handlers`")
    return text


def _dotted(loc: tuple[Any, ...]) -> str:
    """``("train", "launcher")`` → ``train.launcher``; ``("docs", 1)`` → ``docs[1]``;
    ``("handlers", 4, 0)`` → ``handlers.4[0]``."""
    out = ""
    for i, part in enumerate(loc):
        if isinstance(part, int) and not (i == 1 and loc[0] == "handlers"):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _line_for(loc: tuple[Any, ...], lines: dict[tuple[Any, ...], int]) -> int | None:
    for n in range(len(loc), 0, -1):
        if loc[:n] in lines:
            return lines[loc[:n]]
    return None


def key_lines(text: str, path: str = CONFIG_FILE) -> dict[tuple[Any, ...], int]:
    """Map each key path (``("train", "launcher")``, ``("docs", 0)``) to its 1-based line.

    A key given twice in the same mapping is a :class:`ConfigError` (YAML would silently
    keep the last one).
    """
    import yaml

    try:
        node = yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError:  # load_raw reports syntax errors with their line
        return {}
    lines: dict[tuple[Any, ...], int] = {}
    if node is not None:
        _walk(node, (), lines, path)
    return lines


def _walk(node: Any, prefix: tuple[Any, ...], lines: dict[tuple[Any, ...], int],
          path: str) -> None:
    import yaml

    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                continue
            key: Any = key_node.value
            if prefix == ("handlers",) and key.strip().isdigit():
                key = int(key)
            line = key_node.start_mark.line + 1
            if key in seen and key != "<<":
                raise ConfigError(path, f"key {_dotted(prefix + (key,))!r} is given twice "
                                        f"(lines {seen[key]} and {line})\nhint: keep one of "
                                        f"them; YAML would silently use the last", line)
            seen[key] = line
            lines[prefix + (key,)] = line
            _walk(value_node, prefix + (key,), lines, path)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lines.setdefault(prefix + (i,), item.start_mark.line + 1)
            _walk(item, prefix + (i,), lines, path)


# --- the file `mlgate init` writes ------------------------------------------------------

COMMENTED_TEMPLATE = """\
# mlgate.yaml: configuration of mlgate for this repository.
#
# Every key is optional and every setting below shows its default. To change one, remove
# the leading "# " of its line (for a nested key, of its section line too) and edit it.
# Reference: the "mlgate.yaml" section of mlgate's README.

# Domain profile: the workflow's artifacts, templates and gate checks. dl (deep-learning
# experiments) | llm-finetune (LLM fine-tuning) | a profile installed by a package.
# "strict" and "basic" mean dl at that strictness (the spelling before profiles existed).
# profile: strict                     # strict | basic | dl | llm-finetune | ...

# Gate strictness. strict: every check of each stage's gate; basic: the artifact exists,
# its Document Status is the final value and its required sections are filled.
# Unset (null), it is what `profile: strict|basic` says, else strict.
# strictness: null                    # strict | basic

# Stage 5 decision rule. strict: a Pass needs every success criterion Passed or Waived;
# permissive also accepts Inconclusive.
# stage5_policy: strict               # strict | permissive

# Edits to paths that no ticket governs (no ticket worktree contains them).
# outside_tickets: allow              # allow | block

# Paths that become editable in stage 7 (Docs Sync), and in stage 5 (run outputs).
# Globs relative to the repository root; a pattern without "/" matches at the root only,
# "**" spans folders: "docs/**" is everything under docs/, "*.md" the root's .md files.
# docs: ["docs/**", "*.md"]
# run_outputs: ["results*/**", "exp_log*/**", "checkpoints/**", "lightning_logs/**", "logs/**", "tb_logs/**", "wandb/**"]

# Where `mlgate new` puts each ticket's worktree (relative to the repository root);
# {repo} is the repository folder's name, {ticket} the ticket name.
# worktrees: "../{repo}.worktrees/{ticket}"

# Ticket branches are named <branch_prefix><ticket>.
# branch_prefix: "codex/"

# Handlers whose evidence a stage's gate requires, by stage number. None by default.
# For example: {4: [torch-smoke], 5: [train]}
# handlers: {}

# Options of a handler sit under its name. The built-in stage-4 smoke checks:
# torch-smoke:
#   factory: null                     # "package.module:function" returning a SmokeTarget
#   overfit_steps: 50                 # steps allowed to overfit one batch
#   overfit_ratio: 0.1                # the loss must reach <= ratio x its first value
#   leakage_cap: 10000                # samples hashed per loader at most
#   seed: 0                           # the seed set before every check
#   device: auto                      # auto (CUDA when available) | cpu | cuda
#   frozen: []                        # parameters meant to be frozen, e.g. ["backbone.*"]
#   ignore_index: -100                # a label value that is not a class; null: none
#   skip: []                          # check ids not to run, e.g. [leakage]

# The built-in stage-5 training runner.
# train:
#   command: null                     # e.g. "python train.py --batch-size {batch_size} --grad-accum {grad_accum}"
#   launcher: local                   # local | torchrun | slurm
#   nproc: 1                          # processes per node (torchrun, slurm)
#   batch_size: 64                    # substituted for {batch_size}; halved on each OOM retry
#   grad_accum: 1                     # substituted for {grad_accum}; doubled on each OOM retry
#   timeout: 86400                    # seconds before a run is stopped and classed timeout
#   stall_after: 900                  # seconds without a new metric before it is stalled
#   oom_retries: 3                    # relaunches after an out-of-memory failure
#   seed: 0
#   seeds: null                       # e.g. [0, 1, 2]: one run per seed (on Slurm an array job)
#   parallel: null                    # seed runs at once (null: 1 locally, no limit on Slurm)
#   nnodes: 1                         # nodes per run (slurm: srun torchrun; torchrun: simulated)
#   data: []                          # paths hashed into each run's data version, e.g. ["data/"]
#   env: {}                           # extra environment variables for the run
#   config: null                      # the script's config file, hashed into meta.json
#   metrics: auto                     # auto | track | wandb | csv | tensorboard | stdout
#   metrics_regex: null               # over train.log, e.g. "epoch (?P<step>\\d+) val_acc=(?P<val_acc>\\S+)"
#   slurm:
#     partition: null                 # null: the cluster's default partition
#     gpus_per_node: 1
#     time_min: 60                    # time limit in minutes
#     cluster: auto                   # auto (Slurm when srun exists) | slurm | local
#     cpus_per_task: null             # --cpus-per-task
#     account: null                   # --account
#     sbatch: []                      # more #SBATCH lines, e.g. ["--qos=high", "--constraint=a100"]
#     extra: {}                       # more submitit parameters, e.g. {mem_gb: 64}

# Weights & Biases tracking of runs. mode: offline (local files, no network) | online.
# project defaults to the ticket name, entity to your wandb default.
# wandb:
#   mode: offline
#   project: null
#   entity: null

# Where the current baseline and its history are kept (relative to the repository root).
# baseline_file: baselines.yaml

# How a person's verification of a ticket is recorded. record: `mlgate verify --by NAME`
# (typed confirmation at a terminal); signed: also a signed tag mlgate/verified/<ticket>
# (git tag -s with the person's key), checked with `git verify-tag`.
# verify: record                      # record | signed

# Where `mlgate round` records its rounds of sibling tickets (relative to the repository
# root).
# round_file: rounds.yaml

# Success criteria over several seeds. With min_seeds >= 2 a criterion is closed on the runs
# of that many seeds (one `mlgate run train` per train.seed, or train.seeds): their mean and
# confidence interval decide, and "Inconclusive" when the interval crosses the threshold.
# A criterion's "Min Seeds" column in requirements.md overrides min_seeds for that row.
# Needs scipy: pip install 'mlgate[stats]'.
# stats:
#   min_seeds: 1                      # 1: one run decides (the best completed run)
#   confidence: 0.95                  # level of the confidence intervals
"""
