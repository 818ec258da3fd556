"""What the offline post-training jobs (sft, kto, orpo) share: config fields, loading, held-out scoring.

These jobs read JSONL rows, train a policy with one TRL trainer, and report held-out figures
before and after. The fields and checks here are the ones all three take; each job adds its own.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from training.jobs import common

T = TypeVar("T")
Messages = list[dict[str, str]]


@dataclass(frozen=True)
class FinetuneFields:
    """Fields every offline post-training job takes (system fields first, then hyperparameters)."""

    model: str  # system: the starting policy (also the reference where the method has one)
    train_file: str  # system: JSONL training rows
    output_dir: str  # system: where the new policy is saved (must not exist)
    run_dir: str = ""  # system: metrics.jsonl and result.json
    eval_file: str = ""  # system: held-out rows ("" = hold out eval_fraction of train_file)
    num_train_epochs: float = 3.0  # passes over the rows (ignored when max_steps > 0)
    max_steps: int = -1  # stop after this many optimizer steps (-1 = use num_train_epochs)
    per_device_train_batch_size: int = 8  # rows per device per step
    gradient_accumulation_steps: int = 1  # steps to accumulate before an update
    max_length: int = 1024  # prompt + answer tokens; clamped to the model's context, longer rows truncated
    warmup_ratio: float = 0.1  # fraction of steps spent warming up the learning rate
    weight_decay: float = 0.0  # AdamW weight decay
    use_lora: bool = False  # train LoRA adapters instead of all weights (merged on save)
    lora_r: int = 8  # LoRA rank
    lora_alpha: int = 16  # LoRA scaling
    lora_dropout: float = 0.05  # dropout on LoRA inputs
    eval_fraction: float = 0.1  # share of train_file held out when there is no eval_file
    logging_steps: int = 5  # log (and write metrics) every N steps
    seed: int = 0  # seeds data order and the held-out split
    report_to: list[str] = field(default_factory=lambda: ["tensorboard"])  # trackers fed the run's metrics: tensorboard, wandb, mlflow, trackio
    save_steps: int = 500  # checkpoint every N optimizer steps (0 = never); a failed run resumes from the last one
    save_total_limit: int = 2  # checkpoints kept (the oldest go first)
    load_in_4bit: bool = False  # QLoRA: 4-bit base weights via bitsandbytes (CUDA only; needs use_lora)
    gradient_checkpointing: bool = False  # recompute activations in the backward pass: less memory, slower steps
    dtype: str = "auto"  # weights: auto (bf16 on a GPU that has it, else float32), float32, bfloat16, float16


SYSTEM_FIELDS: frozenset[str] = frozenset({"model", "train_file", "output_dir", "run_dir", "eval_file"})


def check_finetune_fields(config: Any) -> None:
    """Validate the shared fields, naming the first bad one."""
    common.check_trainer_fields(config)
    common.check_range("warmup_ratio", config.warmup_ratio, low=0.0, high=1.0)
    common.check_range("weight_decay", config.weight_decay, low=0.0, high=1.0)
    if not isinstance(config.use_lora, bool):
        raise common.ConfigError(f"use_lora: expected true or false, got {config.use_lora!r}")
    common.check_range("lora_r", config.lora_r, low=1, high=1024, kind=int)
    common.check_range("lora_alpha", config.lora_alpha, low=1, high=4096, kind=int)
    common.check_range("lora_dropout", config.lora_dropout, low=0.0, high=0.9)
    common.check_range("eval_fraction", config.eval_fraction, low=0.0, high=0.5)
    common.check_range("logging_steps", config.logging_steps, low=1, kind=int)
    common.check_range("seed", config.seed, low=0, kind=int)


def trainer_kwargs(config: Any, *, output_dir: Any) -> dict[str, Any]:
    """TRL config arguments from the shared fields and the job's own learning_rate."""
    return {"weight_decay": config.weight_decay, **common.supervised_trainer_kwargs(config, output_dir=output_dir)}


