"""DPO job: fine-tune a policy on preference pairs with TRL's DPOTrainer, referenced to itself.

Reports held-out preference accuracy (does the policy give the chosen answer a higher
log-probability than the rejected one?) and DPO's implicit reward margin, before and after.
Optional LoRA adapters are merged before saving, so the output is always a plain model.
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from training.jobs import checkpoints, common, defaults, memory

LOSS_TYPES = frozenset({
    "sigmoid", "hinge", "ipo", "exo_pair", "nca_pair", "robust", "bco_pair", "sppo_hard", "aot", "aot_unpaired",
    "apo_zero", "apo_down", "discopop", "sft", "sigmoid_norm",
})


@dataclass(frozen=True)
class DPOJobConfig:
    """Direct preference optimisation of `model` on train_file."""

    model: str  # system: the starting policy, also the frozen reference
    train_file: str  # system: preference JSONL (TRL conversational)
    output_dir: str  # system: where the new policy is saved (must not exist)
    run_dir: str = ""  # system: metrics.jsonl and result.json
    eval_file: str = ""  # system: held-out preferences ("" = hold out eval_fraction of train_file)
    loss_type: str | list[str] = "sigmoid"  # one or several of TRL's DPO losses (sigmoid, ipo, robust, hinge, ...)
    loss_weights: list[float] | None = None  # weight per loss when several are given
    beta: float = 0.1  # KL strength: higher keeps the policy nearer the reference
    label_smoothing: float = 0.0  # robust DPO: assumed share of flipped labels (< 0.5)
    learning_rate: float | None = None  # AdamW step size; empty = scaled to the model's size (1e-6 at 1B parameters)
    num_train_epochs: float | None = None  # passes over the pairs; empty = 3 below 100M parameters, 2 below 1B, else 1
    max_steps: int = -1  # stop after this many optimizer steps (-1 = use num_train_epochs)
    per_device_train_batch_size: int = 8  # pairs per device per step
    gradient_accumulation_steps: int = 1  # steps to accumulate before an update
    max_length: int | None = None  # prompt + answer tokens; longer pairs are truncated and reported; empty = the model's context
    warmup_ratio: float = 0.0  # fraction of steps spent warming up the learning rate
    use_lora: bool = False  # train LoRA adapters instead of all weights (merged on save)
    lora_r: int = 8  # LoRA rank
    lora_alpha: int = 16  # LoRA scaling
    lora_dropout: float = 0.05  # dropout on LoRA inputs
    eval_fraction: float = 0.1  # share of train_file held out when there is no eval_file
    logging_steps: int = 10  # log (and write metrics) every N steps
    seed: int = 0  # seeds data order and the held-out split
    report_to: list[str] = field(default_factory=lambda: ["tensorboard"])  # trackers fed the run's metrics: tensorboard, wandb, mlflow, trackio
    save_steps: int = 500  # checkpoint every N optimizer steps (0 = never); a failed run resumes from the last one
    save_total_limit: int = 2  # checkpoints kept (the oldest go first)
    load_in_4bit: bool = False  # QLoRA: 4-bit base weights via bitsandbytes (CUDA only; needs use_lora)
    gradient_checkpointing: bool = False  # recompute activations in the backward pass: less memory, slower steps
    dtype: str = "auto"  # weights: auto (bf16 on a GPU that has it, else float32), float32, bfloat16, float16

    def loss_types(self) -> list[str]:
        return [self.loss_type] if isinstance(self.loss_type, str) else list(self.loss_type)

    def validate(self) -> None:
        self._validate_loss()
        common.check_range("beta", self.beta, low=1e-6, high=100.0)
        common.check_range("label_smoothing", self.label_smoothing, low=0.0, high=0.499)
        common.check_trainer_fields(self)
        common.check_range("warmup_ratio", self.warmup_ratio, low=0.0, high=1.0)
        if not isinstance(self.use_lora, bool):
            raise common.ConfigError(f"use_lora: expected true or false, got {self.use_lora!r}")
        common.check_range("lora_r", self.lora_r, low=1, high=1024, kind=int)
        common.check_range("lora_alpha", self.lora_alpha, low=1, high=4096, kind=int)
        common.check_range("lora_dropout", self.lora_dropout, low=0.0, high=0.9)
        common.check_range("eval_fraction", self.eval_fraction, low=0.0, high=0.5)
        common.check_range("logging_steps", self.logging_steps, low=1, kind=int)
        common.check_range("seed", self.seed, low=0, kind=int)

    def _validate_loss(self) -> None:
        types = self.loss_type if isinstance(self.loss_type, list) else [self.loss_type]
        if not types or not all(isinstance(t, str) for t in types):
            raise common.ConfigError("loss_type: give a loss name or a non-empty list of names")
        unknown = sorted(set(types) - LOSS_TYPES)
        if unknown:
            raise common.ConfigError(f"loss_type: unknown loss {', '.join(unknown)}; choose from {', '.join(sorted(LOSS_TYPES))}")
        if self.loss_weights is not None and (
            not isinstance(self.loss_weights, list) or len(self.loss_weights) != len(types)
            or not all(isinstance(w, (int, float)) and not isinstance(w, bool) and w >= 0 for w in self.loss_weights)
        ):
            raise common.ConfigError(f"loss_weights: give one non-negative weight per loss type ({len(types)})")


CONFIG_CLASS = DPOJobConfig
SYSTEM_FIELDS: frozenset[str] = frozenset({"model", "train_file", "output_dir", "run_dir", "eval_file"})


def dpo_config(config: DPOJobConfig, work_dir: Path):  # type: ignore[no-untyped-def]
    """Turn the job config into TRL's DPOConfig."""
    from trl import DPOConfig

    return DPOConfig(
        loss_type=config.loss_types(),
        loss_weights=config.loss_weights,
        beta=config.beta,
        label_smoothing=config.label_smoothing,
        **common.supervised_trainer_kwargs(config, output_dir=work_dir),
    )


