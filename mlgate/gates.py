"""Stage gates: the exit condition of each stage as a list of named checks.

:func:`evaluate` reads a ticket's artifacts (through :mod:`mlgate.artifacts`), its handler
evidence (:mod:`mlgate.evidence`) and git facts handed in by the engine (:class:`GitFacts`;
this module never runs git itself) and returns a :class:`GateReport`. Nothing is written.

Every :class:`Check` has a stable id (``s3.monitoring.placeholder-formula``), a pass/fail,
a reason that names the file, the line and what is missing or wrong, and the number of the
workflow-sources §5 rule it enforces. When several rows fail the same check, the report holds
one failing entry per row (same id, each with its own line); a passing check appears once.

Profiles: ``strict`` (the default; SPEC §5 plus the rules chosen in ``docs/gates.md``)
and ``basic`` (artifact exists, Document Status is the stage's final value, required
sections present and non-empty; stage 0 checks the bootstrap record; stage 8 always needs
``mlgate verify``). ``strict`` includes every ``basic`` check.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from mlgate import artifacts as A
from mlgate import constants as C
from mlgate import evidence as E
from mlgate.errors import StateFileError, UsageError
from mlgate.mdparse import strip_ticks

if TYPE_CHECKING:
    from mlgate.statefile import StateDoc

PROFILES = ("strict", "basic")
STAGE5_POLICIES = ("strict", "permissive")

# Bootstrap record fields (workflow-sources §1.3.2, rule 6).
GIT_ONLY_FIELDS = ("Resolved Base Remote", "Resolved Base Branch",
                   "Default Finalization Target Remote", "Default Finalization Target Branch",
                   "Remote Refresh Performed", "Ticket Worktree Path", "Ticket Branch")
GIT_OPTIONAL_FIELDS = ("User-Specified Base Branch", "Remote Refresh Result")
# In Git mode: must hold a real value (not empty, not N/A) / must be filled (N/A allowed:
# no remote, no refresh, a ticket made with --no-worktree).
GIT_REQUIRED_FIELDS = ("Resolved Base Branch", "Ticket Branch")
GIT_FILLED_FIELDS = ("Resolved Base Remote", "Remote Refresh Performed", "Ticket Worktree Path")

PLACEHOLDER_FORMULAS = frozenset({
    "see code", "see the code", "see source", "see script", "see implementation", "tbd",
    "tba", "todo", "to do", "fixme", "-", "--", "---", "—", "–", "n/a", "na", "none", "?",
    "??", "...", "…", "same", "same as above", "as above", "see above", "see below",
    "standard", "obvious", "the usual", "dsc", "x",
})
_BARE_NAME_RE = re.compile(r"^[a-z_][a-z0-9_.\-]*$")
_SOURCE_RE = re.compile(r"^[\w./\-]+\.py\s*:\s*[A-Za-z_][\w.]*\s*(?:\(\s*\))?$")
_BUILTIN_SOURCE_RE = re.compile(r"^(?:wandb|mlgate)\b", re.IGNORECASE)


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
    profile: str

    def failing(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]

    def to_dict(self) -> dict[str, Any]:
        return {"ticket": self.ticket, "stage": self.stage, "ok": self.ok,
                "profile": self.profile, "checks": [c.to_dict() for c in self.checks]}


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


# --- collecting checks ---------------------------------------------------------------

Problem = tuple[int | None, str]


class _Gate:
    """Collects the checks of one stage: ``add`` records one passing entry, or one failing
    entry per problem."""

    def __init__(self, stage: int, file: str | None) -> None:
        self.stage = stage
        self.file = file
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


# --- entry point ---------------------------------------------------------------------


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
    g = _Gate(stage, C.STAGES[stage].artifact)
    _STAGES[stage](ctx, g, strict)
    return GateReport(ticket=ctx.ticket, stage=stage, ok=all(c.ok for c in g.checks),
                      checks=g.checks, profile=ctx.profile)


# --- shared pieces ---------------------------------------------------------------------


def _load(ctx: GateContext, name: str) -> tuple[A.Artifact | None, str | None]:
    try:
        return A.load(ctx.folder, name), None
    except StateFileError as exc:
        return None, exc.detail


def _artifact(ctx: GateContext, g: _Gate, rule: int | None) -> A.Artifact | None:
    """The stage's artifact, or ``None`` after a failing ``artifact.exists`` check."""
    st = C.STAGES[g.stage]
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
    st = C.STAGES[g.stage]
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


def _sections_present(g: _Gate, art: A.Artifact, rule: int | None) -> None:
    required = A.REQUIRED_SECTIONS[art.name]
    missing = art.missing_sections(required)
    end = len(art.doc.lines) or None
    g.add("sections.present",
          [(end, f"section '## {m}' is missing; restore it from the template") for m in missing],
          f"all {len(required)} sections present", rule)


def _sections_filled(g: _Gate, art: A.Artifact, names: Iterable[str], rule: int | None,
                     extra: Iterable[Problem] = ()) -> None:
    problems: list[Problem] = []
    for name in names:
        s = art.section(name)
        if s is None:
            continue  # reported by sections.present
        if art.section_is_empty(name):
            problems.append((s.line, f"section '## {s.title}' is empty; fill it in "
                                     f"(write 'None' if there is truly nothing to say)"))
    problems += list(extra)
    g.add("sections.filled", problems, "required sections are filled", rule)


def _fields(g: _Gate, name: str, art: A.Artifact, section: str, keys: Iterable[str],
            rule: int | None, what: str = "") -> None:
    """Each bullet ``key`` of ``section`` has a value (missing section: skipped, reported by
    ``sections.present``)."""
    s = art.section(section)
    if s is None:
        return
    problems = []
    for key in keys:
        f = A.find_field(s, key)
        if f is None:
            problems.append((s.line, f"## {s.title} has no '- {key}:' field; add it "
                                     f"from the template"))
        elif f.value is None:
            problems.append((f.line, f"'{key}' under ## {s.title} is empty{what}"))
    g.add(name, problems, f"## {s.title}: {', '.join(keys)} filled", rule)


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
    names = [n for n in A.REQUIRED_SECTIONS[art.name] if n not in _BASIC_OPTIONAL.get(art.name, ())]
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


def _placeholder_suffix(view: A.TableView | None, first: str | None = None,
                        prefix: str | None = None) -> str:
    if view is None:
        return ""
    note = view.placeholder_note(first, prefix)
    return f" ({note})" if note else ""


def _ticket_prefix(ctx: GateContext) -> str | None:
    """The ticket folder relative to the repository root, with a trailing ``/``."""
    if ctx.git is None:
        return None
    try:
        rel = Path(ctx.folder).resolve().relative_to(Path(ctx.git.repo_root).resolve())
    except (ValueError, OSError):
        return None
    return rel.as_posix().rstrip("/") + "/"


def _source_changes(ctx: GateContext, since: str, include_dirty: bool = True) -> list[str]:
    """Source files (per ``ctx.source_filter``, never the ticket's own folder) changed since
    ``since`` (committed), plus uncommitted changes when ``include_dirty``."""
    assert ctx.git is not None
    mine = _ticket_prefix(ctx)
    files = list(ctx.git.changed_files(since))
    if include_dirty:
        files += ctx.git.dirty_files()
    out: list[str] = []
    seen: set[str] = set()
    for f in files:
        f = f.strip()
        if not f or f in seen:
            continue
        seen.add(f)
        if mine and (f + "/").startswith(mine):
            continue
        if not ctx.source_filter(f):
            continue
        out.append(f)
    return out


def _handlers(ctx: GateContext, g: _Gate, stage: int) -> None:
    """Each handler configured for ``stage`` has a Pass result for the current code."""
    head = ctx.git.head() if ctx.git else None
    for name in ctx.handlers.get(stage, []) or []:
        result = E.latest(ctx.folder, stage, name)
        ok, msg = E.freshness(result, head)
        if not ok and result is not None and result.passed and not result.dirty and \
                head is not None and result.commit:
            ok, msg = _same_code(ctx, result, head, msg)
        if ok and ctx.git is not None:
            dirty = _dirty_sources(ctx)
            if dirty:
                shown = ", ".join(dirty[:5]) + (" …" if len(dirty) > 5 else "")
                ok, msg = False, (f"{result.evidence if result else 'the evidence'} does not "
                                  f"cover uncommitted changes to {shown}; commit them")
        ev = (result.evidence if result is not None and result.evidence else
              f"{C.EVIDENCE_DIR}/{stage}-{name}-*.json")
        if ok:
            g.add(f"handler.{name}", [], f"handler '{name}': {msg}", None, file=ev)
        else:
            g.add(f"handler.{name}",
                  [(None, f"handler '{name}' has no Pass evidence for the current commit: "
                          f"{msg}; run `mlgate run {name}`")], "", None, file=ev)


def _dirty_sources(ctx: GateContext) -> list[str]:
    assert ctx.git is not None
    mine = _ticket_prefix(ctx)
    return [f for f in dict.fromkeys(p.strip() for p in ctx.git.dirty_files())
            if f and not (mine and (f + "/").startswith(mine)) and ctx.source_filter(f)]


