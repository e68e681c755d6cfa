"""A small synthetic 5-class data set with disjoint train/val/test splits."""
from __future__ import annotations

import torch
from torch.utils.data import DataLoader, TensorDataset


def tensors(n: int, seed: int, d_in: int = 20, n_classes: int = 5
            ) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(d_in, n_classes, generator=torch.Generator().manual_seed(1234))
    x = torch.randn(n, d_in, generator=g)
    return x, (x @ w).argmax(dim=1)


def loaders(train: tuple[torch.Tensor, torch.Tensor] | None = None,
            val: tuple[torch.Tensor, torch.Tensor] | None = None,
            test: tuple[torch.Tensor, torch.Tensor] | None = None) -> dict[str, DataLoader]:
    train = train or tensors(256, seed=1)
    val = val or tensors(64, seed=2)
    test = test or tensors(64, seed=3)
    return {
        "train": DataLoader(TensorDataset(*train), batch_size=64, shuffle=True),
        "val": DataLoader(TensorDataset(*val), batch_size=64),
        "test": DataLoader(TensorDataset(*test), batch_size=64),
    }
