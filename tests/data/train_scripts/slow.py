"""Keeps logging for a long time (never stalls): only a timeout ends it."""
import os
import sys

if os.environ.get("TEST_NO_WANDB"):  # the test does not look at wandb: skip its writer
    sys.modules["wandb"] = None
import time

from mlgate import track

run = track.init(config={"kind": "slow"}, flush_every=1)
for i in range(3000):
    run.log({"train/loss": 1.0 / (i + 1)}, step=i)
    time.sleep(0.1)
run.finish()