def _same_code(ctx: GateContext, result: E.HandlerResult, head: str, stale_msg: str
               ) -> tuple[bool, str]:
    """Evidence taken at an older commit still counts when that commit is an ancestor of
    HEAD and no source file (per ``source_filter``; the ticket folder never counts) changed
    since: committing the ticket's own artifacts does not make evidence stale."""
    assert ctx.git is not None and result.commit
    git = ctx.git
    if not git.commit_exists(result.commit) or not git.is_ancestor(result.commit, head):
        return False, stale_msg + " (that commit is not on this branch)"
    changed = _source_changes(ctx, result.commit, include_dirty=False)
    if changed:
        shown = ", ".join(changed[:5]) + (" …" if len(changed) > 5 else "")
        return False, f"{stale_msg}; source files changed since: {shown}"
    return True, (f"{result.evidence or 'evidence'} (Pass at {result.commit[:12]}; only "
                  f"non-source files changed since)")


def _decision(g: _Gate, art: A.Artifact, section: str, key: str, allowed: tuple[str, ...],
              rule: int, reenter_hint: str) -> str | None:
    f = art.field(section, key)
    value = f.value if f else None
    dec = A.enum_value(value, allowed)
    line = f.line if f else art.line_of(section)
    if dec is None:
        what = "is not set" if value is None else f"is {_q(value)}"
        g.add("decision.pass", [(line, f"{key} {what}; allowed: {', '.join(allowed)}; the gate "
                                       f"passes only with 'Pass'")], "", rule)
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


# --- stage 0 -------------------------------------------------------------------------


def _stage0(ctx: GateContext, g: _Gate, strict: bool) -> None:
    folder = Path(ctx.folder)
    g.file = None
    g.add("folder.exists", [] if folder.is_dir() else
          [(None, f"ticket folder {folder} does not exist; run `mlgate new {ctx.ticket}`")],
          f"ticket folder {folder}", 3)
    state_path = folder / C.STATE_FILE
    g.add("state.exists", [] if state_path.is_file() else
          [(None, f"{C.STATE_FILE} is missing from {folder}")], f"{C.STATE_FILE} exists", 3,
          file=C.STATE_FILE)
    req, err = _load(ctx, A.REQUIREMENTS)
    if req is None:
        g.add("requirements.exists",
              [(None, f"{err or 'does not exist'}; write it from "
                      f"stages/00-bootstrap/requirements-template.md with status 'Draft'")],
              "", 3, file=A.REQUIREMENTS)
    else:
        g.add("requirements.exists", [], f"{A.REQUIREMENTS} exists", 3, file=A.REQUIREMENTS)
        allowed = C.STAGES[0].final_statuses
        status = req.status
        problems: list[Problem] = []
        if status is None:
            problems.append((req.status_line, "Current Status is not set; write "
                                              "`- Current Status: Draft` under ## Document Status"))
        elif status not in allowed:
            problems.append((req.status_line, f"Current Status is {_q(status)}; allowed: "
                                              f"{', '.join(allowed)}"))
        g.add("requirements.status", problems, f"requirements.md status '{status}'", 4,
              file=A.REQUIREMENTS)
    _bootstrap(ctx, g, strict)


def _bootstrap(ctx: GateContext, g: _Gate, strict: bool) -> None:
    rec: dict[str, str | None] = dict(getattr(ctx.state, "bootstrap", {}) or {})
    sf = C.STATE_FILE

    def line(key: str) -> int | None:
        try:
            return ctx.state.line_of("Stage 0 Bootstrap Record", key)
        except Exception:  # noqa: BLE001 - a line number is only a courtesy
            return None

    mode = A.enum_value(rec.get("Bootstrap Mode"), C.BOOTSTRAP_MODES)
    problems: list[Problem] = []
    if mode is None:
        problems.append((line("Bootstrap Mode"),
                         "Bootstrap Mode is not set; it must be 'Git' or 'Non-Git' (mlgate new "
                         "fills it)"))
    elif mode == "Git" and ctx.git is None:
        problems.append((line("Bootstrap Mode"), "Bootstrap Mode is 'Git' but the workspace "
                                                 "is not a git repository"))
    elif mode == "Non-Git" and ctx.git is not None:
        problems.append((line("Bootstrap Mode"), "Bootstrap Mode is 'Non-Git' but the "
                                                 "workspace is a git repository; re-run the "
                                                 "bootstrap (mlgate new) to record the branch "
                                                 "and worktree"))
    g.add("bootstrap.mode", problems, f"Bootstrap Mode '{mode}'", 6, file=sf)
    if mode is None:
        return
    problems = []
    if mode == "Non-Git":
        for key in GIT_ONLY_FIELDS:
            v = rec.get(key)
            if not A.is_na(v):
                problems.append((line(key), f"{key} is {_q(v) if v else 'empty'}; in Non-Git "
                                            f"mode every git-only field must be `N/A`"))
        for key in GIT_OPTIONAL_FIELDS:
            v = rec.get(key)
            if v is not None and not A.is_na(v):
                problems.append((line(key), f"{key} is {_q(v)}; in Non-Git mode it must be "
                                            f"`N/A` or empty"))
        g.add("bootstrap.fields", problems, "Non-Git: git-only fields are N/A", 6, file=sf)
        return
    for key in GIT_REQUIRED_FIELDS:
        v = rec.get(key)
        if v is None or A.is_na(v):
            problems.append((line(key), f"{key} is {_q(v) if v else 'empty'}; in Git mode it "
                                        f"must name the real value"))
    for key in GIT_FILLED_FIELDS:
        if rec.get(key) is None:
            problems.append((line(key), f"{key} is empty; in Git mode record it (or `N/A` "
                                        f"when it does not apply)"))
    g.add("bootstrap.fields", problems, "Git: bootstrap record filled", 6, file=sf)
    if not strict or ctx.git is None:
        return
    branch = rec.get("Ticket Branch")
    if branch is None or A.is_na(branch):
        return  # reported by bootstrap.fields
    if not ctx.git.branch_exists(branch):
        g.add("git.branch", [(line("Ticket Branch"), f"branch {_q(branch)} does not exist; "
                                                     f"run `mlgate new {ctx.ticket}` to create "
                                                     f"or reuse it")], "", 7, file=sf)
        return
    g.add("git.branch", [], f"branch {branch} exists", 7, file=sf)
    recorded = rec.get("Ticket Worktree Path")
    if recorded is None:
        return
    if A.is_na(recorded):
        g.add("git.worktree", [], "no worktree recorded (ticket made with --no-worktree)", 7,
              file=sf)
        return
    wt = ctx.git.worktree_for_branch(branch)
    if wt is None:
        g.add("git.worktree", [(line("Ticket Worktree Path"),
                                f"no git worktree has {branch} checked out (recorded path "
                                f"{recorded}); run `mlgate new {ctx.ticket}` to re-create it")],
              "", 7, file=sf)
        return
    candidates = [Path(recorded)]
    if not Path(recorded).is_absolute():
        candidates += [Path(ctx.git.repo_root) / recorded, _workspace_root(ctx) / recorded]
    target = _resolve(wt)
    if any(_resolve(c) == target for c in candidates):
        g.add("git.worktree", [], f"worktree {wt} has {branch}", 7, file=sf)
    else:
        g.add("git.worktree", [(line("Ticket Worktree Path"),
                                f"{branch} is checked out at {wt}, not at the recorded "
                                f"{recorded}")], "", 7, file=sf)


def _resolve(p: Path) -> Path:
    try:
        return Path(p).expanduser().resolve()
    except OSError:
        return Path(p)


# --- stage 1 -------------------------------------------------------------------------


