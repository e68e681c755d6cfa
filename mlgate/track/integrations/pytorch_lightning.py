"""``from mlgate.track.integrations.pytorch_lightning import MlgateLogger``: the Lightning
logger of :mod:`mlgate.track` for the standalone ``import pytorch_lightning as pl`` package
(see :mod:`mlgate.track.integrations`)."""
from __future__ import annotations

from pytorch_lightning.loggers.logger import Logger, rank_zero_experiment
from pytorch_lightning.utilities import rank_zero_only

from mlgate.track.integrations._lightning import build

__all__ = ["MlgateLogger"]

MlgateLogger = build(Logger, rank_zero_experiment, rank_zero_only, __name__)
