"""Training code as people already write it (issue 15), run for real through the `train`
handler on CPU with tiny models on sklearn's digits: plain wandb, Lightning with each logger
(CSV, its default TensorBoard logger, WandbLogger, MlgateLogger beside WandbLogger) and with 2
DDP processes (gloo), Hugging Face Trainer (report_to wandb, and the mlgate callback), and a
script that only prints. Each reaches `train: Pass` with the numbers of the script's own log,
its wandb run linked and the success criterion closed on the right value."""
from __future__ import annotations

import csv
import json
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from mlgate.evidence.results import HandlerContext
from mlgate.handlers.runner import run_handler
from mlgate.handlers.train import TrainHandler
from mlgate.state.mdparse import Document

sys.path.insert(0, str(Path(__file__).parent / "data" / "train_scripts"))
from train_script_helpers import PY, meta, metrics, wandb_history  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
STACKS = Path(__file__).parent / "data" / "stacks"
REQ = REPO / "stages" / "02-requirements-and-success-criteria" / "requirements-template.md"
PLAN = REPO / "stages" / "03-experiment-plan" / "experiment-plan-template.md"

pytestmark = [pytest.mark.slow, pytest.mark.timeout(480)]


@pytest.fixture
def ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A workspace root holding the stack scripts, with a ticket folder."""
    monkeypatch.delenv("WANDB_DIR", raising=False)  # the launcher points wandb at the run
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    monkeypatch.setenv("MLGATE_WANDB_NICE", "0")
    root = tmp_path / "ws"
    root.mkdir()
    for p in STACKS.glob("*.py"):
        shutil.copy(p, root / p.name)
    (root / "tickets" / "in-progress" / "demo").mkdir(parents=True)
    return root


def train(ws: Path, command: str, criterion: tuple[str, str, float], monitoring: list[str],
          **options: Any) -> tuple[Any, Path, dict[str, dict[str, str]]]:
    """`mlgate run train` for ``command``: the handler result, the run folder, the report's
    Success Criteria Closure row and its text."""
    folder = ws / "tickets" / "in-progress" / "demo"
    metric, op, threshold = criterion
    (folder / "requirements.md").write_text(REQ.read_text().replace(
        "| SC-001 | R-001 |  |  |  |  |  |",
        f"| SC-001 | R-001 | {metric} | {op} | {threshold} | val |  |"))
    rows = "".join(f"| {k} | {k} | as logged | script |\n" for k in monitoring)
    head = ("| W&B key | What it measures | How it's calculated | Source |\n"
            "| --- | --- | --- | --- |\n")
    (folder / "experiment-plan.md").write_text(PLAN.read_text().replace(head, head + rows))
    opts = {"command": command, "launcher": "local", "nproc": 1, "batch_size": 100,
            "grad_accum": 1, "timeout": 420, "stall_after": 240, "oom_retries": 0, "seed": 0,
            "data": [], **options}
    ctx = HandlerContext(workspace=ws, ticket="demo", stage=5, folder=folder, worktree=ws,
                         options=opts, config={"wandb": {"mode": "offline"},
                                               "stage5_policy": "strict"})
    result = run_handler(TrainHandler(), ctx)
    checks = [(c.id, c.status, c.detail) for c in result.checks]
    run_dir = folder / "runs" / result.to_dict()["runs"][-1]["run"]
    assert result.status == "Pass", (checks, (run_dir / "train.log").read_text()[-3000:])
    assert [c[:2] for c in checks] == [("launch", "pass"), ("run", "pass"), ("metrics", "pass"),
                                       ("plots", "pass"), ("closure", "pass")]
    report = Document.load(folder / "training-validation-report.md")
    [sc] = report.section("Success Criteria Closure").table.as_dicts()
    return result, run_dir, {"sc": sc,
                             "text": (folder / "training-validation-report.md").read_text()}


def closed_on(tables: dict[str, Any], value: float) -> None:
    from mlgate.runs.baselines import fmt_number

    sc = tables["sc"]
    assert sc["Decision"] == "Passed", sc
    assert sc["Observed Result"] == fmt_number(value)


def wandb_folder(run_dir: Path, ws: Path) -> Path:
    from mlgate.runs.core import resolve_meta_path

    wb = meta(run_dir)["wandb"]
    folder = resolve_meta_path(run_dir, wb["dir"])
    assert folder is not None and folder.is_dir() and folder.name.endswith(wb["run_id"])
    return folder


# -- plain wandb, stdout -------------------------------------------------------------------


def test_plain_wandb_script(ws: Path) -> None:
    result, run_dir, tables = train(ws, f"{PY} plain_wandb.py", ("val/acc", ">=", 0.5),
                                    ["train/loss", "val/acc"])
    m = meta(run_dir)
    assert m["metrics_source"]["kind"] == "wandb"
    wb = m["wandb"]
    assert wb["project"] == "digits-plain" and wb["linked"] == "found"  # the script's own
    own = [r for r in wandb_history(wandb_folder(run_dir, ws)) if "val/acc" in r]
    assert [r["val/acc"] for r in metrics(run_dir) if "val/acc" in r] == \
        [r["val/acc"] for r in own]
    assert result.metrics["val/acc"] == own[-1]["val/acc"]
    closed_on(tables, own[-1]["val/acc"])
    assert f"offline run {wb['run_id']} in project digits-plain" in \
        __import__("mlgate.report.html", fromlist=["_wandb_text"])._wandb_text(wb)


def test_script_that_only_prints(ws: Path) -> None:
    regex = r"epoch (?P<step>\d+) train_loss=(?P<train_loss>\S+) val_acc=(?P<val_acc>\S+)"
    result, run_dir, tables = train(ws, f"{PY} stdout_only.py", ("val_acc", ">=", 0.5),
                                    ["train_loss", "val_acc"], metrics_regex=regex)
    printed = [line.split() for line in (run_dir / "train.log").read_text().splitlines()
               if line.startswith("epoch ")]
    own = [float(words[3].split("=")[1]) for words in printed]
    assert len(own) == 4
    assert [r["val_acc"] for r in metrics(run_dir)] == own
    assert meta(run_dir)["metrics_source"] | {"imported": 0} == {
        "kind": "stdout", "path": "train.log", "rows": 4, "keys": ["train_loss", "val_acc"],
        "imported": 0}
    closed_on(tables, own[-1])


# -- Lightning -------------------------------------------------------------------------------


def _final(run_dir: Path) -> dict[str, float]:
    [line] = [ln for ln in (run_dir / "train.log").read_text().splitlines()
              if ln.startswith("FINAL ")]
    return json.loads(line[len("FINAL "):])


def test_lightning_csv_logger_in_the_worktree(ws: Path) -> None:
    pytest.importorskip("lightning", reason="mlgate[lightning] is not installed")
    result, run_dir, tables = train(ws, f"{PY} lightning_digits.py --logger csv",
                                    ("val/acc", ">=", 0.5), ["train/loss", "val/acc",
                                                             "test/acc"])
    [path] = list((ws / "logs" / "digits").glob("version_*/metrics.csv"))
    with open(path) as fh:
        own = [float(r["val/acc"]) for r in csv.DictReader(fh) if r.get("val/acc")]
    assert [r["val/acc"] for r in metrics(run_dir) if "val/acc" in r] == own
    assert meta(run_dir)["metrics_source"]["path"] == "logs/digits/version_0/metrics.csv"
    closed_on(tables, own[-1])
    assert result.metrics["test/acc"] == pytest.approx(_final(run_dir)["test/acc"])
    # the checkpoint Lightning wrote beside the CSV log is in the Reproducibility Record
    assert "logs/digits/version_0/checkpoints/epoch=1-step=28.ckpt (RUN-001)" in tables["text"]


def test_lightning_default_logger_writes_into_the_run_folder(ws: Path) -> None:
    """No logger argument: Lightning's TensorBoard logger under default_root_dir, which the
    launcher points at the run folder; the checkpoint is there too."""
    pytest.importorskip("lightning", reason="mlgate[lightning] is not installed")
    pytest.importorskip("tensorboard", reason="mlgate[tensorboard] is not installed")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    result, run_dir, tables = train(ws, f"{PY} lightning_digits.py --logger default",
                                    ("val/acc", ">=", 0.5), ["train/loss", "val/acc",
                                                             "test/acc"])
    logdir = run_dir / "lightning_logs" / "version_0"
    acc = EventAccumulator(str(logdir))
    acc.Reload()
    own = [e.value for e in acc.Scalars("val/acc")]
    assert [r["val/acc"] for r in metrics(run_dir) if "val/acc" in r] == own
    assert meta(run_dir)["metrics_source"]["kind"] == "tensorboard"
    assert not (ws / "lightning_logs").exists()
    closed_on(tables, own[-1])
    assert "runs/RUN-001/lightning_logs/version_0/checkpoints/epoch=1-step=28.ckpt" in \
        tables["text"]


def test_lightning_wandb_logger(ws: Path) -> None:
    pytest.importorskip("lightning", reason="mlgate[lightning] is not installed")
    result, run_dir, tables = train(ws, f"{PY} lightning_digits.py --logger wandb",
                                    ("val/acc", ">=", 0.5), ["train/loss", "val/acc",
                                                             "test/acc"])
    wb = meta(run_dir)["wandb"]
    assert wb["project"] == "digits-lightning" and wb["run_id"]
    own = [r for r in wandb_history(wandb_folder(run_dir, ws)) if "val/acc" in r]
    ours = [r for r in metrics(run_dir) if "val/acc" in r]
    assert [r["val/acc"] for r in ours] == [r["val/acc"] for r in own]
    assert [r["step"] for r in ours] == [r["trainer/global_step"] for r in own]
    closed_on(tables, own[-1]["val/acc"])
    assert f"digits-lightning/{wb['run_id']}/checkpoints/epoch=1-step=28.ckpt" in \
        tables["text"]


def test_mlgate_logger_beside_wandb_logger_standalone_pytorch_lightning(ws: Path) -> None:
    """[WandbLogger(), MlgateLogger()]: metrics.jsonl written by mlgate (also a value logged
    with mlgate.track from test_step, under inference mode), the WandbLogger's run linked,
    not doubled."""
    pytest.importorskip("pytorch_lightning", reason="mlgate[lightning] is not installed")
    result, run_dir, tables = train(
        ws, f"{PY} lightning_digits.py --logger wandb+mlgate --package pytorch_lightning",
        ("val/acc", ">=", 0.5), ["train/loss", "val/acc", "test/acc", "test/batch_acc"])
    m = meta(run_dir)
    assert m["metrics_source"]["kind"] == "track" and m["status"] == "completed"
    wb = m["wandb"]
    assert wb["shared"] is True and wb["logged_by_mlgate"] is False
    assert wb["project"] == "digits-lightning"
    folders = list((ws / "wandb").glob("offline-run-*")) + list(run_dir.glob("wandb/*run-*"))
    assert [f.name.rsplit("-", 1)[1] for f in folders] == [wb["run_id"]]  # one wandb run
    own = [r for r in wandb_history(folders[0]) if "val/acc" in r]
    assert [r["val/acc"] for r in metrics(run_dir) if "val/acc" in r] == \
        pytest.approx([r["val/acc"] for r in own])
    assert len([r for r in metrics(run_dir) if "test/batch_acc" in r]) == 4
    closed_on(tables, own[-1]["val/acc"])
    assert m["script_config"]["lr"] == 0.01  # save_hyperparameters reached the run config


def test_lightning_ddp_two_processes(ws: Path) -> None:
    """devices=2 through Lightning's own launcher (it sets only LOCAL_RANK in the second
    process): one writer, each step once, the synced validation accuracy."""
    pytest.importorskip("lightning", reason="mlgate[lightning] is not installed")
    result, run_dir, tables = train(ws, f"{PY} lightning_digits.py --logger mlgate "
                                    f"--devices 2 --epochs 1", ("val/acc", ">=", 0.3),
                                    ["train/loss", "val/acc", "test/acc", "test/batch_acc"])
    rows = metrics(run_dir)
    train_steps = [r["step"] for r in rows if "train/loss" in r]
    assert train_steps == sorted(set(train_steps)) and len(train_steps) >= 3
    [val] = [r["val/acc"] for r in rows if "val/acc" in r]
    [test] = [r["test/acc"] for r in rows if "test/acc" in r]
    # the test loop runs the trained model on the validation set again: the same accuracy,
    # all-reduced over both processes' halves, as the script's own final record
    assert val == pytest.approx(test) == pytest.approx(_final(run_dir)["test/acc"])
    log = (run_dir / "train.log").read_text()
    assert "distributed_backend=gloo" in log and "MEMBER: 2/2" in log
    closed_on(tables, val)
    assert len(list(run_dir.glob("wandb/offline-run-*"))) == 1  # one wandb writer


# -- Hugging Face Trainer --------------------------------------------------------------------


def test_hf_trainer_report_to_wandb(ws: Path) -> None:
    pytest.importorskip("transformers", reason="mlgate[hf] is not installed")
    result, run_dir, tables = train(ws, f"{PY} hf_digits.py --report-to wandb",
                                    ("eval/accuracy", ">=", 0.5),
                                    ["train/loss", "eval/accuracy", "eval/loss"])
    own = [r for r in json.loads((run_dir / "log_history.json").read_text())
           if "eval_accuracy" in r]
    ours = [r for r in metrics(run_dir) if "eval/accuracy" in r]
    assert [r["eval/accuracy"] for r in ours] == [r["eval_accuracy"] for r in own]
    assert [r["step"] for r in ours] == [r["step"] for r in own]  # the Trainer's global step
    wb = meta(run_dir)["wandb"]
    assert wb["project"] == "huggingface" and wb["run_id"]
    closed_on(tables, own[-1]["eval_accuracy"])
    assert "runs/RUN-001/checkpoint-56/model.safetensors" in tables["text"]


def test_hf_trainer_report_to_mlgate(ws: Path) -> None:
    pytest.importorskip("transformers", reason="mlgate[hf] is not installed")
    result, run_dir, tables = train(ws, f"{PY} hf_digits.py --report-to mlgate",
                                    ("eval_accuracy", ">=", 0.5),
                                    ["loss", "eval_accuracy", "eval_loss"])
    own = json.loads((run_dir / "log_history.json").read_text())
    ours = metrics(run_dir)
    assert [r["eval_accuracy"] for r in ours if "eval_accuracy" in r] == \
        [r["eval_accuracy"] for r in own if "eval_accuracy" in r]
    assert [r["loss"] for r in ours if "loss" in r] == [r["loss"] for r in own if "loss" in r]
    m = meta(run_dir)
    assert m["metrics_source"]["kind"] == "track"
    assert m["script_config"]["learning_rate"] == 0.01
    assert m["wandb"]["run_id"] and m["wandb"]["finished"]  # mlgate's own wandb run
    closed_on(tables, [r for r in own if "eval_accuracy" in r][-1]["eval_accuracy"])


# -- the complete examples of the docs run as shown ------------------------------------------

DOCS = REPO / "docs" / "integrations"


def _block(page: str, lang: str = "python") -> str:
    import re

    return re.findall(rf"```{lang}\n(.*?)```", (DOCS / page).read_text(), flags=re.S)[0]


@pytest.mark.parametrize("page, kind", [("plain-wandb.md", "wandb"), ("stdout.md", "stdout"),
                                        ("tensorboard.md", "tensorboard")])
def test_docs_examples_run_as_shown(ws: Path, page: str, kind: str) -> None:
    import yaml

    if kind == "tensorboard":
        pytest.importorskip("tensorboard", reason="mlgate[tensorboard] is not installed")
    from mlgate.runs import core as runs
    from mlgate.runs import watch

    (ws / "train.py").write_text(_block(page))
    cfg = {"command": f"{PY} train.py", "stall_after": 240, "timeout": 420}
    train = yaml.safe_load(_block(page, "yaml")).get("train") or {}
    cfg.update({k: v for k, v in train.items() if k != "command"})
    h = runs.launch(ws / "tickets" / "in-progress" / "demo", "demo", cfg, ws)
    assert watch.watch(h.run_dir, poll=0.2) == "completed"
    src = meta(h.run_dir)["metrics_source"]
    assert src["kind"] == kind and src["rows"] > 0, src
    assert {"val/acc", "val_acc"} & set(src["keys"]), src
