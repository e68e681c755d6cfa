"""The plumbing the torch-smoke checks share: the device, fresh copies of the model and the
batch, the loss and the optimizer, where the user's code raised, and running one check (its
dependencies, the seed, the timing and the progress line).

The checks themselves are mixins over :class:`_SmokeBase`: :mod:`.model_checks` and
:mod:`.data_checks`. torch is imported only inside functions.
"""
from __future__ import annotations

import copy
import os
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlgate.evidence.results import CheckResult, HandlerContext
from mlgate.handlers.torch_smoke.options import _DEPENDS, NAME, _Skip
from mlgate.handlers.torch_smoke.target import SmokeTarget, _exc_line
from mlgate.handlers.torch_smoke.tensors import _call, _inside, _move, _seed_all


class CheckRunner:
    """Running one check of a smoke handler (torch-smoke, llm-smoke): skipped by
    configuration or for a dependency that did not pass, else seeded, timed, and failed with
    the line of the user's code that raised; the result is appended to ``checks`` and
    reported. A subclass sets ``handler``, ``depends`` and ``skip_exc``, and ``o`` (the
    options), ``ctx``, ``worktree`` and ``checks`` in its ``__init__``."""

    handler = NAME
    depends: dict[str, tuple[str, ...]] = _DEPENDS
    skip_exc: type[Exception] = _Skip
    o: dict[str, Any]
    ctx: HandlerContext
    worktree: str
    checks: list[CheckResult]

    def where(self, exc: BaseException) -> str:
        """`` (at file:line in function)`` of the user's frame that raised: the innermost
        frame in the worktree, else the innermost outside the interpreter's own packages and
        mlgate; empty when there is none (the error came from torch itself)."""
        frames = traceback.extract_tb(exc.__traceback__)
        mine = [f for f in frames if _inside(f.filename, self.worktree)]
        if mine:
            f = mine[-1]
            path = os.path.relpath(os.path.realpath(f.filename), self.worktree)
            return f" (at {path}:{f.lineno} in {f.name})"
        # the mlgate package (this file is mlgate/handlers/torch_smoke/base.py)
        here = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))
        roots = [os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, here)]
        other = [f for f in frames if not any(_inside(f.filename, r) for r in roots)
                 and not f.filename.startswith("<")]
        if other:
            f = other[-1]
            return f" (at {f.filename}:{f.lineno} in {f.name})"
        return ""

    def status_of(self, cid: str) -> str | None:
        for c in self.checks:
            if c.id == cid:
                return c.status
        return None

    def run_check(self, cid: str, fn: Callable[[], tuple[str, str]]) -> None:
        t0 = time.perf_counter()
        if cid in self.o["skip"]:
            status, detail = "skipped", f"skipped by configuration ({self.handler}.skip)"
        else:
            blocked = [d for d in self.depends.get(cid, ()) if self.status_of(d) != "pass"]
            if blocked:
                status = "skipped"
                detail = f"skipped: the {blocked[0]} check did not pass"
            else:
                _seed_all(int(self.o["seed"]))
                try:
                    status, detail = fn()
                except self.skip_exc as exc:
                    status, detail = "skipped", str(exc)
                except Exception as exc:  # noqa: BLE001 - the user's code raised
                    status, detail = "fail", f"{_exc_line(exc)}{self.where(exc)}"
        seconds = time.perf_counter() - t0
        self.checks.append(CheckResult(cid, status, detail, round(seconds, 4)))
        self.ctx.report(f"{cid}: {status} ({seconds:.2f}s) {detail}")


class _SmokeBase(CheckRunner):
    """One target, its options and the results so far (``checks``, ``metrics``)."""

    def __init__(self, target: SmokeTarget, opts: dict[str, Any], ctx: HandlerContext) -> None:
        import torch

        self.torch = torch
        self.t = target
        self.o = opts
        self.ctx = ctx
        self.seed = int(opts["seed"])
        want = opts["device"]
        self.cuda_ok = bool(torch.cuda.is_available())
        self.device = torch.device("cuda" if (want == "cuda" or (want == "auto" and
                                                                   self.cuda_ok)) else "cpu")
        if self.device.type == "cuda" and not self.cuda_ok:
            self.device = torch.device("cpu")
            self.device_problem = ("torch-smoke.device is cuda but torch.cuda.is_available() "
                                   f"is False (torch {torch.__version__}, built with CUDA "
                                   f"{torch.version.cuda or 'none'})")
        else:
            self.device_problem = ""
        self.exact = self.device.type == "cpu"
        self.checks: list[CheckResult] = []
        self.metrics: dict[str, Any] = {}
        self.worktree = str(Path(ctx.worktree).resolve())

    # -- plumbing ---------------------------------------------------------------------

    def fresh(self) -> Any:
        m = copy.deepcopy(self.t.model).to(self.device)
        m.train()
        return m

    def batch(self) -> tuple[Any, Any]:
        x, y = self.t.batch
        return _move(x, self.device), _move(y, self.device)

    def loss_of(self, m: Any) -> Any:
        x, y = self.batch()
        return self.t.loss_fn(_call(m, x), y)

    def optimizer(self, params: list[Any]) -> Any:
        if self.t.optimizer is not None:
            opt = self.t.optimizer(params)
            if not (callable(getattr(opt, "step", None)) and
                    callable(getattr(opt, "zero_grad", None))):
                raise TypeError(f"the SmokeTarget's optimizer returned {type(opt).__name__}, "
                                "not an optimizer (needs step() and zero_grad())")
            return opt
        return self.torch.optim.Adam(params, lr=1e-2)
