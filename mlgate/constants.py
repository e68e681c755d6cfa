"""Names, vocabularies and the stage/transition tables, as data.

Standard library only (the hook path imports it). Everything here follows
``workflow-sources.md`` §1.3–§1.5 exactly.
"""
from __future__ import annotations

import re
from mlgate.record import record

STATE_FILE = "workflow-state.md"
CONFIG_FILE = "mlgate.yaml"
TICKETS_DIR = "tickets"
IN_PROGRESS = "in-progress"
DONE = "done"
EVIDENCE_DIR = "evidence"
#: Files agent clients keep in a worktree (hook settings, MCP servers): never source code
#: for the evidence (they do not make it dirty) nor for `mlgate audit`.
CLIENT_FILES = (".claude/", ".codex/", ".mcp.json")
RUNS_DIR = "runs"
ENTRY_POINT_GROUP = "mlgate.handlers"
PROFILE_ENTRY_POINT_GROUP = "mlgate.profiles"
# Domain profiles shipped with mlgate (``profile:`` in mlgate.yaml); ``strict`` and ``basic``
# are the older spelling of ``dl`` with that gate strictness.
BUILTIN_PROFILES = ("dl", "llm-finetune")
STRICTNESS = ("strict", "basic")
DEFAULT_PROFILE = "dl"
SEAL_PREFIX = "<!-- mlgate-seal:"
SEAL_RE = re.compile(r"^<!-- mlgate-seal: (?P<version>v\d+) (?P<digest>[0-9a-f]{64}) -->\s*$")
TICKET_PLACEHOLDER = "<ticket-name>"

# Ticket names (SPEC §3): kebab-case, git-ref safe.
TICKET_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
TICKET_NAME_RULE = (
    "a ticket name is 1-63 characters of lowercase letters a-z, digits and '-', "
    "starting with a letter or digit (regex ^[a-z0-9][a-z0-9-]{0,62}$), and must be "
    "valid in a git branch name (no '--' run at the end, no trailing '-' or '.lock')"
)

GATE_STATUSES = ("Not Started", "In Progress", "Pass", "Fail", "Blocked")
PERMISSIONS = ("Locked", "Unlocked")
YES_NO = ("Yes", "No")
CLASSIFICATIONS = (
    "Local Fix",
    "Validation Gap",
    "Plan Impact",
    "Requirement Gap",
    "Investigation Gap",
    "Unclear",
)
NA = "N/A"
BOOTSTRAP_MODES = ("Git", "Non-Git")
REFRESH_VALUES = ("Yes", "No", "N/A")
SC_DECISIONS = ("Passed", "Failed", "Inconclusive", "Waived")
RUN_STATUSES = ("Queued", "Running", "Completed", "Failed")
COMPARATORS = (">=", "<=", ">", "<", "==")
#: The torch-smoke check ids, in the order they run (``torch-smoke.skip`` names them).
SMOKE_CHECK_IDS = ("forward", "loss", "gradients", "overfit", "determinism", "eval_mode",
                   "checkpoint", "labels", "leakage", "anomaly", "device")
# "cancelled": stopped on request (the MCP server's `stop_run`, or a cancelled `run`/`watch`)
FAILURE_CLASSES = ("completed", "crashed", "oom", "nan", "stalled", "timeout",
                   "cancelled")
# SPEC §11: a metric whose name holds one of these words is lower-is-better, else higher.
LOWER_IS_BETTER = ("loss", "error", "perplexity", "mse", "mae", "rmse")


def metric_direction(name: str) -> str:
    """``"min"`` when ``name`` contains a loss-like word (case-insensitive), else ``"max"``."""
    low = name.lower()
    return "min" if any(word in low for word in LOWER_IS_BETTER) else "max"


@record(frozen=True)
class Stage:
    number: int
    name: str  # as used in the Stage Gates table, after the number
    slug: str  # folder under stages/
    artifact: str | None  # the artifact this stage's gate is about
    template: str | None  # template file name inside stages/<slug>/
    statuses: tuple[str, ...]  # Document Status values (empty: no Document Status)
    final_statuses: tuple[str, ...]  # statuses that satisfy the gate

    @property
    def label(self) -> str:
        """The Stage cell of the Stage Gates table, e.g. ``3 Experiment Plan``."""
        return f"{self.number} {self.name}"


