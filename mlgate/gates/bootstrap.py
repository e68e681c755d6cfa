"""Stage 0 gate: the ticket folder and its bootstrap record (workflow-sources §5.1).

Rules checked: 3 (the folder holds ``workflow-state.md`` and ``requirements.md``), 4
(``requirements.md`` status), 6 (the Stage 0 Bootstrap Record matches the bootstrap mode)
and, in the ``strict`` profile with git, 7 (the ticket branch exists and a worktree has it
checked out at the recorded path).
"""
from __future__ import annotations

import re
from pathlib import Path

from mlgate import artifacts as A
from mlgate import constants as C
from mlgate.gates.core import GateContext, Problem, _Gate, _load, _q, _workspace_root

# Bootstrap record fields (workflow-sources §1.3.2, rule 6).
GIT_ONLY_FIELDS = ("Resolved Base Remote", "Resolved Base Branch",
                   "Default Finalization Target Remote", "Default Finalization Target Branch",
                   "Remote Refresh Performed", "Ticket Worktree Path", "Ticket Branch")
GIT_OPTIONAL_FIELDS = ("User-Specified Base Branch", "Remote Refresh Result")
# In Git mode: must hold a real value (not empty, not N/A) / must be filled (N/A allowed:
# no remote, no refresh, a ticket made with --no-worktree).
GIT_REQUIRED_FIELDS = ("Resolved Base Branch", "Ticket Branch")
GIT_FILLED_FIELDS = ("Resolved Base Remote", "Remote Refresh Performed", "Ticket Worktree Path")


def gate(ctx: GateContext, g: _Gate, strict: bool) -> None:
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
        _goal(req, g)
    _bootstrap(ctx, g, strict)


GOAL_SECTION = "Goal / Problem Statement"
#: Words that hold a place instead of stating a goal.
_PLACEHOLDER_WORDS = {"todo", "tbd", "tbc", "fixme", "xxx", "goal", "n/a", "na", "none",
                      "...", "…", "placeholder", "fill", "in", "later", "here"}


def goal_text(req: A.Artifact) -> tuple[str, int | None]:
    """The words of the Goal / Problem Statement section (bullets, comments and blank lines
    dropped) and the section's heading line."""
    s = req.section(GOAL_SECTION)
    if s is None:
        return "", None
    words: list[str] = []
    in_comment = False
    for text in s.body:
        line = text.strip()
        if in_comment or line.startswith("<!--"):
            in_comment = "-->" not in line
            continue
        line = re.sub(r"^(?:[-*+]|\d+[.)])\s*", "", line)
        if line and not line.startswith(("#", "|")):
            words.append(line)
    return " ".join(words), s.line


def _goal(req: A.Artifact, g: _Gate) -> None:
    """A Draft requirements.md states the goal in its own words: the template's empty bullet
    (or a TODO) is not a goal."""
    text, line = goal_text(req)
    words = re.findall(r"[^\W\d_][\w'/.-]*", text)
    meaningful = [w for w in words if w.lower().strip(".") not in _PLACEHOLDER_WORDS]
    problems: list[Problem] = []
    if line is None:
        problems.append((None, f"the section '## {GOAL_SECTION}' is missing; add it and state "
                               "the ticket's goal in your own words"))
    elif len(meaningful) < 3:
        problems.append((line, f"{GOAL_SECTION} is "
                               + (f"only {_q(text)}" if text else "still the template's empty bullet")
                               + "; state the goal in your own words (what question the "
                                 "experiment answers, on which data, compared with what)"))
    g.add("requirements.goal", problems, f"{A.REQUIREMENTS} states the goal ({len(words)} "
          f"words)", 4, file=A.REQUIREMENTS)


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

