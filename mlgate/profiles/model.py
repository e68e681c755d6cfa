"""The data of a domain profile: :class:`Profile` and its declared :class:`ExtraCheck` s, and
:data:`DL`, the default profile (the deep-learning workflow the gates were written for).

A profile keeps the workflow's skeleton (stages 0-8, the state file, the re-entry matrix,
the edit lock) and says, per stage, what the artifacts are called, which templates they are
scaffolded from, which sections and fixed table rows they must have, which labels it renames,
and which checks it adds. Nothing here evaluates a check: :mod:`mlgate.gates` does.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from mlgate import constants as C
from mlgate import resources
from mlgate.artifacts import names as N
from mlgate.constants import Stage

#: What a declarative check looks at (see :class:`ExtraCheck`).
CHECK_KINDS = ("sections", "fields", "value", "columns", "cells", "rows")
#: Names of the fixed first-column row lists a profile may replace.
ROW_LISTS = ("pipeline_areas", "readiness_checks", "mandatory_checks")


@dataclass(frozen=True)
class ExtraCheck:
    """One declarative check a profile adds to a stage's gate.

    Its id in a report is ``s<stage>.<id>``. It reads ``artifact`` (default: the stage's own
    artifact; a missing artifact is left to ``artifact.exists``) and, by ``kind``:

    * ``sections``: the ``sections`` are present and not empty;
    * ``fields``: each bullet field of ``fields`` under ``section`` has a value;
    * ``value``: the field ``fields[0]`` of ``section`` is one of ``allowed`` (when given)
      and, when ``require`` is given, one of ``require``;
    * ``columns``: the first table of ``section`` has the ``columns``;
    * ``cells``: the table of ``section`` has at least ``min_rows`` real rows, and in each
      real row (or each row whose ``where`` column holds one of the ``where`` values) the
      ``columns`` are filled, within ``allowed`` when given;
    * ``rows``: the table of ``section`` has a row for each label of ``rows`` (first
      column), each with its ``columns`` filled (within ``allowed``; one of ``require``
      when given).

    ``basic``: also run under ``strictness: basic`` (by default only under ``strict``).
    ``rule`` and ``hint`` go into the report; ``line`` is where the check is declared.
    """

    id: str
    stage: int
    kind: str
    section: str | None = None
    artifact: str | None = None
    fields: tuple[str, ...] = ()
    columns: tuple[str, ...] = ()
    rows: tuple[str, ...] = ()
    sections: tuple[str, ...] = ()
    allowed: tuple[str, ...] = ()
    require: tuple[str, ...] = ()
    where: tuple[str, tuple[str, ...]] | None = None
    min_rows: int = 0
    basic: bool = False
    rule: int | None = None
    hint: str = ""
    line: int | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": f"s{self.stage}.{self.id}", "stage": self.stage,
                               "kind": self.kind}
        for key in ("artifact", "section", "rule", "hint"):
            if getattr(self, key):
                out[key] = getattr(self, key)
        for key in ("fields", "columns", "rows", "sections", "allowed", "require"):
            if getattr(self, key):
                out[key] = list(getattr(self, key))
        if self.where:
            out["where"] = {self.where[0]: list(self.where[1])}
        if self.min_rows:
            out["min_rows"] = self.min_rows
        if self.basic:
            out["basic"] = True
        return out


def _frozen(mapping: Mapping[Any, Any]) -> Mapping[Any, Any]:
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True)
class Profile:
    """A domain profile (see the module docstring and ``docs/profiles.md``).

    * ``stages``: the 9 stages (name, folder under ``stages/``, artifact, template, Document
      Status values and the final ones);
    * ``sections``: artifact file name -> the ``##`` sections it must have;
    * ``rows``: the fixed first-column rows of the investigation findings
      (``pipeline_areas``), the readiness checks (``readiness_checks``) and the code
      review's mandatory checks (``mandatory_checks``);
    * ``renames``: a label of the default profile -> this profile's label (a field or a
      column the built-in checks read and name in their reasons);
    * ``checks``: declared :class:`ExtraCheck` s;
    * ``gates``: stage -> ``module:function`` replacing the built-in gate of that stage;
    * ``functions``: stage -> ``module:function`` s adding checks after it; a function is
      called as ``function(ctx, gate, strict)`` like a built-in stage gate;
    * ``smoke_handler``: the stage-4 smoke handler the reasons point at;
    * ``dirs``: the folders holding its ``stages/`` and ``shared/`` templates, most
      specific first (empty for ``dl``: the templates shipped at mlgate's top level).
    """

    name: str
    title: str
    description: str = ""
    stages: tuple[Stage, ...] = C.STAGES
    sections: Mapping[str, tuple[str, ...]] = field(
        default_factory=lambda: _frozen(N.REQUIRED_SECTIONS))
    rows: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: _frozen({
        "pipeline_areas": N.PIPELINE_AREAS, "readiness_checks": N.READINESS_CHECKS,
        "mandatory_checks": N.MANDATORY_CHECKS}))
    renames: Mapping[str, str] = field(default_factory=lambda: _frozen({}))
    checks: tuple[ExtraCheck, ...] = ()
    gates: Mapping[int, str] = field(default_factory=lambda: _frozen({}))
    functions: Mapping[int, tuple[str, ...]] = field(default_factory=lambda: _frozen({}))
    smoke_handler: str = "torch-smoke"
    dirs: tuple[Path, ...] = ()
    extends: str | None = None
    source: str = "built-in"

    # -- stages and artifacts --------------------------------------------------------

    def stage(self, number: int) -> Stage:
        return self.stages[number]

    def artifact(self, number: int) -> str | None:
        """The artifact file of stage ``number`` (``experiment-plan.md`` for 3 in ``dl``)."""
        return self.stages[number].artifact

    @property
    def plan(self) -> str:
        """The stage-3 artifact (the plan the later stages trace back to)."""
        return self.stages[3].artifact or N.PLAN

    def required_sections(self, artifact: str) -> tuple[str, ...]:
        return tuple(self.sections.get(artifact, ()))

    def fixed_rows(self, name: str) -> tuple[str, ...]:
        return tuple(self.rows[name])

    def label(self, text: str) -> str:
        """``text`` as this profile writes it (``renames``), else unchanged."""
        return self.renames.get(text, text)

    def checks_for(self, stage: int) -> tuple[ExtraCheck, ...]:
        return tuple(c for c in self.checks if c.stage == stage)

    # -- templates -------------------------------------------------------------------

    def template_path(self, relpath: str, root: str | Path | None = None) -> Path:
        """A template file: the repository's own copy (``root``), then this profile's
        folders, then the templates shipped with mlgate."""
        return resources.template_path(relpath, root, self.dirs)

    def template_text(self, relpath: str, root: str | Path | None = None,
                      ticket: str | None = None) -> str:
        return resources.template_text(relpath, root, ticket, self.dirs)

    def stage_template_path(self, number: int, root: str | Path | None = None) -> Path:
        st = self.stages[number]
        return self.template_path(f"stages/{st.slug}/{st.template}", root)

    def stage_template(self, number: int, root: str | Path | None = None,
                       ticket: str | None = None) -> str:
        """The artifact template of stage ``number``, ``<ticket-name>`` filled in."""
        st = self.stages[number]
        return self.template_text(f"stages/{st.slug}/{st.template}", root, ticket)

    def state_template(self, root: str | Path | None = None, ticket: str | None = None) -> str:
        return self.template_text(resources.STATE_TEMPLATE, root, ticket)

    def stage_dir(self, number: int, root: str | Path | None = None) -> Path:
        """The folder of stage ``number``'s guide (``README.md``) and template."""
        return resources.stage_dir(self.stages[number].slug, root, self.dirs)

    # -- description ---------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "title": self.title, "description": self.description,
            "extends": self.extends, "source": self.source,
            "smoke_handler": self.smoke_handler,
            "stages": [{"stage": s.number, "name": s.name, "folder": f"stages/{s.slug}",
                        "artifact": s.artifact, "template": s.template,
                        "statuses": list(s.statuses), "final": list(s.final_statuses)}
                       for s in self.stages],
            "sections": {k: list(v) for k, v in self.sections.items()},
            "rows": {k: list(v) for k, v in self.rows.items()},
            "renames": dict(self.renames),
            "checks": [c.to_dict() for c in self.checks],
            "gates": {str(k): v for k, v in self.gates.items()},
            "functions": {str(k): list(v) for k, v in self.functions.items()},
        }


DL = Profile(
    name="dl", title="Deep learning experiments",
    description="The stage-gated deep-learning workflow: experiment plan, implementation, "
                "training and validation, with the torch-smoke and train handlers. The "
                "default; `profile: strict` and `profile: basic` are this profile.",
)
