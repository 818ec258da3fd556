"""Every training job writes TensorBoard event files into its run directory; report_to picks other trackers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.training.jobs_helpers import make_preference_rows, read_jsonl, write_jsonl
from training.jobs import common, dpo, tracking


def _scalars(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run_dir / "tensorboard"))
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def test_a_dpo_run_leaves_tensorboard_events_holding_its_loss(tmp_path: Path, tiny_policy: Path) -> None:
    train = write_jsonl(tmp_path / "train.jsonl", make_preference_rows(16))
    run_dir = tmp_path / "run"
    dpo.main(dpo.DPOJobConfig(model=str(tiny_policy), train_file=str(train), output_dir=str(tmp_path / "out"),
                              run_dir=str(run_dir), max_steps=3, logging_steps=1, per_device_train_batch_size=4,
                              learning_rate=1e-4, eval_fraction=0.25))

    assert list((run_dir / "tensorboard").glob("events.out.tfevents.*"))
    logged = [(row["step"], row["loss"]) for row in read_jsonl(run_dir / "metrics.jsonl") if "loss" in row]
    assert len(logged) == 3
    events = _scalars(run_dir)
    assert [step for step, _ in events["loss"]] == [step for step, _ in logged]
    assert [value for _, value in events["loss"]] == pytest.approx([value for _, value in logged], rel=1e-6)
    assert "eval_preference_accuracy" in events  # the job's own figures too, not only the trainer's


def test_report_to_refuses_an_unknown_tracker_naming_the_field() -> None:
    with pytest.raises(common.ConfigError, match="^report_to: unknown tracker comet"):
        common.config_from_dict(dpo.DPOJobConfig, {"model": "m", "train_file": "t", "output_dir": "o",
                                                   "report_to": ["tensorboard", "comet"]})


def test_a_tracker_that_is_not_installed_fails_the_job_before_training(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(tracking, "installed", lambda name: name == "tensorboard")
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"model": "/no/model", "train_file": str(tmp_path / "t.jsonl"),
                                  "output_dir": str(tmp_path / "o"), "report_to": ["tensorboard", "wandb"]}))
    assert common.run_job(dpo.main, dpo.DPOJobConfig, ["--config", str(config)]) == common.EXIT_FAILED
    assert "report_to: wandb not installed on this worker" in capsys.readouterr().err
