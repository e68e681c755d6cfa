"""Logs a falling loss, then NaN, then keeps running: the watchdog must stop it."""
import os
import sys

if os.environ.get("TEST_NO_WANDB"):  # the test does not look at wandb: skip its writer
    sys.modules["wandb"] = None
import time

from mlgate import track

run = track.init(config={"kind": "nan"}, flush_every=1)
for i, value in enumerate([1.0, 0.8, 0.7, float("nan"), 0.6]):
    run.log({"train/loss": value, "lr": 0.1}, step=i)
print("still training", flush=True)
time.sleep(300)
