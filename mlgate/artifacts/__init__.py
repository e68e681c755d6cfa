"""Typed views over the stage artifacts of a ticket, and line-exact edits of them.

Standard library only, built on :mod:`mlgate.state.mdparse`. Every stage artifact
(``investigation-notes.md`` … ``handoff-summary.md``) is loaded into an :class:`Artifact`
that wraps an :class:`mlgate.state.mdparse.Document`; the accessors turn its sections and
tables into small dataclasses (success criteria, monitoring rows, runs, closure rows, …),
always with the 1-based line they came from, so a gate can say ``file:line: what is wrong``.

Placeholder rows: a template's example row (``| EXP-001 |  |  |  |  | High |``,
``| RUN-001 | … | Queued | |``) is not an entry. A row is a placeholder when
:attr:`mdparse.Row.is_placeholder` holds (``YYYY-MM-DD``/``...``) or when every cell after
the first is empty, an id (``R-001``, ``RUN-001``…) or a template default
(:data:`TEMPLATE_DEFAULTS`). :class:`TableView` keeps such rows apart
(``.placeholders``) so that gates can treat them as absent and still mention them.

Editing: :func:`set_field` and :func:`set_table_row` rewrite exactly one line of a file
(or append one row) and keep every other byte as it was; the write is atomic.

The package re-exports every public name of its modules, so callers keep writing
``from mlgate import artifacts as A`` and ``A.load(...)``:

- :mod:`~mlgate.artifacts.names`: file names, required sections, fixed rows, enum values;
- :mod:`~mlgate.artifacts.common`: id/enum/number/path helpers, :class:`TableView`;
- :mod:`~mlgate.artifacts.document`: :class:`Artifact`, :func:`load`, :func:`find_field`;
- :mod:`~mlgate.artifacts.planning`: investigation notes, requirements, experiment plan;
- :mod:`~mlgate.artifacts.results`: implementation, report, code review, docs sync;
- :mod:`~mlgate.artifacts.runs`: ``runs/<RUN-ID>/`` metrics and images;
- :mod:`~mlgate.artifacts.edit`: :func:`set_field`, :func:`set_table_row`.
"""
from __future__ import annotations

from types import ModuleType
from typing import Any

from mlgate.artifacts import common, document, edit, names, planning, results, runs
from mlgate.artifacts.common import (
    Number,
    TableRow,
    TableView,
    decimals,
    enum_value,
    find_ids,
    has_date,
    is_affirmative,
    is_id,
    is_na,
    lookup_label,
    make_view,
    norm_id,
    norm_text,
    numbers_in,
    parse_number,
    path_covers,
    paths_in_cell,
    row_is_placeholder,
    shas_in,
)
from mlgate.artifacts.document import (
    Artifact,
    find_field,
    load,
)
from mlgate.artifacts.edit import (
    set_field,
    set_table_row,
)
from mlgate.artifacts.names import (
    CHANGE_STATUSES,
    CHANGE_TYPES,
    DOCS_SYNC,
    HANDOFF,
    ID_PREFIXES,
    IGNORED_METRIC_KEYS,
    IMAGE_SUFFIXES,
    IMPLEMENTATION,
    INVESTIGATION,
    MANDATORY_CHECKS,
    PIPELINE_AREAS,
    PLAN,
    PRIORITIES,
    READINESS_CHECKS,
    READINESS_RESULTS,
    REPORT,
    REQUIRED_SECTIONS,
    REQUIREMENTS,
    REVIEW,
    REVIEW_RESULTS,
    SCOPE_CLASSES,
    SECTION_ALIASES,
    SEVERITIES,
    SMOKE_CHECK,
    SOURCE_TYPES,
    STAGE5_DECISIONS,
    STAGE6_DECISIONS,
    STAGE7_DECISIONS,
    TEMPLATE_DEFAULTS,
)
from mlgate.artifacts.planning import (
    AreaRow,
    ExperimentRow,
    MONITORING_COLUMNS,
    MonitoringRow,
    COMBINE,
    RUBRIC,
    SC_COLUMNS,
    SC_OPTIONAL_COLUMNS,
    SourceRow,
    SuccessCriterion,
    WorkItem,
    experiments,
    monitoring,
    monitoring_keys,
    pipeline_areas,
    relative_threshold,
    planned_runs,
    requirements_ids,
    sources,
    success_criteria,
    success_criteria_ids,
    work_items,
)
from mlgate.artifacts.results import (
    ChangeRow,
    CheckRow,
    ClosureRow,
    DocRow,
    Finding,
    MetricRow,
    ProgressEntry,
    RunRow,
    changes,
    findings,
    mandatory_checks,
    metric_summary,
    progress_entries,
    readiness_checks,
    run_registry,
    sc_closure,
    updated_documents,
)
from mlgate.artifacts.runs import (
    LoggedKeys,
    logged_keys,
    run_dir,
    run_images,
)