def _stage1(ctx: GateContext, g: _Gate, strict: bool) -> None:
    if not strict:
        _basic_stage(ctx, g)
        return
    art = _artifact(ctx, g, 45)
    if art is None:
        return
    _status(g, art, 50, strict)
    _sections_present(g, art, 45)
    _sections_filled(g, art, ("Constraints And Risks", "Planning Implications",
                              "Open Questions"), 45)
    _fields(g, "task-framing.filled", art, "Task Framing",
            ("Goal", "Why this matters", "Main unknowns"), 45)

    s = art.section("Scope Triage")
    if s is not None:
        f = A.find_field(s, "Classification")
        value = f.value if f else None
        cls = A.enum_value(value, A.SCOPE_CLASSES)
        line = f.line if f else s.line
        if cls is None:
            what = "is not set" if value is None else f"is {_q(value)}"
            g.add("scope.classification", [(line, f"Scope Triage Classification {what}; choose "
                                                  f"Small, Medium or Large")], "", 46)
        else:
            g.add("scope.classification", [], f"scope {cls}", 46)
        _fields(g, "scope.rationale", art, "Scope Triage", ("Rationale",), 46,
                "; say why the scope is small, medium or large")

    view = art.table("Sources Consulted")
    if art.section("Sources Consulted") is not None:
        rows = A.sources(art)
        sec_line = art.line_of("Sources Consulted")
        if not rows:
            g.add("sources.rows", [(view.line if view else sec_line,
                                    "Sources Consulted has no rows; add one per file, command, "
                                    "log, URL, repo or paper you relied on"
                                    + _placeholder_suffix(view))], "", 47)
        else:
            g.add("sources.rows", [], f"{len(rows)} source(s)", 47)
        bad_type, bad_cells = [], []
        for r in rows:
            if A.enum_value(r.source_type, A.SOURCE_TYPES) is None:
                what = "is empty" if r.source_type is None else f"is {_q(r.source_type)}"
                bad_type.append((r.line, f"Source Type {what}; allowed: "
                                         f"{', '.join(A.SOURCE_TYPES)}"))
            for label, v in (("Path / URL / Command", r.location),
                             ("What Was Learned", r.learned)):
                if v is None:
                    bad_cells.append((r.line, f"source row has an empty '{label}' cell"))
        if rows:
            g.add("sources.type", bad_type, "source types valid", 47)
            g.add("sources.cells", bad_cells, "sources name a location and what was learned", 47)

    if art.section("Current Code And Pipeline Findings") is not None:
        areas = A.pipeline_areas(art)
        sec_line = art.line_of("Current Code And Pipeline Findings")
        problems = []
        for area in A.PIPELINE_AREAS:
            row = A.lookup_label(areas, area)
            if row is None:
                problems.append((sec_line, f"the pipeline area row '{area}' is missing; "
                                           f"restore it from the template"))
            elif row.findings is None:
                problems.append((row.line, f"pipeline area '{area}' has no Findings; write "
                                           f"what you found, or `N/A` if it does not apply"))
        g.add("pipeline.areas", problems, "all 7 pipeline areas filled", 48)

    _fields(g, "baseline.fields", art, "Baseline Understanding",
            ("Existing baseline", "Best known metric", "Comparison target",
             "Confidence in baseline record"), 49)


# --- stage 2 -------------------------------------------------------------------------


def _stage2(ctx: GateContext, g: _Gate, strict: bool) -> None:
    if not strict:
        _basic_stage(ctx, g)
        return
    art = _artifact(ctx, g, 51)
    if art is None:
        return
    _status(g, art, 51, strict)
    _sections_present(g, art, 52)
    _sections_filled(g, art, ("Goal / Problem Statement", "In-Scope Task Definition",
                              "Baseline Or Comparison Target", "Assumptions",
                              "Risks And Open Questions"), 52)

    req_ids = A.requirements_ids(art)
    req_view = art.table("Requirements")
    if not req_ids:
        g.add("requirements.ids", [(req_view.line if req_view else art.line_of("Requirements"),
                                    "no requirement ids found; give each requirement a row "
                                    "`| R-001 | ... |` in ## Requirements (or a bullet "
                                    "`- **R1 ...:**`)" + _placeholder_suffix(req_view))],
              "", 53)
    else:
        g.add("requirements.ids", [], f"{len(req_ids)} requirement(s)", 53)
    seen: dict[str, int] = {}
    dups = []
    for rid, line in req_ids:
        if rid in seen:
            dups.append((line, f"requirement id {rid} is used twice (first on line "
                               f"{seen[rid]}); ids must be unique and stable"))
        else:
            seen[rid] = line
    g.add("requirements.unique", dups, "requirement ids unique", 53)
    known_reqs = set(seen)

    view = art.table("Success Criteria", ("Success Criteria ID",))
    if art.section("Success Criteria") is None:
        return
    if view is None:
        g.add("sc.table", [(art.line_of("Success Criteria"),
                            "## Success Criteria has no table; use the template's table "
                            "| Success Criteria ID | Requirement ID | Metric | Comparator | "
                            "Threshold | Split | Notes |")], "", 54)
        return
    missing_cols = view.missing_columns(A.SC_COLUMNS[:6])
    if missing_cols:
        g.add("sc.table", [(view.line, f"the Success Criteria table lacks the column(s) "
                                       f"{', '.join(missing_cols)}; mlgate cannot evaluate "
                                       f"the criteria without them")], "", 54)
        return
    g.add("sc.table", [], "Success Criteria table has the required columns", 54)
    scs = A.success_criteria(art)
    if not scs:
        g.add("sc.rows", [(view.line, "the Success Criteria table has no criteria"
                                      + _placeholder_suffix(view))], "", 54)
        return
    g.add("sc.rows", [], f"{len(scs)} success criteria", 54)
    p_id, p_req, p_metric, p_comp, p_thr, p_split = [], [], [], [], [], []
    seen_sc: dict[str, int] = {}
    for sc in scs:
        label = sc.id or sc.raw_id or "(no id)"
        if sc.id is None:
            p_id.append((sc.line, f"{_q(sc.raw_id or '')} is not a success-criterion id; "
                                  f"write SC-001 (or SC1)"))
        elif sc.id in seen_sc:
            p_id.append((sc.line, f"success-criterion id {sc.id} is used twice (first on line "
                                  f"{seen_sc[sc.id]})"))
        else:
            seen_sc[sc.id] = sc.line
        if sc.requirement_id is None:
            what = "is empty" if not sc.raw_requirement else f"{_q(sc.raw_requirement)} is " \
                                                             f"not a requirement id"
            p_req.append((sc.line, f"{label}: Requirement ID {what}; name the R-NNN it serves"))
        elif sc.requirement_id not in known_reqs:
            p_req.append((sc.line, f"{label}: requirement {sc.requirement_id} is not defined "
                                   f"in ## Requirements"))
        if sc.metric is None:
            p_metric.append((sc.line, f"{label}: Metric is empty; name the logged metric key, "
                                      f"e.g. val/acc (or max:val/acc for the best value)"))
        if sc.comparator not in C.COMPARATORS:
            what = "is empty" if sc.comparator is None else f"is {_q(sc.comparator)}"
            p_comp.append((sc.line, f"{label}: Comparator {what}; use one of "
                                    f"{' '.join(C.COMPARATORS)}"))
        if sc.threshold is None:
            what = "is empty" if not sc.raw_threshold else f"{_q(sc.raw_threshold)} is not a " \
                                                           f"number"
            p_thr.append((sc.line, f"{label}: Threshold {what}; write a plain number such as "
                                   f"0.95"))
        if sc.split is None:
            p_split.append((sc.line, f"{label}: Split is empty; name the data split, e.g. val "
                                     f"or test"))
    g.add("sc.id", p_id, "success-criterion ids valid and unique", 53)
    g.add("sc.requirement", p_req, "every criterion names a known requirement", 53)
    g.add("sc.metric", p_metric, "every criterion names a metric", 54)
    g.add("sc.comparator", p_comp, "every comparator valid", 54)
    g.add("sc.threshold", p_thr, "every threshold numeric", 54)
    g.add("sc.split", p_split, "every criterion names a split", 54)
    if art.section("Closure Conditions") is not None:
        _fields(g, "closure.conditions", art, "Closure Conditions",
                ("Pass condition", "Fail condition", "Inconclusive condition"), 54,
                "; state when the criteria pass, fail and stay inconclusive")
    _fields(g, "dl-content.data", art, "Dataset And Evaluation Assumptions",
            ("Dataset or split assumptions", "Evaluation protocol assumptions"), 55)
    _fields(g, "dl-content.resources", art, "Constraints And Dependencies",
            ("Accelerator availability", "Runtime budget", "Memory limits",
             "Storage constraints"), 55)


# --- stage 3 -------------------------------------------------------------------------


def placeholder_formula(formula: str | None, key: str | None) -> bool:
    """Whether a Monitoring ``How it's calculated`` cell is a placeholder rather than a
    formula: ``see code``, ``TBD``, ``-``, a bare name (``DSC``, ``accuracy``) or the key."""
    if formula is None:
        return True
    f = A.norm_text(formula).strip(" .:;")
    if not f or f in PLACEHOLDER_FORMULAS:
        return True
    if f.startswith(("see ", "tbd", "todo", "refer to", "computed in", "calculated in",
                     "defined in", "logged by")):
        return True
    if key:
        k = A.norm_text(key)
        if f in (k, k.split("/")[-1], k.replace("/", " "), k.replace("/", "_")):
            return True
    return bool(_BARE_NAME_RE.match(f))


def valid_source(source: str | None) -> bool:
    """``path.py:func()`` (several separated by ``,``/``;``), or ``wandb``/``mlgate``."""
    if not source:
        return False
    s = strip_ticks(source)
    if _BUILTIN_SOURCE_RE.match(s.strip()):
        return True
    parts = [p.strip().strip("`") for p in re.split(r"[,;]", s) if p.strip()]
    return bool(parts) and all(_SOURCE_RE.match(p) for p in parts)


