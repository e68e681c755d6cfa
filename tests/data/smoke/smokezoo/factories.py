"""torch-smoke factories: ``make`` is good; every other one breaks exactly one thing."""
from __future__ import annotations

import torch
from torch import nn

from mlgate.handlers.torch_smoke import SmokeTarget
from smokezoo import data, models


def _target(model: nn.Module, **kw) -> SmokeTarget:
    x, y = data.tensors(32, seed=0)
    args = dict(model=model, batch=(x, y), loss_fn=nn.CrossEntropyLoss(), num_classes=5,
                loaders=data.loaders())
    args.update(kw)
    return SmokeTarget(**args)


def make() -> SmokeTarget:
    torch.manual_seed(0)
    return _target(models.MLP())


def make_dict() -> dict:
    torch.manual_seed(0)
    x, y = data.tensors(32, seed=0)
    return {"model": models.MLP(), "batch": (x, y), "loss_fn": nn.CrossEntropyLoss()}


def make_from_loaders() -> SmokeTarget:
    torch.manual_seed(0)
    return SmokeTarget(model=models.MLP(), batch=None, loss_fn=nn.CrossEntropyLoss(),
                       num_classes=5, loaders=data.loaders())


def make_frozen() -> SmokeTarget:
    return _target(models.FrozenEncoder())


def make_unused() -> SmokeTarget:
    return _target(models.UnusedLayer())


def make_no_grad() -> SmokeTarget:
    return _target(models.NoGradEncoder())


def make_nan() -> SmokeTarget:
    return _target(models.NaNForward())


def make_lr0() -> SmokeTarget:
    return _target(models.MLP(), optimizer=lambda params: torch.optim.SGD(params, lr=0.0))


def make_detached() -> SmokeTarget:
    return _target(models.Detached())


def make_dropout_eval() -> SmokeTarget:
    return _target(models.DropoutAlwaysOn())


def make_unregistered_state() -> SmokeTarget:
    return _target(models.UnregisteredState())


def make_nan_backward() -> SmokeTarget:
    return _target(models.NaNBackward())


def make_unreduced_loss() -> SmokeTarget:
    return _target(models.MLP(), loss_fn=nn.CrossEntropyLoss(reduction="none"))


def make_leaky() -> SmokeTarget:
    """The val split re-uses 16 training samples."""
    xtr, ytr = data.tensors(256, seed=1)
    xva, yva = data.tensors(48, seed=2)
    val = (torch.cat([xva, xtr[100:116]]), torch.cat([yva, ytr[100:116]]))
    return _target(models.MLP(), loaders=data.loaders(train=(xtr, ytr), val=val))


def make_bad_labels() -> SmokeTarget:
    """Labels 1..5 (an off-by-one mapping) for a 5-class head."""
    x, y = data.tensors(32, seed=0)
    xtr, ytr = data.tensors(256, seed=1)
    return _target(models.MLP(), batch=(x, y + 1),
                   loaders=data.loaders(train=(xtr, ytr + 1)))


def make_raises() -> SmokeTarget:
    raise FileNotFoundError("data directory /nonexistent/cifar not found")


def make_wrong_type() -> int:
    return 42


def make_dataset_leak() -> SmokeTarget:
    """Map-style Datasets as loaders; the test split holds two training samples."""
    from torch.utils.data import TensorDataset

    xtr, ytr = data.tensors(128, seed=1)
    xte, yte = data.tensors(30, seed=3)
    test = TensorDataset(torch.cat([xte, xtr[[7, 9]]]), torch.cat([yte, ytr[[7, 9]]]))
    return _target(models.MLP(), loaders={"train": TensorDataset(xtr, ytr), "test": test})


def make_ignore_index() -> SmokeTarget:
    """Padding labels -100 (CrossEntropyLoss's ignore_index) are not classes."""
    x, y = data.tensors(32, seed=0)
    y = y.clone()
    y[::4] = -100
    return _target(models.MLP(), batch=(x, y), loaders=None)


def make_padding_minus_one() -> SmokeTarget:
    """Padding labels -1, with a loss that ignores them: not classes only when
    ``ignore_index: -1`` says so."""
    x, y = data.tensors(32, seed=0)
    y = y.clone()
    y[::4] = -1
    return _target(models.MLP(), batch=(x, y), loss_fn=nn.CrossEntropyLoss(ignore_index=-1),
                   loaders=None)


SHARED: SmokeTarget | None = None
SNAPSHOT: dict = {}


def make_shared() -> SmokeTarget:
    """The good target, kept (with a snapshot of its weights and batch) so a test can check
    that torch-smoke did not change the user's objects. Left in eval mode on purpose."""
    global SHARED
    torch.manual_seed(0)
    SHARED = _target(models.MLP())
    SHARED.model.eval()
    SNAPSHOT.clear()
    SNAPSHOT.update({k: v.clone() for k, v in SHARED.model.state_dict().items()})
    SNAPSHOT["batch/x"] = SHARED.batch[0].clone()
    return SHARED


def make_soft_labels() -> SmokeTarget:
    """Probability targets (soft labels): there are no class indices to range-check."""
    x, y = data.tensors(32, seed=0)
    soft = torch.nn.functional.one_hot(y, 5).float() * 0.9 + 0.02
    return _target(models.MLP(), batch=(x, soft), loaders=None)
