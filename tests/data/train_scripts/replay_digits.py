"""Replays the digits-cnn runs of tests/data/artifacts/good as a training script would log
them, through mlgate.track: the run records are then made by mlgate itself (launched,
tracked, collected and registered), with the numbers the good report quotes.

RUN-001 is the lr 1e-3 run, RUN-002 the lr 3e-3 run; any later run repeats RUN-002.
"""
import os
import sys

sys.modules["wandb"] = None  # the tests never look at wandb: skip its writer

from mlgate import track  # noqa: E402

RUNS = {
    "RUN-001": {"lr": 0.001, "val/acc": [0.9, 0.93, 0.96, 0.9722], "test/acc": 0.9667,
                "train/wall_time_s": 38.9},
    "RUN-002": {"lr": 0.003, "val/acc": [0.9, 0.93, 0.96, 0.9806], "test/acc": 0.9750,
                "train/wall_time_s": 41.3},
}
TRAIN_LOSS = [1.2, 0.6, 0.4, 0.1]
VAL_LOSS = [1.1, 0.55, 0.3667, 0.12]


def main() -> None:
    spec = RUNS.get(os.environ.get("MLGATE_RUN_ID", ""), RUNS["RUN-002"])
    run = track.init(config={"lr": spec["lr"], "epochs": len(TRAIN_LOSS)},
                     directions={"val/acc": "max"})
    for step, acc in enumerate(spec["val/acc"]):
        run.log({"train/loss": TRAIN_LOSS[step], "val/loss": VAL_LOSS[step], "val/acc": acc,
                 "lr": spec["lr"]}, step=step)
    run.log({"test/acc": spec["test/acc"], "train/wall_time_s": spec["train/wall_time_s"]},
            step=len(TRAIN_LOSS) - 1)
    run.finish()


if __name__ == "__main__":
    main()