def _stage3(ctx: GateContext, g: _Gate, strict: bool) -> None:
    if not strict:
        _basic_stage(ctx, g)
        return
    art = _artifact(ctx, g, 57)
    if art is None:
        return
    _status(g, art, 65, strict)
    _sections_present(g, art, 57)
    _sections_filled(g, art, ("Problem Framing", "Baseline And Comparison Target",
                              "Approach Summary", "Planned Model / Algorithm Changes",
                              "Risks And Open Questions"), 57)
    req, _ = _load(ctx, A.REQUIREMENTS)

    s = art.section("Artifact Basis")
    if s is not None:
        f = A.find_field(s, "Requirements Status")
        value = f.value if f else None
        line = f.line if f else s.line
        rs = A.enum_value(value, ("Plan-ready", "Refined"))
        actual = req.status if req else None
        if rs is None:
            what = "is not set" if value is None else f"is {_q(value)}"
            prob = [(line, f"Requirements Status {what}; it must be 'Plan-ready' or 'Refined' "
                           f"and match requirements.md")]
        elif req is None:
            prob = [(line, "requirements.md does not exist, so Requirements Status cannot "
                           "be confirmed")]
        elif actual != rs:
            prob = [(line, f"Requirements Status is '{rs}' but requirements.md says "
                           f"{_q(actual) if actual else 'nothing'} (requirements.md:"
                           f"{req.status_line}); update the plan's basis")]
        else:
            prob = []
        g.add("basis.requirements-status", prob, f"Requirements Status {rs}", 58)

    _fields(g, "framing.hypothesis", art, "Problem Framing", ("Main hypothesis",), 59)

    # experiment matrix
    view = art.table("Experiment Matrix")
    if art.section("Experiment Matrix") is not None:
        exps = A.experiments(art)
        if not exps:
            g.add("matrix.rows", [(view.line if view else art.line_of("Experiment Matrix"),
                                   "Experiment Matrix has no experiments; add EXP-001 with its "
                                   "purpose, changed variables, fixed controls and expected "
                                   "outcome" + _placeholder_suffix(view))], "", 60)
        else:
            g.add("matrix.rows", [], f"{len(exps)} experiment(s)", 60)
            ids, cells = [], []
            seen: dict[str, int] = {}
            for e in exps:
                if e.id is None:
                    ids.append((e.line, f"{_q(e.raw_id or '')} is not an experiment id; write "
                                        f"EXP-001"))
                elif e.id in seen:
                    ids.append((e.line, f"experiment id {e.id} is used twice (first on line "
                                        f"{seen[e.id]})"))
                else:
                    seen[e.id] = e.line
                for label, v in (("Purpose", e.purpose), ("Variable(s) Changed", e.variables),
                                 ("Fixed Controls", e.controls),
                                 ("Expected Outcome", e.expected), ("Priority", e.priority)):
                    if v is None:
                        cells.append((e.line, f"experiment {e.id or e.raw_id}: '{label}' is "
                                              f"empty"))
            g.add("matrix.id", ids, "experiment ids valid and unique", 60)
            g.add("matrix.cells", cells, "experiments fully described", 60)

    # implementation handoff
    hview = art.table("Implementation Handoff")
    if art.section("Implementation Handoff") is not None:
        items = A.work_items(art)
        if not items:
            g.add("handoff.rows", [(hview.line if hview else art.line_of("Implementation Handoff"),
                                    "Implementation Handoff has no work items; add W-001 with "
                                    "the files it touches" + _placeholder_suffix(hview))], "", 61)
        else:
            g.add("handoff.rows", [], f"{len(items)} work item(s)", 61)
            ids, files, types = [], [], []
            seen = {}
            for w in items:
                if w.id is None:
                    ids.append((w.line, f"{_q(w.raw_id or '')} is not a work item id; write "
                                        f"W-001"))
                elif w.id in seen:
                    ids.append((w.line, f"work item id {w.id} is used twice (first on line "
                                        f"{seen[w.id]})"))
                else:
                    seen[w.id] = w.line
                if not w.files:
                    files.append((w.line, f"work item {w.id or w.raw_id}: 'Files / Configs / "
                                          f"Scripts' is empty; list the paths it changes"))
                if w.change_type not in A.CHANGE_TYPES:
                    what = "is empty" if w.change_type is None else f"is {_q(w.change_type)}"
                    types.append((w.line, f"work item {w.id or w.raw_id}: Change Type {what}; "
                                          f"use Create, Modify or Remove"))
            g.add("handoff.id", ids, "work item ids valid and unique", 61)
            g.add("handoff.files", files, "every work item lists files", 61)
            g.add("handoff.change-type", types, "every change type valid", 61)

    _fields(g, "repro.fields", art, "Reproducibility Plan",
            ("Config source of truth", "Seed strategy", "Environment capture",
             "Artifact output locations", "Checkpoint naming", "Metric logging plan"), 62)
    _fields(g, "data.fields", art, "Data And Evaluation Assumptions",
            ("Train split", "Validation split", "Test split", "Data version or source assumptions",
             "Evaluation protocol", "Leakage checks"), 63,
            " (write `N/A` for a test split that does not exist)")

    # validation plan
    vs = art.section("Validation Plan")
    if vs is not None:
        req_scs = A.success_criteria_ids(req) if req else []
        text = vs.text
        if view is not None:
            text += "\n" + "\n".join(r.text for r in view.rows)
        mentioned = set(A.find_ids(text, "SC"))
        missing = [sc for sc in req_scs if sc not in mentioned]
        f = A.find_field(vs, "Which success criteria each experiment addresses")
        line = f.line if f else vs.line
        g.add("validation.sc-coverage",
              [(line, f"the Validation Plan does not map {sc} (from requirements.md) to an "
                      f"experiment; write e.g. 'EXP-001 -> {sc}'") for sc in missing],
              "every success criterion mapped to an experiment", 64)
        _fields(g, "validation.baseline-method", art, "Validation Plan",
                ("Baseline comparison method",), 64)

    _monitoring(ctx, g, art, req)

    cs = art.section("Stage 4 Entry Checklist")
    if cs is not None:
        problems = []
        unlock = None
        for f in cs.fields:
            if A.norm_text(f.key).startswith("ready to unlock code edits"):
                unlock = f
                continue
            if not A.is_affirmative(f.value):
                what = "is not answered" if f.value is None else f"is {_q(f.value)}"
                problems.append((f.line, f"Stage 4 Entry Checklist item '{f.key}' {what}; "
                                         f"it must be 'Yes' before code edits are unlocked"))
        g.add("checklist.items", problems, "Stage 4 Entry Checklist affirmative", 65)
        if unlock is None:
            g.add("checklist.unlock", [(cs.line, "the field 'Ready to unlock code edits' is "
                                                 "missing; restore it from the template")],
                  "", 65)
        elif A.enum_value(unlock.value, ("Yes",)) != "Yes":
            what = "is not answered" if unlock.value is None else f"is {_q(unlock.value)}"
            g.add("checklist.unlock", [(unlock.line, f"Ready to unlock code edits {what}; set "
                                                     f"it to Yes when the plan can drive "
                                                     f"implementation")], "", 65)
        else:
            g.add("checklist.unlock", [], "Ready to unlock code edits: Yes", 65)


def _monitoring(ctx: GateContext, g: _Gate, art: A.Artifact, req: A.Artifact | None) -> None:
    sec = art.section("Monitoring")
    if sec is None:
        return
    view = art.table("Monitoring", ("W&B key",))
    if view is None or view.missing_columns(A.MONITORING_COLUMNS):
        missing = A.MONITORING_COLUMNS if view is None else view.missing_columns(
            A.MONITORING_COLUMNS)
        g.add("monitoring.table", [(view.line if view else sec.line,
                                    f"the Monitoring table needs the columns | W&B key | What it "
                                    f"measures | How it's calculated | Source | (missing: "
                                    f"{', '.join(missing)})")], "", 107)
        return
    g.add("monitoring.table", [], "Monitoring table present", 107)
    rows = A.monitoring(art)
    if not rows:
        g.add("monitoring.rows", [(view.line, "the Monitoring table has no rows; add one per "
                                              "metric key the training code logs"
                                              + _placeholder_suffix(view))], "", 107)
        return
    g.add("monitoring.rows", [], f"{len(rows)} monitored key(s)", 107)
    empty, formula, source, dup = [], [], [], []
    seen: dict[str, int] = {}
    for m in rows:
        name = _q(m.key) if m.key else "(no key)"
        for label, v in (("W&B key", m.key), ("What it measures", m.measures),
                         ("How it's calculated", m.formula), ("Source", m.source)):
            if v is None:
                empty.append((m.line, f"Monitoring row {name} has an empty '{label}' cell"))
        if m.formula is not None and placeholder_formula(m.formula, m.key):
            formula.append((m.line, f"Monitoring row {name} has a placeholder formula "
                                    f"{_q(m.formula)}; write the actual formula or a one-line "
                                    f"algorithm (e.g. 'correct / total over the val split')"))
        if m.source is not None and not valid_source(m.source):
            source.append((m.line, f"Monitoring row {name} has Source {_q(m.source)}; write "
                                   f"where it is computed, like `train.py:evaluate()`, or "
                                   f"`wandb` for keys wandb adds"))
        if m.key:
            if m.key in seen:
                dup.append((m.line, f"Monitoring key {name} is listed twice (first on line "
                                    f"{seen[m.key]})"))
            else:
                seen[m.key] = m.line
    g.add("monitoring.empty-cell", empty, "no empty Monitoring cells", 107)
    g.add("monitoring.placeholder-formula", formula, "every formula written out", 107)
    g.add("monitoring.source", source, "every source names a function or wandb", 107)
    g.add("monitoring.duplicate-key", dup, "Monitoring keys unique", 107)
    if req is not None:
        keys = set(seen)
        problems = []
        for sc in A.success_criteria(req):
            k = sc.metric_key
            if k and k not in keys:
                problems.append((view.line, f"{sc.id or sc.raw_id} (requirements.md:{sc.line}) "
                                            f"uses metric {_q(k)}, which the Monitoring table "
                                            f"does not list; add a row for it"))
        g.add("monitoring.sc-metrics", problems, "every success-criterion metric is monitored",
              108)


