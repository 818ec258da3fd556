"""The PPO model pair and one PPO update (several epochs over shuffled minibatches)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from training.jobs.rl.losses import (
    clipped_policy_loss,
    clipped_value_loss,
    gae,
    kl_shaped_rewards,
    logprobs_of,
    masked_mean,
    masked_whiten,
)
from training.jobs.rl.models import response_slice
from training.jobs.rl.rollout import Rollout


@dataclass(frozen=True)
class UpdateSettings:
    ppo_epochs: int
    mini_batch_size: int
    cliprange: float
    cliprange_value: float
    vf_coef: float
    temperature: float
    max_grad_norm: float


@dataclass
class Advantages:
    advantages: Tensor  # (B, Lr) whitened
    returns: Tensor  # (B, Lr) value targets
    rewards: Tensor  # (B, Lr) KL-shaped per-token rewards
    kl: Tensor  # (B, Lr) log pi - log pi_ref
    scores: Tensor  # (B,) the sequence scores that were added at the last token


def compute_advantages(rollout: Rollout, *, scores: Tensor, kl_coef: float, gamma: float, lam: float, whiten_rewards: bool) -> Advantages:
    """Shape rewards with the KL penalty, then GAE, then whiten the advantages ([N+])."""
    mask = rollout.response_mask
    rewards, kl = kl_shaped_rewards(logprobs=rollout.logprobs, ref_logprobs=rollout.ref_logprobs, scores=scores, mask=mask, kl_coef=kl_coef)
    if whiten_rewards:
        rewards = masked_whiten(rewards, mask, shift_mean=False)
    advantages, returns = gae(rewards=rewards, values=rollout.values, mask=mask, gamma=gamma, lam=lam)
    return Advantages(masked_whiten(advantages, mask), returns, rewards, kl, scores)


def _minibatch_loss(model: nn.Module, rollout: Rollout, adv: Advantages, idx: Tensor, s: UpdateSettings) -> tuple[Tensor, dict[str, float]]:
    ctx, mask = rollout.context_length, rollout.response_mask[idx]
    logits, values = model(rollout.query_responses[idx], rollout.attention_mask[idx])
    logprobs = logprobs_of(response_slice(logits, ctx), rollout.responses[idx], temperature=s.temperature)
    vpred = response_slice(values, ctx).float()
    pg = clipped_policy_loss(logprobs=logprobs, old_logprobs=rollout.logprobs[idx], advantages=adv.advantages[idx], mask=mask, cliprange=s.cliprange)
    vf_loss, vf_clipfrac = clipped_value_loss(values=vpred, old_values=rollout.values[idx], returns=adv.returns[idx], mask=mask, cliprange_value=s.cliprange_value)
    stats = {
        "policy_loss": pg.loss.item(),
        "value_loss": vf_loss.item(),
        "clipfrac": pg.clipfrac.item(),
        "approxkl": pg.approxkl.item(),
        "ratio": pg.ratio_mean.item(),
        "value_clipfrac": vf_clipfrac.item(),
        "value_mean": masked_mean(vpred.detach(), mask).item(),
    }
    return pg.loss + s.vf_coef * vf_loss, stats


def ppo_update(*, model: nn.Module, optimizer: Any, accelerator: Any, rollout: Rollout, adv: Advantages, settings: UpdateSettings, generator: torch.Generator) -> list[dict[str, float]]:
    """Run ppo_epochs passes over shuffled minibatches; return stats per minibatch, in order."""
    batch_size = rollout.query_responses.size(0)
    history: list[dict[str, float]] = []
    for epoch in range(settings.ppo_epochs):
        order = torch.randperm(batch_size, generator=generator)
        for start in range(0, batch_size, settings.mini_batch_size):
            idx = order[start : start + settings.mini_batch_size].to(rollout.query_responses.device)
            with accelerator.autocast():
                loss, stats = _minibatch_loss(model, rollout, adv, idx, settings)
            accelerator.backward(loss)
            if settings.max_grad_norm > 0:
                accelerator.clip_grad_norm_(model.parameters(), settings.max_grad_norm)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            history.append({"epoch": epoch, **stats})
    return history
