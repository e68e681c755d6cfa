"""A plain PyTorch loop that only prints its numbers."""
import torch

from digits import mlp, tensors

xtr, ytr, xva, yva = tensors()
model = mlp()
opt = torch.optim.Adam(model.parameters(), lr=1e-2)
print("training on", len(xtr), "samples", flush=True)
for epoch in range(4):
    for i in range(0, len(xtr), 100):
        loss = torch.nn.functional.cross_entropy(model(xtr[i:i + 100]), ytr[i:i + 100])
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        acc = (model(xva).argmax(1) == yva).float().mean().item()
    print(f"epoch {epoch} train_loss={loss.item():.6f} val_acc={acc:.6f}", flush=True)
