"""RLOO against the project's reward model: `python -m training.jobs.rloo --config run.json`.

TRL's RLOOTrainer (Ahmadian et al. 2024, "Back to Basics: Revisiting REINFORCE Style
Optimization for Learning from Human Feedback in LLMs", arXiv:2402.14740): num_generations
completions per prompt, each one's baseline the mean reward of the others, KL to the starting
policy with coefficient beta.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from training.jobs import common
from training.jobs.rl.trl_online import SYSTEM_FIELDS as _SYSTEM_FIELDS
from training.jobs.rl.trl_online import OnlineJobConfig


@dataclass(frozen=True)
class RLOOJobConfig(OnlineJobConfig):
    """RLOO settings: the shared online-RL fields, plus advantage normalisation."""

    normalize_advantages: bool = False  # scale advantages to unit std per generation batch

    def validate(self) -> None:
        """Raise ConfigError naming the first out-of-range field."""
        super().validate()
        if not isinstance(self.normalize_advantages, bool):
            raise common.ConfigError("normalize_advantages: expected true or false")


CONFIG_CLASS = RLOOJobConfig
SYSTEM_FIELDS: frozenset[str] = _SYSTEM_FIELDS


def main(config: RLOOJobConfig) -> None:
    """Train the policy with RLOO on the prompts, against the reward model."""
    from trl import RLOOConfig, RLOOTrainer

    from training.jobs.callbacks import MetricsCallback
    from training.jobs.memory import lora_config
    from training.jobs.rl.trl_online import (
        ensure_new_output,
        fit_prompts,
        keep_prompt_end,
        load_policy,
        load_prompt_dataset,
        load_reward_function,
        run_trainer,
        trl_kwargs,
    )

    config.validate()
    ensure_new_output(config.output_dir)
    work_dir = Path(config.run_dir) / "trainer"
    model, tokenizer, config, auto = load_policy(config, "rloo")
    dataset = load_prompt_dataset(config.prompts_file)
    config, warnings = fit_prompts(config, model, tokenizer, dataset["prompt"], auto)
    metrics = common.MetricsWriter(Path(config.run_dir) / "metrics.jsonl")
    common.report_warnings(metrics, warnings)
    args = RLOOConfig(normalize_advantages=config.normalize_advantages, **trl_kwargs(config, work_dir))
    reward_model, reward_tokenizer = load_reward_function(config.reward_model)
    trainer = keep_prompt_end(RLOOTrainer, config.max_prompt_length)(
        model=model,
        reward_funcs=reward_model,
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        reward_processing_classes=reward_tokenizer,
        callbacks=[MetricsCallback(metrics)],
        peft_config=lora_config(config),
    )
    run_trainer(trainer, config, work_dir, {**auto, "max_prompt_length": config.max_prompt_length, "data_warnings": warnings})


if __name__ == "__main__":
    sys.exit(common.run_job(main, RLOOJobConfig))
