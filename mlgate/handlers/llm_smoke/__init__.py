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

import time
from pathlib import Path

from mlgate.evidence.results import CheckResult, HandlerContext, HandlerResult
from mlgate.handlers.llm_smoke.checks import Checks
from mlgate.handlers.llm_smoke.options import CHECK_IDS, DEFAULTS, NAME, options
from mlgate.handlers.llm_smoke.target import LlmSmokeTarget, call_factory, coerce_target
from mlgate.handlers.torch_smoke.report import (ARTIFACT, READINESS_SECTION, SMOKE_ROW,
                                                _environment, fill_readiness_row)
from mlgate.handlers.torch_smoke.target import FactoryError, worktree_on_path
from mlgate.handlers.torch_smoke.tensors import _rng_preserved

__all__ = ["LlmSmokeHandler", "LlmSmokeTarget", "CHECK_IDS", "DEFAULTS", "coerce_target"]


class LlmSmokeHandler:
    """The stage-4 smoke check of an LLM fine-tuning set-up. Options: :data:`DEFAULTS`."""

    name = NAME
    stages = (4,)

    def run(self, ctx: HandlerContext) -> HandlerResult:
        import torch  # a missing torch surfaces here, as MissingExtra (see the runner)

        raw = {**(ctx.options or {}),
               **{k: v for k, v in (ctx.run_options or {}).items() if k in DEFAULTS}}
        opts, problems = options(raw)
        if problems:
            return self._early_fail(ctx, "; ".join(problems) + "; fix the llm-smoke section "
                                                                "of mlgate.yaml")
        spec = opts["factory"]
        if not spec:
            return self._early_fail(ctx, "no factory configured: set llm-smoke.factory in "
                                         "mlgate.yaml to 'package.module:function' returning "
                                         "an LlmSmokeTarget")
        with worktree_on_path(ctx.worktree, spec.partition(":")[0]), _rng_preserved(torch):
            t0 = time.perf_counter()
            try:
                target = call_factory(spec)
            except FactoryError as exc:
                return self._early_fail(ctx, exc.detail, exc.tail, time.perf_counter() - t0)
            ctx.report(f"factory: {spec} ({time.perf_counter() - t0:.2f}s)")
            c = Checks(target, opts, ctx)
            c.build()
            c.run_check("tokenizer", c.check_tokenizer)
            c.run_check("special_tokens", c.check_special_tokens)
            c.run_check("chat_template", c.check_chat_template)
            c.run_check("masking", c.check_masking)
            c.run_check("truncation", c.check_truncation)
            c.run_check("packing", c.check_packing)
            c.run_check("loss", c.check_loss)
        failed = [x.id for x in c.checks if x.status == "fail"]
        info = {"factory": spec, "samples": len(c.samples), "examples": len(c.examples),
                "dropped": c.dropped, "max_length": c.max_length, "device": c.device.type,
                "failed": failed}
        return HandlerResult(handler=NAME, stage=ctx.stage, status="Fail" if failed else "Pass",
                             checks=c.checks, metrics=c.metrics,
                             environment=_environment(torch, c.device),
                             extra={"smoke": info})

    def _early_fail(self, ctx: HandlerContext, detail: str, tail: str | None = None,
                    seconds: float = 0.0) -> HandlerResult:
        checks = [CheckResult("factory", "fail", detail, round(seconds, 4))]
        ctx.report(f"factory: fail ({seconds:.2f}s) {detail}")
        checks += [CheckResult(c, "skipped", "skipped: the factory check failed")
                   for c in CHECK_IDS]
        return HandlerResult(handler=NAME, stage=ctx.stage, status="Fail", checks=checks,
                             error=tail, extra={"smoke": {"factory": (ctx.options or {})
                                                          .get("factory"),
                                                          "failed": ["factory"]}})

    def after_save(self, ctx: HandlerContext, result: HandlerResult) -> None:
        """Fill the smoke row of implementation.md's readiness table with the result."""
        artifact = Path(ctx.folder) / ARTIFACT
        if not artifact.is_file():
            ctx.report(f"note: {artifact} does not exist; the '{SMOKE_ROW}' readiness row "
                       "was not filled")
            return
        if fill_readiness_row(Path(ctx.folder), result) is None:
            ctx.report(f"note: {artifact} has no '## {READINESS_SECTION}' table with Check, "
                       "Result and Evidence columns; the smoke row was not filled")
        else:
            ctx.report(f"{ARTIFACT}: '{SMOKE_ROW}' = "
                       f"{'Pass' if result.passed else 'Fail'} ({result.evidence})")
