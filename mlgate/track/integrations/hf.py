"""``from mlgate.track.integrations.hf import MlgateCallback``: the Hugging Face
``TrainerCallback`` of :mod:`mlgate.track` (see :mod:`mlgate.track.integrations`).

Importing this module registers the callback as ``report_to="mlgate"`` (Transformers looks
``report_to`` names up in ``transformers.integrations.integration_utils.
INTEGRATION_TO_CALLBACK`` when the ``Trainer`` is built), so either of::

    Trainer(..., callbacks=[MlgateCallback()])
    import mlgate.track.integrations.hf  # noqa: F401
    TrainingArguments(..., report_to=["mlgate"])         # or ["wandb", "mlgate"]

Every ``on_log`` (training logs, ``evaluate`` results, the end-of-training summary) is one
``run.log`` row at ``state.global_step``, with the names the Trainer gives them (``loss``,
``eval_loss``, ``eval_accuracy``, ...; the same as ``trainer.state.log_history``). Only the
world's process zero writes. The run's config is the ``TrainingArguments``
(``to_sanitized_dict``) plus ``config``.

Checkpoints: ``TrainingArguments(output_dir=...)`` decides where they go; under ``mlgate run
train`` pass ``output_dir=os.environ.get("MLGATE_RUN_DIR", "out")`` so that they are in the
run folder (and its Reproducibility Record). The callback says so once when they are not.
"""
from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from transformers import TrainerCallback
from transformers.integrations import integration_utils as _hf_integrations

__all__ = ["MlgateCallback", "REPORT_TO"]

REPORT_TO = "mlgate"


class MlgateCallback(TrainerCallback):  # type: ignore[misc]
    """Logs the Trainer's logs through :mod:`mlgate.track` (see the module docstring).
    ``MlgateCallback(config=None, *, directions=None, **track_init_kwargs)``."""

    def __init__(self, config: Mapping[str, Any] | None = None, *,
                 directions: Mapping[str, str] | None = None, **init_kwargs: Any) -> None:
        init_kwargs.setdefault("foreign_wandb", "link")
        self._config = dict(config or {})
        self._init_kwargs = dict(directions=directions, **init_kwargs)
        self._run: Any = None

    def _ensure(self, args: Any, state: Any) -> Any:
        if self._run is None and state.is_world_process_zero:
            from mlgate import track

            cfg: dict[str, Any] = {}
            to_dict = getattr(args, "to_sanitized_dict", None) or getattr(args, "to_dict", None)
            if callable(to_dict):
                cfg = dict(to_dict())
            cfg.update(self._config)
            self._run = track.init(config=cfg, **self._init_kwargs)
            _output_dir_hint(getattr(args, "output_dir", None))
        return self._run

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._ensure(args, state)

    def on_log(self, args: Any, state: Any, control: Any, logs: Mapping[str, Any] | None = None,
               **kwargs: Any) -> None:
        if not logs or not state.is_world_process_zero:
            return
        values = {k: v for k, v in logs.items()
                  if isinstance(v, (int, float)) and not isinstance(v, bool)}
        if values:
            self._ensure(args, state).log(values, step=int(state.global_step))

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self._run is not None:
            self._run.flush()


def _output_dir_hint(output_dir: Any) -> None:
    run_dir = os.environ.get("MLGATE_RUN_DIR")
    if not run_dir or not output_dir:
        return
    try:
        Path(output_dir).resolve().relative_to(Path(run_dir).resolve())
    except ValueError:
        print(f"mlgate.track: TrainingArguments.output_dir {output_dir!r} is outside the run "
              f"folder {run_dir}: its checkpoints are not part of the run's record\nhint: "
              f"output_dir=os.environ.get(\"MLGATE_RUN_DIR\", \"out\")", file=sys.stderr,
              flush=True)


_hf_integrations.INTEGRATION_TO_CALLBACK.setdefault(REPORT_TO, MlgateCallback)
