"""Reward job: train a one-output reward model on preference pairs with TRL's RewardTrainer.

The base is the policy backbone (`model`) with a fresh scalar head. Reports held-out pairwise
accuracy overall and by margin bucket, and how many pairs were too long (RewardTrainer drops
them silently; we count them first).
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from training.jobs import checkpoints, common, defaults, memory


@dataclass(frozen=True)
class RewardJobConfig:
    """Train a reward model from train_file; evaluate on eval_file (or a held-out slice)."""

    model: str  # system: the backbone (usually the current policy)
    train_file: str  # system: preference JSONL (TRL conversational)
    output_dir: str  # system: where the reward model is saved (must not exist)
    run_dir: str = ""  # system: metrics.jsonl and result.json
    eval_file: str = ""  # system: held-out preferences ("" = hold out eval_fraction of train_file)
    learning_rate: float | None = None  # AdamW step size; empty = scaled to the model's size (1e-5 at 1B parameters)
    num_train_epochs: float | None = None  # passes over the pairs; empty = 3 below 100M parameters, 2 below 1B, else 1
    max_steps: int = -1  # stop after this many optimizer steps (-1 = use num_train_epochs)
    per_device_train_batch_size: int = 8  # pairs per device per step
    gradient_accumulation_steps: int = 1  # steps to accumulate before an update
    max_length: int | None = None  # tokens; longer pairs are dropped and reported; empty = the model's context
    center_rewards_coefficient: float | None = None  # e.g. 0.01: pulls rewards towards zero mean
    use_margin: bool = True  # use the rows' margin in the loss when every row has one
    weight_decay: float = 0.0  # AdamW weight decay
    warmup_ratio: float = 0.0  # fraction of steps spent warming up the learning rate
    eval_fraction: float = 0.1  # share of train_file held out when there is no eval_file
    logging_steps: int = 10  # log (and write metrics) every N steps
    seed: int = 0  # seeds the head init, data order and the held-out split
    report_to: list[str] = field(default_factory=lambda: ["tensorboard"])  # trackers fed the run's metrics: tensorboard, wandb, mlflow, trackio
    save_steps: int = 500  # checkpoint every N optimizer steps (0 = never); a failed run resumes from the last one
    save_total_limit: int = 2  # checkpoints kept (the oldest go first)
    use_lora: bool = False  # train LoRA adapters instead of all weights (merged on save)
    lora_r: int = 8  # LoRA rank
    lora_alpha: int = 16  # LoRA scaling
    lora_dropout: float = 0.05  # dropout on LoRA inputs
    load_in_4bit: bool = False  # QLoRA: 4-bit base weights via bitsandbytes (CUDA only; needs use_lora)
    gradient_checkpointing: bool = False  # recompute activations in the backward pass: less memory, slower steps
    dtype: str = "auto"  # weights: auto (bf16 on a GPU that has it, else float32), float32, bfloat16, float16

    def validate(self) -> None:
        common.check_trainer_fields(self)
        if self.center_rewards_coefficient is not None:
            common.check_range("center_rewards_coefficient", self.center_rewards_coefficient, low=0.0, high=10.0)
        if not isinstance(self.use_margin, bool):
            raise common.ConfigError(f"use_margin: expected true or false, got {self.use_margin!r}")
        common.check_range("weight_decay", self.weight_decay, low=0.0, high=1.0)
        common.check_range("warmup_ratio", self.warmup_ratio, low=0.0, high=1.0)
        common.check_range("eval_fraction", self.eval_fraction, low=0.0, high=0.5)
        common.check_range("logging_steps", self.logging_steps, low=1, kind=int)
        common.check_range("seed", self.seed, low=0, kind=int)


CONFIG_CLASS = RewardJobConfig
SYSTEM_FIELDS: frozenset[str] = frozenset({"model", "train_file", "output_dir", "run_dir", "eval_file"})


def reward_config(config: RewardJobConfig, work_dir: Path):  # type: ignore[no-untyped-def]
    """Turn the job config into TRL's RewardConfig."""
    from trl import RewardConfig

    return RewardConfig(
        center_rewards_coefficient=config.center_rewards_coefficient,
        weight_decay=config.weight_decay,
        **common.supervised_trainer_kwargs(config, output_dir=work_dir),
    )


def pairwise_accuracy(model, tokenizer, rows: list[dict[str, Any]], *, max_length: int) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """Score chosen and rejected of each held-out pair; report accuracy overall and by margin bucket."""
    from training.jobs.preferences import accuracy_by_bucket
    from training.jobs.sampling import reward_scores

    if not rows:
        return {}
    device = str(next(model.parameters()).device)
    model.eval()
    chosen = reward_scores(model, tokenizer, [r["prompt"] + r["chosen"] for r in rows], device=device, max_length=max_length)
    rejected = reward_scores(model, tokenizer, [r["prompt"] + r["rejected"] for r in rows], device=device, max_length=max_length)
    correct = [c > r for c, r in zip(chosen, rejected, strict=True)]
    return {
        "eval_accuracy": sum(correct) / len(correct),
        "eval_accuracy_by_margin": accuracy_by_bucket(rows, correct),
        "eval_reward_margin": sum(c - r for c, r in zip(chosen, rejected, strict=True)) / len(rows),
        "eval_reward_mean": sum(chosen + rejected) / (2 * len(rows)),
    }


