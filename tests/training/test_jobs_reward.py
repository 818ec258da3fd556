"""The reward job learns which answer annotators preferred and reports it honestly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.training.jobs_helpers import make_preference_rows, read_jsonl, run_job_module, write_jsonl
from training.jobs import common, reward
from training.jobs.preferences import token_lengths

MAX_LENGTH = 40  # short enough that some bundled dialogues are too long, so drops are counted


def test_reward_job_learns_separable_preferences(tmp_path: Path, tiny_policy: Path) -> None:
    train = make_preference_rows(128, seed=1)
    held_out = make_preference_rows(40, seed=2)
    config = {
        "model": str(tiny_policy), "output_dir": str(tmp_path / "rm"), "run_dir": str(tmp_path / "run"),
        "train_file": str(write_jsonl(tmp_path / "train.jsonl", train)),
        "eval_file": str(write_jsonl(tmp_path / "eval.jsonl", held_out)),
        "learning_rate": 1e-3, "num_train_epochs": 3.0, "max_length": MAX_LENGTH, "logging_steps": 5,
        "center_rewards_coefficient": 0.01,
    }
    proc = run_job_module("reward", config, tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]

    result = json.loads((tmp_path / "run" / "result.json").read_text())
    assert result["eval_accuracy"] >= 0.9
    # The untrained score head is measured on the same held-out pairs, so the page shows before -> after.
    assert 0.0 <= result["eval_start_accuracy"] <= result["eval_accuracy"]
    assert set(result["eval_accuracy_by_margin"]) == {"1", "2", "3+"}
    assert sum(b["pairs"] for b in result["eval_accuracy_by_margin"].values()) == result["eval_pairs"]
    too_long = sum(max(token_lengths(_tok(tiny_policy), r)) > MAX_LENGTH for r in train)
    assert too_long > 0 and result["dropped_too_long"]["train"] == too_long
    assert result["train_pairs"] == len(train) - too_long

    metrics = read_jsonl(tmp_path / "run" / "metrics.jsonl")
    progress = [m["progress"] for m in metrics]
    assert progress == sorted(progress) and progress[-1] == 1.0 and any("loss" in m for m in metrics)
    held_out = [(m["step"], m["eval_accuracy"]) for m in metrics if "eval_accuracy" in m]
    assert held_out == [(0, result["eval_start_accuracy"]), (result["global_step"], result["eval_accuracy"])]

    model = common.load_reward_model(str(tmp_path / "rm"))
    assert model.config.num_labels == 1 and model.config.pad_token_id == _tok(tiny_policy).pad_token_id
    assert (tmp_path / "rm" / "COMPLETE").exists()


def _tok(path: Path):  # type: ignore[no-untyped-def]
    return common.load_tokenizer(str(path))


def test_reward_job_fails_clearly_when_every_pair_is_too_long(tmp_path: Path, tiny_policy: Path) -> None:
    config = reward.RewardJobConfig(
        model=str(tiny_policy), output_dir=str(tmp_path / "rm"),
        train_file=str(write_jsonl(tmp_path / "train.jsonl", make_preference_rows(8))), max_length=8,
    )
    with pytest.raises(common.JobError, match="max_length: all 8 training pairs are longer than 8 tokens"):
        reward.main(config)
    assert not (tmp_path / "rm").exists()


def test_reward_job_names_the_malformed_row(tmp_path: Path, tiny_policy: Path) -> None:
    rows = make_preference_rows(3)
    rows[1]["chosen"] = "a plain string"
    config = reward.RewardJobConfig(model=str(tiny_policy), output_dir=str(tmp_path / "rm"),
                                    train_file=str(write_jsonl(tmp_path / "train.jsonl", rows)))
    with pytest.raises(common.JobError, match="train_file line 2: 'chosen'"):
        reward.main(config)


@pytest.mark.parametrize(("field", "value"), [("learning_rate", 0.0), ("max_steps", 0), ("eval_fraction", 0.9),
                                              ("center_rewards_coefficient", -1.0), ("use_margin", "yes")])
def test_reward_config_rejects_bad_values_naming_the_field(field: str, value: object) -> None:
    with pytest.raises(common.ConfigError, match=f"^{field}:"):
        common.config_from_dict(reward.RewardJobConfig, {"model": "m", "train_file": "t", "output_dir": "o", field: value})
