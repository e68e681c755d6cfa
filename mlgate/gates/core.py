"""The gate machinery every stage module shares (workflow-sources §5.5, rule 44, and the
structural rules that open each stage: artifact present, final status, sections).

:func:`evaluate` dispatches to one stage module (``mlgate.gates.<module>.gate``), imported
lazily through :data:`_STAGE_MODULES` so that imports in this package go one way: the stage
modules import this one, never the reverse. Nothing here writes a file or runs git; git
facts come in through :class:`GitFacts`.

Shared pieces: :class:`_Gate` collects checks; ``_load``/``_artifact``/``_status``/
``_sections_present``/``_sections_filled``/``_fields`` are the per-artifact checks;
``_base`` runs the opening checks of a stage (and the whole ``basic`` profile);
``_has_rows`` and ``_ids`` are the table checks every stage repeats ("the table has rows",
"ids are valid and unique"); ``_decision`` and ``_workspace_root`` serve several stages.
Source changes and handler evidence live in :mod:`mlgate.gates.changes`.
"""
from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Sized
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from mlgate import artifacts as A
from mlgate import constants as C
from mlgate.errors import ProfileError, StateFileError, UsageError
from mlgate.profiles.model import DL, Profile

if TYPE_CHECKING:
    from mlgate.state.mdparse import Section
    from mlgate.state.statefile import StateDoc

PROFILES = ("strict", "basic")
STAGE5_POLICIES = ("strict", "permissive")


# --- public data types ---------------------------------------------------------------


@dataclass
class Check:
    id: str
    ok: bool
    reason: str
    file: str | None = None
    line: int | None = None
    rule: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "ok": self.ok, "reason": self.reason, "file": self.file,
                "line": self.line, "rule": self.rule}


@dataclass
class GateReport:
    ticket: str
    stage: int
    ok: bool
    checks: list[Check]
    profile: str  # the strictness: strict | basic
    domain: str = DL.name  # the domain profile (dl, llm-finetune, ...)

    def failing(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]

    def to_dict(self) -> dict[str, Any]:
        out = {"ticket": self.ticket, "stage": self.stage, "ok": self.ok,
               "profile": self.profile, "checks": [c.to_dict() for c in self.checks]}
        if self.domain != DL.name:  # reports of the default profile are as they always were
            out["domain"] = self.domain
        return out


class GitFacts(Protocol):
    """Git queries the engine answers for the gates (``None`` in non-git mode)."""

    repo_root: Path

    def head(self) -> str | None: ...
    def branch_exists(self, name: str) -> bool: ...
    def worktree_for_branch(self, name: str) -> Path | None: ...
    def changed_files(self, since: str) -> list[str]: ...
    def dirty_files(self) -> list[str]: ...
    def commit_exists(self, sha: str) -> bool: ...
    def is_ancestor(self, a: str, b: str) -> bool: ...
    def merge_base(self, a: str, b: str) -> str | None: ...
    # optional: ``untracked_files() -> list[str]`` (untracked files git does not ignore)


def _all_sources(path: str) -> bool:
    return True


@dataclass
class GateContext:
    ticket: str
    folder: Path
    state: "StateDoc"
    profile: str = "strict"
    stage5_policy: str = "strict"
    handlers: dict[int, list[str]] = field(default_factory=dict)
    git: GitFacts | None = None
    stage_entry_commits: dict[int, str] = field(default_factory=dict)
    base_ref: str | None = None
    verified_by: str | None = None
    source_filter: Callable[[str], bool] = _all_sources
    #: The ticket's evidence registry (:class:`mlgate.evidence.registry.Registry`); ``None``
    #: where it is not at hand (a CI clone): the registration checks then say so and pass.
    registry: Any = None
    #: Handler name -> its options in mlgate.yaml (evidence made with other options is stale).
    handler_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    baseline_file: str = "baselines.yaml"
    #: Where ``baselines.yaml`` lives (the workspace root; default: the checkout root).
    workspace_root: Path | None = None
    #: Compare the report's Baseline cells with baselines.yaml (off where the file of the
    #: time is not known: ``mlgate audit`` of a branch that never committed it).
    check_baseline: bool = True
    #: Check that baselines.yaml is the file mlgate last wrote (off in ``mlgate audit``:
    #: the note is about today's file, not the one of a past commit).
    check_baseline_file: bool = True
    docs_globs: tuple[str, ...] = ("docs/**", "*.md")
    #: During an active re-entry: the upstream artifacts it names -> their digest at the
    #: re-entry (a stage on the path whose artifact is unchanged does not pass).
    reentry_baseline: dict[str, str | None] | None = None
    #: With ``verify: signed``: (tag verified, reason) for ``mlgate/verified/<ticket>``.
    signed_verification: tuple[bool, str] | None = None
    # rubric results recorded by a person (`mlgate rubric`), whose MAC verified:
    # {SC id: "Passed" | "Failed"}; None: none could be read
    rubrics: dict[str, str] | None = None
    # mlgate's own closure of the criteria from the registered runs, {SC id: decision},
    # computed when a check asks (a Refuted decision is checked against it); None: unknown
    closure_decisions: Callable[[], dict[str, str]] | None = None
    domain: Profile = DL  # the domain profile; ``profile`` above is the strictness


