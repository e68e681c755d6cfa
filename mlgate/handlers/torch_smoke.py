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

torch is imported only inside functions, so importing this module is cheap.
"""
from __future__ import annotations

import contextlib
import copy
import fnmatch
import hashlib
import importlib
import io
import math
import os
import platform
import random
import re
import sys
import time
import traceback
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from mlgate.evidence import CheckResult, HandlerContext, HandlerResult
from mlgate.mdparse import Document, normalize_value, render_row
from mlgate.util import atomic_write

__all__ = ["SmokeTarget", "TorchSmokeHandler", "CHECK_IDS", "DEFAULTS", "FactoryError",
           "load_target", "fill_readiness_row"]

NAME = "torch-smoke"
CHECK_IDS = ("forward", "loss", "gradients", "overfit", "determinism", "eval_mode",
             "checkpoint", "labels", "leakage", "anomaly", "device")
#: Options under ``torch-smoke:`` in mlgate.yaml, with their defaults.
DEFAULTS: dict[str, Any] = {
    "factory": None,        # "package.module:function" (required)
    "overfit_steps": 50,    # optimizer steps allowed to overfit one batch
    "overfit_ratio": 0.1,   # the loss must reach <= ratio x its first value
    "leakage_cap": 10000,   # samples hashed (and label-checked) per loader at most
    "seed": 0,              # set before every check
    "device": "auto",       # auto (cuda when available) | cpu | cuda
    "frozen": [],           # fnmatch patterns of parameters meant to be frozen
    "ignore_index": -100,   # a label value that is not a class (CrossEntropyLoss default)
    "skip": [],             # check ids not to run (forward and loss cannot be skipped)
}
SPLITS = ("train", "val", "test")
ARTIFACT = "implementation.md"
READINESS_SECTION = "Readiness Checks Before Stage 5"
SMOKE_ROW = "Smoke test or dry run passes"
DETERMINISM_STEPS = 3
CUDA_RTOL = 1e-5
_FACTORY_RE = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")
_DEPENDS = {
    "loss": ("forward",),
    "gradients": ("loss",),
    "overfit": ("loss",),
    "determinism": ("loss",),
    "anomaly": ("loss",),
    "eval_mode": ("forward",),
    "checkpoint": ("forward",),
}
_UNSKIPPABLE = ("forward", "loss")
_TARGET_KEYS = ("model", "batch", "loss_fn", "optimizer", "num_classes", "loaders")


@dataclass
class SmokeTarget:
    """What a torch-smoke factory returns (SPEC §12.1).

    * ``model``: a ``torch.nn.Module``;
    * ``batch``: ``(inputs, targets)``; ``inputs`` is a tensor (called ``model(x)``), a tuple
      or list (``model(*x)``) or a dict (``model(**x)``); ``None`` takes the first batch of
      ``loaders["train"]``;
    * ``loss_fn``: ``loss_fn(outputs, targets) -> scalar tensor``;
    * ``optimizer``: a callable taking the parameters and returning an optimizer (default
      ``torch.optim.Adam(params, lr=1e-2)``);
    * ``num_classes``: enables the ``labels`` check;
    * ``loaders``: a dict with any of ``train``, ``val``, ``test``: a ``DataLoader`` or any
      iterable of ``(inputs, targets)`` batches, or a map-style ``Dataset`` of single samples.
    """

    model: Any
    batch: Any
    loss_fn: Callable[..., Any]
    optimizer: Callable[..., Any] | None = None
    num_classes: int | None = None
    loaders: dict[str, Any] | None = None


class FactoryError(Exception):
    """The factory could not be resolved, called, or returned the wrong thing."""

    def __init__(self, detail: str, tail: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.tail = tail


class _Skip(Exception):
    """Raised inside a check to mark it skipped with a reason."""


# -- factory resolution -------------------------------------------------------------------


def _protected(top: str) -> bool:
    """Modules we must never drop from ``sys.modules``: stdlib, mlgate, installed packages."""
    if top in sys.stdlib_module_names or top in ("mlgate", "torch", "numpy", "__main__"):
        return True
    mod = sys.modules.get(top)
    file = getattr(mod, "__file__", None)
    if not file:
        return False
    prefixes = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    real = os.path.realpath(file)
    return any(real.startswith(p + os.sep) for p in prefixes)


def _forget(top: str) -> None:
    """Drop the cached modules of the user's package so a second run sees new code."""
    if _protected(top):
        return
    for key in [k for k in sys.modules if k == top or k.startswith(top + ".")]:
        del sys.modules[key]


