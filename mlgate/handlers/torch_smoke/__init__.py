"""``torch-smoke``: the stage-4 smoke checks of a PyTorch model (SPEC §9, §12.1).

The user points ``mlgate.yaml`` at a factory::

    torch-smoke:
      factory: "mypkg.smoke:make"     # returns a SmokeTarget (or a dict with the same keys)

which is imported with the ticket's worktree first on ``sys.path`` (so the code under test is
the worktree's). The handler then runs eleven checks, each on a fresh deep copy of the model
(the user's objects are never changed), with the seed set before each:

``forward`` ``loss`` ``gradients`` ``overfit`` ``determinism`` ``eval_mode`` ``checkpoint``
``labels`` ``leakage`` ``anomaly`` ``device``

A check that does not apply is ``skipped`` with the reason; a check whose prerequisite failed
is skipped naming it. After the evidence is saved, :meth:`TorchSmokeHandler.after_save` fills
the ``Smoke test or dry run passes`` row of ``implementation.md``'s readiness table.

torch is imported only inside functions, so importing this package is cheap. Its modules:
:mod:`.options` (check ids, options), :mod:`.target` (the factory and :class:`SmokeTarget`),
:mod:`.tensors` (helpers), :mod:`.base`, :mod:`.model_checks` and :mod:`.data_checks` (the
checks), :mod:`.report` (the evidence environment and the readiness row). Every public name
is importable from here, as before the split.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from mlgate.evidence.results import CheckResult, HandlerContext, HandlerResult
# Some names below are imported only to stay importable from here, as before the split
# (CUDA_RTOL, DETERMINISM_STEPS, SPLITS, coerce_target, resolve_factory).
from mlgate.handlers.torch_smoke.data_checks import _DataChecks
from mlgate.handlers.torch_smoke.model_checks import _ModelChecks
from mlgate.handlers.torch_smoke.options import (CHECK_IDS, CUDA_RTOL, DEFAULTS,
                                                 DETERMINISM_STEPS, NAME, SPLITS, _options)
from mlgate.handlers.torch_smoke.report import (ARTIFACT, READINESS_SECTION, SMOKE_ROW,
                                                _environment, fill_readiness_row)
from mlgate.handlers.torch_smoke.target import (FactoryError, SmokeTarget, _call_factory,
                                                coerce_target, load_target, resolve_factory,
                                                worktree_on_path)
from mlgate.handlers.torch_smoke.tensors import _rng_preserved

__all__ = ["SmokeTarget", "TorchSmokeHandler", "CHECK_IDS", "DEFAULTS", "FactoryError",
           "load_target", "fill_readiness_row"]


class _Smoke(_ModelChecks, _DataChecks):
    """The eleven checks over one target; results in ``self.checks``."""

    def run(self) -> None:
        self.run_check("forward", self.check_forward)
        self.run_check("loss", self.check_loss)
        self.run_check("gradients", self.check_gradients)
        self.run_check("overfit", self.check_overfit)
        self.run_check("determinism", self.check_determinism)
        self.run_check("eval_mode", self.check_eval_mode)
        self.run_check("checkpoint", self.check_checkpoint)
        self.run_check("labels", self.check_labels)
        self.run_check("leakage", self.check_leakage)
        self.run_check("anomaly", self.check_anomaly)
        self.run_check("device", self.check_device)


def _recorded(opts: dict[str, Any] | None) -> dict[str, Any]:
    """The options a run used, every one of them (defaults included), for the evidence."""
    return {k: (list(v) if isinstance(v, tuple) else v)
            for k, v in {**DEFAULTS, **(opts or {})}.items()}


class TorchSmokeHandler:
    """The stage-4 smoke check of a PyTorch model. Options: :data:`DEFAULTS`."""

    name = NAME
    stages = (4,)

    def run(self, ctx: HandlerContext) -> HandlerResult:
        import torch  # a missing torch surfaces here, as MissingExtra (see the runner)

        # per-invocation options override mlgate.yaml; other handlers' run options are ignored
        raw = {**(ctx.options or {}),
               **{k: v for k, v in (ctx.run_options or {}).items() if k in DEFAULTS}}
        opts, problems = _options(raw)
        if problems:
            return self._early_fail(ctx, "options", "; ".join(problems)
                                    + "; fix the torch-smoke section of mlgate.yaml")
        spec = opts["factory"]
        if not spec:
            return self._early_fail(ctx, "factory",
                                    "no factory configured: set torch-smoke.factory in "
                                    "mlgate.yaml to 'package.module:function' returning an "
                                    "mlgate.SmokeTarget")
        module = spec.partition(":")[0] if isinstance(spec, str) else "_"
        with worktree_on_path(ctx.worktree, module or "_"), _rng_preserved(torch):
            t0 = time.perf_counter()
            try:
                target = _call_factory(spec)
            except FactoryError as exc:
                return self._early_fail(ctx, "factory", exc.detail, exc.tail,
                                        time.perf_counter() - t0)
            ctx.report(f"factory: {spec} ({time.perf_counter() - t0:.2f}s)")
            smoke = _Smoke(target, opts, ctx)
            smoke.run()
        failed = [c.id for c in smoke.checks if c.status == "fail"]
        model = target.model
        info = {
            "factory": spec,
            "model": f"{type(model).__module__}.{type(model).__qualname__}",
            "parameters": sum(p.numel() for p in model.parameters()),
            "device": smoke.device.type,
            "failed": failed,
            "options": _recorded(opts),
        }
        return HandlerResult(handler=NAME, stage=ctx.stage,
                             status="Fail" if failed else "Pass",
                             checks=smoke.checks, metrics=smoke.metrics,
                             environment=_environment(smoke.torch, smoke.device),
                             extra={"smoke": info})

    def _early_fail(self, ctx: HandlerContext, cid: str, detail: str, tail: str | None = None,
                    seconds: float = 0.0) -> HandlerResult:
        checks = [CheckResult(cid, "fail", detail, round(seconds, 4))]
        ctx.report(f"{cid}: fail ({seconds:.2f}s) {detail}")
        checks += [CheckResult(c, "skipped", f"skipped: the {cid} check failed")
                   for c in CHECK_IDS]
        return HandlerResult(handler=NAME, stage=ctx.stage, status="Fail", checks=checks,
                             error=tail, extra={"smoke": {"factory": (ctx.options or {})
                                                          .get("factory"), "failed": [cid],
                                                          "options": _recorded(ctx.options)}})

    def after_save(self, ctx: HandlerContext, result: HandlerResult) -> None:
        """Fill the readiness row of implementation.md with the result and evidence path."""
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

