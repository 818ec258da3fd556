"""ORPO job: SFT and preference learning in one loss, no reference model, with TRL's ORPOTrainer.

ORPO (Hong et al. 2024, "ORPO: Monolithic Preference Optimization without Reference Model",
arXiv:2403.07691): L = NLL(chosen) − λ·log σ(log odds(chosen) − log odds(rejected)); `beta` is
λ. In TRL 1.16 the trainer lives in `trl.experimental.orpo` (pinned: trl==1.16.0 in
pyproject.toml; an experimental API may move between releases). IPO and the other DPO losses
stay on the `dpo` job. Reports held-out preference accuracy (does the policy give the chosen
answer a higher log-probability than the rejected one?) before and after.
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from training.jobs import common, finetune


@dataclass(frozen=True)
class ORPOJobConfig(finetune.FinetuneFields):
    """ORPO of `model` on the preference pairs in train_file."""

    learning_rate: float = 5e-4  # moves the tiny demo policy in a few epochs; the paper used 8e-6 on 7B models
    beta: float = 0.1  # λ: weight of the odds-ratio term against the NLL of the chosen answer

    def validate(self) -> None:
        """Raise ConfigError naming the first out-of-range field."""
        common.check_range("learning_rate", self.learning_rate, low=1e-10, high=1.0)
        finetune.check_finetune_fields(self)
        common.check_range("beta", self.beta, low=1e-6, high=100.0)


CONFIG_CLASS = ORPOJobConfig
SYSTEM_FIELDS: frozenset[str] = finetune.SYSTEM_FIELDS


def orpo_config(config: ORPOJobConfig, work_dir: Path) -> Any:
    """Turn the job config into TRL's (experimental) ORPOConfig."""
    from trl.experimental.orpo import ORPOConfig

    return ORPOConfig(beta=config.beta, **finetune.trainer_kwargs(config, output_dir=work_dir))


def main(config: ORPOJobConfig) -> None:
    """Train on the pairs, save the policy, report held-out preference accuracy."""
    from datasets import Dataset
    from trl.experimental.orpo import ORPOTrainer

    from training.jobs.callbacks import MetricsCallback
    from training.jobs.dpo import preference_figures, sequence_logprobs
    from training.jobs.preferences import train_eval_rows, trl_rows

    train_rows, eval_rows = train_eval_rows(config.train_file, config.eval_file, eval_fraction=config.eval_fraction,
                                            seed=config.seed)
    model, tokenizer = finetune.load_chat_policy(config.model, config)
    config = dataclasses.replace(config, max_length=common.effective_max_length(config.max_length, model))
    before = sequence_logprobs(model, tokenizer, eval_rows, max_length=config.max_length) if eval_rows and common.is_main_process() else None
    metrics = common.MetricsWriter(Path(config.run_dir) / "metrics.jsonl") if config.run_dir else None
    if metrics is not None and before is not None:
        metrics.write(0, 0.0, **preference_figures(before, before, config.beta, "eval_"))
    with common.atomic_output_dir(config.output_dir) as tmp:
        trainer = ORPOTrainer(
            model=model,
            args=orpo_config(config, tmp / "_trainer"),
            train_dataset=Dataset.from_list(trl_rows(train_rows, with_margin=False)),
            processing_class=tokenizer,
            peft_config=finetune.lora_config(config) if config.use_lora else None,
            callbacks=[MetricsCallback(metrics)] if metrics else [],
        )
        train_output, final = finetune.train_and_save(trainer, tokenizer, tmp, config)
        if final is not None:
            result: dict[str, Any] = {"train_pairs": len(train_rows), "eval_pairs": len(eval_rows),
                                      "train_loss": train_output.training_loss, "global_step": trainer.state.global_step}
            if before is not None:
                after = sequence_logprobs(final, tokenizer, eval_rows, max_length=config.max_length)
                result |= preference_figures(before, before, config.beta, "eval_start_")
                result |= preference_figures(before, after, config.beta, "eval_")
    if metrics is not None and common.is_main_process():
        metrics.write(trainer.state.global_step, 1.0, **finetune.numeric(result))
        common.write_json(Path(config.run_dir) / "result.json", result)


if __name__ == "__main__":
    sys.exit(common.run_job(main, ORPOJobConfig))
