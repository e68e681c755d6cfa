"""The torch-smoke checks on the model itself: ``forward``, ``loss``, ``gradients``,
``overfit``, ``determinism``, ``eval_mode``, ``checkpoint``, ``anomaly`` and ``device`` (the
CUDA path: a bf16 autocast forward).

Each check runs on a fresh deep copy of the model and returns ``(status, detail)``, or raises
:class:`_Skip`. torch is imported only inside functions (``self.torch``).
"""
from __future__ import annotations

import copy
import fnmatch
import io
import math
import os
import re
import warnings

from mlgate.handlers.torch_smoke.base import _SmokeBase
from mlgate.handlers.torch_smoke.options import CUDA_RTOL, DETERMINISM_STEPS, _Skip
from mlgate.handlers.torch_smoke.target import _exc_line
from mlgate.handlers.torch_smoke.tensors import (_call, _describe_output, _inside, _leaves,
                                                 _names, _same, _seed_all)


class _ModelChecks(_SmokeBase):
    """The checks that need only the model, the batch, the loss and the optimizer."""

    def check_forward(self) -> tuple[str, str]:
        torch = self.torch
        try:
            m = self.fresh()
        except Exception as exc:  # noqa: BLE001
            return "fail", (f"the model cannot be deep-copied ({_exc_line(exc)}); torch-smoke "
                            "runs every check on a copy so that your objects are not changed")
        x, _ = self.batch()
        out = _call(m, x)
        ts = list(_leaves(out))
        if not ts:
            return "fail", f"the model returned {type(out).__name__}, which holds no tensor"
        nan = inf = total = 0
        for t in ts:
            if t.is_floating_point() or t.is_complex():
                nan += int(torch.isnan(t).sum())
                inf += int(torch.isinf(t).sum())
            total += t.numel()
        if nan or inf:
            return "fail", (f"output {_describe_output(out)} is not finite: {nan} NaN and "
                            f"{inf} Inf of {total} values")
        return "pass", f"output {_describe_output(out)}, all finite"

    def check_loss(self) -> tuple[str, str]:
        torch = self.torch
        loss = self.loss_of(self.fresh())
        if not isinstance(loss, torch.Tensor):
            return "fail", (f"loss_fn returned {type(loss).__name__}, not a tensor "
                            "(return the loss tensor, not loss.item())")
        if loss.numel() != 1:
            return "fail", (f"loss has shape {tuple(loss.shape)}, not a scalar: reduce it "
                            "(e.g. reduction='mean')")
        if not (loss.is_floating_point() or loss.is_complex()):
            return "fail", f"loss has dtype {loss.dtype}; it must be floating point"
        value = float(loss.detach().float())
        if not math.isfinite(value):
            return "fail", f"loss is {value} (not finite)"
        self.metrics["loss"] = value
        note = "" if loss.requires_grad else (
            "; it does not require grad: the output is detached from the parameters")
        return "pass", f"loss {value:.6g}, a finite scalar{note}"

    def check_gradients(self) -> tuple[str, str]:
        torch = self.torch
        m = self.fresh()
        named = list(m.named_parameters())
        if not named:
            raise _Skip("the model has no parameters")
        trainable = [(n, p) for n, p in named if p.requires_grad]
        frozen = [n for n, p in named if not p.requires_grad]
        declared = [pat for pat in self.o["frozen"]]
        undeclared = [n for n in frozen if not any(fnmatch.fnmatchcase(n, pat)
                                                   for pat in declared)]
        m.zero_grad(set_to_none=True)
        loss = self.loss_of(m)
        problems: list[str] = []
        if trainable and loss.requires_grad:
            loss.backward()
        elif trainable:
            problems.append("the loss does not require grad: the model output is detached "
                            "from every parameter (.detach(), .item(), torch.no_grad() or a "
                            "numpy round trip in forward)")
        none = [n for n, p in trainable if p.grad is None]
        bad = [n for n, p in trainable
               if p.grad is not None and not bool(torch.isfinite(p.grad).all())]
        if none and loss.requires_grad:
            problems.append(f"{len(none)} of {len(trainable)} trainable parameters got no "
                            f"gradient: {_names(none)} (a layer not used in forward, or its "
                            "output detached / computed under torch.no_grad())")
        elif none:
            problems.append(f"no gradient for: {_names(none)}")
        if bad:
            problems.append(f"non-finite gradient in: {_names(bad)}")
        if undeclared:
            problems.append(f"{len(undeclared)} parameters are frozen (requires_grad=False) "
                            f"without being declared: {_names(undeclared)}; if intended, list "
                            "them under torch-smoke.frozen in mlgate.yaml (e.g. "
                            "[\"backbone.*\"])")
        if not trainable and not undeclared:
            raise _Skip(f"every parameter is frozen as declared ({len(frozen)} tensors)")
        if problems:
            return "fail", "; ".join(problems)
        n_values = sum(p.numel() for _, p in trainable)
        note = f"; {len(frozen)} frozen as declared" if frozen else ""
        self.metrics["trainable_parameters"] = n_values
        return "pass", (f"all {len(trainable)} trainable parameter tensors ({n_values} values) "
                        f"have finite gradients{note}")

    def check_overfit(self) -> tuple[str, str]:
        m = self.fresh()
        params = [p for p in m.parameters() if p.requires_grad]
        if not params:
            return "fail", "the model has no trainable parameters; it cannot fit a batch"
        opt = self.optimizer(params)
        steps, ratio = int(self.o["overfit_steps"]), float(self.o["overfit_ratio"])
        first = target = math.nan
        best = math.inf
        value = math.nan
        for step in range(steps + 1):
            opt.zero_grad(set_to_none=True)
            loss = self.loss_of(m)
            value = float(loss.detach().float())
            if not math.isfinite(value):
                return "fail", (f"the loss became {value} at step {step} (it started at "
                                f"{first:.6g}): lower the learning rate or look for an "
                                "unstable operation")
            best = min(best, value)
            if step == 0:
                first = value
                if first < 0:
                    raise _Skip(f"the first loss is negative ({first:.6g}); a target of "
                                f"{ratio} x the first loss is not defined")
                target = ratio * first
                self.metrics["overfit_start_loss"] = first
            if value <= target:
                self.metrics["overfit_end_loss"] = value
                self.metrics["overfit_steps"] = step
                return "pass", (f"loss {first:.6g} -> {value:.6g} in {step} steps "
                                f"(target <= {target:.6g} = {ratio} x start)")
            if step == steps:
                break
            if not loss.requires_grad:
                return "fail", (f"the loss ({first:.6g}) does not require grad, so the model "
                                "cannot learn: the output is detached from the parameters")
            loss.backward()
            opt.step()
        self.metrics["overfit_end_loss"] = value
        self.metrics["overfit_steps"] = steps
        return "fail", (f"loss {first:.6g} -> {value:.6g} (best {best:.6g}) in {steps} steps; "
                        f"needs <= {target:.6g} ({ratio} x start): the model cannot fit one "
                        "batch; check the learning rate and optimizer, that the output is not "
                        "detached, and that outputs and targets are paired correctly")

    def check_determinism(self) -> tuple[str, str]:
        m = self.fresh()
        initial = copy.deepcopy(m.state_dict())
        params = [p for p in m.parameters() if p.requires_grad]

        def trial() -> list[float]:
            m.load_state_dict(initial)
            _seed_all(self.seed)
            opt = self.optimizer(params) if params else None
            losses = []
            for _ in range(DETERMINISM_STEPS):
                if opt is not None:
                    opt.zero_grad(set_to_none=True)
                loss = self.loss_of(m)
                losses.append(float(loss.detach().float()))
                if opt is not None and loss.requires_grad:
                    loss.backward()
                    opt.step()
            return losses

        a, b = trial(), trial()
        def equal(u: float, v: float) -> bool:
            if math.isnan(u) or math.isnan(v):
                return math.isnan(u) and math.isnan(v)
            return u == v if self.exact else math.isclose(u, v, rel_tol=CUDA_RTOL,
                                                          abs_tol=1e-12)

        same = all(equal(u, v) for u, v in zip(a, b))
        how = "exactly" if self.exact else f"within {CUDA_RTOL:g} relative"
        if same:
            return "pass", (f"{DETERMINISM_STEPS} steps twice from the same state and seed "
                            f"{self.seed}: losses equal {how} ({', '.join(f'{v:.6g}' for v in a)})")
        k = next(i for i, (u, v) in enumerate(zip(a, b)) if not equal(u, v))
        return "fail", (f"same state and seed {self.seed}, different losses at step {k}: "
                        f"run 1 {a[k]!r}, run 2 {b[k]!r}; something random is not driven by "
                        "the torch/random/numpy seeds, or state outside state_dict changes "
                        "between runs")

    def check_eval_mode(self) -> tuple[str, str]:
        torch = self.torch
        m = self.fresh()
        m.eval()
        x, _ = self.batch()
        with torch.no_grad():
            _seed_all(self.seed)
            o1 = _call(m, x)
            _seed_all(self.seed + 1)
            o2 = _call(m, x)
        same, diff = _same(o1, o2, self.exact)
        if same:
            return "pass", "two forward passes in eval() give identical outputs"
        return "fail", (f"two forward passes in eval() differ (max abs diff {diff:.3g}): "
                        "something random is still active in eval mode, e.g. dropout called "
                        "with training=True (F.dropout(x, training=True)) instead of "
                        "self.training, or a layer that ignores .eval()")

    def check_checkpoint(self) -> tuple[str, str]:
        torch = self.torch
        m = self.fresh()
        params = [p for p in m.parameters() if p.requires_grad]
        if params and self.status_of("loss") == "pass":
            # one training step, so the weights differ from the fresh copy's initial ones
            opt = self.optimizer(params)
            opt.zero_grad(set_to_none=True)
            loss = self.loss_of(m)
            if loss.requires_grad:
                loss.backward()
                opt.step()
        m.eval()
        buf = io.BytesIO()
        torch.save(m.state_dict(), buf)
        size = buf.tell()
        buf.seek(0)
        state = torch.load(buf, map_location=self.device, weights_only=True)
        m2 = self.fresh()
        m2.load_state_dict(state)
        m2.eval()
        x, _ = self.batch()
        with torch.no_grad():
            _seed_all(self.seed)
            o1 = _call(m, x)
            _seed_all(self.seed)
            o2 = _call(m2, x)
        same, diff = _same(o1, o2, self.exact)
        if same:
            return "pass", (f"state_dict ({len(state)} tensors, {size} bytes) saved and loaded "
                            "into a fresh copy: identical eval outputs")
        return "fail", (f"outputs differ after loading the saved state_dict into a fresh copy "
                        f"(max abs diff {diff:.3g}): some state is not in state_dict, e.g. a "
                        "tensor kept as a plain attribute instead of register_buffer()")

    def check_anomaly(self) -> tuple[str, str]:
        torch = self.torch
        m = self.fresh()
        params = [p for p in m.parameters() if p.requires_grad]
        if not params:
            raise _Skip("the model has no trainable parameters")
        opt = self.optimizer(params)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                with torch.autograd.detect_anomaly():
                    opt.zero_grad(set_to_none=True)
                    loss = self.loss_of(m)
                    if not loss.requires_grad:
                        raise _Skip("the loss does not require grad: nothing to backpropagate")
                    loss.backward()
                    opt.step()
            except RuntimeError as exc:
                msg = " ".join(str(exc).split())
                origin = ""
                for w in caught:
                    text = str(w.message)
                    if "Traceback of forward call" in text:
                        frames = re.findall(r'File "([^"]+)", line (\d+), in (\S+)', text)
                        for fname, line, func in reversed(frames):
                            if _inside(fname, self.worktree):
                                rel = os.path.relpath(os.path.realpath(fname), self.worktree)
                                origin = f" (forward call at {rel}:{line} in {func})"
                                break
                        if not origin and frames:
                            fname, line, func = frames[-1]
                            origin = f" (forward call at {fname}:{line} in {func})"
                return "fail", f"anomaly detected in one training step: {msg[:500]}{origin}"
        return "pass", ("one training step under torch.autograd.detect_anomaly(): no NaN or "
                        "error in backward")

    def check_device(self) -> tuple[str, str]:
        torch = self.torch
        if self.device_problem:
            return "fail", self.device_problem
        if self.device.type == "cpu":
            why = "configured" if self.o["device"] == "cpu" else "CUDA not available"
            return "pass", f"cpu ({why}); torch {torch.__version__}"
        name = torch.cuda.get_device_name(self.device)
        if not torch.cuda.is_bf16_supported():
            return "pass", f"cuda ({name}); bf16 not supported on this GPU, fp32 only"
        m = self.fresh()
        x, y = self.batch()
        with torch.autocast("cuda", dtype=torch.bfloat16):
            out = _call(m, x)
            loss = self.t.loss_fn(out, y)
        bad = [t for t in _leaves(out) if (t.is_floating_point() and
                                           not bool(torch.isfinite(t).all()))]
        value = float(loss.detach().float()) if isinstance(loss, torch.Tensor) else math.nan
        if bad or not math.isfinite(value):
            return "fail", (f"cuda ({name}): the bf16 autocast forward is not finite (loss "
                            f"{value}): an operation overflows in bfloat16")
        return "pass", f"cuda ({name}): bf16 autocast forward finite (loss {value:.6g})"