@contextlib.contextmanager
def worktree_on_path(worktree: Path, module: str) -> Iterator[None]:
    """``worktree`` first on ``sys.path`` (and the package's stale modules forgotten) for
    the duration; ``sys.path`` is restored afterwards."""
    saved = list(sys.path)
    sys.path.insert(0, str(Path(worktree).resolve()))
    _forget(module.split(".")[0])
    importlib.invalidate_caches()
    try:
        yield
    finally:
        sys.path[:] = saved


def _exc_line(exc: BaseException) -> str:
    lines = "".join(traceback.format_exception_only(type(exc), exc)).strip().splitlines()
    return lines[-1] if lines else type(exc).__name__


def _tb_tail(exc: BaseException, lines: int = 15) -> str:
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return "\n".join(text.rstrip().splitlines()[-lines:])


def resolve_factory(spec: Any) -> Callable[[], Any]:
    """Import ``package.module:function`` (the caller puts the worktree on ``sys.path``)."""
    if not isinstance(spec, str) or not _FACTORY_RE.match(spec.strip()):
        raise FactoryError(
            f"torch-smoke.factory = {spec!r} is not of the form 'package.module:function'; "
            "set it in mlgate.yaml (e.g. factory: \"mypkg.smoke:make\")")
    mod_name, _, attr = spec.strip().partition(":")
    try:
        obj: Any = importlib.import_module(mod_name)
    except ModuleNotFoundError as exc:
        if exc.name and (mod_name == exc.name or mod_name.startswith(exc.name + ".")):
            raise FactoryError(
                f"factory {spec!r}: cannot import module {mod_name!r} ({_exc_line(exc)}); "
                "it is imported with the ticket's worktree first on sys.path: is the package "
                "committed there, with an __init__.py?", _tb_tail(exc)) from exc
        raise FactoryError(f"factory {spec!r}: importing {mod_name!r} failed: "
                           f"{_exc_line(exc)}", _tb_tail(exc)) from exc
    except Exception as exc:  # noqa: BLE001 - the user's module failed at import time
        raise FactoryError(f"factory {spec!r}: importing {mod_name!r} failed: "
                           f"{_exc_line(exc)}", _tb_tail(exc)) from exc
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise FactoryError(f"factory {spec!r}: {mod_name!r} has no attribute "
                               f"{attr!r}") from None
    if not callable(obj):
        raise FactoryError(f"factory {spec!r} is a {type(obj).__name__}, not a function")
    return obj


def coerce_target(value: Any, spec: str = "factory") -> SmokeTarget:
    """A :class:`SmokeTarget` from what the factory returned (a SmokeTarget or a dict)."""
    expected = ("expected mlgate.SmokeTarget or a dict with the keys model, batch, loss_fn "
                "(optional: optimizer, num_classes, loaders)")
    if isinstance(value, SmokeTarget):
        target = value
    elif isinstance(value, dict):
        unknown = sorted(set(value) - set(_TARGET_KEYS))
        if unknown:
            raise FactoryError(f"factory {spec!r} returned a dict with unknown key(s) "
                               f"{', '.join(map(repr, unknown))}; {expected}")
        missing = [k for k in ("model", "loss_fn") if value.get(k) is None]
        if missing:
            raise FactoryError(f"factory {spec!r} returned a dict without "
                               f"{', '.join(map(repr, missing))}; {expected}")
        target = SmokeTarget(**{"batch": None, **value})
    elif all(hasattr(value, k) for k in ("model", "batch", "loss_fn")):
        target = SmokeTarget(**{f.name: getattr(value, f.name, None) for f in fields(SmokeTarget)})
    else:
        raise FactoryError(f"factory {spec!r} returned {type(value).__name__}; {expected}")
    return _validate_target(target, spec)