__all__ = [
    "AreaRow",
    "Artifact",
    "CHANGE_STATUSES",
    "CHANGE_TYPES",
    "ChangeRow",
    "CheckRow",
    "ClosureRow",
    "DOCS_SYNC",
    "DocRow",
    "ExperimentRow",
    "Finding",
    "HANDOFF",
    "ID_PREFIXES",
    "IGNORED_METRIC_KEYS",
    "IMAGE_SUFFIXES",
    "IMPLEMENTATION",
    "INVESTIGATION",
    "LoggedKeys",
    "MANDATORY_CHECKS",
    "MONITORING_COLUMNS",
    "MetricRow",
    "MonitoringRow",
    "Number",
    "PIPELINE_AREAS",
    "PLAN",
    "PRIORITIES",
    "ProgressEntry",
    "READINESS_CHECKS",
    "READINESS_RESULTS",
    "REPORT",
    "REQUIRED_SECTIONS",
    "REQUIREMENTS",
    "REVIEW",
    "REVIEW_RESULTS",
    "RunRow",
    "SCOPE_CLASSES",
    "SC_COLUMNS",
    "SC_OPTIONAL_COLUMNS",
    "RUBRIC",
    "COMBINE",
    "relative_threshold",
    "SECTION_ALIASES",
    "SEVERITIES",
    "SMOKE_CHECK",
    "SOURCE_TYPES",
    "STAGE5_DECISIONS",
    "STAGE6_DECISIONS",
    "STAGE7_DECISIONS",
    "SourceRow",
    "SuccessCriterion",
    "TEMPLATE_DEFAULTS",
    "TableRow",
    "TableView",
    "WorkItem",
    "changes",
    "decimals",
    "enum_value",
    "experiments",
    "find_field",
    "find_ids",
    "findings",
    "has_date",
    "is_affirmative",
    "is_id",
    "is_na",
    "load",
    "logged_keys",
    "lookup_label",
    "make_view",
    "mandatory_checks",
    "metric_summary",
    "monitoring",
    "monitoring_keys",
    "norm_id",
    "norm_text",
    "numbers_in",
    "parse_number",
    "path_covers",
    "paths_in_cell",
    "pipeline_areas",
    "planned_runs",
    "progress_entries",
    "readiness_checks",
    "requirements_ids",
    "row_is_placeholder",
    "run_dir",
    "run_images",
    "run_registry",
    "sc_closure",
    "set_field",
    "set_table_row",
    "shas_in",
    "sources",
    "success_criteria",
    "success_criteria_ids",
    "updated_documents",
    "work_items",
]

_MODULES: tuple[ModuleType, ...] = (names, common, document, planning, results, runs, edit)


def __getattr__(name: str) -> Any:
    """Private helpers (``A._rows``, ``A._same_first`` …) stay reachable as before the split."""
    for module in _MODULES:
        if name in vars(module):
            return vars(module)[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
