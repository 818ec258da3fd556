"""KTO job: fine-tune a policy on thumbs-up/down feedback with TRL's KTOTrainer.

KTO (Ethayarajh et al. 2024, "KTO: Model Alignment as Prospect Theoretic Optimization",
arXiv:2402.01306) needs no pairs: each answer is desirable or undesirable on its own, so it
trains on single-response thumbs as well as on rankings (top group desirable, bottom group and
all-bad undesirable; see labeling/exports). Preference rows are unpaired (training/jobs/unpaired.py).
Reports held-out preference accuracy on the pairs the rows came from, and the implicit reward
log π/π_ref of desirable and undesirable held-out answers, before and after.
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from training.jobs import common, finetune
from training.jobs.unpaired import Feedback

LOSS_TYPES = ("kto", "apo_zero_unpaired")


@dataclass(frozen=True)
class KTOJobConfig(finetune.FinetuneFields):
    """KTO of `model` on the feedback rows in train_file, referenced to the starting policy."""

    learning_rate: float = 5e-4  # moves the tiny demo policy in a few epochs; large models want 1e-6..5e-6 (TRL default 1e-6)
    beta: float = 0.1  # KL strength: higher keeps the policy nearer the reference
    loss_type: str = "kto"  # "kto" or "apo_zero_unpaired"
    desirable_weight: float = 1.0  # weight of desirable rows' loss
    undesirable_weight: float = 1.0  # weight of undesirable rows' loss
    balance_labels: bool = True  # scale desirable_weight so both labels weigh the same in total

    def validate(self) -> None:
        """Raise ConfigError naming the first out-of-range field."""
        common.check_range("learning_rate", self.learning_rate, low=1e-10, high=1.0)
        finetune.check_finetune_fields(self)
        common.check_range("beta", self.beta, low=1e-6, high=100.0)
        if self.loss_type not in LOSS_TYPES:
            raise common.ConfigError(f"loss_type: expected one of {', '.join(LOSS_TYPES)}, got {self.loss_type!r}")
        common.check_range("desirable_weight", self.desirable_weight, low=1e-6, high=1e6)
        common.check_range("undesirable_weight", self.undesirable_weight, low=1e-6, high=1e6)
        if not isinstance(self.balance_labels, bool):
            raise common.ConfigError(f"balance_labels: expected true or false, got {self.balance_labels!r}")
        if self.loss_type == "kto" and self.per_device_train_batch_size < 2:
            raise common.ConfigError("per_device_train_batch_size: KTO estimates its KL term within a batch; use 2 or more")


CONFIG_CLASS = KTOJobConfig
SYSTEM_FIELDS: frozenset[str] = finetune.SYSTEM_FIELDS


def kto_config(config: KTOJobConfig, work_dir: Path, weights: tuple[float, float]) -> Any:
    """Turn the job config into TRL's KTOConfig."""
    from trl import KTOConfig

    return KTOConfig(
        beta=config.beta,
        loss_type=config.loss_type,
        desirable_weight=weights[0],
        undesirable_weight=weights[1],
        **finetune.trainer_kwargs(config, output_dir=work_dir),
    )


def feedback_split(config: KTOJobConfig) -> tuple[Feedback, Feedback]:
    """Return (train, held-out) feedback; a line's rows stay together, so a pair is never split."""
    from training.jobs.unpaired import collect, read_feedback

    lines = read_feedback(config.train_file, field="train_file")
    if config.eval_file:
        return collect(lines), collect(read_feedback(config.eval_file, field="eval_file"))
    train, held = finetune.hold_out(lines, fraction=config.eval_fraction, seed=config.seed)
    return collect(train), collect(held)


def _row_logprobs(model: Any, tokenizer: Any, feedback: Feedback, max_length: int) -> list[float]:
    rows = feedback.rows
    scored = finetune.answer_logprobs(model, tokenizer, [r["prompt"] for r in rows], [r["completion"] for r in rows],
                                      max_length=max_length)
    return [lp for lp, _ in scored]


