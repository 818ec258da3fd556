"""SFT job: fine-tune a policy on demonstrations with TRL's SFTTrainer, loss on assistant tokens only.

Rows are conversations ending with an assistant turn (training/jobs/demonstrations.py), rendered
with the base model's own chat template. The loss falls on assistant tokens only: through TRL's
assistant mask when the template has (or TRL can add) `{% generation %}` markers, otherwise by
training each assistant turn as a prompt/completion row (completion-only loss) — the same tokens.
Reports held-out loss per assistant token before and after (and during, every eval_steps), and
a few greedy answers to held-out prompts next to the demonstrated ones.
"""

from __future__ import annotations

import dataclasses
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from training.jobs import common, finetune
from training.jobs.demonstrations import Messages, assistant_turns, prompt_completion_rows, read_demonstrations


@dataclass(frozen=True)
class SFTJobConfig(finetune.FinetuneFields):
    """Supervised fine-tuning of `model` on the demonstrations in train_file."""

    learning_rate: float = 2e-4  # moves the tiny demo policy in a few epochs; lower (1e-5..5e-5) for large full fine-tunes
    lr_scheduler_type: str = "cosine"  # decays to 0 by the last step: late steps cannot undo what was learnt
    assistant_only: bool = True  # loss on assistant tokens only (false: on the whole conversation)
    eval_steps: int = 0  # also compute the held-out loss every N steps (0 = before and after only)
    num_samples: int = 4  # held-out prompts answered greedily in the result
    max_new_tokens: int = 64  # longest sampled answer, in tokens

    def validate(self) -> None:
        """Raise ConfigError naming the first out-of-range field."""
        common.check_range("learning_rate", self.learning_rate, low=1e-10, high=1.0)
        finetune.check_finetune_fields(self)
        if self.lr_scheduler_type not in SCHEDULERS:
            raise common.ConfigError(f"lr_scheduler_type: expected one of {', '.join(SCHEDULERS)}, got {self.lr_scheduler_type!r}")
        if not isinstance(self.assistant_only, bool):
            raise common.ConfigError(f"assistant_only: expected true or false, got {self.assistant_only!r}")
        common.check_range("eval_steps", self.eval_steps, low=0, kind=int)
        common.check_range("num_samples", self.num_samples, low=0, high=64, kind=int)
        common.check_range("max_new_tokens", self.max_new_tokens, low=1, high=4096, kind=int)


SCHEDULERS = ("cosine", "linear", "constant", "constant_with_warmup")
CONFIG_CLASS = SFTJobConfig
SYSTEM_FIELDS: frozenset[str] = finetune.SYSTEM_FIELDS


def loss_mode(config: SFTJobConfig, tokenizer: Any) -> str:
    """Pick how the loss is masked: "assistant_mask", "completion" (one row per assistant turn) or "all"."""
    from training.jobs.demonstrations import supports_assistant_mask

    if not config.assistant_only:
        return "all"
    return "assistant_mask" if supports_assistant_mask(tokenizer) else "completion"


def trainer_rows(conversations: list[Messages], mode: str) -> list[dict[str, Messages]]:
    """Rows in the shape the loss mode needs."""
    if mode == "completion":
        return prompt_completion_rows(conversations)
    return [{"messages": conv} for conv in conversations]


def sft_config(config: SFTJobConfig, work_dir: Path, *, mode: str, has_eval: bool) -> Any:
    """Turn the job config into TRL's SFTConfig."""
    from trl import SFTConfig

    evaluate = has_eval and config.eval_steps > 0
    return SFTConfig(
        lr_scheduler_type=config.lr_scheduler_type,
        assistant_only_loss=mode == "assistant_mask",
        completion_only_loss=mode == "completion",
        eval_strategy="steps" if evaluate else "no",
        eval_steps=config.eval_steps if evaluate else None,
        per_device_eval_batch_size=config.per_device_train_batch_size,
        **finetune.trainer_kwargs(config, output_dir=work_dir),
    )


