"""What the two smoke handlers share (``torch-smoke`` and ``llm-smoke``): the run around the
user's factory, the failure before any check ran, the options recorded in the evidence, and
the ``Smoke test or dry run passes`` row of ``implementation.md`` filled after the evidence
is saved. A handler subclass says how its options are read, how its factory is called, which
checks run on the target, and what the evidence says about the target.

torch is imported only inside :meth:`SmokeHandler.run`.
"""
from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlgate.evidence.results import CheckResult, HandlerContext, HandlerResult
from mlgate.handlers.torch_smoke.report import (ARTIFACT, READINESS_SECTION, SMOKE_ROW,
                                                _environment, fill_readiness_row)
from mlgate.handlers.torch_smoke.target import FactoryError, worktree_on_path
from mlgate.handlers.torch_smoke.tensors import _rng_preserved

__all__ = ["SmokeHandler"]


class SmokeHandler:
    """A stage-4 smoke handler over a target that a user's factory returns."""

    name: str
    stages: tuple[int, ...] = (4,)
    #: the handler's options with their defaults (``mlgate.yaml`` section ``name``)
    defaults: Mapping[str, Any]
    #: the ids of its checks, in the order they run
    check_ids: tuple[str, ...]
    #: what the factory returns, as the message about a missing factory names it
    returns: str

    # -- what a handler says ----------------------------------------------------------------

    def parse_options(self, raw: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
        """The options with defaults applied, and every problem found (as text)."""
        raise NotImplementedError

    def call_factory(self, spec: Any) -> Any:
        """Resolve and call the factory (the worktree is on ``sys.path``); raises
        :class:`FactoryError`."""
        raise NotImplementedError

    def run_checks(self, target: Any, opts: dict[str, Any], ctx: HandlerContext) -> Any:
        """Run every check on ``target``: an object with ``checks``, ``metrics`` and
        ``device``."""
        raise NotImplementedError

    def describe(self, target: Any, smoke: Any) -> dict[str, Any]:
        """What the evidence records about the target (beside factory, options, failed)."""
        return {}

    # -- shared ---------------------------------------------------------------------------

    def recorded(self, opts: Mapping[str, Any] | None) -> dict[str, Any]:
        """The options a run used, every one of them (defaults included), for the evidence."""
        return {k: (list(v) if isinstance(v, tuple) else v)
                for k, v in {**self.defaults, **(opts or {})}.items()}

    def run(self, ctx: HandlerContext) -> HandlerResult:
        import torch  # a missing torch surfaces here, as MissingExtra (see the runner)

        # per-invocation options override mlgate.yaml; other handlers' run options are ignored
        raw = {**(ctx.options or {}),
               **{k: v for k, v in (ctx.run_options or {}).items() if k in self.defaults}}
        opts, problems = self.parse_options(raw)
        if problems:
            return self._early_fail(ctx, "options", "; ".join(problems)
                                    + f"; fix the {self.name} section of mlgate.yaml")
        spec = opts["factory"]
        if not spec:
            return self._early_fail(ctx, "factory",
                                    f"no factory configured: set {self.name}.factory in "
                                    f"mlgate.yaml to 'package.module:function' returning "
                                    f"{self.returns}")
        module = spec.partition(":")[0] if isinstance(spec, str) else "_"
        with worktree_on_path(ctx.worktree, module or "_"), _rng_preserved(torch):
            t0 = time.perf_counter()
            try:
                target = self.call_factory(spec)
            except FactoryError as exc:
                return self._early_fail(ctx, "factory", exc.detail, exc.tail,
                                        time.perf_counter() - t0)
            ctx.report(f"factory: {spec} ({time.perf_counter() - t0:.2f}s)")
            smoke = self.run_checks(target, opts, ctx)
        failed = [c.id for c in smoke.checks if c.status == "fail"]
        info = {"factory": spec, **self.describe(target, smoke), "device": smoke.device.type,
                "failed": failed, "options": self.recorded(opts)}
        return HandlerResult(handler=self.name, stage=ctx.stage,
                             status="Fail" if failed else "Pass",
                             checks=smoke.checks, metrics=smoke.metrics,
                             environment=_environment(torch, smoke.device),
                             extra={"smoke": info})

    def _early_fail(self, ctx: HandlerContext, cid: str, detail: str, tail: str | None = None,
                    seconds: float = 0.0) -> HandlerResult:
        checks = [CheckResult(cid, "fail", detail, round(seconds, 4))]
        ctx.report(f"{cid}: fail ({seconds:.2f}s) {detail}")
        checks += [CheckResult(c, "skipped", f"skipped: the {cid} check failed")
                   for c in self.check_ids]
        return HandlerResult(handler=self.name, stage=ctx.stage, status="Fail", checks=checks,
                             error=tail, extra={"smoke": {"factory": (ctx.options or {})
                                                          .get("factory"), "failed": [cid],
                                                          "options": self.recorded(ctx.options)}})

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