def lora_config(config: DPOJobConfig):  # type: ignore[no-untyped-def]
    from peft import LoraConfig

    return LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
                      target_modules="all-linear", task_type="CAUSAL_LM")


def _pair_samples(tokenizer, rows: list[dict[str, Any]], max_length: int) -> tuple[list, list]:  # type: ignore[no-untyped-def]
    """Tokenize held-out pairs the way TRL does: prompt with generation prompt, answer = the rest (cut at max_length)."""
    from training.jobs.sampling import Sample

    def sample(prompt: list, answer: list) -> Sample:
        prompt_ids = list(tokenizer.apply_chat_template(prompt, add_generation_prompt=True, tokenize=True)["input_ids"])
        full = list(tokenizer.apply_chat_template(prompt + answer, tokenize=True)["input_ids"])[:max_length]
        prompt_ids = prompt_ids[:max_length]
        return Sample(text="", prompt_ids=prompt_ids, response_ids=full[len(prompt_ids):], finished=True)

    return [sample(r["prompt"], r["chosen"]) for r in rows], [sample(r["prompt"], r["rejected"]) for r in rows]


def sequence_logprobs(model, tokenizer, rows: list[dict[str, Any]], *, max_length: int) -> tuple[list[float], list[float]]:  # type: ignore[no-untyped-def]
    """Summed log-probabilities of each held-out pair's chosen and rejected answers."""
    from training.jobs.sampling import response_logprobs

    chosen, rejected = _pair_samples(tokenizer, rows, max_length)
    device = str(next(model.parameters()).device)
    model.eval()
    lp = response_logprobs(model, chosen + rejected, pad_id=tokenizer.pad_token_id, device=device)
    sums = [float(t.sum()) for t in lp]
    return sums[: len(rows)], sums[len(rows):]


def preference_figures(ref: tuple[list[float], list[float]], new: tuple[list[float], list[float]], beta: float,
                       prefix: str) -> dict[str, float]:
    """Preference accuracy of `new`, and DPO's implicit reward margin beta*(Δchosen − Δrejected) vs `ref`."""
    n = len(new[0])
    accuracy = sum(c > r for c, r in zip(*new, strict=True)) / n
    margins = [beta * ((nc - rc) - (nr - rr)) for nc, nr, rc, rr in zip(new[0], new[1], ref[0], ref[1], strict=True)]
    return {
        f"{prefix}preference_accuracy": accuracy,
        f"{prefix}reward_margin": sum(margins) / n,
        f"{prefix}reward_accuracy": sum(m > 0 for m in margins) / n,
    }