def label_figures(ref: list[float], new: list[float], feedback: Feedback) -> dict[str, float]:
    """Mean implicit reward log π/π_ref of desirable and undesirable answers, and their gap."""
    rewards = [n - r for n, r in zip(new, ref, strict=True)]
    good = [x for x, row in zip(rewards, feedback.rows, strict=True) if row["label"]]
    bad = [x for x, row in zip(rewards, feedback.rows, strict=True) if not row["label"]]
    out: dict[str, float] = {}
    if good:
        out["eval_desirable_reward"] = sum(good) / len(good)
    if bad:
        out["eval_undesirable_reward"] = sum(bad) / len(bad)
    if good and bad:
        out["eval_reward_gap"] = out["eval_desirable_reward"] - out["eval_undesirable_reward"]
    return out


@dataclass
class HeldOut:
    """Held-out scores of the starting policy, kept to compare the trained one against."""

    feedback: Feedback
    rows: list[float]
    pairs: tuple[list[float], list[float]] | None

    @classmethod
    def score(cls, model: Any, tokenizer: Any, feedback: Feedback, max_length: int) -> HeldOut:
        from training.jobs.dpo import sequence_logprobs

        pairs = sequence_logprobs(model, tokenizer, feedback.pairs, max_length=max_length) if feedback.pairs else None
        return cls(feedback, _row_logprobs(model, tokenizer, feedback, max_length), pairs)

    def figures(self, model: Any, tokenizer: Any, *, beta: float, max_length: int) -> dict[str, float]:
        """Figures of `model` against the starting policy; the `eval_start_` ones describe the start."""
        from training.jobs.dpo import preference_figures

        after = HeldOut.score(model, tokenizer, self.feedback, max_length)
        out = label_figures(self.rows, after.rows, self.feedback)
        if self.pairs is not None and after.pairs is not None:
            out |= preference_figures(self.pairs, self.pairs, beta, "eval_start_")
            out |= preference_figures(self.pairs, after.pairs, beta, "eval_")
        return out


def main(config: KTOJobConfig) -> None:
    """Train on the feedback, save the policy, report held-out figures."""
    from datasets import Dataset
    from trl import KTOTrainer

    from training.jobs.callbacks import MetricsCallback
    from training.jobs.unpaired import balanced_weights, shuffled

    train, held = feedback_split(config)
    if config.loss_type == "kto" and len(train.rows) < config.per_device_train_batch_size:
        raise common.JobError(f"train_file: {len(train.rows)} rows is fewer than one batch ({config.per_device_train_batch_size})")
    weights = (balanced_weights(train, config.desirable_weight, config.undesirable_weight) if config.balance_labels
               else (config.desirable_weight, config.undesirable_weight))
    model, tokenizer = finetune.load_chat_policy(config.model, config)
    config = dataclasses.replace(config, max_length=common.effective_max_length(config.max_length, model))
    start = HeldOut.score(model, tokenizer, held, config.max_length) if held.rows and common.is_main_process() else None
    metrics = common.MetricsWriter(Path(config.run_dir) / "metrics.jsonl") if config.run_dir else None
    if metrics is not None and start is not None and start.pairs is not None:
        from training.jobs.dpo import preference_figures

        metrics.write(0, 0.0, **preference_figures(start.pairs, start.pairs, config.beta, "eval_"))
    with common.atomic_output_dir(config.output_dir) as tmp:
        trainer = KTOTrainer(
            model=model,
            ref_model=None,  # TRL keeps a frozen copy of the starting policy (or disables LoRA) as reference
            args=kto_config(config, tmp / "_trainer", weights),
            train_dataset=Dataset.from_list(shuffled(train.rows, config.seed)),
            processing_class=tokenizer,
            peft_config=finetune.lora_config(config) if config.use_lora else None,
            callbacks=[MetricsCallback(metrics)] if metrics else [],
        )
        train_output, final = finetune.train_and_save(trainer, tokenizer, tmp, config)
        if final is not None:
            result: dict[str, Any] = {
                "train_rows": len(train.rows), "desirable": train.desirable, "undesirable": train.undesirable,
                "desirable_weight": weights[0], "undesirable_weight": weights[1], "eval_rows": len(held.rows),
                "eval_pairs": len(held.pairs), "train_loss": train_output.training_loss,
                "global_step": trainer.state.global_step,
            }
            if start is not None:
                result |= start.figures(final, tokenizer, beta=config.beta, max_length=config.max_length)
    if metrics is not None and common.is_main_process():
        metrics.write(trainer.state.global_step, 1.0, **finetune.numeric(result))
        common.write_json(Path(config.run_dir) / "result.json", result)


if __name__ == "__main__":
    sys.exit(common.run_job(main, KTOJobConfig))
