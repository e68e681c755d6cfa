"""The Lightning ``Logger`` of :mod:`mlgate.track`, built for the package it subclasses
(``lightning.pytorch`` or the standalone ``pytorch_lightning``): see :func:`build`.
The two modules that call it import their package themselves."""
from __future__ import annotations

import os
from argparse import Namespace
from collections.abc import Mapping
from typing import Any

__all__ = ["build"]


def _plain(params: Any) -> dict[str, Any]:
    if isinstance(params, Namespace):
        params = vars(params)
    if not isinstance(params, Mapping):
        return {}
    out: dict[str, Any] = {}
    for k, v in params.items():
        if isinstance(v, Namespace):
            v = vars(v)
        out[str(k)] = _plain(v) if isinstance(v, Mapping) else (
            v if isinstance(v, (str, int, float, bool, type(None), list, tuple)) else repr(v))
    return out


def build(base: type, rank_zero_experiment: Any, rank_zero_only: Any, module: str) -> type:
    """``MlgateLogger`` subclassing ``base`` (the ``Logger`` of ``lightning.pytorch`` or
    ``pytorch_lightning``), with that package's rank-zero decorators."""

    class MlgateLogger(base):  # type: ignore[misc, valid-type]
        """Lightning logger writing through :mod:`mlgate.track` (rank zero only).

        ``MlgateLogger(config=None, *, directions=None, project=None, tags=None,
        **track_init_kwargs)``: the arguments of :func:`mlgate.track.init`; the model's
        hyperparameters (``save_hyperparameters``) are added to the run's config. Metrics are
        logged with Lightning's global step. ``finalize`` flushes (Lightning calls it after
        ``fit`` and again after ``test``); the run is finished when the script exits. When it
        is the first logger, checkpoints go to ``<run folder>/checkpoints/``."""

        def __init__(self, config: Any = None, *, directions: Mapping[str, str] | None = None,
                     project: str | None = None, tags: list[str] | None = None,
                     **init_kwargs: Any) -> None:
            super().__init__()
            init_kwargs.setdefault("foreign_wandb", "link")
            self._init_kwargs = dict(config=config, directions=directions, project=project,
                                     tags=tags, **init_kwargs)
            self._run: Any = None

        @property
        def name(self) -> str:
            return ""

        @property
        def version(self) -> str:
            return ""

        @property
        def save_dir(self) -> str | None:
            if self._run is not None and getattr(self._run, "run_dir", None) is not None:
                return str(self._run.run_dir)
            from mlgate import track

            if track.is_main_process() and rank_zero_only.rank == 0:
                run = self.experiment
                if getattr(run, "run_dir", None) is not None:
                    return str(run.run_dir)
            return os.environ.get("MLGATE_RUN_DIR") or None

        @property
        def root_dir(self) -> str | None:
            return self.save_dir

        @property
        def log_dir(self) -> str | None:
            return self.save_dir

        @property
        @rank_zero_experiment
        def experiment(self) -> Any:
            """The :class:`mlgate.track.Run` (a no-op on ranks other than zero)."""
            if self._run is None:
                from mlgate import track

                self._run = track.init(**self._init_kwargs)
            return self._run

        @rank_zero_only
        def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
            values = {k: v for k, v in metrics.items() if not isinstance(v, (str, bytes))}
            if values:
                self.experiment.log(values, step=step)

        @rank_zero_only
        def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
            plain = _plain(params)
            if plain:
                self.experiment.update_config(plain)

        @rank_zero_only
        def save(self) -> None:
            if self._run is not None:
                self._run.flush()

        @rank_zero_only
        def finalize(self, status: str) -> None:
            if self._run is not None and not getattr(self._run, "finished", False):
                self._run.flush()

    MlgateLogger.__module__ = module
    return MlgateLogger