def _validate_target(target: SmokeTarget, spec: str) -> SmokeTarget:
    import torch

    if not isinstance(target.model, torch.nn.Module):
        raise FactoryError(f"factory {spec!r}: model is {type(target.model).__name__}, "
                           "not a torch.nn.Module")
    if not callable(target.loss_fn):
        raise FactoryError(f"factory {spec!r}: loss_fn is {type(target.loss_fn).__name__}, "
                           "not callable")
    if target.optimizer is not None and not callable(target.optimizer):
        raise FactoryError(f"factory {spec!r}: optimizer must be a callable taking the "
                           f"parameters, got {type(target.optimizer).__name__}")
    if target.num_classes is not None and (isinstance(target.num_classes, bool) or
                                           not isinstance(target.num_classes, int) or
                                           target.num_classes < 1):
        raise FactoryError(f"factory {spec!r}: num_classes must be a positive int, got "
                           f"{target.num_classes!r}")
    if target.loaders is not None:
        if not isinstance(target.loaders, dict):
            raise FactoryError(f"factory {spec!r}: loaders must be a dict with any of "
                               f"train, val, test; got {type(target.loaders).__name__}")
        unknown = sorted(set(target.loaders) - set(SPLITS))
        if unknown:
            raise FactoryError(f"factory {spec!r}: loaders has unknown split(s) "
                               f"{', '.join(map(repr, unknown))}; use train, val, test")
    if target.batch is None:
        train = (target.loaders or {}).get("train")
        if train is None:
            raise FactoryError(f"factory {spec!r}: no batch; give batch=(inputs, targets) or "
                               "loaders={'train': ...}")
        try:
            first = next(iter(_iter_batches(train)))
        except StopIteration:
            raise FactoryError(f"factory {spec!r}: no batch given and the train loader "
                               "is empty") from None
        except Exception as exc:  # noqa: BLE001 - the user's loader raised
            raise FactoryError(f"factory {spec!r}: no batch given, and reading the first "
                               f"batch of the train loader raised {_exc_line(exc)}",
                               _tb_tail(exc)) from exc
        target = copy.copy(target)
        target.batch = first
    if not isinstance(target.batch, (tuple, list)) or len(target.batch) != 2:
        raise FactoryError(f"factory {spec!r}: batch must be a pair (inputs, targets), got "
                           f"{type(target.batch).__name__}"
                           + (f" of length {len(target.batch)}"
                              if isinstance(target.batch, (tuple, list)) else ""))
    return target


def load_target(spec: Any, worktree: Path) -> SmokeTarget:
    """Resolve and call the factory with ``worktree`` on ``sys.path``; validate the result.
    Raises :class:`FactoryError`. (The modules stay imported; ``sys.path`` is restored.)"""
    module = spec.partition(":")[0] if isinstance(spec, str) else ""
    with worktree_on_path(worktree, module or "_"):
        return _call_factory(spec)


def _call_factory(spec: Any) -> SmokeTarget:
    factory = resolve_factory(spec)
    try:
        value = factory()
    except Exception as exc:  # noqa: BLE001 - the user's factory raised
        raise FactoryError(f"factory {spec!r} raised {_exc_line(exc)}", _tb_tail(exc)) from exc
    return coerce_target(value, spec)


# -- options ---------------------------------------------------------------------------


