"""``track.log`` overhead in a training loop (SPEC §13: <= 3 % against the same loop without it).

Rows:
* ``track.log in an MLP training loop``: a small MLP (128-256-256-10, batch 64, Adam) trained
  on CPU for 2,000 steps with ``run.log({"loss": loss, "acc": acc})`` (two tensors) after every
  step, against the same loop without the call. The two variants run interleaved in blocks of
  50 steps (40 blocks each, alternating which goes first; each logged block holds one flush)
  in the same process so that machine noise hits both alike; the ratio is the median over the
  40 adjacent pairs of (block with log) / (block without). The tracked run is real: it writes
  ``metrics.jsonl`` and streams to wandb offline through the writer process (the default).
* ``run.log call (2 tensors, amortized)``: the cost of one ``run.log`` call including its share
  of the flushes (one batched tensor read + JSON lines every 50 calls), outside a loop.
* ``run.finish``: flush, summary.json, 2 plots, and waiting for the wandb writer to finish.

Run: ``python bench/bench_track.py`` (or through ``bench/run.py``).
"""
from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

STEPS = 2000
BLOCK = 50
GOAL = "<= 1.03"


def _loop(torch, model, opt, x, y, steps: int, start: int, run=None) -> float:  # noqa: ANN001
    lossf = torch.nn.functional.cross_entropy
    t0 = time.perf_counter()
    for i in range(start, start + steps):
        j = (i * 64) % 4096
        xb, yb = x[j:j + 64], y[j:j + 64]
        out = model(xb)
        loss = lossf(out, yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        acc = (out.argmax(1) == yb).float().mean()  # computed in both variants
        if run is not None:
            run.log({"loss": loss, "acc": acc}, step=i)
    return time.perf_counter() - t0


def run() -> list[dict]:
    import torch

    from mlgate import track

    old_threads = torch.get_num_threads()
    old_env = {k: os.environ.get(k) for k in ("MLGATE_RUN_DIR", "MLGATE_RUN_ID")}
    tmp = tempfile.mkdtemp(prefix="mlgate-bench-track-")
    os.environ["MLGATE_RUN_DIR"] = str(Path(tmp) / "RUN-001")
    os.environ["MLGATE_RUN_ID"] = "RUN-001"
    torch.set_num_threads(1)  # one core for the loop: steadier numbers on a shared machine
    try:
        torch.manual_seed(0)
        x = torch.randn(4096, 128)
        y = torch.randint(0, 10, (4096,))
        model = torch.nn.Sequential(torch.nn.Linear(128, 256), torch.nn.ReLU(),
                                    torch.nn.Linear(256, 256), torch.nn.ReLU(),
                                    torch.nn.Linear(256, 10))
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        tr = track.init(config={"bench": "track"})
        _loop(torch, model, opt, x, y, 200, 0)  # warm up
        _loop(torch, model, opt, x, y, 50, 0, tr)
        base, logged = [], []
        step = 1000
        for k in range(STEPS // BLOCK):
            # A/B then B/A: neither variant always runs second (caches, frequency, drift).
            for variant in ((0, 1) if k % 2 == 0 else (1, 0)):
                if variant == 0:
                    base.append(_loop(torch, model, opt, x, y, BLOCK, 0) / BLOCK)
                else:
                    logged.append(_loop(torch, model, opt, x, y, BLOCK, step, tr) / BLOCK)
                    step += BLOCK
        # One run.log call, amortized over its flushes.
        loss = torch.tensor(0.5)
        acc = torch.tensor(0.9)
        calls = []
        for _ in range(5):
            t0 = time.perf_counter()
            for i in range(1000):
                tr.log({"loss": loss, "acc": acc}, step=step + i)
            calls.append((time.perf_counter() - t0) / 1000)
            step += 1000
        t0 = time.perf_counter()
        tr.finish()
        finish_s = time.perf_counter() - t0
    finally:
        torch.set_num_threads(old_threads)
        for k, v in old_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    mb, ml = statistics.median(base), statistics.median(logged)
    paired = statistics.median(b_l / b_b for b_b, b_l in zip(base, logged))
    best = min(logged) / min(base)
    print(f"bench_track: paired median ratio {paired:.3f}, min/min ratio {best:.3f}, "
          f"amortized log call {statistics.median(calls) * 1e6:.1f} us", file=sys.stderr)
    return [
        {"name": "track.log in an MLP training loop (per step)", "median_s": ml,
         "baseline": f"same loop without run.log ({mb * 1e3:.3f} ms/step)",
         "ratio": paired, "goal": GOAL},
        {"name": "run.log call (2 tensors, amortized)", "median_s": statistics.median(calls),
         "baseline": None, "ratio": None, "goal": "no per-step host sync (batched reads)"},
        {"name": "run.finish (flush, summary, plots, wandb writer)", "median_s": finish_s,
         "baseline": None, "ratio": None, "goal": "informational"},
    ]


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    for row in run():
        ratio = f"{row['ratio']:.3f}" if row["ratio"] is not None else "-"
        print(f"{row['name']:<55} {row['median_s'] * 1e6:10.1f} us  ratio {ratio:>6}  "
              f"goal {row['goal']}  baseline: {row['baseline'] or '-'}")
