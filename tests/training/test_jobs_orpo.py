"""The ORPO job (TRL experimental) moves the policy towards chosen answers without a reference model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.training.jobs_helpers import read_jsonl, weights_differ, write_jsonl
from tests.training.posttrain_helpers import marker_pairs
from training.jobs import common, orpo


@pytest.mark.slow
def test_orpo_job_with_default_settings_raises_held_out_preference_accuracy(tmp_path: Path, tiny_policy: Path) -> None:
    config = {
        "model": str(tiny_policy), "output_dir": str(tmp_path / "out"), "run_dir": str(tmp_path / "run"),
        "train_file": str(write_jsonl(tmp_path / "train.jsonl", marker_pairs(64, seed=1))),
        "eval_file": str(write_jsonl(tmp_path / "eval.jsonl", marker_pairs(32, seed=2))),
    }
    orpo.main(common.config_from_dict(orpo.ORPOJobConfig, config))

    result = json.loads((tmp_path / "run" / "result.json").read_text())
    assert result["eval_start_preference_accuracy"] < 0.2, "the untrained policy prefers the rejected opening"
    assert result["eval_preference_accuracy"] > result["eval_start_preference_accuracy"] + 0.3
    assert result["eval_reward_margin"] > 0
    metrics = read_jsonl(tmp_path / "run" / "metrics.jsonl")
    assert metrics[0]["progress"] == 0.0 and metrics[-1]["progress"] == 1.0
    assert any("log_odds_ratio" in m for m in metrics), "ORPO's odds-ratio term reaches metrics.jsonl"
    out = tmp_path / "out"
    assert weights_differ(tiny_policy, out) and common.load_tokenizer(str(out)).chat_template


def test_orpo_comes_from_trls_experimental_package() -> None:
    from trl.experimental.orpo import ORPOConfig

    config = orpo.orpo_config(orpo.ORPOJobConfig(model="m", train_file="t", output_dir="o"), Path("/nonexistent/work"))
    assert isinstance(config, ORPOConfig) and config.beta == 0.1 and config.bf16 is False


@pytest.mark.parametrize(("field", "value", "message"), [
    ("beta", 0.0, "must be >="),
    ("learning_rate", 2.0, "must be <="),
    ("use_lora", "no", "expected true or false"),
])
def test_orpo_config_rejects_bad_values_naming_the_field(field: str, value: object, message: str) -> None:
    with pytest.raises(common.ConfigError, match=f"^{field}: .*{message}"):
        common.config_from_dict(orpo.ORPOJobConfig, {"model": "m", "train_file": "t", "output_dir": "o", field: value})
