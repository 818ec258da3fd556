"""Rollouts for PPO: encode prompts, sample responses, cut them at EOS, and score them.

Follows [N+] (Huang et al. 2024, arXiv:2403.17031): sample at temperature T, recompute
log-probs from logits / T, truncate after the first EOS, read the reward model at the last
real token, penalise responses that never emit EOS.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from training.jobs.rl.losses import entropy_from_logits, logprobs_of
from training.jobs.rl.models import policy_logits, response_slice
from training.jobs.rl.prompt_budget import prompt_token_ids

Messages = list[dict[str, str]]


@dataclass
class Rollout:
    """One batch of sampled episodes; per-token tensors cover the response positions only."""

    query_responses: Tensor  # (B, Lq + Lr) prompt (left-padded) then response
    attention_mask: Tensor  # (B, Lq + Lr) 1 on prompt tokens and response tokens up to EOS
    context_length: int  # Lq
    response_mask: Tensor  # (B, Lr) float, 1 up to and including the first EOS
    contains_eos: Tensor  # (B,) bool
    logprobs: Tensor  # (B, Lr) under the policy that sampled them
    ref_logprobs: Tensor  # (B, Lr) under the frozen reference
    values: Tensor  # (B, Lr) V(s_t) before each response token
    entropy: Tensor  # (B, Lr)
    scores: Tensor  # (B,) raw reward-model score
    texts: list[str]  # decoded responses, EOS and after removed

    @property
    def responses(self) -> Tensor:
        return self.query_responses[:, self.context_length :]


@dataclass
class RolloutModels:
    """What a rollout reads: the trained pair (maybe DDP-wrapped) and the frozen models."""

    model: nn.Module  # PolicyAndValue: forward(ids, mask) -> (logits, values)
    policy: nn.Module  # the unwrapped policy inside `model`, for generate()
    ref_policy: nn.Module
    reward_model: nn.Module
    tokenizer: Any
    reward_tokenizer: Any


@dataclass(frozen=True)
class RolloutSettings:
    temperature: float
    response_length: int
    max_prompt_length: int
    reward_max_length: int
    forward_batch_size: int


def encode_prompts(tokenizer: Any, prompts: list[Messages], *, max_length: int) -> tuple[Tensor, Tensor]:
    """Render chat prompts with the generation prompt and left-pad them; keep the last max_length tokens."""
    pad_id = tokenizer.pad_token_id
    rows = [prompt_token_ids(tokenizer, messages)[-max_length:] for messages in prompts]  # counted in prompt_budget
    width = max(len(r) for r in rows)
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        input_ids[i, width - len(row) :] = torch.tensor(row, dtype=torch.long)
        attention_mask[i, width - len(row) :] = 1
    return input_ids, attention_mask


def stop_token_ids(tokenizer: Any, model: nn.Module) -> list[int]:
    """Return the ids that end a response: the tokenizer's EOS plus the model's generation EOS ids."""
    ids = {tokenizer.eos_token_id}
    configured = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    ids.update(configured if isinstance(configured, list) else [configured])
    return sorted(i for i in ids if i is not None)


@torch.no_grad()
def sample(policy: nn.Module, input_ids: Tensor, attention_mask: Tensor, *, max_new_tokens: int, temperature: float, stop_ids: list[int], pad_id: int) -> Tensor:
    """Sample responses from plain softmax(logits / T): no top-k/top-p/repetition tricks, so log-probs match.

    The draw is the generate job's NucleusSampler with top_p = 1 (a cumsum and a binary search
    per row instead of multinomial); generate() then keeps the drawn token.
    """
    from transformers import GenerationConfig

    from training.jobs.sampling import NucleusSampler

    config = GenerationConfig(
        max_new_tokens=max_new_tokens,
        do_sample=False,
        top_k=None,
        top_p=None,
        temperature=None,
        repetition_penalty=1.0,
        no_repeat_ngram_size=0,
        eos_token_id=stop_ids,
        pad_token_id=pad_id,
    )
    out = policy.generate(input_ids=input_ids, attention_mask=attention_mask, generation_config=config,
                          logits_processor=[NucleusSampler(temperature, 1.0)])
    return out[:, input_ids.size(1) :]


def truncate_after_eos(responses: Tensor, stop_ids: list[int]) -> tuple[Tensor, Tensor]:
    """Mask everything after the first stop token (kept); return (float mask, contains_eos)."""
    is_stop = torch.isin(responses, torch.tensor(stop_ids, device=responses.device))
    contains_eos = is_stop.any(1)
    length = responses.size(1)
    first = torch.where(contains_eos, is_stop.float().argmax(1), torch.full_like(contains_eos, length - 1, dtype=torch.long))
    positions = torch.arange(length, device=responses.device).unsqueeze(0)
    return (positions <= first.unsqueeze(1)).float(), contains_eos


def response_text(tokenizer: Any, responses: Tensor, mask: Tensor, stop_ids: list[int]) -> list[str]:
    """Decode each response up to (not including) its EOS."""
    texts = []
    for row, row_mask in zip(responses.tolist(), mask.tolist(), strict=True):
        ids = [tok for tok, keep in zip(row, row_mask, strict=True) if keep and tok not in stop_ids]
        texts.append(tokenizer.decode(ids, skip_special_tokens=True))
    return texts


@torch.no_grad()
def score_texts(reward_model: nn.Module, tokenizer: Any, prompts: list[Messages], texts: list[str], *, max_length: int) -> Tensor:
    """Score prompt + response as the reward model was trained: the same chat template, right padding.

    The sequence-classification head reads the last non-pad token ([N+] 'reward at EOS'),
    exactly as in TRL's RewardTrainer and GRPOTrainer.
    """
    device = next(reward_model.parameters()).device
    rendered = [
        tokenizer.apply_chat_template(p + [{"role": "assistant", "content": t}], tokenize=False)
        for p, t in zip(prompts, texts, strict=True)
    ]
    batch = tokenizer(rendered, return_tensors="pt", padding=True, padding_side="right", add_special_tokens=False, truncation=True, max_length=max_length)
    return reward_model(**batch.to(device)).logits[:, 0].float()


@torch.no_grad()
def _per_token_stats(m: RolloutModels, qr: Tensor, attn: Tensor, ctx: int, s: RolloutSettings) -> dict[str, Tensor]:
    """Log-probs (policy, reference), values and entropy for response tokens, in chunks."""
    parts: dict[str, list[Tensor]] = {"logprobs": [], "ref_logprobs": [], "values": [], "entropy": []}
    for start in range(0, qr.size(0), s.forward_batch_size):
        ids, mask = qr[start : start + s.forward_batch_size], attn[start : start + s.forward_batch_size]
        tokens = ids[:, ctx:]
        logits, values = m.model(ids, mask)
        logits = response_slice(logits, ctx)
        ref_logits = response_slice(policy_logits(m.ref_policy, ids, mask), ctx)
        parts["logprobs"].append(logprobs_of(logits, tokens, temperature=s.temperature))
        parts["ref_logprobs"].append(logprobs_of(ref_logits, tokens, temperature=s.temperature))
        parts["values"].append(response_slice(values, ctx).float())
        parts["entropy"].append(entropy_from_logits(logits.float() / s.temperature))
    return {k: torch.cat(v) for k, v in parts.items()}


@torch.no_grad()
def collect_rollout(m: RolloutModels, prompts: list[Messages], *, settings: RolloutSettings, device: Any) -> Rollout:
    """Sample one response per prompt and compute everything PPO needs about it."""
    s = settings
    ids, mask = encode_prompts(m.tokenizer, prompts, max_length=s.max_prompt_length)
    ids, mask = ids.to(device), mask.to(device)
    stop_ids = stop_token_ids(m.tokenizer, m.policy)
    responses = sample(m.policy, ids, mask, max_new_tokens=s.response_length, temperature=s.temperature, stop_ids=stop_ids, pad_id=m.tokenizer.pad_token_id)
    response_mask, contains_eos = truncate_after_eos(responses, stop_ids)
    qr = torch.cat([ids, responses], dim=1)
    attn = torch.cat([mask, response_mask.long()], dim=1)
    stats = _per_token_stats(m, qr, attn, ids.size(1), s)
    texts = response_text(m.tokenizer, responses, response_mask, stop_ids)
    scores = score_texts(m.reward_model, m.reward_tokenizer, prompts, texts, max_length=s.reward_max_length).to(device)
    return Rollout(
        query_responses=qr, attention_mask=attn, context_length=ids.size(1), response_mask=response_mask,
        contains_eos=contains_eos, scores=scores, texts=texts, **stats,
    )