# --- stage 4 -------------------------------------------------------------------------


def _stage4(ctx: GateContext, g: _Gate, strict: bool) -> None:
    if not strict:
        _basic_stage(ctx, g)
        return
    art = _artifact(ctx, g, 66)
    if art is None:
        return
    _status(g, art, 67, strict)
    _sections_present(g, art, 66)
    _sections_filled(g, art, ("Upstream Artifacts", "Execution Plan",
                              "Config, Logging, And Artifact Paths"), 66)
    es = art.section("Stage 4 Entry Checklist")
    if es is not None:
        problems = [(f.line, f"Stage 4 Entry Checklist item '{f.key}' "
                             f"{'is not answered' if f.value is None else 'is ' + _q(f.value)}"
                             f"; answer Yes once it holds") for f in es.fields
                    if not A.is_affirmative(f.value)]
        g.add("entry-checklist.items", problems, "Stage 4 Entry Checklist affirmative", 68)

    view = art.table("Change Inventory")
    rows = A.changes(art)
    if art.section("Change Inventory") is not None:
        if not rows:
            g.add("changes.rows", [(view.line if view else art.line_of("Change Inventory"),
                                    "Change Inventory has no changes; add one C-NNN row per "
                                    "changed file group" + _placeholder_suffix(view))], "", 69)
        else:
            g.add("changes.rows", [], f"{len(rows)} change(s)", 69)
            ids, actions, done = [], [], []
            seen: dict[str, int] = {}
            for c in rows:
                label = c.id or c.raw_id or "(no id)"
                if c.id is None:
                    ids.append((c.line, f"{_q(c.raw_id or '')} is not a change id; write "
                                        f"C-001"))
                elif c.id in seen:
                    ids.append((c.line, f"change id {c.id} is used twice (first on line "
                                        f"{seen[c.id]})"))
                else:
                    seen[c.id] = c.line
                if c.action not in A.CHANGE_TYPES:
                    what = "is empty" if c.action is None else f"is {_q(c.action)}"
                    actions.append((c.line, f"{label}: Action {what}; use Create, Modify or "
                                            f"Remove"))
                if c.status != "Done":
                    what = "is empty" if c.status is None else f"is {_q(c.status)}"
                    done.append((c.line, f"{label}: Status {what}; every change must be Done "
                                         f"before training"))
            g.add("changes.id", ids, "change ids valid and unique", 69)
            g.add("changes.action", actions, "every action valid", 69)
            g.add("changes.done", done, "every change Done", 69)
        _work_item_coverage(ctx, g, art, rows)
        _unlisted_files(ctx, g, art, rows)

    _readiness(ctx, g, art)
    _fields(g, "handoff.fields", art, "Stage 5 Handoff",
            ("Planned runs", "Required config identifiers", "Required seeds", "Required metrics",
             "Required artifacts to retain"), 72)
    ps = art.section("Progress Log")
    if ps is not None:
        entries = A.progress_entries(art)
        g.add("progress.dated", [] if entries else
              [(ps.line, "the Progress Log has no dated entry; add lines like "
                         "`- 2026-05-01: implemented the augmentation`")],
              f"{len(entries)} progress entr(y/ies)", 73)
    _handlers(ctx, g, 4)


def _work_item_coverage(ctx: GateContext, g: _Gate, art: A.Artifact,
                        rows: list[A.ChangeRow]) -> None:
    plan, err = _load(ctx, A.PLAN)
    if plan is None:
        g.add("changes.work-items", [(None, f"experiment-plan.md {err or 'does not exist'}; "
                                            f"the work items cannot be traced")], "", 69)
        return
    problems = []
    line = art.line_of("Change Inventory")
    for w in A.work_items(plan):
        if w.id is None:
            continue
        covered = any(w.id in A.find_ids(c.text, "W") for c in rows) or any(
            A.path_covers(a, b) or A.path_covers(b, a)
            for c in rows for a in c.files for b in w.files)
        if not covered:
            files = ", ".join(w.files) or "no files"
            problems.append((line, f"work item {w.id} of the plan (experiment-plan.md:{w.line}; "
                                   f"{files}) is covered by no change row; add a row that names "
                                   f"{w.id} or lists its files"))
    g.add("changes.work-items", problems, "every plan work item is covered by a change", 69)


def _unlisted_files(ctx: GateContext, g: _Gate, art: A.Artifact,
                    rows: list[A.ChangeRow]) -> None:
    if ctx.git is None:
        g.add("changes.unlisted-files", [], "not checked: no git repository", 70)
        return
    since = ctx.stage_entry_commits.get(4)
    what = "the stage-4 entry"
    if not since and ctx.base_ref:
        since = ctx.git.merge_base(ctx.base_ref, "HEAD") or ctx.base_ref
        what = f"the base {ctx.base_ref}"
    if not since:
        g.add("changes.unlisted-files", [], "not checked: no stage-4 entry commit recorded", 70)
        return
    listed = [p for c in rows for p in c.files]
    changed = _source_changes(ctx, since)
    missing = [f for f in changed if not any(A.path_covers(p, f) for p in listed)]
    line = art.line_of("Change Inventory")
    g.add("changes.unlisted-files",
          [(line, f"{f} changed since {what} ({since[:12]}) but no Change Inventory row lists "
                  f"it; add it to a row's 'Files / Configs / Scripts'") for f in missing],
          f"all {len(changed)} changed source file(s) listed", 70)


def _readiness(ctx: GateContext, g: _Gate, art: A.Artifact) -> None:
    if art.section("Readiness Checks Before Stage 5") is None:
        return
    checks = A.readiness_checks(art)
    sec_line = art.line_of("Readiness Checks Before Stage 5")
    missing, results, evid = [], [], []
    smoke_problem: list[Problem] = []
    for label in A.READINESS_CHECKS:
        row = A.lookup_label(checks, label)
        if row is None:
            missing.append((sec_line, f"readiness row '{label}' is missing; restore it from "
                                      f"the template"))
            if label == A.SMOKE_CHECK:
                smoke_problem.append((sec_line, f"'{label}' row is missing"))
            continue
        if row.result is None:
            results.append((row.line, f"readiness check '{label}' has no result; write Pass, "
                                      f"Fail or N/A"))
        elif row.result not in A.READINESS_RESULTS:
            results.append((row.line, f"readiness check '{label}' has result {_q(row.result)}; "
                                      f"allowed: Pass, Fail, N/A"))
        elif row.result == "Fail":
            results.append((row.line, f"readiness check '{label}' is Fail; fix it before "
                                      f"training"))
        if label == A.SMOKE_CHECK and row.result != "Pass":
            what = "has no result" if row.result is None else f"is {_q(row.result)}"
            smoke_problem.append((row.line, f"'{label}' {what}; it must be Pass (run `mlgate "
                                            f"run torch-smoke` or your smoke check)"))
        if row.result == "Pass":
            if row.evidence is None:
                evid.append((row.line, f"readiness check '{label}' is Pass without evidence; "
                                       f"name the command, log or evidence file"))
            else:
                for ref in re.findall(r"evidence/[\w./-]+\.json", row.evidence):
                    if not (Path(ctx.folder) / ref).is_file():
                        evid.append((row.line, f"readiness check '{label}' cites {ref}, which "
                                               f"does not exist in the ticket folder"))
    g.add("readiness.rows", missing, "all 5 readiness rows present", 71)
    g.add("readiness.result", results, "no readiness check failed", 71)
    g.add("readiness.smoke", smoke_problem, "smoke test passed", 71)
    g.add("readiness.evidence", evid, "every Pass has evidence", 71)


# --- stage 5 -------------------------------------------------------------------------


def _tolerance(*texts: str) -> float:
    vals = [abs(A.parse_number(t) or 0.0) for t in texts]
    tol = 1e-6 * max([1.0, *vals])
    for t in texts:
        tol += 0.5 * 10 ** (-A.decimals(t))
    return tol


def _strip_pct(*texts: str) -> list[str] | None:
    if all(t.strip().endswith("%") for t in texts):
        return [t.strip()[:-1] for t in texts]
    if any(t.strip().endswith("%") for t in texts):
        return None
    return list(texts)