def _options(raw: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    opts = dict(DEFAULTS)
    problems: list[str] = []
    for key, value in raw.items():
        if key not in DEFAULTS:
            problems.append(f"unknown option torch-smoke.{key} (known: {', '.join(DEFAULTS)})")
            continue
        opts[key] = value

    def _int(key: str, low: int) -> None:
        v = opts[key]
        if isinstance(v, bool) or not isinstance(v, int) or v < low:
            problems.append(f"torch-smoke.{key} must be an integer >= {low}, got {v!r}")

    _int("overfit_steps", 1)
    _int("leakage_cap", 0)
    _int("seed", 0)
    r = opts["overfit_ratio"]
    if isinstance(r, bool) or not isinstance(r, (int, float)) or not 0 < r <= 1:
        problems.append(f"torch-smoke.overfit_ratio must be a number in (0, 1], got {r!r}")
    if opts["device"] not in ("auto", "cpu", "cuda"):
        problems.append(f"torch-smoke.device must be auto, cpu or cuda, got {opts['device']!r}")
    ii = opts["ignore_index"]
    if ii is not None and (isinstance(ii, bool) or not isinstance(ii, int)):
        problems.append(f"torch-smoke.ignore_index must be an integer or null, got {ii!r}")
    for key in ("frozen", "skip"):
        v = opts[key]
        if isinstance(v, str):
            opts[key] = v = [v]
        if not isinstance(v, (list, tuple)) or not all(isinstance(x, str) for x in v):
            problems.append(f"torch-smoke.{key} must be a list of strings, got {v!r}")
    if isinstance(opts["skip"], (list, tuple)):
        for cid in opts["skip"]:
            if cid not in CHECK_IDS:
                problems.append(f"torch-smoke.skip: unknown check {cid!r} "
                                f"(checks: {', '.join(CHECK_IDS)})")
            elif cid in _UNSKIPPABLE:
                problems.append(f"torch-smoke.skip: the {cid!r} check cannot be skipped")
    return opts, problems


# -- tensor helpers (torch passed in, never imported at module level) ----------------------


def _leaves(obj: Any) -> Iterator[Any]:
    """Every tensor inside a (nested) output: tensor, tuple/list, dict."""
    import torch

    if isinstance(obj, torch.Tensor):
        yield obj
    elif isinstance(obj, dict):
        for k in obj:
            yield from _leaves(obj[k])
    elif isinstance(obj, (tuple, list)):
        for v in obj:
            yield from _leaves(v)


def _inside(path: str, root: str) -> bool:
    real = os.path.realpath(path)
    return real == root or real.startswith(root.rstrip(os.sep) + os.sep)


def _move(obj: Any, device: Any) -> Any:
    """A copy of ``obj`` with every tensor copied to ``device`` (the user's batch stays as is)."""
    import torch

    if isinstance(obj, torch.Tensor):
        return obj.detach().to(device, copy=True)
    if isinstance(obj, dict):
        return {k: _move(v, device) for k, v in obj.items()}
    if isinstance(obj, tuple):
        return tuple(_move(v, device) for v in obj)
    if isinstance(obj, list):
        return [_move(v, device) for v in obj]
    return obj


def _call(model: Any, inputs: Any) -> Any:
    if isinstance(inputs, dict):
        return model(**inputs)
    if isinstance(inputs, (tuple, list)):
        return model(*inputs)
    return model(inputs)


def _describe_output(out: Any) -> str:
    ts = list(_leaves(out))
    if len(ts) == 1:
        return f"{tuple(ts[0].shape)} {str(ts[0].dtype).replace('torch.', '')}"
    return f"{len(ts)} tensors"


def _max_diff(a: Any, b: Any) -> float:
    import torch

    worst = 0.0
    for x, y in zip(_leaves(a), _leaves(b)):
        if x.shape != y.shape:
            return math.inf
        if x.numel() == 0:
            continue
        if x.is_floating_point() or x.is_complex():
            d = (x.double() - y.double()).abs()
            both_nan = torch.isnan(x) & torch.isnan(y)
            d = torch.where(both_nan, torch.zeros_like(d), d)
            d = torch.nan_to_num(d, nan=math.inf)
            worst = max(worst, float(d.max()))
        elif not torch.equal(x, y):
            worst = max(worst, float((x.double() - y.double()).abs().max()))
    return worst


def _same(a: Any, b: Any, exact: bool) -> tuple[bool, float]:
    la, lb = list(_leaves(a)), list(_leaves(b))
    if len(la) != len(lb):
        return False, math.inf
    diff = _max_diff(a, b)
    if exact:
        return diff == 0.0, diff
    scale = max((float(t.double().abs().max()) for t in la if t.numel()), default=0.0)
    return diff <= CUDA_RTOL * max(scale, 1.0), diff


def _names(items: list[str], limit: int = 10) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" ... and {len(items) - limit} more" if len(items) > limit else "")


def _sample_hash(sample: Any) -> str:
    """blake2b of every tensor of one sample (dtype, shape and raw bytes)."""
    import torch

    h = hashlib.blake2b(digest_size=16)
    for t in _leaves(sample):
        t = t.detach().cpu().contiguous()
        h.update(f"{t.dtype}{tuple(t.shape)}".encode())
        try:
            h.update(t.numpy().tobytes())
        except (TypeError, RuntimeError):  # dtypes numpy lacks (bfloat16, ...)
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def _split_batch(item: Any) -> tuple[Any, Any]:
    """``(inputs, targets)`` of one loader item; ``targets`` None when there is none."""
    if isinstance(item, (tuple, list)) and len(item) == 2:
        return item[0], item[1]
    if isinstance(item, dict):
        for key in ("labels", "label", "targets", "target", "y"):
            if key in item:
                return {k: v for k, v in item.items() if k != key}, item[key]
    return item, None


