"""``from mlgate.track.integrations.lightning import MlgateLogger``: the Lightning logger of
:mod:`mlgate.track` for ``import lightning.pytorch as pl`` (see
:mod:`mlgate.track.integrations`)."""
from __future__ import annotations

from lightning.pytorch.loggers.logger import Logger, rank_zero_experiment
from lightning.pytorch.utilities import rank_zero_only

from mlgate.track.integrations._lightning import build

__all__ = ["MlgateLogger"]

MlgateLogger = build(Logger, rank_zero_experiment, rank_zero_only, __name__)
