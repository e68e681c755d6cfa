"""A tiny run whose final metrics depend on its seed: val/acc = ACC + SPREAD * Z[seed] and
val/loss = LOSS - SPREAD * Z[seed], with fixed offsets Z (mean 0 over seeds 0-2), logged
with mlgate.track. No torch: the statistics are what is tested."""
import os
import sys

if os.environ.get("TEST_NO_WANDB"):  # the test does not look at wandb: skip its writer
    sys.modules["wandb"] = None

import argparse

from mlgate import track

Z = [-1.0, 0.25, 0.75, -0.5, 0.5, 0.0, -0.25, 0.25]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--acc", type=float, default=0.9)
    p.add_argument("--loss", type=float, default=0.3)
    p.add_argument("--spread", type=float, default=0.01)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--idea", help="a file of key=value lines (acc, spread, loss): the code "
                   "under test, as a ticket changes it")
    args = p.parse_args()
    if args.idea:
        for line in open(args.idea, encoding="utf-8"):
            key, _, value = line.partition("=")
            if key.strip() in ("acc", "spread", "loss"):
                setattr(args, key.strip(), float(value))
    run = track.init(config=vars(args))
    z = Z[(run.seed or 0) % len(Z)]
    for step in range(args.steps):
        frac = (step + 1) / args.steps
        run.log({"train/loss": 1.0 - 0.5 * frac}, step=step)
    run.log({"val/acc": args.acc + args.spread * z,
             "val/loss": args.loss - args.spread * z}, step=args.steps)
    run.finish()
    print("done", flush=True)


if __name__ == "__main__":
    main()
