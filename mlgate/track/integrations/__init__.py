"""Framework integrations of :mod:`mlgate.track`: training code as people already write it.

* :class:`MlgateLogger` — a Lightning ``Logger`` (``lightning.pytorch``; the same class for
  the standalone ``pytorch_lightning`` package is
  :class:`mlgate.track.integrations.pytorch_lightning.MlgateLogger`). Rank zero only; usable
  beside other loggers: ``Trainer(logger=[WandbLogger(), MlgateLogger()])``.
* :class:`MlgateCallback` — a Hugging Face ``transformers.TrainerCallback`` (``on_log``, on the
  world's process zero). Importing :mod:`mlgate.track.integrations.hf` also registers it as
  ``TrainingArguments(report_to="mlgate")``.

Both write the run's ``metrics.jsonl``/``summary.json``/plots through :mod:`mlgate.track` and
link (not duplicate) a wandb run that a framework logger started (``foreign_wandb="link"``).
Nothing here imports Lightning or Transformers until the class is asked for
(``from mlgate.track.integrations import MlgateLogger``), so ``import mlgate.track`` stays
light; the packages come with the extras ``mlgate[lightning]`` and ``mlgate[hf]``.
"""
from __future__ import annotations

from typing import Any

__all__ = ["MlgateLogger", "MlgateCallback"]


def __getattr__(name: str) -> Any:
    if name == "MlgateLogger":
        from mlgate.track.integrations.lightning import MlgateLogger

        return MlgateLogger
    if name == "MlgateCallback":
        from mlgate.track.integrations.hf import MlgateCallback

        return MlgateCallback
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
