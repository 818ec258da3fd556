"""Defaults that learn: empty hyperparameters follow the model's size and context, and a job says what it chose."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from tests.training.jobs_helpers import make_preference_rows, weights_differ, write_jsonl
from training.jobs import common, defaults, dpo, ppo, reward


@pytest.mark.parametrize(("kind", "low", "high"), [("dpo", 1e-7, 1e-6), ("reward", 1e-6, 1e-5), ("ppo", 5e-7, 3e-6),
                                                    ("grpo", 1e-7, 1e-6), ("rloo", 1e-7, 1e-6)])
def test_learning_rates_for_1b_to_8b_models_stay_in_the_published_range(kind: str, low: float, high: float) -> None:
    rates = [defaults.scaled_learning_rate(kind, n) for n in (1_000_000_000, 3_000_000_000, 8_000_000_000)]
    assert rates == sorted(rates, reverse=True), "larger models take smaller steps"
    assert all(low <= r <= high for r in rates)
    assert defaults.scaled_epochs(8_000_000_000) == 1.0


def test_a_tiny_model_gets_a_learning_rate_a_hundred_times_trl_s_and_three_epochs() -> None:
    auto = defaults.recommended("dpo", parameters=150_000, context=256)
    assert auto == {"learning_rate": 8.2e-05, "num_train_epochs": 3.0, "max_length": 256}
    assert defaults.recommended("reward", parameters=150_000, context=None)["max_length"] == defaults.FALLBACK_MAX_LENGTH


def test_an_rl_prompt_may_take_the_context_the_completion_leaves_up_to_1024_tokens() -> None:
    tiny = defaults.recommended("ppo", parameters=150_000, context=256, completion_length=48)
    assert tiny == {"learning_rate": 2.4e-04, "max_prompt_length": 208}
    assert defaults.recommended("grpo", parameters=150_000, context=256, completion_length=64)["max_prompt_length"] == 192
    # An 8B model with Llama-3's 8192 positions: the ceiling, not the context, sets the budget.
    assert defaults.recommended("rloo", parameters=8_000_000_000, context=8192, completion_length=64) == {
        "learning_rate": 3.5e-07, "num_train_epochs": 1.0, "max_prompt_length": 1024}
    assert defaults.prompt_length(None, 64) == defaults.FALLBACK_MAX_LENGTH - 64
    # No room at all: nothing is filled, and the job refuses to start (tests/training/test_rl_prompt_budget.py).
    assert "max_prompt_length" not in defaults.recommended("ppo", parameters=150_000, context=256, completion_length=256)
    assert "max_prompt_length" not in defaults.recommended("dpo", parameters=150_000, context=256, completion_length=48)


def test_the_rl_prompt_budget_follows_the_job_s_own_completion_field() -> None:
    config = ppo.PPOJobConfig(run_dir="r", output_dir="o", model="m", reward_model="rm", prompts_file="p",
                              learning_rate=1e-5, response_length=16)
    filled_config, filled = defaults.resolve(config, "ppo", parameters=150_000, context=256)
    assert filled == {"max_prompt_length": 240} and filled_config.max_prompt_length == 240
    assert defaults.describe(filled, parameters=150_000, context=256) == (
        "auto: max_prompt_length 240 (model of 0.15M parameters, context 256 tokens)"
    )
    assert defaults.explain_prompt_length(256, "response_length", 16) == "the policy's context of 256 tokens less response_length 16"
    assert defaults.explain_prompt_length(8192, "max_completion_length", 64) == "at most 1024 tokens"


def test_ppo_samples_eight_passes_over_a_small_prompt_set_and_1024_episodes_over_a_large_one() -> None:
    assert [defaults.ppo_total_episodes(n) for n in (4, 32, 42, 128, 10_000)] == [256, 256, 336, 1024, 1024]
    config = ppo.PPOJobConfig(run_dir="r", output_dir="o", model="m", reward_model="rm", prompts_file="p",
                              max_prompt_length=64)
    filled_config, filled = defaults.resolve(config, "ppo", parameters=150_000, context=None, prompts=42)
    assert filled == {"learning_rate": 2.4e-4, "total_episodes": 336} and filled_config.total_episodes == 336
    assert defaults.describe({"learning_rate": 2.5e-4, "total_episodes": 336}, parameters=150_000, context=None, prompts=42) == (
        "auto: total_episodes 336 (42 prompts), learning_rate 0.00025 (model of 0.15M parameters)"
    )
    assert defaults.describe({"total_episodes": 256}, parameters=150_000, context=None, prompts=4) == "auto: total_episodes 256 (4 prompts)"
    explicit = dataclasses.replace(config, learning_rate=1e-5, total_episodes=512)
    assert defaults.resolve(explicit, "ppo", parameters=150_000, context=None, prompts=42)[1] == {}


def test_the_size_read_from_disk_matches_the_loaded_model(tiny_policy: Path) -> None:
    model = common.load_causal_lm(str(tiny_policy))
    assert defaults.parameters_on_disk(tiny_policy) == defaults.parameter_count(model)
    assert defaults.context_on_disk(tiny_policy) == common.context_limit(model) == 256
    assert defaults.parameters_on_disk(tiny_policy / "missing") is None


def test_only_empty_fields_are_filled_and_the_job_says_which() -> None:
    config = dpo.DPOJobConfig(model="m", train_file="t", output_dir="o", learning_rate=5e-4)
    filled_config, filled = defaults.resolve(config, "dpo", parameters=150_000, context=256)
    assert filled_config.learning_rate == 5e-4 and filled == {"num_train_epochs": 3.0, "max_length": 256}
    assert defaults.describe(filled, parameters=150_000, context=256) == (
        "auto: num_train_epochs 3, max_length 256 (model of 0.15M parameters, context 256 tokens)"
    )


def _files(tmp_path: Path) -> dict[str, str]:
    return {"train_file": str(write_jsonl(tmp_path / "train.jsonl", make_preference_rows(64, seed=1))),
            "eval_file": str(write_jsonl(tmp_path / "eval.jsonl", make_preference_rows(32, seed=2)))}


def test_dpo_with_every_default_raises_held_out_accuracy_on_a_tiny_round(tmp_path: Path, tiny_policy: Path) -> None:
    dpo.main(dpo.DPOJobConfig(model=str(tiny_policy), output_dir=str(tmp_path / "out"), run_dir=str(tmp_path / "run"),
                              **_files(tmp_path)))
    result = json.loads((tmp_path / "run" / "result.json").read_text())
    assert result["hyperparameters"] == {"learning_rate": 8.2e-05, "num_train_epochs": 3.0, "max_length": 256}
    # The implicit-reward accuracy is what tracks DPO's learning: chosen answers here are longer, so
    # their total log-probability stays lower even as the policy moves towards them.
    assert result["eval_reward_accuracy"] >= 0.8 and result["eval_reward_margin"] > 0.05
    assert weights_differ(tiny_policy, tmp_path / "out")


def test_the_reward_job_with_every_default_separates_the_pairs(tmp_path: Path, tiny_policy: Path) -> None:
    reward.main(reward.RewardJobConfig(model=str(tiny_policy), output_dir=str(tmp_path / "rm"),
                                       run_dir=str(tmp_path / "run"), **_files(tmp_path)))
    result = json.loads((tmp_path / "run" / "result.json").read_text())
    assert result["max_length"] == 256 and result["hyperparameters"]["learning_rate"] == 8.2e-04
    # 32 held-out pairs: chance is 0.5, and 0.8 (26 of 32) lies far beyond it (binomial p < 0.001).
    assert result["eval_accuracy"] >= 0.8
