"""The runs domain: training runs, from launch to the numbers a gate reads.

* :mod:`~mlgate.runs.plots` — ``metrics.jsonl`` / ``summary.json`` records and the PNG curves;
* :mod:`~mlgate.runs.baselines` — ``baselines.yaml`` and metric directions (SPEC §11);
* :mod:`~mlgate.runs.sources` — metric sources other than ``mlgate.track``: the script's own
  wandb run, Lightning's CSV log, TensorBoard event files, a regex over stdout;
* :mod:`~mlgate.runs.core` — ``runs/RUN-NNN/``: settings, ``meta.json``, the launchers
  (local, torchrun, Slurm through submitit), the supervisor, failure classes, stopping;
* :mod:`~mlgate.runs.watch` — the watchdog (``mlgate watch``): follows a run to its end;
* :mod:`~mlgate.runs.closure` — the stage-5 report rows computed from runs and baselines.

May import: the foundation modules, ``config``, ``state``, ``artifacts``. torch, wandb,
matplotlib and submitit only inside the functions that need them. The tracking API that runs
inside the training script is the sibling package :mod:`mlgate.track`. Nothing is imported
here.
"""