def _stage5(ctx: GateContext, g: _Gate, strict: bool) -> None:
    if not strict:
        _basic_stage(ctx, g)
        return
    art = _artifact(ctx, g, 75)
    if art is None:
        return
    _status(g, art, 87, strict)
    _sections_present(g, art, 75)
    _sections_filled(g, art, ("Artifact Basis", "Failure Analysis"), 75)
    req, req_err = _load(ctx, A.REQUIREMENTS)
    plan, _ = _load(ctx, A.PLAN)

    runs = A.run_registry(art)
    view = art.table("Run Registry")
    by_id: dict[str, A.RunRow] = {}
    if art.section("Run Registry") is not None:
        if not runs:
            g.add("runs.rows", [(view.line if view else art.line_of("Run Registry"),
                                 "the Run Registry has no runs; run `mlgate run train`"
                                 + _placeholder_suffix(view))], "", 76)
        else:
            g.add("runs.rows", [], f"{len(runs)} run(s)", 76)
        ids, fields, statuses = [], [], []
        for r in runs:
            label = r.id or r.raw_id or "(no id)"
            if r.id is None:
                ids.append((r.line, f"{_q(r.raw_id or '')} is not a run id; write RUN-001"))
            elif r.id in by_id:
                ids.append((r.line, f"run id {r.id} is used twice (first on line "
                                    f"{by_id[r.id].line}); a new run gets a new id"))
            else:
                by_id[r.id] = r
            for col, v in (("Purpose", r.purpose), ("Code Basis", r.code_basis),
                           ("Config", r.config), ("Seed", r.seed),
                           ("Data / Split Version", r.data_version),
                           ("Hardware / Environment", r.hardware)):
                if v is None:
                    fields.append((r.line, f"{label}: '{col}' is empty"))
            if r.status not in C.RUN_STATUSES:
                what = "is empty" if r.status is None else f"is {_q(r.status)}"
                statuses.append((r.line, f"{label}: Status {what}; allowed: "
                                         f"{', '.join(C.RUN_STATUSES)}"))
            elif r.status in ("Queued", "Running"):
                statuses.append((r.line, f"{label} is still {r.status}; wait for it to end "
                                         f"(`mlgate watch {label}`) before closing stage 5"))
        if runs:
            g.add("runs.id", ids, "run ids valid and unique", 76)
            g.add("runs.fields", fields, "every run records its provenance", 76)
            g.add("runs.status", statuses, "every run Completed or Failed", 77)

    closure = A.sc_closure(art)
    best_f = art.field("Best Current Result", "Best run")
    best_ids = A.find_ids(best_f.value if best_f else None, "RUN")
    cited = {rid for c in closure for rid in c.evidence_runs} | set(best_ids[:1])
    if runs and ctx.git is not None:
        _code_basis(ctx, g, runs, cited)

    # metric summary
    mview = art.table("Metric Summary")
    if art.section("Metric Summary") is not None:
        metrics = A.metric_summary(art)
        if not metrics:
            g.add("metrics.rows", [(mview.line if mview else art.line_of("Metric Summary"),
                                    "the Metric Summary has no rows; record each run's metrics "
                                    "with baseline and delta")], "", 79)
        else:
            g.add("metrics.rows", [], f"{len(metrics)} metric row(s)", 79)
            unknown, empty, delta = [], [], []
            for m in metrics:
                if m.run_id is None or m.run_id not in by_id:
                    unknown.append((m.line, f"Metric Summary row names run "
                                            f"{_q(m.raw_run or '')}, which is not in the Run "
                                            f"Registry"))
                for col, v in (("Metric", m.metric), ("Result", m.result),
                               ("Baseline", m.baseline), ("Delta", m.delta)):
                    if v is None:
                        empty.append((m.line, f"{m.run_id or m.raw_run} {m.metric or ''}: "
                                              f"'{col}' is empty (write N/A when there is no "
                                              f"baseline)"))
                if m.result and m.baseline and m.delta:
                    parts = _strip_pct(m.result, m.baseline, m.delta)
                    if parts is not None:
                        r_, b_, d_ = (A.parse_number(p) for p in parts)
                        if r_ is not None and b_ is not None and d_ is not None:
                            want = r_ - b_
                            if abs(d_ - want) > _tolerance(*parts):
                                delta.append((m.line, f"{m.run_id} {m.metric}: Delta {m.delta} "
                                                      f"is not Result - Baseline ({m.result} - "
                                                      f"{m.baseline} = {want:.6g})"))
            g.add("metrics.run", unknown, "metric rows name known runs", 79)
            g.add("metrics.fields", empty, "metric rows have result, baseline and delta", 79)
            g.add("metrics.delta", delta, "every numeric delta equals result - baseline", 79)

    # success criteria closure
    if art.section("Success Criteria Closure") is not None:
        _closure(ctx, g, art, req, req_err, closure, by_id)

    _fields(g, "repro.fields", art, "Reproducibility Record",
            ("Exact command(s)", "Config file(s)", "Seed(s)", "Dataset or split version",
             "Checkpoint(s)", "Environment details"), 82)
    bs = art.section("Best Current Result")
    if bs is not None:
        line = best_f.line if best_f else bs.line
        if not best_ids:
            what = "is empty" if not (best_f and best_f.value) else \
                f"is {_q(best_f.value)}, which names no RUN-NNN"
            g.add("best.run", [(line, f"Best run {what}; name the best run id")], "", 83)
        elif best_ids[0] not in by_id:
            g.add("best.run", [(line, f"Best run {best_ids[0]} is not in the Run Registry")],
                  "", 83)
        else:
            g.add("best.run", [], f"best run {best_ids[0]}", 83)
        _fields(g, "best.confidence", art, "Best Current Result", ("Confidence in the result",),
                83)

    if art.section("Gate Decision") is not None:
        dec = _decision(g, art, "Gate Decision", "Stage 5 Decision", A.STAGE5_DECISIONS, 84,
                        "For a failure run `mlgate reenter \"<Classification>\" --reason ...`; "
                        "for a blocked environment run `mlgate block --reason ...`")
        _fields(g, "decision.next-action", art, "Gate Decision", ("Next action",), 84)
        if dec == "Pass":
            allowed = ("Passed", "Waived") if ctx.stage5_policy == "strict" else \
                ("Passed", "Waived", "Inconclusive")
            problems = [(c.line, f"Stage 5 Decision is Pass but {c.sc_id or c.raw_id} is "
                                 f"{c.decision or 'undecided'}; with stage5_policy "
                                 f"'{ctx.stage5_policy}' every criterion must be "
                                 f"{' or '.join(allowed)}")
                        for c in closure if c.decision not in allowed]
            g.add("decision.sc-policy", problems, f"all criteria {'/'.join(allowed)}", 86)

    _handlers(ctx, g, 5)
    _run_folders(ctx, g, art, runs, plan)


def _code_basis(ctx: GateContext, g: _Gate, runs: list[A.RunRow], cited: set[str]) -> None:
    assert ctx.git is not None
    git = ctx.git
    head = git.head()
    entry5 = ctx.stage_entry_commits.get(5)
    problems = []
    for r in runs:
        if r.code_basis is None:
            continue  # reported by runs.fields
        label = r.id or r.raw_id
        shas = A.shas_in(r.code_basis)
        if not shas:
            problems.append((r.line, f"{label}: Code Basis {_q(r.code_basis)} names no commit; "
                                     f"record the commit the run was launched from"))
            continue
        sha = shas[0]
        if not git.commit_exists(sha):
            problems.append((r.line, f"{label}: Code Basis commit {sha} does not exist in this "
                                     f"repository"))
            continue
        if head and not git.is_ancestor(sha, head):
            problems.append((r.line, f"{label}: Code Basis commit {sha} is not on the ticket "
                                     f"branch (not an ancestor of HEAD {head[:12]})"))
            continue
        if r.id in cited and r.status == "Completed" and entry5 and \
                not git.is_ancestor(entry5, sha):
            problems.append((r.line, f"{label}: Code Basis commit {sha} predates the stage-4 "
                                     f"changes (stage 5 was entered at {entry5[:12]}); cite a "
                                     f"run of the current code"))
    g.add("runs.code-basis", problems, "every code basis is a commit on the ticket branch", 78)


