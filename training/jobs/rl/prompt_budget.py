"""How many prompt tokens an RL job keeps: prompt + completion must fit the policy's context.

PPO, RLOO and GRPO all keep a long prompt's last max_prompt_length tokens (the end holds the
question and the generation prompt). Each job counts, before training, the prompts that lose
tokens and reports them as a data warning on the run and model pages, the way reward and DPO
report pairs they drop or truncate.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

from training.jobs import defaults
from training.jobs.common import JobError

Messages = list[dict[str, str]]


@dataclass(frozen=True)
class PromptBudget:
    """What a job knows about its prompt limit: the configured value, the completion beside it, the context."""

    requested: int | None  # max_prompt_length after auto filling (None only when nothing fits)
    auto: bool  # filled by training/jobs/defaults.py rather than set in the config
    completion_field: str  # "response_length" (PPO) or "max_completion_length" (RLOO, GRPO)
    completion_length: int
    context: int | None  # the policy's positions (None when its config does not say)


def fit_prompt_length(b: PromptBudget) -> int:
    """Return the prompt tokens to keep, lowered so prompt + completion fit the context; refuse when none fit."""
    if b.context is not None and b.completion_length >= b.context:
        raise JobError(f"{b.completion_field}: {b.completion_length} does not fit the policy's context of {b.context} tokens")
    if b.requested is None:
        raise JobError(f"max_prompt_length: the policy's config names no context, and {b.completion_field} "
                       f"{b.completion_length} fills the {defaults.FALLBACK_MAX_LENGTH}-token fallback; set max_prompt_length")
    if b.context is not None and b.requested + b.completion_length > b.context:
        kept = b.context - b.completion_length
        print(f"max_prompt_length {b.requested} + {b.completion_field} {b.completion_length} exceed the policy's context "
              f"of {b.context} tokens; prompts keep their last {kept} tokens", file=sys.stderr, flush=True)
        return kept
    return b.requested


def prompt_token_ids(tokenizer: Any, messages: Messages) -> list[int]:
    """Tokenize one chat prompt as the rollout does: the chat template with the generation prompt."""
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def _why(b: PromptBudget, kept: int) -> str:
    if b.requested is not None and kept < b.requested:
        return (f"max_prompt_length {b.requested} lowered so that prompt + {b.completion_field} {b.completion_length} "
                f"fit the policy's context of {b.context} tokens")
    if b.auto:
        return f"max_prompt_length, auto: {defaults.explain_prompt_length(b.context, b.completion_field, b.completion_length)}"
    return "max_prompt_length"


def truncation_warnings(lengths: list[int], budget: PromptBudget, kept: int) -> list[dict[str, Any]]:
    """Describe the prompts longer than `kept` tokens (n of total, tokens cut); empty when none is."""
    cut = [n - kept for n in lengths if n > kept]
    if not cut:
        return []
    why = _why(budget, kept)
    return [{
        "action": "truncated", "count": len(cut), "of": len(lengths), "split": "train", "unit": "prompts",
        "reason": why, "tokens_cut": sum(cut), "max_prompt_length": kept,
        "message": (f"Truncated {len(cut)} of {len(lengths)} prompts to their last {kept} tokens ({why}); "
                    f"{sum(cut)} tokens were cut from their starts."),
    }]


def apply(tokenizer: Any, prompts: list[Messages], budget: PromptBudget) -> tuple[int, list[dict[str, Any]]]:
    """Fit the prompt limit to the context and count the prompts it cuts: (tokens kept, data warnings)."""
    kept = fit_prompt_length(budget)
    lengths = [len(prompt_token_ids(tokenizer, p)) for p in prompts]
    return kept, truncation_warnings(lengths, budget, kept)
