"""A tiny run whose final metrics depend on its seed: val/acc = ACC + SPREAD * Z[seed] and
val/loss = LOSS - SPREAD * Z[seed], with fixed offsets Z (mean 0 over seeds 0-2), logged
with mlgate.track. No torch: the statistics are what is tested."""
import os
import sys

if os.environ.get("TEST_NO_WANDB"):  # the test does not look at wandb: skip its writer
    sys.modules["wandb"] = None

import argparse
import json

from mlgate import track

Z = [-1.0, 0.25, 0.75, -0.5, 0.5, 0.0, -0.25, 0.25]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--acc", type=float, default=0.9)
    p.add_argument("--loss", type=float, default=0.3)
    p.add_argument("--spread", type=float, default=0.01)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--idea", action="append", default=[],
                   help="a JSON file of the code under test, as a ticket changes it: "
                        "acc_delta and loss_delta add to --acc and --loss, spread replaces "
                        "--spread; two files that both say lr_sensitive clash (-0.15 acc); "
                        "crash_if names a file whose existence makes the run crash")
    args = p.parse_args()
    sensitive = 0
    for path in args.idea:
        idea = json.load(open(path, encoding="utf-8"))
        args.acc += idea.get("acc_delta", 0.0)
        args.loss -= idea.get("loss_delta", 0.0)
        args.spread = idea.get("spread", args.spread)
        sensitive += bool(idea.get("lr_sensitive"))
        if idea.get("crash_if") and os.path.exists(idea["crash_if"]):
            sys.exit(f"crashed: {idea['crash_if']} exists")
    if sensitive >= 2:  # the two changes interact badly
        args.acc -= 0.15
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