def _batch_size(inputs: Any) -> int:
    for t in _leaves(inputs):
        return int(t.shape[0]) if t.dim() else 1
    return 0


def _index(obj: Any, i: int) -> Any:
    import torch

    if isinstance(obj, torch.Tensor):
        return obj[i] if obj.dim() else obj
    if isinstance(obj, dict):
        return {k: _index(v, i) for k, v in obj.items()}
    if isinstance(obj, (tuple, list)):
        return tuple(_index(v, i) for v in obj)
    return obj


def _is_sample_dataset(loader: Any) -> bool:
    import torch.utils.data as tud

    return (isinstance(loader, tud.Dataset) and not isinstance(loader, tud.IterableDataset)
            and hasattr(loader, "__len__"))


def _iter_batches(loader: Any) -> Iterator[Any]:
    """Batches ``(inputs, targets)`` of a loader; a map-style Dataset yields one-sample
    batches (its samples get a batch dimension of 1)."""
    if _is_sample_dataset(loader):
        for i in range(len(loader)):
            x, y = _split_batch(loader[i])
            yield _unsqueeze(x), _unsqueeze(y)
        return
    yield from loader


def _unsqueeze(obj: Any) -> Any:
    import torch

    if obj is None:
        return None
    if isinstance(obj, torch.Tensor):
        return obj.unsqueeze(0)
    if isinstance(obj, (int, float, bool)):
        return torch.tensor([obj])
    if isinstance(obj, dict):
        return {k: _unsqueeze(v) for k, v in obj.items()}
    if isinstance(obj, (tuple, list)):
        return tuple(_unsqueeze(v) for v in obj)
    return obj


def _seed_all(seed: int) -> None:
    import torch

    random.seed(seed)
    torch.manual_seed(seed)
    with contextlib.suppress(ImportError):
        import numpy

        numpy.random.seed(seed % (2 ** 32))


@contextlib.contextmanager
def _rng_preserved(torch: Any) -> Iterator[None]:
    """Restore the torch / random / numpy generators afterwards: the checks seed them, and
    the caller's process should not notice."""
    py_state = random.getstate()
    cpu_state = torch.get_rng_state()
    cuda_states = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
    np_state = None
    with contextlib.suppress(ImportError):
        import numpy

        np_state = numpy.random.get_state()
    try:
        yield
    finally:
        random.setstate(py_state)
        torch.set_rng_state(cpu_state)
        if cuda_states is not None:
            torch.cuda.set_rng_state_all(cuda_states)
        if np_state is not None:
            import numpy

            numpy.random.set_state(np_state)


# -- the run ------------------------------------------------------------------------------


@dataclass
class _Scan:
    """One pass over the loaders: sample hashes and out-of-range labels."""

    counts: dict[str, int]
    capped: dict[str, bool]
    hashes: dict[str, list[str]]
    bad_labels: dict[str, list[tuple[int, int]]]  # split -> [(sample index, label)]
    bad_count: dict[str, int]
    soft: list[str]  # splits whose targets are probabilities, not class indices


