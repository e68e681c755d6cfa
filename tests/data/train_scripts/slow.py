"""Keeps logging for a long time (never stalls): only a timeout ends it."""
import time

from mlgate import track

run = track.init(config={"kind": "slow"}, flush_every=1)
for i in range(3000):
    run.log({"train/loss": 1.0 / (i + 1)}, step=i)
    time.sleep(0.1)
run.finish()