def hold_out(rows: list[T], *, fraction: float, seed: int) -> tuple[list[T], list[T]]:
    """Split rows into (train, held-out) by a seeded shuffle; nothing is held out from a tiny set."""
    n_eval = int(len(rows) * fraction)
    if n_eval == 0 or len(rows) - n_eval < 1:
        return rows, []
    order = list(range(len(rows)))
    random.Random(seed).shuffle(order)
    held = set(order[:n_eval])
    return [r for i, r in enumerate(rows) if i not in held], [r for i, r in enumerate(rows) if i in held]


def load_chat_policy(name: str, config: Any = None) -> tuple[Any, Any]:
    """Load a policy and its tokenizer; refuse one without a chat template (rows are conversations)."""
    tokenizer = common.load_tokenizer(name)
    if not tokenizer.chat_template:
        raise common.JobError(f"{name}: the tokenizer has no chat template; PrefLoop trains on conversations")
    from training.jobs import memory

    return common.load_causal_lm(name, **(memory.load_kwargs(config) if config is not None else {})), tokenizer


def lora_config(config: Any) -> Any:
    """LoRA on every linear layer of a causal LM."""
    from peft import LoraConfig

    return LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
                      target_modules="all-linear", task_type="CAUSAL_LM")


def _ids(encoded: Any) -> list[int]:
    return list(encoded["input_ids"] if hasattr(encoded, "keys") else encoded)


def answer_samples(tokenizer: Any, prompts: Sequence[Messages], answers: Sequence[Messages], max_length: int) -> list[Any]:
    """Tokenize (prompt, answer) the way TRL does: prompt with the generation prompt, answer = the rest."""
    from training.jobs.sampling import Sample

    out = []
    for prompt, answer in zip(prompts, answers, strict=True):
        prompt_ids = _ids(tokenizer.apply_chat_template(prompt, add_generation_prompt=True, tokenize=True))[:max_length]
        full = _ids(tokenizer.apply_chat_template(list(prompt) + list(answer), tokenize=True))[:max_length]
        out.append(Sample(text="", prompt_ids=prompt_ids, response_ids=full[len(prompt_ids):], finished=True))
    return out


def answer_logprobs(model: Any, tokenizer: Any, prompts: Sequence[Messages], answers: Sequence[Messages], *,
                    max_length: int) -> list[tuple[float, int]]:
    """Return (summed log-probability, token count) of each answer after its prompt."""
    from training.jobs.sampling import response_logprobs

    if not prompts:
        return []
    samples = answer_samples(tokenizer, prompts, answers, max_length)
    device = str(next(model.parameters()).device)
    model.eval()
    lps = response_logprobs(model, samples, pad_id=tokenizer.pad_token_id, device=device)
    return [(float(lp.sum()), int(lp.numel())) for lp in lps]


def greedy_answers(model: Any, tokenizer: Any, prompts: Sequence[Messages], *, max_new_tokens: int) -> list[str]:
    """Decode the model's most likely answer to each prompt (greedy: the same on every machine)."""
    from training.jobs.sampling import SamplingParams, sample_all

    if not prompts:
        return []
    device = str(next(model.parameters()).device)
    params = SamplingParams(temperature=0.0, top_p=1.0, max_new_tokens=max_new_tokens, seed=0)
    grouped = sample_all(model.eval(), tokenizer, list(prompts), k=1, params=params, device=device,
                         batch_size=len(prompts))
    return [group[0].text for group in grouped]


def save_policy(trainer: Any, tokenizer: Any, out: Any, *, use_lora: bool) -> Any:
    """Save the trained policy as a plain model (LoRA merged); return it on rank 0, else None."""
    from training.jobs.dpo import save_policy as save

    return save(trainer, tokenizer, out, use_lora=use_lora)


def train_and_save(trainer: Any, tokenizer: Any, tmp: Any, config: Any) -> tuple[Any, Any]:
    """Train (resuming from the run's last complete checkpoint), drop the Trainer's scratch dir, save the policy.

    Return (the Trainer's train output, the saved policy on rank 0 or None elsewhere).
    """
    from training.jobs import checkpoints

    train_output = checkpoints.train(trainer, config)
    common.remove_tree(tmp / "_trainer")
    return train_output, save_policy(trainer, tokenizer, tmp, use_lora=config.use_lora)


def numeric(result: dict[str, Any]) -> dict[str, float | int]:
    """Keep the numbers of a result dict (the final metrics line)."""
    return {k: v for k, v in result.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
