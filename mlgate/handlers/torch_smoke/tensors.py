"""Helpers over tensors and batches for the torch-smoke checks (nested outputs, copies to a
device, comparisons, sample hashes, loader iteration) and the seeding of the generators.

torch is imported only inside functions (or passed in), never at module level.
"""
from __future__ import annotations

import contextlib
import hashlib
import math
import os
import random
from collections.abc import Iterator
from typing import Any

from mlgate.handlers.torch_smoke.options import CUDA_RTOL


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
