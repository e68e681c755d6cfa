"""Domain profiles: the stage-gated workflow specialised for a kind of work.

A profile is data (stage names, artifact file names and templates, required sections and
fixed table rows, renamed labels, declared extra checks) plus optional check functions. It
keeps the skeleton every profile shares: stages 0-8, the layout of ``workflow-state.md``,
the re-entry matrix and the edit lock. ``profile:`` in ``mlgate.yaml`` selects one:

* ``dl`` (the default; ``strict`` and ``basic`` are its older spelling): deep-learning
  experiments, the workflow the gates were first written for;
* ``llm-finetune``: LLM fine-tuning (implementation plan, data preparation in stage 4,
  LLM-specific run registry, metric summary, review checks and handoff);
* any profile a package registers in the entry point group ``mlgate.profiles``.

How strictly the gates check is a separate key, ``strictness: strict | basic``.

Exposes :class:`Profile`, :class:`ExtraCheck`, :data:`DL`, :func:`get`, :func:`names`,
:func:`load_file` and :func:`domain_of`. May import the foundation modules, ``config.raw``
and ``artifacts.names`` (no gate code: the gates read profiles, not the reverse).
"""
from __future__ import annotations

from mlgate.profiles.loader import PROFILE_FILE
from mlgate.profiles.model import CHECK_KINDS, DL, ROW_LISTS, ExtraCheck, Profile
from mlgate.profiles.registry import (clear_cache, domain_of, entry_points, get, load_file,
                                      names)

__all__ = ["Profile", "ExtraCheck", "DL", "get", "names", "load_file", "domain_of",
           "entry_points", "clear_cache", "CHECK_KINDS", "ROW_LISTS", "PROFILE_FILE"]