_DOC = ("Draft", "In Progress", "Current")
STAGES: tuple[Stage, ...] = (
    Stage(0, "Bootstrap", "00-bootstrap", "requirements.md", "requirements-template.md",
          ("Draft", "Plan-ready", "Refined"), ("Draft", "Plan-ready", "Refined")),
    Stage(1, "Investigation", "01-investigation", "investigation-notes.md",
          "investigation-notes-template.md", _DOC, ("Current",)),
    Stage(2, "Requirements & Success Criteria", "02-requirements-and-success-criteria",
          "requirements.md", "requirements-template.md",
          ("Draft", "Plan-ready", "Refined"), ("Plan-ready", "Refined")),
    Stage(3, "Experiment Plan", "03-experiment-plan", "experiment-plan.md",
          "experiment-plan-template.md", ("Draft", "Reviewing", "Current"), ("Current",)),
    Stage(4, "Implementation", "04-implementation", "implementation.md",
          "implementation-template.md",
          ("Draft", "Ready For Execution", "In Execution", "Ready For Training"),
          ("Ready For Training",)),
    Stage(5, "Training & Validation", "05-training-validation",
          "training-validation-report.md", "training-validation-template.md", _DOC,
          ("Current",)),
    Stage(6, "Code Review", "06-code-review", "code-review.md", "code-review-template.md",
          _DOC, ("Current",)),
    Stage(7, "Docs Sync", "07-docs-sync", "docs-sync.md", "docs-sync-template.md", _DOC,
          ("Current",)),
    Stage(8, "Handoff", "08-handoff", "handoff-summary.md", "handoff-summary-template.md",
          (), ()),
)
STAGE_NUMBERS = tuple(s.number for s in STAGES)
LAST_STAGE = 8
UNLOCK_STAGE = 4


def stage(number: int) -> Stage:
    return STAGES[number]


def stage_title(number: int) -> str:
    return STAGES[number].label


# Re-entry matrix (workflow-sources §1.3.5; canonical). ``None`` means "stay".
REENTRY_MATRIX: dict[int, dict[str, tuple[int, ...] | None]] = {
    4: {
        "Local Fix": None,
        "Plan Impact": (1, 3, 4),
        "Requirement Gap": (2, 3, 4),
        "Investigation Gap": (1, 2, 3, 4),
        "Unclear": (0, 1, 2, 3, 4),
    },
    5: {
        "Local Fix": (4, 5),
        "Plan Impact": (1, 3, 4, 5),
        "Requirement Gap": (2, 3, 4, 5),
        "Investigation Gap": (1, 2, 3, 4, 5),
        "Unclear": (0, 1, 2, 3, 4, 5),
    },
    6: {
        "Local Fix": (4, 5, 6),
        "Validation Gap": (5, 6),
        "Plan Impact": (1, 3, 4, 5, 6),
        "Requirement Gap": (2, 3, 4, 5, 6),
        "Investigation Gap": (1, 2, 3, 4, 5, 6),
        "Unclear": (0, 1, 2, 3, 4, 5, 6),
    },
    7: {
        "Local Fix": (4, 5, 6, 7),
        "Requirement Gap": (2, 3, 4, 5, 6, 7),
        "Investigation Gap": (1, 2, 3, 4, 5, 6, 7),
        "Unclear": (0, 1, 2, 3, 4, 5, 6, 7),
    },
}
# Stages where a `Blocked` outcome keeps the ticket in place (rule 30), with the reason kind.
BLOCKABLE: dict[int, str] = {
    0: "base branch cannot be resolved or the remote cannot be refreshed",
    5: "environment, compute, or dataset availability",
    7: "external docs or access issue only",
    8: "archival or finalization blocked",
}


def format_path(path: tuple[int, ...] | None) -> str:
    """Matrix notation: ``1 -> 3 -> 4`` or ``stay in 4``."""
    if path is None:
        return "stay in `4`"
    return " -> ".join(str(s) for s in path)