# --- collecting checks ---------------------------------------------------------------

Problem = tuple[int | None, str]


class _Gate:
    """Collects the checks of one stage: ``add`` records one passing entry, or one failing
    entry per problem."""

    def __init__(self, stage: int, file: str | None, domain: Profile = DL) -> None:
        self.stage = stage
        self.file = file
        self.domain = domain
        self.checks: list[Check] = []

    def add(self, name: str, problems: Iterable[Problem], ok_reason: str, rule: int | None,
            file: str | None = None) -> bool:
        cid = f"s{self.stage}.{name}"
        f = file if file is not None else self.file
        probs = list(problems)
        for line, msg in probs:
            self.checks.append(Check(cid, False, _where(f, line) + msg, f, line, rule))
        if not probs:
            self.checks.append(Check(cid, True, ok_reason, f, None, rule))
        return not probs


def _where(file: str | None, line: int | None) -> str:
    if file and line:
        return f"{file}:{line}: "
    if file:
        return f"{file}: "
    return ""


def _q(value: object) -> str:
    return repr(str(value))


def _what(value: object, missing: str = "is empty") -> str:
    """``missing`` when ``value`` is ``None``, else ``is '<value>'``: the phrase a reason uses
    for a cell or field that holds no allowed value."""
    return missing if value is None else f"is {_q(value)}"


# --- entry point ---------------------------------------------------------------------

StageGate = Callable[[GateContext, _Gate, bool], None]

# Stage number -> the module of this package whose ``gate(ctx, g, strict)`` checks it.
# Imported on first use, so that this module never imports a stage module (they import it).
_STAGE_MODULES: dict[int, str] = {
    0: "bootstrap", 1: "investigation", 2: "requirements", 3: "plan", 4: "implementation",
    5: "training", 6: "review", 7: "docs_sync", 8: "handoff",
}


def _stage_gate(stage: int, domain: Profile = DL) -> StageGate:
    """The gate of ``stage``: the profile's replacement when it has one, else the built-in."""
    spec = domain.gates.get(stage)
    if spec is not None:
        return resolve_function(spec, domain)
    module = importlib.import_module(f"{__package__}.{_STAGE_MODULES[stage]}")
    gate: StageGate = module.gate
    return gate


def builtin_gate(stage: int) -> StageGate:
    """The gate mlgate ships for ``stage`` (a profile's replacement gate may run it first)."""
    return _stage_gate(stage, DL)


_FUNCTIONS: dict[str, StageGate] = {}


def resolve_function(spec: str, domain: Profile) -> StageGate:
    """Import a profile's ``package.module:function`` (once)."""
    fn = _FUNCTIONS.get(spec)
    if fn is not None:
        return fn
    module_name, _, attr = spec.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except Exception as exc:  # noqa: BLE001 - a profile's broken function fails its gates
        raise ProfileError(domain.source, f"profile {domain.name!r}: check function {spec!r} "
                                          f"cannot be loaded ({type(exc).__name__}: {exc})"
                           ) from None
    if not callable(obj):
        raise ProfileError(domain.source, f"profile {domain.name!r}: {spec!r} is a "
                                          f"{type(obj).__name__}, not a function")
    _FUNCTIONS[spec] = obj
    return obj  # type: ignore[no-any-return]