def _load(config: RewardJobConfig):  # type: ignore[no-untyped-def]
    from transformers import set_seed

    set_seed(config.seed)  # the score head is freshly initialised: seed it so the same config gives the same model
    tokenizer = common.load_tokenizer(config.model)
    model = common.load_reward_model(config.model, **memory.load_kwargs(config))
    model.config.pad_token_id = tokenizer.pad_token_id  # the classifier finds each sequence's end by it
    return model, tokenizer


def _length_checked(config: RewardJobConfig, tokenizer, model, rows: tuple[list, list]):  # type: ignore[no-untyped-def]
    """Drop the pairs longer than max_length (RewardTrainer would, silently); return kept rows and warnings."""
    from training.jobs.preferences import split_by_length

    (train_kept, dropped_train), (eval_kept, dropped_eval) = (split_by_length(tokenizer, r, config.max_length) for r in rows)
    if not train_kept:
        raise common.JobError(f"max_length: all {len(rows[0])} training pairs are longer than {config.max_length} tokens")
    counts = {"train": (dropped_train, len(rows[0])), "eval": (dropped_eval, len(rows[1]))}
    warnings = common.length_warnings(action="dropped", counts=counts, max_length=config.max_length, model=model)
    return train_kept, eval_kept, warnings


def _save(trainer, tokenizer, out: Path, config: RewardJobConfig):  # type: ignore[no-untyped-def]
    """Save the reward model (LoRA merged into a fresh base); return it on rank 0."""
    if config.use_lora:
        return memory.save_merged(trainer, tokenizer, out, base=config.model, load_base=common.load_reward_model)
    common.save_trained_model(trainer, out)
    return trainer.model


def main(config: RewardJobConfig) -> None:
    from datasets import Dataset
    from trl import RewardTrainer

    from training.jobs.callbacks import MetricsCallback
    from training.jobs.preferences import train_eval_rows, trl_rows

    rows = train_eval_rows(config.train_file, config.eval_file, eval_fraction=config.eval_fraction, seed=config.seed)
    model, tokenizer = _load(config)
    config, auto = defaults.resolve_for_model(config, "reward", model)
    config = dataclasses.replace(config, max_length=common.effective_max_length(config.max_length, model))
    train_kept, eval_kept, warnings = _length_checked(config, tokenizer, model, rows)
    metrics = common.MetricsWriter(Path(config.run_dir) / "metrics.jsonl") if config.run_dir else None
    common.report_warnings(metrics, warnings)
    # Held-out accuracy of the untrained score head too, so the run page shows it before -> after.
    before = pairwise_accuracy(model, tokenizer, eval_kept, max_length=config.max_length) if common.is_main_process() else {}
    if metrics is not None and before:
        metrics.write(0, 0.0, **{k: v for k, v in before.items() if isinstance(v, (int, float))})
    with common.atomic_output_dir(config.output_dir) as tmp:
        trainer = RewardTrainer(
            model=model,
            args=reward_config(config, tmp / "_trainer"),
            train_dataset=Dataset.from_list(trl_rows(train_kept, with_margin=config.use_margin)),
            processing_class=tokenizer,
            callbacks=[MetricsCallback(metrics)] if metrics else [],
            peft_config=memory.lora_config(config, "SEQ_CLS"),
        )
        train_output = checkpoints.train(trainer, config)
        common.remove_tree(tmp / "_trainer")
        final = _save(trainer, tokenizer, tmp, config)  # every rank: FSDP / ZeRO-3 gather the full weights here
        if common.is_main_process():
            result = {
                "train_pairs": len(train_kept),
                "eval_pairs": len(eval_kept),
                "dropped_too_long": {"train": len(rows[0]) - len(train_kept), "eval": len(rows[1]) - len(eval_kept)},
                "data_warnings": warnings,
                "max_length": config.max_length,
                **auto,
                "train_loss": train_output.training_loss,
                "global_step": trainer.state.global_step,
                **{k.replace("eval_", "eval_start_", 1): v for k, v in before.items()},
                **pairwise_accuracy(final, tokenizer, eval_kept, max_length=config.max_length),
            }
    if metrics is not None and common.is_main_process():
        final = {k: v for k, v in result.items() if isinstance(v, (int, float))}
        metrics.write(trainer.state.global_step, 1.0, **final)
        common.write_json(Path(config.run_dir) / "result.json", result)


if __name__ == "__main__":
    sys.exit(common.run_job(main, RewardJobConfig))
