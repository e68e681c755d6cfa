"""A complete small training run: an MLP on generated data, tracked with mlgate.track."""
import os
import sys

if os.environ.get("TEST_NO_WANDB"):  # the test does not look at wandb: skip its writer
    sys.modules["wandb"] = None

import argparse

import torch

from mlgate import track


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--batch-size", type=int, default=int(os.environ.get("MLGATE_BATCH_SIZE", 32)))
    p.add_argument("--grad-accum", type=int, default=1)
    p.add_argument("--lr", type=float, default=0.05)
    args = p.parse_args()

    run = track.init(config=vars(args))
    torch.manual_seed(run.seed or 0)
    x = torch.randn(512, 8)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).long()
    xv, yv = x[:128], y[:128]
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))
    opt = torch.optim.SGD(model.parameters(), lr=args.lr)
    for step in range(args.steps):
        idx = torch.randint(0, 512, (args.batch_size,))
        loss = torch.nn.functional.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        run.log({"train/loss": loss}, step=step)
        if step % 20 == 19 or step == args.steps - 1:
            with torch.no_grad():
                acc = (model(xv).argmax(1) == yv).float().mean()
            run.log({"val/acc": acc}, step=step)
    run.finish()
    print("done", flush=True)


if __name__ == "__main__":
    main()
