"""Logs two steps, then exits with code 3."""
import sys

from mlgate import track

run = track.init(config={"kind": "crash"}, flush_every=1)
run.log({"train/loss": 1.0})
run.log({"train/loss": 0.9})
run.flush()
print("something went wrong", file=sys.stderr, flush=True)
sys.exit(3)