def evaluate(ctx: GateContext, stage: int | None = None) -> GateReport:
    """Evaluate the gate of ``stage`` (default: the ticket's current stage)."""
    if ctx.profile not in PROFILES:
        raise UsageError(f"unknown gate profile {ctx.profile!r}; use one of: "
                         f"{', '.join(PROFILES)}", profile=ctx.profile)
    if ctx.stage5_policy not in STAGE5_POLICIES:
        raise UsageError(f"unknown stage5_policy {ctx.stage5_policy!r}; use one of: "
                         f"{', '.join(STAGE5_POLICIES)}", policy=ctx.stage5_policy)
    if stage is None:
        stage = ctx.state.snapshot.current_stage
        if stage is None:
            raise StateFileError(str(getattr(ctx.state, "path", C.STATE_FILE)), None,
                                 "Current Stage is not set; cannot tell which gate to evaluate")
    if stage not in C.STAGE_NUMBERS:
        raise UsageError(f"no stage {stage}; stages are 0-8", stage=stage)
    strict = ctx.profile == "strict"
    domain = ctx.domain
    g = _Gate(stage, domain.stage(stage).artifact, domain)
    _stage_gate(stage, domain)(ctx, g, strict)
    _reentry_changed(ctx, g, stage)
    if domain.checks_for(stage) or domain.functions.get(stage):
        # mlgate.gates.extra imports this module, so it is reached the stage modules' way
        importlib.import_module(f"{__package__}.extra").run_extra(ctx, g, strict)
    return GateReport(ticket=ctx.ticket, stage=stage, ok=all(c.ok for c in g.checks),
                      checks=g.checks, profile=ctx.profile, domain=domain.name)


# --- shared pieces ---------------------------------------------------------------------


def upstream_artifacts(text: str | None) -> list[str]:
    """The artifact file names a Re-Entry Declaration's upstream field lists."""
    known = {st.artifact for st in C.STAGES if st.artifact}
    out = []
    for part in (text or "").replace("`", "").replace(";", ",").split(","):
        name = part.strip()
        if name in known and name not in out:
            out.append(name)
    return out


def _reentry_changed(ctx: GateContext, g: _Gate, stage: int) -> None:
    """``reentry.changed``: on an active re-entry path, the stage's own artifact, when the
    re-entry names it as an upstream artifact to update, must differ (by content) from what
    it was at the re-entry: walking the path without changing anything is refused."""
    base = ctx.reentry_baseline
    snap = ctx.state.snapshot
    art = C.STAGES[stage].artifact
    if base is None or not snap.active_reentry or stage != snap.current_stage or \
            art is None or art not in base:
        return
    path = ctx.state.reentry.return_path or []
    if path and stage not in path:
        return
    from mlgate.evidence.registry import digest

    now = digest(Path(ctx.folder) / art)
    cls = ctx.state.reentry.classification or snap.classification or "re-entry"
    trig = ctx.state.reentry.trigger_stage
    if now == base[art]:
        g.add("reentry.changed", [(None, f"{art} is unchanged since the {cls} re-entry from "
                                         f"stage {trig}; a re-entry must change the upstream "
                                         f"artifacts it names: update {art} with what the "
                                         "re-entry found, then advance")], "", None, file=art)
    else:
        g.add("reentry.changed", [], f"{art} changed since the {cls} re-entry", None, file=art)


def _load(ctx: GateContext, name: str) -> tuple[A.Artifact | None, str | None]:
    try:
        return A.load(ctx.folder, name), None
    except StateFileError as exc:
        return None, exc.detail


def _artifact(ctx: GateContext, g: _Gate, rule: int | None) -> A.Artifact | None:
    """The stage's artifact, or ``None`` after a failing ``artifact.exists`` check."""
    st = g.domain.stage(g.stage)
    name = st.artifact or ""
    art, err = _load(ctx, name)
    if art is None:
        why = err or f"does not exist in {ctx.folder}"
        g.add("artifact.exists", [(None, f"{why}; create it from "
                                         f"stages/{st.slug}/{st.template} (mlgate advance "
                                         f"scaffolds it when the ticket enters stage "
                                         f"{g.stage})")], "", rule)
        return None
    g.add("artifact.exists", [], f"{name} exists", rule)
    return art


