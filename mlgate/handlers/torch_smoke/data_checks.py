"""The torch-smoke checks on the data: ``labels`` (targets within ``[0, num_classes)``) and
``leakage`` (samples shared between the train/val/test loaders, by hash).

Both read one capped pass over the loaders (:class:`_Scan`), made once and shared.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mlgate.handlers.torch_smoke.base import _SmokeBase
from mlgate.handlers.torch_smoke.options import SPLITS, _Skip
from mlgate.handlers.torch_smoke.tensors import (_batch_size, _index, _iter_batches, _names,
                                                 _sample_hash, _split_batch)


@dataclass
class _Scan:
    """One pass over the loaders: sample hashes and out-of-range labels."""

    counts: dict[str, int]
    capped: dict[str, bool]
    hashes: dict[str, list[str]]
    bad_labels: dict[str, list[tuple[int, int]]]  # split -> [(sample index, label)]
    bad_count: dict[str, int]
    soft: list[str]  # splits whose targets are probabilities, not class indices


class _DataChecks(_SmokeBase):
    """The checks over the loaders (and the batch's labels)."""

    _scan: _Scan | None = None  # the loader pass, made by the first check that needs it

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
