"""``launcher: slurm`` against a real Slurm cluster started by the suite (tests/slurm_cluster.py:
munged, slurmctld and two slurmd on this machine). Each behaviour of the launcher has its own
test; they skip with the reason where Slurm cannot be installed."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "data" / "train_scripts"))
from train_script_helpers import PY, command, meta, metrics, script, wait_for  # noqa: E402,F401


@pytest.fixture(autouse=True)
def _fast_writer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLGATE_WANDB_NICE", "0")


def test_the_test_cluster_runs_a_two_node_batch_job(slurm, tmp_path: Path) -> None:
    out = tmp_path / "job.out"
    sub = slurm.run("sbatch", "--parsable", "--nodes=2", f"--output={out}",
                    "--wrap", "srun bash -c 'echo task $SLURM_PROCID on $SLURMD_NODENAME'")
    job_id = sub.stdout.strip().split(";")[0]
    slurm.wait_job(job_id)
    assert sorted(out.read_text().split("\n")[:2]) == ["task 0 on n1", "task 1 on n2"]
    info = slurm.job(job_id)
    assert (info["JobState"], info["NodeList"], info["Partition"]) == \
        ("COMPLETED", "n[1-2]", slurm.partition)
