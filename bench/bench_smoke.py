"""torch-smoke on a small model (SPEC §13: <= 5 s on CPU here).

Rows:
* ``torch-smoke (warm)``: the whole handler through ``run_handler`` (factory import, the
  eleven checks, evidence save) on the test zoo's MLP classifier, in a process that has already
  imported torch and used an optimizer once; baseline = one bare forward+backward of the same
  model on the same batch.
* ``torch-smoke (cold process)``: a fresh ``python`` that imports mlgate and runs the handler,
  i.e. what ``mlgate run torch-smoke`` costs end to end (it includes ``import torch`` and the
  first optimizer's import of ``torch._dynamo``); baseline = a fresh python that imports torch
  and does one forward+backward+Adam step. Its goal is on the difference (what the smoke check
  adds to merely starting torch), since importing torch alone can take seconds here.
"""
from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ZOO = REPO / "tests" / "data" / "smoke"
FACTORY = "smokezoo.factories:make"
GOAL = "<= 5 s"

_COLD_SMOKE = f"""
import sys, tempfile
from pathlib import Path
from mlgate.evidence.results import HandlerContext
from mlgate.handlers.runner import run_handler
from mlgate.handlers.torch_smoke import TorchSmokeHandler
with tempfile.TemporaryDirectory() as tmp:
    d = Path(tmp)
    r = run_handler(TorchSmokeHandler(), HandlerContext(
        workspace=d, ticket="b", stage=4, folder=d, worktree=Path({str(ZOO)!r}),
        options={{"factory": {FACTORY!r}}}))
sys.exit(0 if r.status == "Pass" else 1)
"""

_COLD_BASE = f"""
import sys
sys.path.insert(0, {str(ZOO)!r})
import torch
from smokezoo.factories import make
t = make()
opt = torch.optim.Adam(t.model.parameters(), lr=1e-2)
t.loss_fn(t.model(t.batch[0]), t.batch[1]).backward()
opt.step()
"""


def _median(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _subprocess(code: str) -> None:
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO,
                   stdout=subprocess.DEVNULL)


def run() -> list[dict]:
    from mlgate.evidence.results import HandlerContext
    from mlgate.handlers.runner import run_handler
    from mlgate.handlers.torch_smoke import TorchSmokeHandler

    sys.path.insert(0, str(ZOO))
    try:
        from smokezoo.factories import make
    finally:
        sys.path.remove(str(ZOO))
    target = make()

    def bare() -> None:
        target.model.zero_grad(set_to_none=True)
        target.loss_fn(target.model(target.batch[0]), target.batch[1]).backward()

    def smoke() -> None:
        with tempfile.TemporaryDirectory(prefix="mlgate-bench-") as tmp:
            d = Path(tmp)
            ctx = HandlerContext(workspace=d, ticket="bench", stage=4, folder=d, worktree=ZOO,
                                 options={"factory": FACTORY})
            result = run_handler(TorchSmokeHandler(), ctx)
        if result.status != "Pass":
            raise RuntimeError(f"torch-smoke failed on the bench model: {result.checks}")

    smoke()  # warm-up: first optimizer use imports torch._dynamo
    bare()
    base = _median(bare, 50)
    warm = _median(smoke, 5)
    cold_base = _median(lambda: _subprocess(_COLD_BASE), 3)
    cold = _median(lambda: _subprocess(_COLD_SMOKE), 3)
    return [
        {"name": "torch-smoke, small MLP, CPU (warm)", "median_s": warm,
         "baseline": "bare forward+backward of the same model", "ratio": warm / base,
         "goal": GOAL},
        {"name": "torch-smoke, small MLP, CPU (cold process)", "median_s": cold,
         "baseline": "fresh python: import torch + one forward/backward/Adam step",
         "ratio": cold / cold_base, "goal": "<= baseline + 5 s (import torch dominates)"},
    ]


if __name__ == "__main__":
    for row in run():
        ratio = f"{row['ratio']:.1f}x" if row["ratio"] is not None else "-"
        print(f"{row['name']:<45} {row['median_s']:8.3f} s  {ratio:>9}  "
              f"goal {row['goal']}  (baseline: {row['baseline']})")