def _closure(ctx: GateContext, g: _Gate, art: A.Artifact, req: A.Artifact | None,
             req_err: str | None, closure: list[A.ClosureRow],
             by_id: dict[str, A.RunRow]) -> None:
    view = art.table("Success Criteria Closure")
    sec_line = view.line if view else art.line_of("Success Criteria Closure")
    if req is None:
        g.add("closure.missing", [(None, f"requirements.md {req_err or 'does not exist'}; the "
                                         f"criteria to close are unknown")], "", 80)
        return
    req_scs = {sc.id: sc for sc in A.success_criteria(req) if sc.id}
    rows_by: dict[str, A.ClosureRow] = {}
    unknown, dup = [], []
    for c in closure:
        if c.sc_id is None or c.sc_id not in req_scs:
            unknown.append((c.line, f"closure row {_q(c.sc_id or c.raw_id or '')} is not a "
                                    f"success criterion of requirements.md "
                                    f"(known: {', '.join(req_scs) or 'none'})"))
        elif c.sc_id in rows_by:
            dup.append((c.line, f"{c.sc_id} is closed twice (first on line "
                                f"{rows_by[c.sc_id].line}); keep one row per criterion"))
        else:
            rows_by[c.sc_id] = c
    missing = [(sec_line, f"no closure row for {sc} (requirements.md:{req_scs[sc].line})"
                          + _placeholder_suffix(view, sc, "SC"))
               for sc in req_scs if sc not in rows_by]
    g.add("closure.missing", missing, "one closure row per success criterion", 80)
    g.add("closure.unknown", unknown, "no unknown criteria", 80)
    g.add("closure.duplicate", dup, "no criterion closed twice", 80)
    reqp, runp, decp, incp, waip = [], [], [], [], []
    for c in rows_by.values():
        want = req_scs[c.sc_id].requirement_id if c.sc_id else None
        if c.requirement_id is None:
            reqp.append((c.line, f"{c.sc_id}: Requirement ID is empty; it serves {want}"))
        elif want and c.requirement_id != want:
            reqp.append((c.line, f"{c.sc_id}: Requirement ID is {c.requirement_id} but "
                                 f"requirements.md maps it to {want}"))
        if c.decision not in C.SC_DECISIONS:
            what = "is empty" if c.decision is None else f"is {_q(c.decision)}"
            decp.append((c.line, f"{c.sc_id}: Decision {what}; allowed: "
                                 f"{', '.join(C.SC_DECISIONS)}"))
        if c.decision != "Waived":
            if not c.evidence_runs:
                runp.append((c.line, f"{c.sc_id}: Evidence Run(s) names no RUN-NNN"))
            for rid in c.evidence_runs:
                run = by_id.get(rid)
                if run is None:
                    runp.append((c.line, f"{c.sc_id}: evidence run {rid} is not in the Run "
                                         f"Registry"))
                elif run.status != "Completed":
                    runp.append((c.line, f"{c.sc_id}: evidence run {rid} is "
                                         f"{run.status or 'without status'}, not Completed"))
        if c.decision == "Inconclusive" and c.notes is None:
            incp.append((c.line, f"{c.sc_id} is Inconclusive without a reason; explain in "
                                 f"Notes why the evidence does not decide it"))
        if c.decision == "Waived" and c.notes is None:
            waip.append((c.line, f"{c.sc_id} is Waived without a recorded user waiver; cite who "
                                 f"waived it and when in Notes"))
    g.add("closure.requirement", reqp, "closure rows name the right requirement", 80)
    g.add("closure.decision", decp, "every decision valid", 80)
    g.add("closure.runs", runp, "every decision cites completed runs", 80)
    g.add("closure.inconclusive-notes", incp, "inconclusive criteria explained", 81)
    g.add("closure.waiver", waip, "waivers recorded", 81)


def _run_folders(ctx: GateContext, g: _Gate, art: A.Artifact, runs: list[A.RunRow],
                 plan: A.Artifact | None) -> None:
    runs_root = Path(ctx.folder) / C.RUNS_DIR
    if not runs_root.is_dir():
        return
    registered = {r.id for r in runs if r.id}
    on_disk = sorted(p.name for p in runs_root.iterdir()
                     if p.is_dir() and A.norm_id(p.name, "RUN") == p.name)
    line = art.line_of("Run Registry")
    g.add("runs.unregistered",
          [(line, f"runs/{d} exists but the Run Registry has no row for it; every run is "
                  f"reported, including failed ones") for d in on_disk if d not in registered],
          "every run folder is in the Run Registry", 76)
    completed = [r for r in runs if r.id and r.status == "Completed"]
    table: set[str] | None = None
    if plan is not None:
        table = {m.key for m in A.monitoring(plan)
                 if m.key and not (m.source and re.match(r"^\s*`?wandb\b", m.source, re.I))}
    rec, keys, viz = [], [], []
    for r in completed:
        d = A.run_dir(ctx.folder, r.id or "")
        lk = A.logged_keys(d)
        if lk is None:
            rec.append((r.line, f"{r.id} is Completed but runs/{r.id}/metrics.jsonl does not "
                                f"exist"))
        elif table is None:
            keys.append((r.line, f"{r.id}: experiment-plan.md has no Monitoring table to "
                                 f"compare the logged keys with"))
        else:
            extra = sorted(lk.keys - table)
            missing = sorted(table - lk.keys)
            if extra:
                keys.append((r.line, f"{r.id} logged key(s) not in the plan's Monitoring "
                                     f"table: {', '.join(extra)}; add rows for them or stop "
                                     f"logging them"))
            if missing:
                keys.append((r.line, f"{r.id} never logged the Monitoring key(s): "
                                     f"{', '.join(missing)} (runs/{r.id}/metrics.jsonl)"))
        if not A.run_images(d):
            viz.append((r.line, f"{r.id} has no plot in runs/{r.id}/viz/; a run is not done "
                                f"without at least one image (run.finish() writes them)"))
    g.add("runs.record", rec, "every completed run has its metrics.jsonl", 108)
    g.add("runs.logged-keys", keys, "logged keys equal the Monitoring keys", 108)
    g.add("runs.viz", viz, "every completed run has a plot", 104)


# --- stage 6 -------------------------------------------------------------------------


def _stage6(ctx: GateContext, g: _Gate, strict: bool) -> None:
    if not strict:
        _basic_stage(ctx, g)
        return
    art = _artifact(ctx, g, 88)
    if art is None:
        return
    _status(g, art, 88, strict)
    _sections_present(g, art, 88)
    _sections_filled(g, art, ("Review Scope", "Mandatory Checks", "Decision"), 88)
    _fields(g, "scope.fields", art, "Review Scope",
            ("Files reviewed", "Training / evaluation paths reviewed",
             "Stage 5 evidence reviewed"), 88)

    checks = A.mandatory_checks(art)
    if art.section("Mandatory Checks") is not None:
        sec_line = art.line_of("Mandatory Checks")
        missing, results, evid = [], [], []
        for label in A.MANDATORY_CHECKS:
            row = A.lookup_label(checks, label)
            if row is None:
                missing.append((sec_line, f"mandatory check '{label}' is missing; restore the "
                                          f"row from the template"))
                continue
            if row.result not in A.REVIEW_RESULTS:
                what = "has no result" if row.result is None else f"has result {_q(row.result)}"
                results.append((row.line, f"mandatory check '{label}' {what}; allowed: "
                                          f"{', '.join(A.REVIEW_RESULTS)}"))
            if row.evidence is None:
                evid.append((row.line, f"mandatory check '{label}' has no evidence; point at "
                                       f"the code, run or log you checked"))
        g.add("checks.rows", missing, "all 9 mandatory checks present", 89)
        g.add("checks.result", results, "every mandatory check has a result", 89)
        g.add("checks.evidence", evid, "every mandatory check has evidence", 89)

    found = A.findings(art)
    ids, sev = [], []
    seen: dict[str, int] = {}
    for f in found:
        if f.id is None:
            ids.append((f.line, f"{_q(f.raw_id or '')} is not a finding id; write F-001"))
        elif f.id in seen:
            ids.append((f.line, f"finding id {f.id} is used twice (first on line {seen[f.id]})"))
        else:
            seen[f.id] = f.line
        if f.severity not in A.SEVERITIES:
            what = "is empty" if f.severity is None else f"is {_q(f.severity)}"
            sev.append((f.line, f"finding {f.id or f.raw_id}: Severity {what}; use High, Medium "
                                f"or Low"))
    g.add("findings.id", ids, "finding ids valid and unique", 90)
    g.add("findings.severity", sev, "finding severities valid", 90)

    if art.section("Decision") is not None:
        dec = _decision(g, art, "Decision", "Stage 6 Decision", A.STAGE6_DECISIONS, 90,
                        "Record the Re-Entry Classification and run `mlgate reenter "
                        "\"<Classification>\" --reason ...`")
        if dec == "Pass":
            not_pass = [(row.line, f"Stage 6 Decision is Pass but mandatory check '{label}' is "
                                   f"{row.result or 'unanswered'}")
                        for label in A.MANDATORY_CHECKS
                        if (row := A.lookup_label(checks, label)) is not None
                        and row.result != "Pass"]
            g.add("decision.checks-pass", not_pass, "all 9 mandatory checks Pass", 90)
            high = [(f.line, f"Stage 6 Decision is Pass but High finding {f.id or f.raw_id} is "
                             f"still open (Required Action: {_q(f.action or '')}); fix it "
                             f"through a re-entry, or write Done/Resolved once it is")
                    for f in found if f.severity == "High" and f.open]
            g.add("decision.high-findings", high, "no open High finding", 90)

    if ctx.git is not None:
        since = ctx.stage_entry_commits.get(6)
        if since:
            changed = _source_changes(ctx, since)
            g.add("source.unchanged",
                  [(None, f"{f} changed after the stage-5 code basis ({since[:12]}); stage 6 "
                          f"reviews, it does not edit: revert it, or re-enter with `mlgate "
                          f"reenter \"Local Fix\" --reason ...`") for f in changed],
                  "no source change since the stage-5 code basis", 91)
        else:
            g.add("source.unchanged", [], "not checked: no stage-6 entry commit recorded", 91)


# --- stage 7 -------------------------------------------------------------------------


