"""A short successful run without torch: logs halving losses and says where it ran.

``--steps N`` (default 3), ``--sleep S`` (seconds between steps, default 0), ``--fail-seed K``
(exit 1 after the first step when ``MLGATE_SEED`` is K). The loss depends on the seed."""
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
p.add_argument("--fail-seed", type=int, default=None)
args = p.parse_args()
seed = int(os.environ.get("MLGATE_SEED", "0"))
with track.init(config={"kind": "light", **vars(args)}, flush_every=1) as run:
    for step in range(args.steps):
        run.log({"train/loss": (1.0 + seed / 100) / 2 ** step}, step=step)
        if seed == args.fail_seed:
            print(f"seed {seed} fails on purpose", file=sys.stderr, flush=True)
            sys.exit(1)
        time.sleep(args.sleep)
node = os.environ.get("SLURMD_NODENAME") or socket.gethostname()
print(f"done on {node} seed {os.environ.get('MLGATE_SEED')}", flush=True)
