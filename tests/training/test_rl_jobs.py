"""RLOO and GRPO jobs (TRL trainers with the project's reward model) on the tiny policy."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest

from tests.training.rl_helpers import brevity_reward_model, read_metrics, weights_changed, write_prompts
from training.jobs import common, grpo, rloo
from training.jobs.rewards import correctness_reward, format_reward

ROOT = Path(__file__).resolve().parents[2]
SYSTEM = {"run_dir": "r", "output_dir": "o", "model": "m", "reward_model": "rm", "prompts_file": "p"}


@pytest.mark.parametrize("job", [grpo, rloo])
def test_config_contract_and_kl_on_by_default(job):
    config = common.config_from_dict(job.CONFIG_CLASS, dict(SYSTEM))
    assert config.beta > 0  # TRL's GRPO default is 0 (no KL at all); PrefLoop keeps the policy near its start
    assert job.SYSTEM_FIELDS <= {f.name for f in fields(job.CONFIG_CLASS)}
    with pytest.raises(common.ConfigError, match="per_device_train_batch_size"):
        common.config_from_dict(job.CONFIG_CLASS, {**SYSTEM, "per_device_train_batch_size": 6, "num_generations": 4})
    with pytest.raises(common.ConfigError, match="num_generations"):
        common.config_from_dict(job.CONFIG_CLASS, {**SYSTEM, "num_generations": 1})


def test_grpo_config_checks_rule_rewards_and_weights():
    make = lambda **kw: common.config_from_dict(grpo.GRPOJobConfig, {**SYSTEM, **kw})  # noqa: E731
    assert make(rule_rewards=["format", "correctness"], reward_weights=[1.0, 0.5, 0.5]).reward_names() == [
        "reward_model", "format", "correctness"]
    with pytest.raises(common.ConfigError, match="rule_rewards"):
        make(rule_rewards=["lenght"])
    with pytest.raises(common.ConfigError, match="reward_weights"):
        make(rule_rewards=["format"], reward_weights=[1.0])
    with pytest.raises(common.ConfigError, match="rule_rewards"):
        make(use_reward_model=False)
    with pytest.raises(common.ConfigError, match="loss_type"):
        make(loss_type="ppo")


def test_grpo_reward_functions_put_the_reward_model_first(tiny_policy):
    config = grpo.GRPOJobConfig(**{**SYSTEM, "reward_model": str(tiny_policy)}, rule_rewards=["format", "correctness"])
    funcs, classes = grpo.reward_functions(config)
    assert funcs[1:] == [format_reward, correctness_reward] and classes[1:] == [None, None]
    assert funcs[0].config.num_labels == 1 and classes[0].padding_side == "right"
    rule_only = grpo.GRPOJobConfig(**SYSTEM, use_reward_model=False, rule_rewards=["correctness"])
    assert grpo.reward_functions(rule_only) == ([correctness_reward], [None])


def test_grpo_correctness_reward_without_any_reference_fails_before_training(tmp_path, tiny_policy):
    prompts = write_prompts(tmp_path / "prompts.jsonl", n=4, with_reference=False)
    config = grpo.GRPOJobConfig(run_dir=str(tmp_path / "run"), output_dir=str(tmp_path / "out"), model=str(tiny_policy),
                                reward_model=str(tiny_policy), prompts_file=str(prompts), rule_rewards=["correctness"])
    with pytest.raises(common.JobError, match="reference"):
        grpo.main(config)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("kind", ["grpo", "rloo", "ppo"])
def test_command_line_exits_2_naming_the_bad_field(tmp_path, kind):
    (tmp_path / "config.json").write_text(json.dumps({**SYSTEM, "temperature": -1.0}))
    proc = subprocess.run([sys.executable, "-m", f"training.jobs.{kind}", "--config", str(tmp_path / "config.json")],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "temperature" in proc.stderr, proc.stderr[-2000:]


def _config(cls, tmp_path: Path, policy: Path, reward_model: Path, **overrides):
    return cls(
        run_dir=str(tmp_path / "run"), output_dir=str(tmp_path / "out"), model=str(policy), reward_model=str(reward_model),
        prompts_file=str(write_prompts(tmp_path / "prompts.jsonl", n=16, with_reference=True)),
        learning_rate=1e-3, per_device_train_batch_size=8, num_generations=4, max_completion_length=12, **overrides,
    )


@pytest.mark.slow
def test_grpo_raises_the_reward_model_score_with_bounded_kl(tmp_path, tiny_policy, tmp_path_factory):
    reward_model = brevity_reward_model(tiny_policy, tmp_path_factory.mktemp("rm"))
    # Rule rewards ride along with weight 0: they are computed (with each row's reference) and logged only.
    config = _config(grpo.GRPOJobConfig, tmp_path, tiny_policy, reward_model, max_steps=6,
                     rule_rewards=["format", "correctness"], reward_weights=[1.0, 0.0, 0.0])
    grpo.main(config)
    steps = [r for r in read_metrics(tmp_path / "run") if "reward" in r]
    assert len(steps) == 6 and steps[-1]["progress"] == 1.0
    assert "rewards_correctness_reward_mean" in steps[0] and "rewards_format_reward_mean" in steps[0]
    early, late = (steps[0]["reward"] + steps[1]["reward"]) / 2, sum(r["reward"] for r in steps[3:]) / 3
    assert late > early + 0.8, [r["reward"] for r in steps]
    assert steps[0]["kl"] == 0.0 and max(r["kl"] for r in steps) < 5.0
    result = json.loads((tmp_path / "run" / "result.json").read_text())
    assert result["steps"] == 6 and result["initial_reward"] == steps[0]["reward"]
    out = tmp_path / "out"
    assert weights_changed(tiny_policy, out) and not (out / "training_args.bin").exists()
    assert common.load_causal_lm(str(out)) is not None and common.load_tokenizer(str(out)).chat_template


@pytest.mark.slow
def test_rloo_completes_and_changes_the_policy(tmp_path, tiny_policy, tmp_path_factory):
    reward_model = brevity_reward_model(tiny_policy, tmp_path_factory.mktemp("rm"))
    rloo.main(_config(rloo.RLOOJobConfig, tmp_path, tiny_policy, reward_model, max_steps=2))
    steps = [r for r in read_metrics(tmp_path / "run") if "reward" in r]
    assert [r["step"] for r in steps] == [1, 2] and all("kl" in r for r in steps)
    assert json.loads((tmp_path / "run" / "result.json").read_text())["steps"] == 2
    assert (tmp_path / "out" / "COMPLETE").exists() and weights_changed(tiny_policy, tmp_path / "out")


def test_grpo_keeps_the_end_of_a_prompt_longer_than_the_context_allows_and_says_so(tmp_path, tiny_policy):
    long = " ".join(["The quick brown fox jumps over the lazy dog."] * 60) + " What is 2 plus 3?"
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("".join(json.dumps({"prompt_id": i, "prompt": [{"role": "user", "content": text}], "reference": "5"}) + "\n"
                               for i, text in enumerate(["What is 2 plus 3?", long])), encoding="utf-8")
    grpo.main(grpo.GRPOJobConfig(
        run_dir=str(tmp_path / "run"), output_dir=str(tmp_path / "out"), model=str(tiny_policy), reward_model="",
        prompts_file=str(prompts), use_reward_model=False, rule_rewards=["format"], learning_rate=1e-4,
        per_device_train_batch_size=4, num_generations=2, max_completion_length=8, max_steps=1, save_steps=0,
    ))  # both prompts in the one step: TRL 1.16 would pass the long one whole, past the policy's 256 positions

    result = json.loads((tmp_path / "run" / "result.json").read_text())
    assert result["hyperparameters"]["max_prompt_length"] == 248 and result["max_prompt_length"] == 248
    assert "max_prompt_length 248" in result["defaults"]
    [warning] = result["data_warnings"]
    assert (warning["count"], warning["of"]) == (1, 2) and warning["message"].startswith(
        "Truncated 1 of 2 prompts to their last 248 tokens (max_prompt_length, auto: the policy's context of 256 tokens "
        "less max_completion_length 8)")
    assert {"truncated_prompts": 1}.items() <= read_metrics(tmp_path / "run")[0].items()
    assert (tmp_path / "out" / "COMPLETE").exists()
