"""The RL jobs' prompt limit: prompt + completion fit the policy's context, and cut prompts are counted."""

from __future__ import annotations

from pathlib import Path

import pytest

from training.jobs import common
from training.jobs.rl.prompt_budget import PromptBudget, apply, fit_prompt_length, prompt_token_ids, truncation_warnings

LONG = " ".join(["The quick brown fox jumps over the lazy dog."] * 60)  # ~600 tokens in the tiny BPE


def test_a_limit_that_leaves_no_room_for_the_response_is_lowered_to_fit_the_context() -> None:
    assert fit_prompt_length(PromptBudget(300, False, "response_length", 48, 256)) == 208
    assert fit_prompt_length(PromptBudget(64, False, "response_length", 48, 256)) == 64
    assert fit_prompt_length(PromptBudget(5000, False, "response_length", 48, None)) == 5000  # context unknown: as set


def test_a_completion_that_fills_the_context_alone_is_refused_by_name() -> None:
    with pytest.raises(common.JobError, match="max_completion_length: 256 does not fit the policy's context of 256 tokens"):
        fit_prompt_length(PromptBudget(None, True, "max_completion_length", 256, 256))


def test_the_warning_says_how_many_prompts_lost_how_many_tokens_and_why() -> None:
    auto = PromptBudget(208, True, "response_length", 48, 256)
    [w] = truncation_warnings([10, 300, 208, 250], auto, 208)
    assert (w["count"], w["of"], w["tokens_cut"], w["unit"]) == (2, 4, 134, "prompts")
    assert w["message"] == ("Truncated 2 of 4 prompts to their last 208 tokens (max_prompt_length, auto: the policy's "
                            "context of 256 tokens less response_length 48); 134 tokens were cut from their starts.")
    clamped = truncation_warnings([300], PromptBudget(300, False, "response_length", 48, 256), 208)[0]["reason"]
    assert clamped == "max_prompt_length 300 lowered so that prompt + response_length 48 fit the policy's context of 256 tokens"
    assert truncation_warnings([10, 20], auto, 208) == []


def test_prompts_are_counted_as_the_rollout_renders_them(tiny_policy: Path) -> None:
    tokenizer = common.load_tokenizer(str(tiny_policy))
    prompts = [[{"role": "user", "content": "What season is warm?"}], [{"role": "user", "content": LONG}]]
    long = len(prompt_token_ids(tokenizer, prompts[1]))
    kept, warnings = apply(tokenizer, prompts, PromptBudget(64, False, "max_completion_length", 16, 256))
    assert kept == 64 and long > 500
    assert [(w["count"], w["of"], w["tokens_cut"]) for w in warnings] == [(1, 2, long - 64)]