class _Smoke:
    """The eleven checks over one target; results in ``self.checks``."""

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
        self._scan: _Scan | None = None
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
        here = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
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
            status, detail = "skipped", "skipped by configuration (torch-smoke.skip)"
        else:
            blocked = [d for d in _DEPENDS.get(cid, ()) if self.status_of(d) != "pass"]
            if blocked:
                status = "skipped"
                detail = f"skipped: the {blocked[0]} check did not pass"
            else:
                _seed_all(self.seed)
                try:
                    status, detail = fn()
                except _Skip as exc:
                    status, detail = "skipped", str(exc)
                except Exception as exc:  # noqa: BLE001 - the user's code raised
                    status, detail = "fail", f"{_exc_line(exc)}{self.where(exc)}"
        seconds = time.perf_counter() - t0
        self.checks.append(CheckResult(cid, status, detail, round(seconds, 4)))
        self.ctx.report(f"{cid}: {status} ({seconds:.2f}s) {detail}")

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

    # -- checks -----------------------------------------------------------------------

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

    # loaders ------------------------------------------------------------------------

    def scan(self) -> _Scan:
        if self._scan is not None:
            return self._scan
        cap = int(self.o["leakage_cap"])
        sc = _Scan({}, {}, {}, {}, {}, [])
        for split in SPLITS:
            loader = (self.t.loaders or {}).get(split)
            if loader is None:
                continue
            n = 0
            hashes: list[str] = []
            bad: list[tuple[int, int]] = []
            bad_count = 0
            capped = False
            for item in _iter_batches(loader):
                if n >= cap:
                    capped = True
                    break
                inputs, targets = _split_batch(item)
                size = _batch_size(inputs)
                take = min(size, cap - n)
                for i in range(take):
                    hashes.append(_sample_hash(_index(inputs, i)))
                if targets is not None and self.t.num_classes is not None:
                    found, soft = self._out_of_range(targets, limit=take)
                    if soft and split not in sc.soft:
                        sc.soft.append(split)
                    for idx, label in found:
                        bad_count += 1
                        if len(bad) < 5:
                            bad.append((n + idx, label))
                n += take
                if take < size:
                    capped = True
                    break
            sc.counts[split] = n
            sc.capped[split] = capped
            sc.hashes[split] = hashes
            sc.bad_labels[split] = bad
            sc.bad_count[split] = bad_count
        self._scan = sc
        return sc

    def _out_of_range(self, targets: Any, limit: int | None = None
                      ) -> tuple[list[tuple[int, int]], bool]:
        """``[(sample index, label)]`` outside ``[0, num_classes)``, and whether the targets
        are not class indices (probabilities, i.e. floats that are not whole numbers, or
        something that is not a tensor): nothing to check then."""
        torch = self.torch
        if isinstance(targets, torch.Tensor):
            t = targets
        else:
            try:
                t = torch.as_tensor(targets)
            except (TypeError, ValueError, RuntimeError):
                return [], True  # not class indices (a dict, strings, ...): nothing to check
        t = t.detach().cpu()
        if limit is not None and t.dim():
            t = t[:limit]
        if t.is_floating_point():
            if not bool((t == t.round()).all()):
                return [], True
        elif t.dtype == torch.bool:
            t = t.long()
        c = int(self.t.num_classes or 0)
        bad_mask = (t < 0) | (t >= c)
        ii = self.o["ignore_index"]
        if ii is not None:
            bad_mask &= t != ii
        if not bool(bad_mask.any()):
            return [], False
        flat = bad_mask.reshape(t.shape[0], -1) if t.dim() else bad_mask.reshape(1, 1)
        vals = t.reshape(t.shape[0], -1) if t.dim() else t.reshape(1, 1)
        out = []
        for row in torch.nonzero(flat.any(dim=1)).flatten().tolist():
            label = vals[row][flat[row]][0]
            out.append((int(row), int(label)))
        return out, False

    def check_labels(self) -> tuple[str, str]:
        c = self.t.num_classes
        if c is None:
            raise _Skip("num_classes not given in the SmokeTarget")
        _, y = self.t.batch
        found, soft = self._out_of_range(y)
        problems = []
        checked = []
        if soft:
            checked.append("batch (not class indices, not checked)")
        else:
            checked.append("batch")
            if found:
                labels = sorted({lab for _, lab in found})
                problems.append(f"batch: {len(found)} samples, labels "
                                f"{_names([str(v) for v in labels], 5)}")
        sc = self.scan()
        for split, count in sc.counts.items():
            checked.append(f"{split} {count}" + (" (capped)" if sc.capped[split] else "")
                           + (" (not class indices, not checked)" if split in sc.soft else ""))
            if sc.bad_count[split]:
                ex = ", ".join(f"{split}[{i}] = {lab}" for i, lab in sc.bad_labels[split])
                problems.append(f"{split}: {sc.bad_count[split]} samples (e.g. {ex})")
        if soft and all(split in sc.soft for split in sc.counts):
            raise _Skip("the targets are not class indices (probabilities or non-tensors); "
                        "nothing to range-check")
        if problems:
            ii = self.o["ignore_index"]
            ign = f", ignore_index {ii}" if ii is not None else ""
            return "fail", (f"labels outside [0, {c}){ign}: " + "; ".join(problems)
                            + ": check num_classes and the label mapping")
        return "pass", f"labels within [0, {c}): " + ", ".join(checked)

    def check_leakage(self) -> tuple[str, str]:
        present = [s for s in SPLITS if (self.t.loaders or {}).get(s) is not None]
        if len(present) < 2:
            raise _Skip("needs at least two of the train/val/test loaders in the SmokeTarget "
                        f"(given: {', '.join(present) or 'none'})")
        sc = self.scan()
        first_seen: dict[str, tuple[str, int]] = {}
        pairs: dict[tuple[str, str], int] = {}
        examples: dict[tuple[str, str], list[str]] = {}
        for split in present:
            for idx, h in enumerate(sc.hashes[split]):
                prev = first_seen.get(h)
                if prev is None:
                    first_seen[h] = (split, idx)
                elif prev[0] != split:
                    key = (prev[0], split)
                    pairs[key] = pairs.get(key, 0) + 1
                    shown = examples.setdefault(key, [])
                    if len(shown) < 3:
                        shown.append(f"{prev[0]}[{prev[1]}] == {split}[{idx}]")
        cap = int(self.o["leakage_cap"])
        hashed = ", ".join(f"{s} {sc.counts[s]}" + (" (capped)" if sc.capped[s] else "")
                           for s in present)
        total = sum(pairs.values())
        self.metrics["leakage_shared"] = total
        if total:
            parts = "; ".join(f"{a}/{b}: {n} (e.g. {', '.join(examples[(a, b)])})"
                              for (a, b), n in pairs.items())
            return "fail", (f"{total} samples shared between splits: {parts}; hashed {hashed} "
                            f"samples (cap {cap} per loader). Shared samples inflate "
                            "validation metrics: split by a unique id before building the "
                            "loaders")
        return "pass", f"no sample shared among {hashed} (hashed inputs, cap {cap} per loader)"

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