def _status(g: _Gate, art: A.Artifact, rule: int | None, strict: bool) -> None:
    st = g.domain.stage(g.stage)
    if not st.final_statuses:
        return
    want = " or ".join(f"'{s}'" for s in st.final_statuses)
    status, line = art.status, art.status_line
    if status is None:
        problem = (line, f"Current Status is not set; the stage-{g.stage} gate needs {want}; "
                         f"write e.g. `- Current Status: {st.final_statuses[0]}` under "
                         f"## Document Status")
        g.add("status.final", [problem], "", rule)
    elif status not in st.final_statuses:
        extra = "" if status in st.statuses else \
            f" (not a valid status; allowed: {', '.join(st.statuses)})"
        g.add("status.final", [(line, f"Current Status is {_q(status)}{extra}; the stage-"
                                      f"{g.stage} gate needs {want}")], "", rule)
    else:
        g.add("status.final", [], f"Current Status is '{status}'", rule)
    if strict:
        lu = art.last_updated
        if not A.has_date(lu):
            line = art.last_updated_line or art.line_of("Document Status")
            what = "is empty" if not lu else f"is {_q(lu)}, not a date"
            g.add("status.last-updated", [(line, f"Last Updated {what}; write the date of "
                                                 f"the last change as YYYY-MM-DD")], "", 44)
        else:
            g.add("status.last-updated", [], f"Last Updated {lu}", 44)


def section_missing(art: A.Artifact, name: str) -> Problem:
    """A missing section, reported at the end of the artifact."""
    return (len(art.doc.lines) or None,
            f"section '## {name}' is missing; restore it from the template")


def section_empty(s: Section) -> Problem:
    return (s.line, f"section '## {s.title}' is empty; fill it in "
                    f"(write 'None' if there is truly nothing to say)")


def field_problems(s: Section, keys: Iterable[str], what: str = "") -> list[Problem]:
    """Each bullet ``key`` of section ``s`` that is absent or has no value."""
    problems: list[Problem] = []
    for key in keys:
        f = A.find_field(s, key)
        if f is None:
            problems.append((s.line, f"## {s.title} has no '- {key}:' field; add it "
                                     f"from the template"))
        elif f.value is None:
            problems.append((f.line, f"'{key}' under ## {s.title} is empty{what}"))
    return problems


def _sections_present(g: _Gate, art: A.Artifact, rule: int | None) -> None:
    required = g.domain.required_sections(art.name)
    missing = art.missing_sections(required)
    g.add("sections.present", [section_missing(art, m) for m in missing],
          f"all {len(required)} sections present", rule)


def _sections_filled(g: _Gate, art: A.Artifact, names: Iterable[str], rule: int | None,
                     extra: Iterable[Problem] = ()) -> None:
    problems: list[Problem] = []
    for name in names:
        s = art.section(name)
        if s is None:
            continue  # reported by sections.present
        if art.section_is_empty(name):
            problems.append(section_empty(s))
    problems += list(extra)
    g.add("sections.filled", problems, "required sections are filled", rule)


def _fields(g: _Gate, name: str, art: A.Artifact, section: str, keys: Iterable[str],
            rule: int | None, what: str = "") -> None:
    """Each bullet ``key`` of ``section`` has a value (missing section: skipped, reported by
    ``sections.present``)."""
    s = art.section(section)
    if s is None:
        return
    keys = list(keys)
    g.add(name, field_problems(s, keys, what), f"## {s.title}: {', '.join(keys)} filled", rule)


# (artifact.exists, status.final, sections.*) rules per stage, the same in both profiles.
_BASE_RULES: dict[int, tuple[int, int | None, int]] = {
    1: (45, 50, 45), 2: (51, 51, 52), 3: (57, 65, 57), 4: (66, 67, 66), 5: (75, 87, 75),
    6: (88, 88, 88), 7: (92, 92, 92), 8: (94, None, 94)}


def _basic_stage(ctx: GateContext, g: _Gate) -> A.Artifact | None:
    r_exists, r_status, r_sections = _BASE_RULES[g.stage]
    art = _artifact(ctx, g, r_exists)
    if art is None:
        return None
    _status(g, art, r_status, strict=False)
    _sections_present(g, art, r_sections)
    names = [n for n in g.domain.required_sections(art.name)
             if n not in _BASIC_OPTIONAL.get(art.name, ())]
    extra: list[Problem] = []
    if art.name == A.DOCS_SYNC and art.section_is_empty("Updated Documents") and \
            art.section_is_empty("No-Impact Rationale"):
        extra.append((art.line_of("Updated Documents"), "neither Updated Documents nor "
                      "No-Impact Rationale is filled; list the docs you changed or say why "
                      "none changed"))
    _sections_filled(g, art, names, r_sections, extra)
    return art