def held_out_loss(model: Any, tokenizer: Any, conversations: list[Messages], *, max_length: int) -> float | None:
    """Mean negative log-likelihood per assistant token over every assistant turn of the held-out rows."""
    turns = [t for conv in conversations for t in assistant_turns(conv)]
    scored = finetune.answer_logprobs(model, tokenizer, [p for p, _ in turns], [c for _, c in turns], max_length=max_length)
    tokens = sum(n for _, n in scored)
    return -sum(lp for lp, _ in scored) / tokens if tokens else None


def sampled_answers(model: Any, tokenizer: Any, conversations: list[Messages], config: SFTJobConfig) -> list[dict[str, Any]]:
    """Greedy answers to the first held-out prompts, next to the demonstrated answer."""
    chosen = conversations[: config.num_samples]
    prompts = [conv[:-1] for conv in chosen]
    answers = finetune.greedy_answers(model, tokenizer, prompts, max_new_tokens=config.max_new_tokens)
    return [{"prompt": prompt[-1]["content"], "demonstration": conv[-1]["content"], "response": answer}
            for prompt, conv, answer in zip(prompts, chosen, answers, strict=True)]


def _rows(config: SFTJobConfig) -> tuple[list[Messages], list[Messages]]:
    train = read_demonstrations(config.train_file, field="train_file")
    if config.eval_file:
        return train, read_demonstrations(config.eval_file, field="eval_file")
    return finetune.hold_out(train, fraction=config.eval_fraction, seed=config.seed)


def _result(config: SFTJobConfig, final: Any, tokenizer: Any, *, rows: tuple[list, list], mode: str,
            before: float | None, trainer: Any, train_loss: float) -> dict[str, Any]:
    train_rows, eval_rows = rows
    result: dict[str, Any] = {"train_rows": len(train_rows), "eval_rows": len(eval_rows), "loss_mode": mode,
                              "train_loss": train_loss, "global_step": trainer.state.global_step}
    if before is not None:
        after = held_out_loss(final, tokenizer, eval_rows, max_length=config.max_length)
        result |= {"eval_start_loss": before, "eval_loss": after, "eval_perplexity": math.exp(min(after or 0.0, 50.0))}
        result["samples"] = sampled_answers(final, tokenizer, eval_rows, config)
    return result


def main(config: SFTJobConfig) -> None:
    """Train on the demonstrations, save the policy, report held-out loss and sample answers."""
    from datasets import Dataset
    from trl import SFTTrainer

    from training.jobs.callbacks import MetricsCallback

    train_rows, eval_rows = _rows(config)
    model, tokenizer = finetune.load_chat_policy(config.model, config)
    config = dataclasses.replace(config, max_length=common.effective_max_length(config.max_length, model))
    mode = loss_mode(config, tokenizer)
    main_rank = common.is_main_process()
    before = held_out_loss(model, tokenizer, eval_rows, max_length=config.max_length) if eval_rows and main_rank else None
    metrics = common.MetricsWriter(Path(config.run_dir) / "metrics.jsonl") if config.run_dir else None
    if metrics is not None and before is not None:
        metrics.write(0, 0.0, eval_loss=before)
    with common.atomic_output_dir(config.output_dir) as tmp:
        trainer = SFTTrainer(
            model=model,
            args=sft_config(config, tmp / "_trainer", mode=mode, has_eval=bool(eval_rows)),
            train_dataset=Dataset.from_list(trainer_rows(train_rows, mode)),
            eval_dataset=Dataset.from_list(trainer_rows(eval_rows, mode)) if eval_rows and config.eval_steps else None,
            processing_class=tokenizer,
            peft_config=finetune.lora_config(config) if config.use_lora else None,
            callbacks=[MetricsCallback(metrics)] if metrics else [],
        )
        train_output, final = finetune.train_and_save(trainer, tokenizer, tmp, config)
        if final is not None:
            result = _result(config, final, tokenizer, rows=(train_rows, eval_rows), mode=mode, before=before,
                             trainer=trainer, train_loss=train_output.training_loss)
    if metrics is not None and main_rank:
        metrics.write(trainer.state.global_step, 1.0, **finetune.numeric(result))
        common.write_json(Path(config.run_dir) / "result.json", result)


if __name__ == "__main__":
    sys.exit(common.run_job(main, SFTJobConfig))