def truncation_warnings(config: DPOJobConfig, tokenizer, model, rows: tuple[list, list]) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    """Count the pairs DPOTrainer will cut at max_length (it keeps their start) and describe them."""
    from training.jobs.preferences import split_by_length

    counts = {split: (split_by_length(tokenizer, r, config.max_length)[1], len(r)) for split, r in zip(("train", "eval"), rows, strict=True)}
    return common.length_warnings(action="truncated", counts=counts, max_length=config.max_length, model=model)


def _load(config: DPOJobConfig):  # type: ignore[no-untyped-def]
    tokenizer = common.load_tokenizer(config.model)  # left padding: the saved policy generates right away
    model = common.load_causal_lm(config.model, **memory.load_kwargs(config))
    if not tokenizer.chat_template:
        raise common.JobError(f"{config.model}: the tokenizer has no chat template; conversational DPO needs one")
    return model, tokenizer


def save_policy(trainer, tokenizer, out: Path, *, use_lora: bool):  # type: ignore[no-untyped-def]
    """Save the trained policy as a plain model (LoRA merged in); return it on rank 0, else None.

    Every rank calls this: under FSDP or ZeRO-3, trainer.save_model gathers the full weights.
    """
    if not use_lora:
        common.save_trained_model(trainer, out)
        return trainer.model if common.is_main_process() else None
    base = trainer.accelerator.unwrap_model(trainer.model).peft_config["default"].base_model_name_or_path
    return memory.save_merged(trainer, tokenizer, Path(out), base=base, load_base=common.load_causal_lm)


def main(config: DPOJobConfig) -> None:
    from datasets import Dataset
    from trl import DPOTrainer

    from training.jobs.callbacks import MetricsCallback
    from training.jobs.preferences import train_eval_rows, trl_rows

    train_rows, eval_rows = train_eval_rows(config.train_file, config.eval_file, eval_fraction=config.eval_fraction,
                                            seed=config.seed)
    model, tokenizer = _load(config)
    config, auto = defaults.resolve_for_model(config, "dpo", model)
    config = dataclasses.replace(config, max_length=common.effective_max_length(config.max_length, model))
    before = sequence_logprobs(model, tokenizer, eval_rows, max_length=config.max_length) if eval_rows and common.is_main_process() else None
    metrics = common.MetricsWriter(Path(config.run_dir) / "metrics.jsonl") if config.run_dir else None
    warnings = truncation_warnings(config, tokenizer, model, (train_rows, eval_rows))
    common.report_warnings(metrics, warnings)
    if metrics is not None and before is not None:
        metrics.write(0, 0.0, **preference_figures(before, before, config.beta, "eval_"))
    with common.atomic_output_dir(config.output_dir) as tmp:
        trainer = DPOTrainer(
            model=model,
            ref_model=None,  # TRL keeps a frozen copy of the starting policy (or disables LoRA) as reference
            args=dpo_config(config, tmp / "_trainer"),
            train_dataset=Dataset.from_list(trl_rows(train_rows, with_margin=False)),
            processing_class=tokenizer,
            peft_config=lora_config(config) if config.use_lora else None,
            callbacks=[MetricsCallback(metrics)] if metrics else [],
        )
        train_output = checkpoints.train(trainer, config)
        common.remove_tree(tmp / "_trainer")
        final = save_policy(trainer, tokenizer, tmp, use_lora=config.use_lora)
        if final is not None:
            result: dict[str, Any] = {"train_pairs": len(train_rows), "eval_pairs": len(eval_rows),
                                      "train_loss": train_output.training_loss, "global_step": trainer.state.global_step,
                                      "resumed_from": trainer.state.resumed_from,
                                      "max_length": config.max_length, "data_warnings": warnings, **auto}
            if before is not None:
                after = sequence_logprobs(final, tokenizer, eval_rows, max_length=config.max_length)
                result |= preference_figures(before, before, config.beta, "eval_start_")
                result |= preference_figures(before, after, config.beta, "eval_")
    if metrics is not None and common.is_main_process():
        metrics.write(trainer.state.global_step, 1.0, **{k: v for k, v in result.items() if isinstance(v, (int, float))})
        common.write_json(Path(config.run_dir) / "result.json", result)


if __name__ == "__main__":
    sys.exit(common.run_job(main, DPOJobConfig))
