"""File names, required sections and the fixed vocabularies of the stage artifacts.

Constants only (no parsing): the artifact file names, the ``##`` sections each must have
(:data:`REQUIRED_SECTIONS`) and the headings accepted in their place
(:data:`SECTION_ALIASES`), the fixed first-column rows of the templates, and the allowed
values of enum-like cells.
"""
from __future__ import annotations

# --- file names and required sections ---------------------------------------------------

INVESTIGATION = "investigation-notes.md"
REQUIREMENTS = "requirements.md"
PLAN = "experiment-plan.md"
IMPLEMENTATION = "implementation.md"
REPORT = "training-validation-report.md"
REVIEW = "code-review.md"
DOCS_SYNC = "docs-sync.md"
HANDOFF = "handoff-summary.md"

#: The H2 sections each artifact must have (the template's headings, workflow-sources §1.4
#: and rules 45, 52, 57, 66, 75, 88, 92, 94). The experiment plan also needs ``Monitoring``.
REQUIRED_SECTIONS: dict[str, tuple[str, ...]] = {
    INVESTIGATION: ("Document Status", "Task Framing", "Scope Triage", "Sources Consulted",
                    "Current Code And Pipeline Findings", "Baseline Understanding",
                    "Constraints And Risks", "Planning Implications", "Open Questions"),
    REQUIREMENTS: ("Document Status", "Goal / Problem Statement", "In-Scope Task Definition",
                   "Requirements", "Baseline Or Comparison Target", "Success Criteria",
                   "Closure Conditions", "Dataset And Evaluation Assumptions",
                   "Constraints And Dependencies", "Assumptions", "Risks And Open Questions"),
    PLAN: ("Document Status", "Artifact Basis", "Problem Framing",
           "Baseline And Comparison Target", "Approach Summary",
           "Planned Model / Algorithm Changes", "Data And Evaluation Assumptions",
           "Experiment Matrix", "Reproducibility Plan", "Implementation Handoff",
           "Validation Plan", "Monitoring", "Risks And Open Questions",
           "Stage 4 Entry Checklist"),
    IMPLEMENTATION: ("Upstream Artifacts", "Document Status", "Stage 4 Entry Checklist",
                     "Execution Plan", "Change Inventory", "Config, Logging, And Artifact Paths",
                     "Readiness Checks Before Stage 5", "Stage 5 Handoff", "Progress Log"),
    REPORT: ("Document Status", "Artifact Basis", "Run Registry", "Metric Summary",
             "Success Criteria Closure", "Best Current Result", "Failure Analysis",
             "Reproducibility Record", "Gate Decision"),
    REVIEW: ("Document Status", "Review Scope", "Review Findings", "Mandatory Checks",
             "Decision"),
    DOCS_SYNC: ("Document Status", "Documentation Impact Summary", "Updated Documents",
                "Synced Facts", "No-Impact Rationale", "Decision"),
    HANDOFF: ("Outcome Summary", "Best Current Evidence", "Artifacts", "Outstanding Risks",
              "Recommended Next Steps", "Finalization Status"),
}

#: Other headings accepted for a required section (hand-written ``requirements.md`` files
#: follow no template; workflow-sources §1.4 stage 2 shows ``## Goal``, ``## Required
#: behavior``). Matching is case-insensitive and ignores a leading ``7.`` numbering.
SECTION_ALIASES: dict[str, tuple[str, ...]] = {
    "Document Status": ("Status",),
    "Goal / Problem Statement": ("Goal", "Problem Statement", "Goal Or Problem Statement",
                                 "Goal And Problem Statement"),
    "In-Scope Task Definition": ("In Scope", "In-Scope", "Scope", "Task Definition",
                                 "In-Scope Task"),
    "Requirements": ("Required Behavior", "Required Behaviour", "Requirement List"),
    "Baseline Or Comparison Target": ("Baseline", "Comparison Target",
                                      "Baseline And Comparison Target"),
    "Constraints And Dependencies": ("Constraints", "Constraints And Risks"),
    "Risks And Open Questions": ("Risks", "Open Questions", "Risks And Questions"),
    "Dataset And Evaluation Assumptions": ("Data And Evaluation Assumptions",
                                           "Dataset Assumptions"),
}

#: The fixed first-column rows of the templates.
PIPELINE_AREAS = ("Training Entrypoints", "Validation / Evaluation Entrypoints",
                  "Model / Architecture", "Data Pipeline / Splits", "Loss / Objective",
                  "Metrics / Logging", "Checkpointing / Resume")
READINESS_CHECKS = ("Training entrypoint resolves",
                    "Validation or evaluation entrypoint resolves",
                    "Critical config loads correctly", "Output paths or permissions are correct",
                    "Smoke test or dry run passes")
SMOKE_CHECK = "Smoke test or dry run passes"
MANDATORY_CHECKS = ("Data leakage / split contamination", "Train / eval mode correctness",
                    "Metric correctness", "Label / mask / target alignment",
                    "Checkpoint semantics", "Config traceability", "Reproducibility sufficiency",
                    "Numerical stability risk", "Logging / evidence sufficiency")

SOURCE_TYPES = ("Local File", "Command", "Log", "External URL", "Open-Source Repo", "Paper")
SCOPE_CLASSES = ("Small", "Medium", "Large")
CHANGE_TYPES = ("Create", "Modify", "Remove")
CHANGE_STATUSES = ("Planned", "In Progress", "Done", "Blocked")
READINESS_RESULTS = ("Pass", "Fail", "N/A")
REVIEW_RESULTS = ("Pass", "Fail", "Needs Follow-Up")
SEVERITIES = ("High", "Medium", "Low")
# ``Refuted``: the runs are sound and the criteria closed as Failed with their numbers: the
# hypothesis was refuted. The ticket goes on to handoff; nothing is promoted.
STAGE5_DECISIONS = ("Pass", "Fail", "Blocked", "Refuted")
STAGE6_DECISIONS = ("Pass", "Fail")
STAGE7_DECISIONS = ("Pass", "Fail", "Blocked")
PRIORITIES = ("High", "Medium", "Low")

#: Values the templates pre-fill in their example rows; alone they do not make a row real.
TEMPLATE_DEFAULTS = frozenset({"high", "planned", "queued"})

ID_PREFIXES = ("R", "SC", "EXP", "W", "C", "RUN", "F", "V", "T")
IMAGE_SUFFIXES = (".png", ".svg", ".jpg", ".jpeg", ".pdf", ".gif", ".webp", ".html")
IGNORED_METRIC_KEYS = frozenset({"step", "time", "epoch", "_step", "_runtime", "_timestamp"})
