"""GRPO against the reward model and/or rule rewards: `python -m training.jobs.grpo --config run.json`.

TRL's GRPOTrainer (Shao et al. 2024, "DeepSeekMath", arXiv:2402.03300): num_generations
completions per prompt, advantages relative to the group. TRL's KL beta defaults to 0 (no
reference at all); PrefLoop sets it > 0 so the policy stays near where it started. Rule
rewards (training/jobs/rewards.py) score prompts that carry a `reference` answer.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from training.jobs import common
from training.jobs.rewards import RULE_REWARDS
from training.jobs.rl.trl_online import SYSTEM_FIELDS as _SYSTEM_FIELDS
from training.jobs.rl.trl_online import OnlineJobConfig

LOSS_TYPES = ("grpo", "dapo", "dr_grpo", "bnpo")
SCALE_REWARDS = ("group", "batch", "none")


@dataclass(frozen=True)
class GRPOJobConfig(OnlineJobConfig):
    """GRPO settings: the shared online-RL fields, rule rewards and GRPO's loss variants."""

    rule_rewards: list[str] = field(default_factory=list)  # e.g. ["format", "correctness"]
    use_reward_model: bool = True  # include the reward model (false: rule rewards only)
    reward_weights: list[float] | None = None  # one per reward: the reward model first, then rule_rewards
    loss_type: str = "dapo"  # one of LOSS_TYPES (TRL's default)
    scale_rewards: str = "group"  # divide advantages by the std of the group, the batch, or not at all

    def validate(self) -> None:
        """Raise ConfigError naming the first out-of-range field."""
        super().validate()
        if not isinstance(self.rule_rewards, list) or any(r not in RULE_REWARDS for r in self.rule_rewards):
            raise common.ConfigError(f"rule_rewards: expected a list of {', '.join(sorted(RULE_REWARDS))}, got {self.rule_rewards!r}")
        if not isinstance(self.use_reward_model, bool):
            raise common.ConfigError("use_reward_model: expected true or false")
        if not self.use_reward_model and not self.rule_rewards:
            raise common.ConfigError("rule_rewards: needed when use_reward_model is false (nothing to reward)")
        if self.reward_weights is not None:
            if not isinstance(self.reward_weights, list) or len(self.reward_weights) != len(self.reward_names()):
                raise common.ConfigError(f"reward_weights: expected {len(self.reward_names())} numbers ({', '.join(self.reward_names())})")
            for w in self.reward_weights:
                common.check_range("reward_weights", w)
        if self.loss_type not in LOSS_TYPES:
            raise common.ConfigError(f"loss_type: expected one of {', '.join(LOSS_TYPES)}, got {self.loss_type!r}")
        if self.scale_rewards not in SCALE_REWARDS:
            raise common.ConfigError(f"scale_rewards: expected one of {', '.join(SCALE_REWARDS)}, got {self.scale_rewards!r}")

    def reward_names(self) -> list[str]:
        """Name the rewards in the order reward_weights follows."""
        return (["reward_model"] if self.use_reward_model else []) + list(self.rule_rewards)


CONFIG_CLASS = GRPOJobConfig
SYSTEM_FIELDS: frozenset[str] = _SYSTEM_FIELDS


def reward_functions(config: GRPOJobConfig) -> tuple[list[Any], list[Any]]:
    """Return (reward_funcs, reward_processing_classes): the reward model first, then the rules."""
    from training.jobs.rewards import rule_reward_funcs
    from training.jobs.rl.trl_online import load_reward_function

    funcs: list[Any] = []
    classes: list[Any] = []
    if config.use_reward_model:
        reward_model, reward_tokenizer = load_reward_function(config.reward_model)
        funcs.append(reward_model)
        classes.append(reward_tokenizer)
    rules = rule_reward_funcs(config.rule_rewards)
    return funcs + rules, classes + [None] * len(rules)


def main(config: GRPOJobConfig) -> None:
    """Train the policy with GRPO on the prompts, against the configured rewards."""
    from trl import GRPOConfig, GRPOTrainer

    from training.jobs.callbacks import MetricsCallback
    from training.jobs.memory import lora_config
    from training.jobs.rl.trl_online import (
        ensure_new_output,
        fit_prompts,
        keep_prompt_end,
        load_policy,
        load_prompt_dataset,
        run_trainer,
        trl_kwargs,
    )

    config.validate()
    ensure_new_output(config.output_dir)
    dataset = load_prompt_dataset(config.prompts_file)
    if "correctness" in config.rule_rewards and not any(ref for ref in dataset["reference"]):
        raise common.JobError("rule_rewards: 'correctness' needs prompts with a reference answer; none has one")
    work_dir = Path(config.run_dir) / "trainer"
    model, tokenizer, config, auto = load_policy(config, "grpo")
    config, warnings = fit_prompts(config, model, tokenizer, dataset["prompt"], auto)
    metrics = common.MetricsWriter(Path(config.run_dir) / "metrics.jsonl")
    common.report_warnings(metrics, warnings)
    args = GRPOConfig(
        loss_type=config.loss_type,
        scale_rewards=config.scale_rewards,
        reward_weights=config.reward_weights,
        **trl_kwargs(config, work_dir),
    )
    funcs, classes = reward_functions(config)
    trainer = keep_prompt_end(GRPOTrainer, config.max_prompt_length)(
        model=model,
        reward_funcs=funcs,
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        reward_processing_classes=classes,
        callbacks=[MetricsCallback(metrics)],
        peft_config=lora_config(config),
    )
    run_trainer(trainer, config, work_dir, {**auto, "max_prompt_length": config.max_prompt_length, "data_warnings": warnings})


if __name__ == "__main__":
    sys.exit(common.run_job(main, GRPOJobConfig))
