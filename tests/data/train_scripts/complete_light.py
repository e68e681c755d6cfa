"""A short successful run without torch: logs halving losses and says where it ran.

``--steps N`` (default 3) and ``--sleep S`` (seconds between steps, default 0)."""
import os
import socket
import sys

if os.environ.get("TEST_NO_WANDB"):  # the test does not look at wandb: skip its writer
    sys.modules["wandb"] = None

import argparse
import time

from mlgate import track

p = argparse.ArgumentParser()
p.add_argument("--steps", type=int, default=3)
p.add_argument("--sleep", type=float, default=0.0)
args = p.parse_args()
with track.init(config={"kind": "light", **vars(args)}, flush_every=1) as run:
    for step in range(args.steps):
        run.log({"train/loss": 1.0 / 2 ** step}, step=step)
        time.sleep(args.sleep)
node = os.environ.get("SLURMD_NODENAME") or socket.gethostname()
print(f"done on {node} seed {os.environ.get('MLGATE_SEED')}", flush=True)
