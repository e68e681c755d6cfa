"""baselines.yaml: set/show/history/rollback, direction rules, delta sign, promotion."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlgate.runs import baselines
from mlgate.errors import ConfigError, UsageError


def _run_dir(folder: Path, run: str = "RUN-002", status: str = "completed",
             last: dict | None = None, direction: dict | None = None) -> Path:
    d = folder / "runs" / run
    (d / "viz").mkdir(parents=True)
    (d / "meta.json").write_text(json.dumps({
        "run": run, "commit": "c" * 40, "status": status,
        "failure_class": status if status != "running" else None}))
    (d / "summary.json").write_text(json.dumps({
        "run": run, "last": last if last is not None else
        {"val/acc": 0.91, "val/loss": 0.3, "_runtime": 12.0, "note": "text"},
        "best": {"val/acc": 0.93, "val/loss": 0.28},
        "direction": direction if direction is not None else
        {"val/acc": "max", "val/loss": "min"}, "steps": 100}))
    return d


def test_missing_file_is_empty_and_show_says_how_to_set(tmp_path: Path) -> None:
    b = baselines.load(tmp_path)
    assert b.current is None and b.history == []
    assert b.delta("val/acc", 0.9) is None
    assert b.improved("val/acc", 0.9) is None
    text = baselines.format_show(b)
    assert "no baseline set" in text and "mlgate baseline set" in text


def test_set_show_history_rollback_round_trip(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("MLGATE_TODAY", "2025-01-10")
    b = baselines.load(tmp_path)
    first = b.set({"val/acc": 0.8, "val/loss": 0.5}, commit="a" * 40, ticket="t1",
                  run="RUN-001", note="first")
    b.save()
    monkeypatch.setenv("MLGATE_TODAY", "2025-01-20")
    b = baselines.load(tmp_path)
    assert b.current.metrics == {"val/acc": 0.8, "val/loss": 0.5}
    b.set({"val/acc": 0.85, "val/loss": 0.4}, {"val/acc": "max"}, ticket="t2", run="RUN-003")
    b.save()
    monkeypatch.setenv("MLGATE_TODAY", "2025-01-30")
    b = baselines.load(tmp_path)
    b.set({"val/acc": 0.9, "val/loss": 0.35}, note="third")
    b.save()

    b = baselines.load(tmp_path)
    assert b.current.metrics["val/acc"] == 0.9
    assert [e.metrics["val/acc"] for e in b.history] == [0.8, 0.85]
    assert b.history[0].replaced == "2025-01-20"
    assert "replaced by baseline 2" in b.history[0].reason
    show = baselines.format_show(b)
    assert "val/acc" in show and "0.9" in show and "max (higher is better" in show
    assert "min (lower is better, by name)" in show
    hist = baselines.format_history(b).splitlines()
    assert hist[0].startswith("* baseline 3") and "(current)" in hist[0]
    assert "baseline 1" in hist[-1] and "RUN-001 of t1" in hist[-1]

    restored = b.rollback()
    b.save()
    b = baselines.load(tmp_path)
    assert b.current.metrics == {"val/acc": 0.85, "val/loss": 0.4}
    assert b.current.restored_from == 2 and restored.restored_from == 2
    assert b.current.direction == {"val/acc": "max"}
    # nothing was deleted: the rolled-back entry is in history with the reason
    assert len(b.history) == 3
    assert b.history[-1].metrics["val/acc"] == 0.9
    assert b.history[-1].reason == "rolled back to baseline 2"

    # a second rollback keeps going back along the chain (not back to 0.9)
    b.rollback()
    assert b.current.metrics["val/acc"] == 0.8
    with pytest.raises(UsageError, match="no earlier baseline"):
        b.rollback()
    assert first.id == 1


def test_rollback_several_steps_and_without_baseline(tmp_path: Path) -> None:
    b = baselines.load(tmp_path)
    with pytest.raises(UsageError, match="no baseline to roll back"):
        b.rollback()
    for v in (0.1, 0.2, 0.3, 0.4):
        b.set({"acc": v})
    b.rollback(steps=3)
    assert b.current.metrics == {"acc": 0.1}
    with pytest.raises(UsageError, match=">= 1"):
        b.rollback(steps=0)


@pytest.mark.parametrize("name, expected", [
    ("val/loss", "min"), ("train/Loss", "min"), ("test_error", "min"), ("ppl_perplexity", "min"),
    ("val/MSE", "min"), ("mae", "min"), ("eval/rmse", "min"),
    ("val/acc", "max"), ("f1", "max"), ("bleu", "max"), ("lr", "max"),
])
def test_direction_heuristic_by_name(tmp_path: Path, name: str, expected: str) -> None:
    assert baselines.heuristic_direction(name) == expected
    b = baselines.load(tmp_path)
    b.set({name: 1.0})
    assert b.direction(name) == expected


def test_declared_direction_overrides_the_name(tmp_path: Path) -> None:
    b = baselines.load(tmp_path)
    b.set({"loss_scale": 4.0, "val/acc": 0.5}, {"loss_scale": "max", "val/acc": "min"})
    b.save()
    b = baselines.load(tmp_path)
    assert b.direction("loss_scale") == "max"
    assert b.direction("val/acc") == "min"
    assert b.improved("loss_scale", 5.0) is True
    assert b.improved("val/acc", 0.6) is False


def test_delta_sign_is_candidate_minus_baseline(tmp_path: Path) -> None:
    b = baselines.load(tmp_path)
    b.set({"val/loss": 0.5, "val/acc": 0.8})
    assert b.delta("val/loss", 0.4) == pytest.approx(-0.1)
    assert b.improved("val/loss", 0.4) is True  # lower loss is better
    assert b.improved("val/loss", 0.6) is False
    assert b.delta("val/acc", 0.9) == pytest.approx(0.1)
    assert b.improved("val/acc", 0.9) is True
    assert b.improved("val/acc", 0.7) is False
    assert b.improved("val/acc", 0.8) is False  # equal is not an improvement
    assert b.delta("unknown", 1.0) is None
    assert b.delta("val/acc", float("nan")) is None


def test_set_rejects_bad_values(tmp_path: Path) -> None:
    b = baselines.load(tmp_path)
    with pytest.raises(UsageError, match="not a finite number"):
        b.set({"val/acc": "high"})
    with pytest.raises(UsageError, match="'min'"):
        b.set({"val/acc": 0.9}, {"val/acc": "up"})
    with pytest.raises(UsageError, match="at least one metric"):
        b.set({})
    assert b.set({"val/acc": "0.9"}).metrics == {"val/acc": 0.9}  # CLI strings are fine


def test_promote_run_from_run_dir(tmp_path: Path) -> None:
    run = _run_dir(tmp_path)
    b = baselines.load(tmp_path)
    entry = b.promote_run(run, ticket="better-aug", commit=None)
    assert entry.metrics == {"val/acc": 0.91, "val/loss": 0.3}  # last values, not best
    assert entry.direction == {"val/acc": "max", "val/loss": "min"}
    assert entry.run == "RUN-002" and entry.ticket == "better-aug"
    assert entry.commit == "c" * 40  # from meta.json
    assert entry.note == "promoted RUN-002"
    b.save()
    again = baselines.load(tmp_path)
    assert again.current.run == "RUN-002" and again.current.commit == "c" * 40
    b2 = baselines.load(tmp_path)
    assert b2.promote_run(run, ticket="x", commit="d" * 40).commit == "d" * 40


def test_promote_refuses_a_run_that_did_not_complete(tmp_path: Path) -> None:
    run = _run_dir(tmp_path, run="RUN-003", status="crashed")
    with pytest.raises(UsageError, match="did not complete"):
        baselines.load(tmp_path).promote_run(run, ticket="t", commit=None)
    with pytest.raises(UsageError, match="summary.json not found"):
        baselines.load(tmp_path).promote_run(tmp_path / "runs" / "RUN-009", "t", None)


def test_malformed_yaml_names_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "baselines.yaml").write_text(
        "current:\n  metrics:\n    val/acc: 0.9\n  direction: [oops\n")
    with pytest.raises(ConfigError) as err:
        baselines.load(tmp_path)
    assert err.value.path.endswith("baselines.yaml")
    assert err.value.line is not None and err.value.line >= 4
    assert "baselines.yaml:" in str(err.value)


def test_bad_values_name_the_line(tmp_path: Path) -> None:
    (tmp_path / "b.yaml").write_text(
        "current:\n  metrics:\n    val/acc: 0.9\n    val/loss: high\n")
    with pytest.raises(ConfigError, match="not a finite number") as err:
        baselines.load(tmp_path, "b.yaml")
    assert err.value.line == 4
    (tmp_path / "b.yaml").write_text(
        "current:\n  metrics: {acc: 0.9}\n  direction:\n    acc: upward\n")
    with pytest.raises(ConfigError, match="must be 'min' or 'max'") as err:
        baselines.load(tmp_path, "b.yaml")
    assert err.value.line == 4
    (tmp_path / "b.yaml").write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        baselines.load(tmp_path, "b.yaml")


def test_hand_written_file_without_ids_chains_history(tmp_path: Path) -> None:
    (tmp_path / "baselines.yaml").write_text(
        "current:\n  metrics: {acc: 0.9}\n  run: RUN-004\n"
        "history:\n  - metrics: {acc: 0.7}\n  - metrics: {acc: 0.8}\n"
        "team: vision\n")
    b = baselines.load(tmp_path)
    assert [e.id for e in b.history] == [1, 2] and b.current.id == 3
    b.rollback()
    assert b.current.metrics == {"acc": 0.8}
    b.save()
    text = (tmp_path / "baselines.yaml").read_text()
    assert "team: vision" in text  # unknown top-level keys are kept
    assert baselines.load(tmp_path).current.metrics == {"acc": 0.8}
