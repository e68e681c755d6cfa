"""A plain PyTorch loop that logs with wandb itself (no mlgate in it)."""
import torch
import wandb

from digits import mlp, tensors

xtr, ytr, xva, yva = tensors()
model = mlp()
opt = torch.optim.Adam(model.parameters(), lr=1e-2)
run = wandb.init(project="digits-plain", config={"lr": 1e-2, "epochs": 3})
step = 0
for epoch in range(3):
    for i in range(0, len(xtr), 100):
        loss = torch.nn.functional.cross_entropy(model(xtr[i:i + 100]), ytr[i:i + 100])
        opt.zero_grad()
        loss.backward()
        opt.step()
        wandb.log({"train/loss": loss.item()}, step=step)
        step += 1
    with torch.no_grad():
        acc = (model(xva).argmax(1) == yva).float().mean().item()
    wandb.log({"val/acc": acc}, step=step - 1)
    print(f"epoch {epoch} val/acc {acc}", flush=True)
run.finish()
