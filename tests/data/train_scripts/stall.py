"""Logs two steps, then hangs without logging: the watchdog must call it stalled."""
import time

from mlgate import track

run = track.init(config={"kind": "stall"}, flush_every=1)
run.log({"train/loss": 1.0}, step=0)
run.log({"train/loss": 0.9}, step=1)
print("hanging", flush=True)
time.sleep(300)