def _stage7(ctx: GateContext, g: _Gate, strict: bool) -> None:
    if not strict:
        _basic_stage(ctx, g)
        return
    art = _artifact(ctx, g, 92)
    if art is None:
        return
    _status(g, art, 92, strict)
    _sections_present(g, art, 92)
    _sections_filled(g, art, ("Synced Facts",), 92)
    f = art.field("Documentation Impact Summary", "Docs impacted")
    impact = A.enum_value(f.value if f else None, C.YES_NO)
    if art.section("Documentation Impact Summary") is not None:
        line = f.line if f else art.line_of("Documentation Impact Summary")
        if impact is None:
            what = "is not set" if not (f and f.value) else f"is {_q(f.value)}"
            g.add("impact.value", [(line, f"Docs impacted {what}; answer Yes or No")], "", 92)
        else:
            g.add("impact.value", [], f"Docs impacted: {impact}", 92)
    if impact == "Yes":
        _updated_docs(ctx, g, art)
    elif impact == "No":
        s = art.section("No-Impact Rationale")
        if s is not None:
            ok = not art.section_is_empty("No-Impact Rationale")
            g.add("no-impact.rationale", [] if ok else
                  [(s.line, "Docs impacted is No but the No-Impact Rationale is empty; explain "
                            "why no durable documentation is affected")], "rationale given", 92)
    if art.section("Decision") is not None:
        _decision(g, art, "Decision", "Stage 7 Decision", A.STAGE7_DECISIONS, 92,
                  "When the docs cannot be made truthful run `mlgate reenter "
                  "\"<Classification>\" --reason ...`; for an external blocker `mlgate block`")
    _best_result_numbers(ctx, g, art)


def _updated_docs(ctx: GateContext, g: _Gate, art: A.Artifact) -> None:
    view = art.table("Updated Documents")
    docs = A.updated_documents(art)
    if not docs:
        g.add("docs.rows", [(view.line if view else art.line_of("Updated Documents"),
                             "Docs impacted is Yes but Updated Documents has no rows; add one "
                             "per changed document")], "", 92)
        return
    g.add("docs.rows", [], f"{len(docs)} updated document(s)", 92)
    root = _workspace_root(ctx)
    exists, changed = [], []
    since = None
    if ctx.git is not None:
        if ctx.base_ref:
            since = ctx.git.merge_base(ctx.base_ref, "HEAD") or ctx.base_ref
        else:
            since = ctx.stage_entry_commits.get(7)
    branch_changes = set(ctx.git.changed_files(since)) if ctx.git is not None and since else None
    dirty = set(ctx.git.dirty_files()) if ctx.git is not None else set()
    for d in docs:
        if d.path is None:
            exists.append((d.line, "Updated Documents row has no path"))
            continue
        p = Path(d.path)
        full = p if p.is_absolute() else root / p
        if not full.exists():
            exists.append((d.line, f"updated document {d.path} does not exist (looked in "
                                   f"{root})"))
            continue
        if branch_changes is None:
            continue
        rel = d.path[2:] if d.path.startswith("./") else d.path
        try:
            rel = full.resolve().relative_to(Path(ctx.git.repo_root).resolve()).as_posix()  # type: ignore[union-attr]
        except (ValueError, OSError):
            pass
        hit = rel in branch_changes or any(c.startswith(rel.rstrip("/") + "/")
                                           for c in branch_changes)
        if not hit:
            extra = "; it has uncommitted changes: commit them" if rel in dirty else ""
            changed.append((d.line, f"updated document {d.path} was not changed on the ticket "
                                    f"branch (since {since[:12] if since else '?'}){extra}"))
    g.add("docs.exists", exists, "every updated document exists", 92)
    if ctx.git is not None:
        if since is None:
            g.add("docs.changed", [], "not checked: no base ref known", 92)
        else:
            g.add("docs.changed", changed, "every updated document changed on the branch", 92)


def _best_result_numbers(ctx: GateContext, g: _Gate, art: A.Artifact) -> None:
    f = art.field("Synced Facts", "Best current result")
    if f is None or f.value is None:
        if art.section("Synced Facts") is not None:
            g.add("facts.best-result", [], "no best-result numbers quoted", 93)
        return
    claimed = A.numbers_in(f.value)
    if not claimed:
        g.add("facts.best-result", [], "no numbers quoted in Best current result", 93)
        return
    report, err = _load(ctx, A.REPORT)
    if report is None:
        g.add("facts.best-result", [(f.line, f"training-validation-report.md "
                                             f"{err or 'does not exist'}; the quoted numbers "
                                             f"cannot be checked")], "", 93)
        return
    bf = report.field("Best Current Result", "Best run")
    ids = A.find_ids(bf.value if bf else None, "RUN")
    if not ids:
        g.add("facts.best-result", [(f.line, "the stage-5 report names no Best run, so the "
                                             "quoted numbers cannot be checked")], "", 93)
        return
    best = ids[0]
    supported: list[A.Number] = []
    for m in A.metric_summary(report):
        if m.run_id == best:
            for cell in (m.result, m.baseline, m.delta):
                supported += A.numbers_in(cell)
    problems = []
    for n in claimed:
        if not any(_same_number(n, s) for s in supported):
            shown = ", ".join(s.text + ("%" if s.percent else "") for s in supported) or "none"
            problems.append((f.line, f"Best current result quotes {n.text}"
                                     f"{'%' if n.percent else ''}, which is not a number of "
                                     f"{best} in the report's Metric Summary ({shown}); copy the "
                                     f"numbers exactly"))
    g.add("facts.best-result", problems, f"quoted numbers match {best} in the report", 93)


def _same_number(claim: A.Number, source: A.Number) -> bool:
    def eq(a: float, b: float) -> bool:
        return abs(a - b) <= 1e-9 * max(1.0, abs(a), abs(b))

    if claim.percent == source.percent:
        return eq(claim.value, source.value)
    if claim.percent:
        return eq(claim.value / 100.0, source.value)
    return eq(claim.value, source.value / 100.0)


# --- stage 8 -------------------------------------------------------------------------


def _stage8(ctx: GateContext, g: _Gate, strict: bool) -> None:
    if not strict:
        _basic_stage(ctx, g)
        _verification(ctx, g, None)
        return
    art = _artifact(ctx, g, 94)
    if art is None:
        _verification(ctx, g, None)
        return
    _sections_present(g, art, 94)
    _sections_filled(g, art, [n for n in A.REQUIRED_SECTIONS[A.HANDOFF]
                              if n != "Finalization Status"], 94)
    bs = art.section("Best Current Evidence")
    if bs is not None:
        f = A.find_field(bs, "Best run")
        ids = A.find_ids(f.value if f else None, "RUN")
        line = f.line if f else bs.line
        report, err = _load(ctx, A.REPORT)
        known = {r.id for r in A.run_registry(report)} if report else set()
        if not ids:
            g.add("best.run", [(line, "Best run names no RUN-NNN; name the best run of the "
                                      "stage-5 report")], "", 94)
        elif report is None:
            g.add("best.run", [(line, f"training-validation-report.md {err or 'does not exist'}"
                                      f"; {ids[0]} cannot be confirmed")], "", 94)
        elif ids[0] not in known:
            g.add("best.run", [(line, f"Best run {ids[0]} is not a run of "
                                      f"training-validation-report.md (runs: "
                                      f"{', '.join(sorted(k for k in known if k)) or 'none'})")],
                  "", 94)
        else:
            g.add("best.run", [], f"best run {ids[0]}", 94)
        _fields(g, "best.comparison", art, "Best Current Evidence", ("Comparison to baseline",),
                94)
    fs = art.section("Finalization Status")
    if fs is not None:
        problems = []
        mode = A.enum_value((getattr(ctx.state, "bootstrap", {}) or {}).get("Bootstrap Mode"),
                            C.BOOTSTRAP_MODES)
        for key, allowed in (("User verification received", C.YES_NO),
                             ("Ticket moved to*", C.YES_NO),
                             ("Repository finalization complete*", ("Yes", "No", "N/A"))):
            ff = A.find_field(fs, key)
            if ff is None or ff.value is None:
                continue
            v = A.enum_value(ff.value, allowed)
            if v is None:
                problems.append((ff.line, f"'{ff.key}' is {_q(ff.value)}; allowed: "
                                          f"{', '.join(allowed)}"))
            elif key.startswith("Repository") and v == "N/A" and mode == "Git":
                problems.append((ff.line, "repository finalization is N/A, but the ticket is in "
                                          "Git mode; it is N/A only for Non-Git tickets"))
        g.add("finalization.values", problems, "finalization values valid", 95)
    _verification(ctx, g, art)


def _verification(ctx: GateContext, g: _Gate, art: A.Artifact | None) -> None:
    if ctx.verified_by:
        g.add("verification", [], f"verified by {ctx.verified_by} (mlgate verify)", 96)
        return
    claim = ""
    line = None
    if art is not None:
        ff = art.field("Finalization Status", "User verification received")
        if ff is not None and A.enum_value(ff.value, C.YES_NO) == "Yes":
            claim = ("; the file says 'User verification received: Yes', but only `mlgate "
                     "verify` records a verification")
            line = ff.line
    g.add("verification", [(line, "no user verification recorded; the user runs "
                                  f"`mlgate verify --by NAME`{claim}")], "", 96)


_STAGES: dict[int, Callable[[GateContext, _Gate, bool], None]] = {
    0: _stage0, 1: _stage1, 2: _stage2, 3: _stage3, 4: _stage4, 5: _stage5, 6: _stage6,
    7: _stage7, 8: _stage8,
}
