"""torchrun across nodes with gloo: every rank trains, only rank 0 may write metrics.

Prints one line per rank: its rank, the world size, its node (torchrun's ``GROUP_RANK``) and
where it runs. ``FAIL_NODE=K``: the ranks of node K raise at step 2."""
import os
import sys

if os.environ.get("TEST_NO_WANDB"):  # the test does not look at wandb: skip its writer
    sys.modules["wandb"] = None

import torch
import torch.distributed as dist

from mlgate import track

dist.init_process_group("gloo")
rank, world = dist.get_rank(), dist.get_world_size()
node = int(os.environ["GROUP_RANK"])
where = os.environ.get("SLURMD_NODENAME") or "this machine"
run = track.init(config={"world_size": world}, flush_every=1)
print(f"rank {rank} of {world} on node {node} ({where}): {type(run).__name__}", flush=True)
fail = os.environ.get("FAIL_NODE")
w = torch.zeros(4, requires_grad=True)
for step in range(5):
    if fail is not None and node == int(fail) and step == 2:
        raise RuntimeError(f"node {node} fails on purpose")
    loss = ((w - torch.ones(4)) ** 2).sum()
    loss.backward()
    dist.all_reduce(w.grad)
    with torch.no_grad():
        w -= 0.05 * w.grad / world
        w.grad.zero_()
    run.log({"train/loss": loss, "rank": rank, "world": world}, step=step)
run.finish()
dist.barrier()
dist.destroy_process_group()
print(f"rank {rank} done", flush=True)
