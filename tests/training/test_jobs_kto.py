"""The KTO job learns from answers judged one at a time: desirable answers become likelier than undesirable ones."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.training.jobs_helpers import read_jsonl, weights_differ, write_jsonl
from tests.training.posttrain_helpers import marker_pairs
from training.jobs import common, kto
from training.jobs.unpaired import Feedback, balanced_weights, collect, read_feedback


def _config(tmp_path: Path, model: Path, train_rows: list, **overrides) -> dict:
    return {
        "model": str(model), "output_dir": str(tmp_path / "out"), "run_dir": str(tmp_path / "run"),
        "train_file": str(write_jsonl(tmp_path / "train.jsonl", train_rows)),
        "eval_file": str(write_jsonl(tmp_path / "eval.jsonl", marker_pairs(32, seed=2))),
        **overrides,
    }


@pytest.mark.slow
def test_kto_job_with_default_settings_raises_held_out_preference_accuracy(tmp_path: Path, tiny_policy: Path) -> None:
    kto.main(common.config_from_dict(kto.KTOJobConfig, _config(tmp_path, tiny_policy, marker_pairs(64, seed=1))))

    result = json.loads((tmp_path / "run" / "result.json").read_text())
    assert (result["desirable"], result["undesirable"], result["eval_pairs"]) == (64, 64, 32)
    assert result["eval_start_preference_accuracy"] < 0.2, "the untrained policy prefers the rejected opening"
    assert result["eval_preference_accuracy"] > result["eval_start_preference_accuracy"] + 0.15
    assert result["eval_reward_accuracy"] >= 0.9 and result["eval_reward_gap"] > 0
    assert result["eval_desirable_reward"] > 0 > result["eval_undesirable_reward"]
    metrics = read_jsonl(tmp_path / "run" / "metrics.jsonl")
    assert metrics[0]["progress"] == 0.0 and metrics[-1]["progress"] == 1.0
    assert any("rewards_chosen" in m for m in metrics), "KTOTrainer's logs reach metrics.jsonl"
    assert weights_differ(tiny_policy, tmp_path / "out")


@pytest.mark.slow
def test_kto_trains_on_single_thumbs_and_weighs_the_rarer_label_up(tmp_path: Path, tiny_policy: Path) -> None:
    pairs = marker_pairs(48, seed=1)
    thumbs = [{"prompt": p["prompt"], "completion": p["chosen"], "label": True} for p in pairs[:16]]
    thumbs += [{"prompt": p["prompt"], "completion": p["rejected"], "label": False} for p in pairs[16:]]
    kto.main(kto.KTOJobConfig(**_config(tmp_path, tiny_policy, thumbs, num_train_epochs=2.0)))
    result = json.loads((tmp_path / "run" / "result.json").read_text())
    assert (result["desirable"], result["undesirable"]) == (16, 32)
    assert result["desirable_weight"] == pytest.approx(2.0) and result["undesirable_weight"] == 1.0
    assert result["eval_reward_gap"] > 0


def test_preference_rows_unpair_into_a_desirable_and_an_undesirable_answer(tmp_path: Path) -> None:
    pair = marker_pairs(1, seed=0)[0]
    thumb = {"prompt": pair["prompt"], "completion": pair["chosen"], "label": False}
    feedback = collect(read_feedback(write_jsonl(tmp_path / "f.jsonl", [pair, thumb]), field="train_file"))
    assert [(r["completion"], r["label"]) for r in feedback.rows] == [
        (pair["chosen"], True), (pair["rejected"], False), (pair["chosen"], False)]
    assert len(feedback.pairs) == 1 and (feedback.desirable, feedback.undesirable) == (1, 2)
    assert balanced_weights(Feedback(rows=[{"label": True}] * 3), 1.0, 1.0) == (1.0, 1.0), "one label only: unchanged"


@pytest.mark.parametrize(("row", "message"), [
    ({"prompt": [{"role": "user", "content": "Hi"}], "completion": [{"role": "assistant", "content": "Yo"}], "label": "up"},
     "line 1: 'label' must be true"),
    ({"prompt": "Hi", "completion": "Yo", "label": True}, "line 1: expected an object whose 'prompt'"),
    ({"prompt": [{"role": "user", "content": "Hi"}], "chosen": [{"role": "assistant", "content": "Yo"}]},
     "line 1: 'chosen' and 'rejected' must both"),
])
def test_kto_refuses_bad_rows_naming_the_line(tmp_path: Path, row: dict, message: str) -> None:
    with pytest.raises(common.JobError, match=message):
        read_feedback(write_jsonl(tmp_path / "bad.jsonl", [row]), field="train_file")


@pytest.mark.parametrize(("field", "value", "message"), [
    ("loss_type", "sigmoid", "expected one of kto"),
    ("per_device_train_batch_size", 1, "KTO estimates its KL term within a batch"),
    ("desirable_weight", 0.0, "must be >="),
    ("balance_labels", 1, "expected true or false"),
])
def test_kto_config_rejects_bad_values_naming_the_field(field: str, value: object, message: str) -> None:
    with pytest.raises(common.ConfigError, match=f"^{field}: .*{message}"):
        common.config_from_dict(kto.KTOJobConfig, {"model": "m", "train_file": "t", "output_dir": "o", field: value})
