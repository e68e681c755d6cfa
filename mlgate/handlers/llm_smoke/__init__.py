"""``llm-smoke``: the stage-4 smoke checks of a causal-LM fine-tuning set-up (the
``llm-finetune`` profile's smoke handler; it works under any profile).

The user points ``mlgate.yaml`` at a factory::

    handlers: {4: [llm-smoke]}
    llm-smoke:
      factory: "sft.smoke:make"     # returns an LlmSmokeTarget (or a dict with its keys)

which is imported with the ticket's worktree first on ``sys.path``. The factory returns the
tokenizer, the model, a few chat samples, the function that turns a sample into a training
example, the maximum length and, optionally, the packing function
(:class:`~mlgate.handlers.llm_smoke.target.LlmSmokeTarget`). The checks
(:mod:`~mlgate.handlers.llm_smoke.checks`):

``tokenizer`` ``special_tokens`` ``chat_template`` ``masking`` ``truncation`` ``packing``
``loss``

A check that does not apply is ``skipped`` with the reason (``packing`` without a ``pack``
function). After the evidence is saved the ``Smoke test or dry run passes`` row of
``implementation.md`` is filled, as torch-smoke does. torch is imported only inside
functions; the handler itself needs neither transformers nor tokenizers (the user's objects
do).
"""
from __future__ import annotations

from typing import Any

from mlgate.evidence.results import HandlerContext
from mlgate.handlers.llm_smoke.checks import Checks
from mlgate.handlers.llm_smoke.options import CHECK_IDS, DEFAULTS, NAME, options
from mlgate.handlers.llm_smoke.target import LlmSmokeTarget, call_factory, coerce_target
from mlgate.handlers.smoke_handler import SmokeHandler

__all__ = ["LlmSmokeHandler", "LlmSmokeTarget", "CHECK_IDS", "DEFAULTS", "coerce_target"]


class LlmSmokeHandler(SmokeHandler):
    """The stage-4 smoke check of an LLM fine-tuning set-up. Options: :data:`DEFAULTS`."""

    name = NAME
    defaults = DEFAULTS
    check_ids = CHECK_IDS
    returns = "an LlmSmokeTarget"

    def parse_options(self, raw: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
        return options(raw)

    def call_factory(self, spec: Any) -> LlmSmokeTarget:
        return call_factory(spec)

    def run_checks(self, target: LlmSmokeTarget, opts: dict[str, Any],
                   ctx: HandlerContext) -> Checks:
        c = Checks(target, opts, ctx)
        c.build()
        c.run_check("tokenizer", c.check_tokenizer)
        c.run_check("special_tokens", c.check_special_tokens)
        c.run_check("chat_template", c.check_chat_template)
        c.run_check("masking", c.check_masking)
        c.run_check("truncation", c.check_truncation)
        c.run_check("packing", c.check_packing)
        c.run_check("loss", c.check_loss)
        return c

    def describe(self, target: LlmSmokeTarget, smoke: Checks) -> dict[str, Any]:
        return {"samples": len(smoke.samples), "examples": len(smoke.examples),
                "dropped": smoke.dropped, "max_length": smoke.max_length}
