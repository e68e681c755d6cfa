"""torchrun with gloo: every rank trains and calls run.log; only rank 0 may write."""
import os
import sys

if os.environ.get("TEST_NO_WANDB"):  # the test does not look at wandb: skip its writer
    sys.modules["wandb"] = None

import torch
import torch.distributed as dist

from mlgate import track

dist.init_process_group("gloo")
rank, world = dist.get_rank(), dist.get_world_size()
run = track.init(config={"world_size": world})
print(f"rank {rank} of {world}: {type(run).__name__}", flush=True)
torch.manual_seed(0)
w = torch.zeros(4, requires_grad=True)
for step in range(10):
    loss = ((w - torch.ones(4)) ** 2).sum()
    loss.backward()
    dist.all_reduce(w.grad)
    with torch.no_grad():
        w -= 0.05 * w.grad / world
        w.grad.zero_()
    run.log({"train/loss": loss, "rank": rank}, step=step)
run.finish()
dist.barrier()
dist.destroy_process_group()
print(f"rank {rank} done", flush=True)
