"""A reasoning run: SFT teaches two answer styles, GRPO with rule rewards selects the tagged one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.training.jobs_helpers import read_jsonl, write_jsonl
from tests.training.posttrain_helpers import addition_prompts, two_style_demonstrations
from training.jobs import grpo, sft


@pytest.mark.slow
def test_grpo_with_rule_rewards_raises_the_format_reward_of_an_sft_policy(tmp_path: Path, tiny_policy: Path) -> None:
    start = tmp_path / "sft-policy"
    sft.main(sft.SFTJobConfig(model=str(tiny_policy), train_file=str(write_jsonl(tmp_path / "demos.jsonl", two_style_demonstrations())),
                              output_dir=str(start), run_dir=str(tmp_path / "sft-run"), max_steps=120, learning_rate=3e-3,
                              warmup_ratio=0.0, eval_fraction=0.0, num_samples=0))
    grpo.main(grpo.GRPOJobConfig(
        run_dir=str(tmp_path / "run"), output_dir=str(tmp_path / "out"), model=str(start), reward_model="",
        prompts_file=str(write_jsonl(tmp_path / "prompts.jsonl", addition_prompts())), use_reward_model=False,
        rule_rewards=["format", "correctness"], learning_rate=1e-3, per_device_train_batch_size=8, num_generations=4,
        max_completion_length=40, max_steps=10,
    ))
    steps = [r for r in read_jsonl(tmp_path / "run" / "metrics.jsonl") if "rewards_format_reward_mean" in r]
    fmt = [r["rewards_format_reward_mean"] for r in steps]
    assert len(steps) == 10 and 0.0 < (fmt[0] + fmt[1]) / 2 < 0.7, fmt
    assert sum(fmt[-4:]) / 4 > (fmt[0] + fmt[1]) / 2 + 0.15, fmt
    assert all("completions_mean_length" in r and "rewards_correctness_reward_mean" in r for r in steps), \
        "the run page's reasoning charts have their series"
    assert json.loads((tmp_path / "run" / "result.json").read_text())["steps"] == 10
