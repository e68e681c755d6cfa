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
is skipped naming it. After the evidence is saved, :meth:`TorchSmokeHandler.after_save` (shared
with llm-smoke, :mod:`mlgate.handlers.smoke_handler`) fills
the ``Smoke test or dry run passes`` row of ``implementation.md``'s readiness table.

torch is imported only inside functions, so importing this package is cheap. Its modules:
:mod:`.options` (check ids, options), :mod:`.target` (the factory and :class:`SmokeTarget`),
:mod:`.tensors` (helpers), :mod:`.base`, :mod:`.model_checks` and :mod:`.data_checks` (the
checks), :mod:`.report` (the evidence environment and the readiness row). Every public name
is importable from here, as before the split.
"""
from __future__ import annotations

from typing import Any

from mlgate.evidence.results import HandlerContext
# Some names below are imported only to stay importable from here, as before the split
# (CUDA_RTOL, DETERMINISM_STEPS, SPLITS, coerce_target, resolve_factory).
from mlgate.handlers.torch_smoke.data_checks import _DataChecks
from mlgate.handlers.torch_smoke.model_checks import _ModelChecks
from mlgate.handlers.torch_smoke.options import (CHECK_IDS, CUDA_RTOL, DEFAULTS,
                                                 DETERMINISM_STEPS, NAME, SPLITS, _options)
from mlgate.handlers.smoke_handler import SmokeHandler
from mlgate.handlers.torch_smoke.report import fill_readiness_row
from mlgate.handlers.torch_smoke.target import (FactoryError, SmokeTarget, _call_factory,
                                                coerce_target, load_target, resolve_factory)

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


class TorchSmokeHandler(SmokeHandler):
    """The stage-4 smoke check of a PyTorch model. Options: :data:`DEFAULTS`."""

    name = NAME
    defaults = DEFAULTS
    check_ids = CHECK_IDS
    returns = "an mlgate.SmokeTarget"

    def parse_options(self, raw: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
        return _options(raw)

    def call_factory(self, spec: Any) -> SmokeTarget:
        return _call_factory(spec)

    def run_checks(self, target: SmokeTarget, opts: dict[str, Any],
                   ctx: HandlerContext) -> _Smoke:
        smoke = _Smoke(target, opts, ctx)
        smoke.run()
        return smoke

    def describe(self, target: SmokeTarget, smoke: _Smoke) -> dict[str, Any]:
        model = target.model
        return {"model": f"{type(model).__module__}.{type(model).__qualname__}",
                "parameters": sum(p.numel() for p in model.parameters())}
