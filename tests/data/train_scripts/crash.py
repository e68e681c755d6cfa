"""Logs two steps, then exits with code 3."""
import os
import sys

if os.environ.get("TEST_NO_WANDB"):  # the test does not look at wandb: skip its writer
    sys.modules["wandb"] = None

from mlgate import track

run = track.init(config={"kind": "crash"}, flush_every=1)
run.log({"train/loss": 1.0})
run.log({"train/loss": 0.9})
run.flush()
print("something went wrong", file=sys.stderr, flush=True)
sys.exit(3)
