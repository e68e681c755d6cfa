"""train.py — a complete training script tracked by mlgate (the example of docs: runs).

Run it under mlgate (`mlgate run train`, with train.command:
"python train.py --batch-size {batch_size} --grad-accum {grad_accum}") or on its own
(`python train.py`: it then creates ./runs/RUN-NNN by itself).
"""
from __future__ import annotations

import argparse

import torch
from torch import nn

from mlgate import track


def make_data(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Two interleaved half-moons in 2-D, with noise: a small, generated classification set."""
    g = torch.Generator().manual_seed(seed)
    t = torch.rand(n, generator=g) * torch.pi
    label = torch.randint(0, 2, (n,), generator=g)
    x = torch.stack([torch.cos(t) + label, torch.sin(t) * (1 - 2 * label) + 0.5 * label], 1)
    return x + 0.3 * torch.randn(n, 2, generator=g), label


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--grad-accum", type=int, default=1)
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--lr", type=float, default=0.01)
    args = p.parse_args()

    # The run directory, seed, ticket and wandb settings come from mlgate's environment.
    with track.init(config=vars(args), directions={"val/acc": "max"}) as run:
        torch.manual_seed(run.seed or 0)
        x, y = make_data(2048, seed=0)
        x_val, y_val = make_data(512, seed=1)
        model = nn.Sequential(nn.Linear(2, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(),
                              nn.Linear(64, 2))
        opt = torch.optim.AdamW(model.parameters(), lr=args.lr)
        step = 0
        for _epoch in range(args.epochs):
            model.train()
            perm = torch.randperm(len(x))
            for i in range(0, len(x), args.batch_size):
                idx = perm[i:i + args.batch_size]
                loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
                (loss / args.grad_accum).backward()
                if (i // args.batch_size + 1) % args.grad_accum == 0:
                    opt.step()
                    opt.zero_grad(set_to_none=True)
                # A tensor: mlgate reads it later, in a batch (no .item() sync per step).
                run.log({"train/loss": loss}, step=step)
                step += 1
            model.eval()
            with torch.no_grad():
                logits = model(x_val)
                val_loss = nn.functional.cross_entropy(logits, y_val)
                val_acc = (logits.argmax(1) == y_val).float().mean()
            run.log({"val/loss": val_loss, "val/acc": val_acc}, step=step - 1)
        torch.save(model.state_dict(), run.run_dir / "model.pt")  # ignored by runs/.gitignore
    # Leaving the block called run.finish(): summary.json, viz/*.png, wandb finished.


if __name__ == "__main__":
    main()