def _environment(torch: Any, device: Any) -> dict[str, Any]:
    env: dict[str, Any] = {
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cuda_available": bool(torch.cuda.is_available()),
        "device": device.type,
        "threads": torch.get_num_threads(),
    }
    if device.type == "cuda":
        env["device_name"] = torch.cuda.get_device_name(device)
    else:
        env["device_name"] = platform.processor() or platform.machine()
    return env


# -- the handler ----------------------------------------------------------------------------


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
                                                          .get("factory"), "failed": [cid]}})

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


def fill_readiness_row(folder: Path, result: HandlerResult) -> Path | None:
    """Write ``Pass``/``Fail`` and the evidence path into the ``Smoke test or dry run
    passes`` row of ``<folder>/implementation.md``. Only that line changes (a missing row is
    added at the end of the table). Returns the file, or ``None`` when there is no such
    file, section or table (nothing is written then)."""
    path = Path(folder) / ARTIFACT
    if not path.is_file():
        return None
    text = path.read_bytes().decode("utf-8")
    doc = Document(text, path)
    section = doc.section(READINESS_SECTION)
    table = section.table if section is not None else None
    if table is None:
        return None
    check_col = table.column("Check")
    result_col = table.column("Result")
    evidence_col = table.column("Evidence")
    if check_col is None or result_col is None or evidence_col is None:
        return None
    value = "Pass" if result.status == "Pass" else "Fail"
    where = result.evidence or ""
    lines = list(doc.lines)
    for row in table.rows:
        label = normalize_value(row.cells[check_col]) if check_col < len(row.cells) else None
        if label is None or label.strip().lower() != SMOKE_ROW.lower():
            continue
        cells = list(row.cells) + [""] * (len(table.header) - len(row.cells))
        cells[result_col] = value
        cells[evidence_col] = where
        old = lines[row.line - 1]
        body = old.rstrip("\r\n")
        ending = old[len(body):]
        indent = body[:len(body) - len(body.lstrip())]
        new = indent + render_row(cells, ending)
        if new == old:
            return path
        lines[row.line - 1] = new
        break
    else:
        cells = [""] * len(table.header)
        cells[check_col] = SMOKE_ROW
        cells[result_col] = value
        cells[evidence_col] = where
        last = lines[table.end_line - 1]
        if not last.endswith(("\n", "\r")):
            lines[table.end_line - 1] = last + doc.newline()
        lines.insert(table.end_line, render_row(cells, doc.newline()))
    atomic_write(path, "".join(lines))
    return path
