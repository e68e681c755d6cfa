"""Where the templates (``stages/``, ``shared/``) come from.

Lookup order for a relative path such as ``shared/workflow-state-template.md``:

1. ``<root>/<relpath>``: a managed repository may override any template file by having its
   own ``stages/`` or ``shared/`` copy;
1b. the folders of the active domain profile (``profile_dirs``; none for the default ``dl``
   profile, whose templates are the ones below), most specific first;
2. the copy packaged in the wheel, ``mlgate/_data/<relpath>`` (hatchling force-includes
   ``stages/`` and ``shared/`` there);
3. the source tree next to the package (``<checkout>/<relpath>``, for editable installs;
   the same as ``Path(mlgate.__file__).parent.parent``).

Standard library only.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from mlgate.constants import STAGES, TICKET_PLACEHOLDER, Stage
from mlgate.errors import EnvironmentFailure, UsageError

__all__ = ["STATE_TEMPLATE", "template_path", "template_text", "stage_template",
           "stage_template_path", "stage_dir", "search_path"]

STATE_TEMPLATE = "shared/workflow-state-template.md"
_PACKAGE = "mlgate"


def _check_rel(relpath: str) -> str:
    rel = str(relpath).replace("\\", "/")
    pure = PurePosixPath(rel)
    if not rel or pure.is_absolute() or ".." in pure.parts:
        raise UsageError(f"template path {relpath!r} must be relative to the project root "
                         f"(like 'stages/04-implementation/implementation-template.md') and "
                         f"must not contain '..'", relpath=str(relpath))
    return rel


def _packaged_root() -> Path | None:
    try:
        from importlib.resources import files

        data = files(_PACKAGE) / "_data"
    except (ImportError, ModuleNotFoundError, TypeError):  # pragma: no cover
        return None
    return data if isinstance(data, Path) else Path(str(data))


def _source_root() -> Path:
    """The folder holding the ``mlgate`` package (the checkout, in an editable install)."""
    return Path(__file__).resolve().parent.parent


def search_path(root: str | Path | None = None,
                profile_dirs: Sequence[Path] = ()) -> list[Path]:
    """The folders searched, in order (the override, the profile's folders, the packaged
    data, the source tree)."""
    roots: list[Path] = []
    if root is not None:
        roots.append(Path(root))
    roots.extend(Path(p) for p in profile_dirs)
    packaged = _packaged_root()
    if packaged is not None:
        roots.append(packaged)
    roots.append(_source_root())
    return roots


def template_path(relpath: str, root: str | Path | None = None,
                  profile_dirs: Sequence[Path] = ()) -> Path:
    """The file ``relpath`` (e.g. ``stages/03-experiment-plan/experiment-plan-template.md``)
    from the first place that has it; see the module docstring for the order."""
    rel = _check_rel(relpath)
    searched = search_path(root, profile_dirs)
    for base in searched:
        candidate = base / rel
        if candidate.is_file():
            return candidate
    raise EnvironmentFailure(
        f"template {rel!r} not found (looked in: {', '.join(str(b) for b in searched)})\n"
        f"hint: reinstall mlgate (the wheel ships stages/ and shared/), or add the file to "
        f"your repository at {rel}", relpath=rel, searched=[str(b) for b in searched])


def template_text(relpath: str, root: str | Path | None = None,
                  ticket: str | None = None, profile_dirs: Sequence[Path] = ()) -> str:
    """The template's text; ``<ticket-name>`` is replaced by ``ticket`` when given."""
    text = template_path(relpath, root, profile_dirs).read_text(encoding="utf-8")
    if ticket is not None:
        text = text.replace(TICKET_PLACEHOLDER, ticket)
    return text


def stage_template_path(stage_number: int, root: str | Path | None = None) -> Path:
    stage = _stage(stage_number)
    return template_path(f"stages/{stage.slug}/{stage.template}", root)


def stage_template(stage_number: int, root: str | Path | None = None,
                   ticket: str | None = None) -> str:
    """The artifact template of stage ``stage_number`` (``constants.STAGES[n].template``)."""
    stage = _stage(stage_number)
    return template_text(f"stages/{stage.slug}/{stage.template}", root, ticket)


def stage_dir(slug: str, root: str | Path | None = None,
              profile_dirs: Sequence[Path] = ()) -> Path:
    """The folder ``stages/<slug>`` (holding its README.md) from the first place that has it."""
    rel = _check_rel(f"stages/{slug}")
    searched = search_path(root, profile_dirs)
    for base in searched:
        if (base / rel).is_dir():
            return base / rel
    raise EnvironmentFailure(
        f"stage folder {rel!r} not found (looked in: {', '.join(str(b) for b in searched)})\n"
        f"hint: reinstall mlgate (the wheel ships stages/ and shared/)", relpath=rel,
        searched=[str(b) for b in searched])


def _stage(number: int) -> Stage:
    if not isinstance(number, int) or not 0 <= number < len(STAGES):
        raise UsageError(f"no stage {number!r}; stages are 0 to {len(STAGES) - 1}",
                         stage=number)
    stage = STAGES[number]
    if stage.template is None:  # pragma: no cover - every stage has one today
        raise UsageError(f"stage {number} has no artifact template", stage=number)
    return stage
