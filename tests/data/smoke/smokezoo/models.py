"""Small models: a good MLP classifier and variants that each break one smoke check."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class MLP(nn.Module):
    """The good model: Linear -> ReLU -> Dropout -> Linear."""

    def __init__(self, d_in: int = 20, hidden: int = 64, n_classes: int = 5) -> None:
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(d_in, hidden), nn.ReLU(), nn.Dropout(0.1))
        self.head = nn.Linear(hidden, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(x))


class FrozenEncoder(MLP):
    """The encoder was frozen for an experiment and never unfrozen."""

    def __init__(self) -> None:
        super().__init__()
        for p in self.encoder.parameters():
            p.requires_grad = False


class UnusedLayer(MLP):
    """A projection layer is built but forward never uses it."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(64, 64)


class NoGradEncoder(MLP):
    """The encoder runs under torch.no_grad() by mistake: it never learns."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            h = self.encoder(x)
        return self.head(h)


class NaNForward(MLP):
    """log of a value that can be negative: NaN in the output."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.log(self.head(self.encoder(x)))


class Detached(MLP):
    """The output is detached from the graph."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(x)).detach()


class DropoutAlwaysOn(MLP):
    """Dropout called with training=True: still random in eval()."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.dropout(F.relu(self.encoder[0](x)), p=0.5, training=True)
        return self.head(h)


class UnregisteredState(MLP):
    """A running mean kept as a plain attribute: not in state_dict."""

    def __init__(self) -> None:
        super().__init__()
        self.center = torch.zeros(20)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            self.center = 0.5 * self.center + 0.5 * x.mean(0).detach()
        return self.head(self.encoder(x - self.center))


class NaNBackward(MLP):
    """Finite forward, NaN gradient: sqrt at 0 in the graph."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.head(self.encoder(x))
        return out + torch.sqrt(out * 0).sum()
