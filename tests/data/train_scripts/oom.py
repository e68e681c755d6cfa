"""Runs out of memory (prints a CUDA OOM error and exits 1) until --batch-size <= 16."""
import os
import sys

if os.environ.get("TEST_NO_WANDB"):  # the test does not look at wandb: skip its writer
    sys.modules["wandb"] = None

import argparse

from mlgate import track

p = argparse.ArgumentParser()
p.add_argument("--batch-size", type=int, required=True)
p.add_argument("--grad-accum", type=int, required=True)
args = p.parse_args()
print(f"batch_size={args.batch_size} grad_accum={args.grad_accum}", flush=True)
if args.batch_size > 16:
    print("Traceback (most recent call last):\n  File \"train.py\", line 1, in <module>\n"
          "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; "
          "15.77 GiB total capacity)", file=sys.stderr, flush=True)
    sys.exit(1)
with track.init(config=vars(args)) as run:
    for i in range(5):
        run.log({"train/loss": 1.0 / (i + 1), "effective_batch": args.batch_size * args.grad_accum},
                step=i)