_BASIC_OPTIONAL: dict[str, tuple[str, ...]] = {
    A.REVIEW: ("Review Findings",),
    A.HANDOFF: ("Finalization Status",),  # filled by `mlgate verify` / `mlgate archive`
    A.DOCS_SYNC: ("Updated Documents", "No-Impact Rationale"),
}


def _base(ctx: GateContext, g: _Gate, strict: bool, filled: Iterable[str]) -> A.Artifact | None:
    """The checks that open every artifact stage (1-8): ``artifact.exists``, ``status.*``,
    ``sections.present`` and ``sections.filled`` (for the sections ``filled``), with the rules
    of :data:`_BASE_RULES`. Returns the artifact for the stage's own strict checks, or
    ``None`` when there are none to run: the ``basic`` profile (this ran all of it), or no
    artifact."""
    if not strict:
        _basic_stage(ctx, g)
        return None
    r_exists, r_status, r_sections = _BASE_RULES[g.stage]
    art = _artifact(ctx, g, r_exists)
    if art is None:
        return None
    _status(g, art, r_status, strict)
    _sections_present(g, art, r_sections)
    _sections_filled(g, art, filled, r_sections)
    return art


def _has_rows(g: _Gate, name: str, art: A.Artifact, section: str, view: A.TableView | None,
              rows: Sized, empty: str, ok: str, rule: int, note: bool = True) -> bool:
    """One ``<name>`` check: passes with ``ok`` when ``rows`` is not empty, else fails at the
    table (or the section) with ``empty``, plus the note on placeholder rows when ``note``."""
    if rows:
        g.add(name, [], ok, rule)
        return True
    line = view.line if view else art.line_of(section)
    g.add(name, [(line, empty + (_placeholder_suffix(view) if note else ""))], "", rule)
    return False


class _IdRow(Protocol):
    @property
    def id(self) -> str | None: ...
    @property
    def raw_id(self) -> str | None: ...
    @property
    def line(self) -> int: ...


R = TypeVar("R", bound=_IdRow)


def _ids(rows: Iterable[R], what: str, example: str, twice: str = ""
         ) -> tuple[list[Problem], dict[str, R]]:
    """Problems for rows whose id is not an id (``write <example>``) or repeats an earlier
    one (plus ``twice``), and the first row of each id."""
    problems: list[Problem] = []
    first: dict[str, R] = {}
    article = "an" if what[:1] in "aeiou" else "a"
    for r in rows:
        if r.id is None:
            problems.append((r.line, f"{_q(r.raw_id or '')} is not {article} {what} id; write "
                                     f"{example}"))
        elif r.id in first:
            problems.append((r.line, f"{what} id {r.id} is used twice (first on line "
                                     f"{first[r.id].line}){twice}"))
        else:
            first[r.id] = r
    return problems, first


def _placeholder_suffix(view: A.TableView | None, first: str | None = None,
                        prefix: str | None = None) -> str:
    if view is None:
        return ""
    note = view.placeholder_note(first, prefix)
    return f" ({note})" if note else ""


def _decision(g: _Gate, art: A.Artifact, section: str, key: str, allowed: tuple[str, ...],
              rule: int, reenter_hint: str) -> str | None:
    f = art.field(section, key)
    value = f.value if f else None
    dec = A.enum_value(value, allowed)
    line = f.line if f else art.line_of(section)
    if dec is None:
        g.add("decision.pass", [(line, f"{key} {_what(value, 'is not set')}; allowed: "
                                       f"{', '.join(allowed)}; the gate passes only with "
                                       f"'Pass'")], "", rule)
    elif dec != "Pass":
        g.add("decision.pass", [(line, f"{key} is '{dec}'; the gate passes only with 'Pass'. "
                                       f"{reenter_hint}")], "", rule)
    else:
        g.add("decision.pass", [], f"{key}: Pass", rule)
    return dec


def _workspace_root(ctx: GateContext) -> Path:
    if ctx.git is not None:
        return Path(ctx.git.repo_root)
    folder = Path(ctx.folder)
    if folder.parent.parent.name == C.TICKETS_DIR:
        return folder.parent.parent.parent
    return folder.parent

