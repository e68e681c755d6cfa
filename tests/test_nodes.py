"""Multi-node torchrun simulated on this machine: ``train.nnodes: 2`` starts two torchrun agents
with the c10d rendezvous on 127.0.0.1 (gloo on CPU). Real processes, real torch. Under Slurm
(``srun torchrun``) the same is in tests/test_slurm.py."""
from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import pytest

from mlgate.errors import ConfigError
from mlgate.runs import core as runs
from mlgate.runs import nodes
from mlgate.runs import watch

sys.path.insert(0, str(Path(__file__).parent / "data" / "train_scripts"))
from train_script_helpers import PY, command, meta, metrics, script  # noqa: E402
from train_script_helpers import _fast_writer, ticket  # noqa: E402,F401 (fixtures)


def cfg(**over: Any) -> dict[str, Any]:
    return {"command": command("ddp_nodes.py"), "launcher": "torchrun", "nnodes": 2,
            "nproc": 1, "stall_after": 120, "timeout": 240,
            "env": {"TEST_NO_WANDB": "1", **over.pop("env", {})}, **over}


def test_the_agent_argv_has_the_c10d_rendezvous() -> None:
    argv = runs.build_argv(f"{PY} -u {script('ddp_nodes.py')} --lr 0.1", "torchrun", 3, 2)
    assert argv == [PY, "-m", "torch.distributed.run", "--nnodes=2", "--nproc-per-node=3",
                    "--rdzv-backend=c10d", f"--rdzv-endpoint={nodes.ENDPOINT}",
                    f"--rdzv-id={nodes.RDZV_ID}", script("ddp_nodes.py"), "--lr", "0.1"]
    assert nodes.fill_rendezvous(argv, "10.0.0.7:29400", "42")[5:8] == [
        "--rdzv-backend=c10d", "--rdzv-endpoint=10.0.0.7:29400", "--rdzv-id=42"]
    with pytest.raises(ConfigError, match="train.nnodes > 1"):
        runs.build_argv("torchrun --nproc-per-node 2 train.py", "torchrun", 1, 2)
    with pytest.raises(ConfigError, match="launcher torchrun"):
        runs.train_settings({"command": "python train.py", "nnodes": 2})


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_two_simulated_nodes_run_both_ranks_and_rank_0_alone_logs(ticket: Path,
                                                                  tmp_path: Path) -> None:
    h = runs.launch(ticket, "demo", cfg(), tmp_path)
    assert watch.watch(h.run_dir, poll=0.2) == "completed", (h.run_dir / "train.log").read_text()
    log = (h.run_dir / "train.log").read_text()
    assert "2 nodes simulated on this machine; c10d rendezvous at 127.0.0.1:" in log
    lines = sorted(re.findall(r"^(\d): rank (\d) of 2 on node (\d) \(this machine\): "
                              r"(Run|NoOpRun)$", log, flags=re.M))
    # one rank per node, each line labelled with the node it came from
    assert [(rank, node, kind) for _, rank, node, kind in lines] == [
        ("0", "0", "Run"), ("1", "1", "NoOpRun")]
    assert {label for label, *_ in lines} == {"0", "1"}
    for rank in (0, 1):
        assert re.search(rf"^\d: rank {rank} done$", log, re.M)
    rows = metrics(h.run_dir)
    assert [r["step"] for r in rows] == list(range(5))
    assert {r["rank"] for r in rows} == {0} and {r["world"] for r in rows} == {2}
    m = meta(h.run_dir)
    assert m["nnodes"] == 2 and m["argv"][1:4] == ["-m", "mlgate.runs.nodes", "--nnodes=2"]


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_failure_on_one_node_is_classified_for_the_run(ticket: Path, tmp_path: Path) -> None:
    h = runs.launch(ticket, "demo", cfg(env={"FAIL_NODE": "1"}), tmp_path)
    assert watch.watch(h.run_dir, poll=0.2) == "crashed"
    log = (h.run_dir / "train.log").read_text()
    assert "RuntimeError: node 1 fails on purpose" in log
    assert re.search(r"\[mlgate\] node \d of 2 failed \(exit 1\); stopping the other node", log)
    m = meta(h.run_dir)
    assert m["exit_code"] == 1 and "[mlgate] the run failed on node" in m["log_tail"]
    assert [r["step"] for r in metrics(h.run_dir)] == [0, 1]  # rank 0 logged until the failure
