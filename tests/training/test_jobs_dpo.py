"""The DPO job moves the policy towards chosen answers and saves a plain, loadable model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.training.jobs_helpers import make_preference_rows, read_jsonl, run_job_module, weights_differ, write_jsonl
from training.jobs import common, dpo


def _config(tmp_path: Path, model: Path, **overrides) -> dict:
    return {
        "model": str(model), "output_dir": str(tmp_path / "out"), "run_dir": str(tmp_path / "run"),
        "train_file": str(write_jsonl(tmp_path / "train.jsonl", make_preference_rows(64, seed=1))),
        "eval_file": str(write_jsonl(tmp_path / "eval.jsonl", make_preference_rows(32, seed=2))),
        "learning_rate": 1e-3, "num_train_epochs": 2.0, "max_length": 64, "logging_steps": 4, **overrides,
    }


def test_dpo_job_raises_held_out_preference_accuracy(tmp_path: Path, tiny_policy: Path) -> None:
    proc = run_job_module("dpo", _config(tmp_path, tiny_policy), tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]

    out = tmp_path / "out"
    assert weights_differ(tiny_policy, out)
    result = json.loads((tmp_path / "run" / "result.json").read_text())
    assert result["eval_preference_accuracy"] > result["eval_start_preference_accuracy"]
    assert result["eval_reward_margin"] > result["eval_start_reward_margin"] == 0.0
    assert result["eval_reward_accuracy"] >= 0.8

    metrics = read_jsonl(tmp_path / "run" / "metrics.jsonl")
    assert metrics[0]["progress"] == 0.0 and metrics[-1]["progress"] == 1.0
    assert any("rewards_margins" in m for m in metrics), "TRL's training logs reach metrics.jsonl"
    tok = common.load_tokenizer(str(out))
    assert tok.chat_template and common.load_causal_lm(str(out)).config.n_layer == 2
    assert not [p.name for p in out.iterdir() if p.suffix in {".bin", ".pt", ".pkl"}], "no pickles in a saved model"


def test_dpo_with_lora_and_ipo_saves_a_merged_plain_model(tmp_path: Path, tiny_policy: Path) -> None:
    config = _config(tmp_path, tiny_policy, use_lora=True, loss_type=["ipo"], num_train_epochs=1.0)
    dpo.main(dpo.DPOJobConfig(**config))
    out = tmp_path / "out"
    assert not (out / "adapter_config.json").exists()
    assert weights_differ(tiny_policy, out)
    assert "lora" not in " ".join(common.load_causal_lm(str(out)).state_dict())


@pytest.mark.slow
def test_dpo_runs_in_two_processes_with_torchrun(tmp_path: Path, tiny_policy: Path) -> None:
    config = _config(tmp_path, tiny_policy, num_train_epochs=1.0, per_device_train_batch_size=4)
    proc = run_job_module("dpo", config, tmp_path, nproc=2)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = tmp_path / "out"
    assert (out / "COMPLETE").exists() and weights_differ(tiny_policy, out)
    result = json.loads((tmp_path / "run" / "result.json").read_text())
    # 64 pairs, 2 ranks x 4 pairs per step: 8 steps, not 16 as one process would take.
    assert result["global_step"] == 8
    assert len(list(tmp_path.glob(".tmp-out-*"))) == 0, "no rank leaves a scratch directory behind"
    common.load_causal_lm(str(out))


@pytest.mark.parametrize(("field", "value", "message"), [
    ("loss_type", "dpo-ish", "unknown loss dpo-ish"),
    ("loss_type", [], "give a loss name"),
    ("loss_weights", [1.0, 2.0], "one non-negative weight per loss type"),
    ("beta", 0.0, "must be >="),
    ("label_smoothing", 0.5, "must be <="),
    ("use_lora", 1, "expected true or false"),
])
def test_dpo_config_rejects_bad_values_naming_the_field(field: str, value: object, message: str) -> None:
    with pytest.raises(common.ConfigError, match=f"^{field}: .*{message}"):
        common.config_from_dict(dpo.DPOJobConfig, {"model": "m", "train_file": "t", "output_dir": "o", field: value})
