"""PPO's equations as small pure tensor functions, each citing where it comes from.

Shapes: `(batch, response_len)` for per-token tensors; `mask` is 1.0 on real response
tokens (up to and including EOS) and 0.0 on padding after it. References:
- [PPO] Schulman et al. 2017, "Proximal Policy Optimization Algorithms", arXiv:1707.06347.
- [GAE] Schulman et al. 2016, "High-Dimensional Continuous Control Using Generalized
  Advantage Estimation", arXiv:1506.02438.
- [Ziegler] Ziegler et al. 2019, "Fine-Tuning Language Models from Human Preferences", arXiv:1909.08593.
- [N+] Huang et al. 2024, "The N+ Implementation Details of RLHF with PPO: A Case Study on
  TL;DR Summarization", arXiv:2403.17031 (and the "37 implementation details of PPO" post).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


def masked_mean(values: Tensor, mask: Tensor, dim: int | None = None) -> Tensor:
    """Average `values` over positions where mask is 1."""
    if dim is None:
        return (values * mask).sum() / mask.sum().clamp(min=1)
    return (values * mask).sum(dim) / mask.sum(dim).clamp(min=1)


def masked_var(values: Tensor, mask: Tensor, *, unbiased: bool = True) -> Tensor:
    """Variance over masked positions, with Bessel's correction as in [N+]'s `masked_var`."""
    mean = masked_mean(values, mask)
    var = masked_mean((values - mean) ** 2, mask)
    if unbiased:
        count = mask.sum()
        var = var * count / (count - 1).clamp(min=1)
    return var


def masked_whiten(values: Tensor, mask: Tensor, *, shift_mean: bool = True) -> Tensor:
    """Normalise to zero mean, unit variance over the mask ([N+] detail: advantage whitening)."""
    mean, var = masked_mean(values, mask), masked_var(values, mask)
    whitened = (values - mean) * torch.rsqrt(var + 1e-8)
    if not shift_mean:
        whitened = whitened + mean
    return whitened * mask


def logprobs_of(logits: Tensor, tokens: Tensor, *, temperature: float = 1.0) -> Tensor:
    """Log-probability of each sampled token under logits / T.

    [N+] detail: divide by the SAME temperature used when sampling, or the ratio at the
    first PPO step is not 1 and the KL to the reference is biased.
    """
    logp = torch.log_softmax(logits.float() / temperature, dim=-1)
    return torch.gather(logp, 2, tokens.unsqueeze(-1)).squeeze(-1)


def entropy_from_logits(logits: Tensor) -> Tensor:
    """Per-position entropy H = logsumexp(z) - sum softmax(z) * z."""
    logits = logits.float()
    probs = torch.softmax(logits, dim=-1)
    return torch.logsumexp(logits, dim=-1) - (probs * logits).sum(-1)


def kl_shaped_rewards(
    *, logprobs: Tensor, ref_logprobs: Tensor, scores: Tensor, mask: Tensor, kl_coef: float
) -> tuple[Tensor, Tensor]:
    """Per-token reward r_t = -beta * (log pi - log pi_ref), plus the score at the last real token.

    [Ziegler] eq. 2: R(x, y) = r(x, y) - beta * log(pi(y|x) / rho(y|x)), spread over tokens
    with the sequence score added at the final token ([N+] detail 'reward at EOS').
    Returns (rewards, per-token kl), both zero on padding.
    """
    kl = (logprobs - ref_logprobs) * mask
    rewards = -kl_coef * kl
    last = (mask.sum(1).long() - 1).clamp(min=0)
    rows = torch.arange(rewards.size(0), device=rewards.device)
    rewards[rows, last] += scores.to(rewards.dtype)
    return rewards, kl


def gae(*, rewards: Tensor, values: Tensor, mask: Tensor, gamma: float, lam: float) -> tuple[Tensor, Tensor]:
    """Generalized Advantage Estimation, computed backwards over the response.

    [GAE] eq. 16: delta_t = r_t + gamma V(s_{t+1}) - V(s_t);  A_t = sum_l (gamma lam)^l delta_{t+l}.
    The value after the last real token is 0 (the episode ends). Returns (advantages, returns),
    with returns = A + V the targets for the value loss.
    """
    rewards, values = rewards * mask, values * mask
    length = rewards.size(1)
    last_gae = torch.zeros_like(rewards[:, 0])
    advantages = torch.zeros_like(rewards)
    for t in reversed(range(length)):
        next_value = values[:, t + 1] if t + 1 < length else torch.zeros_like(last_gae)
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        last_gae = delta + gamma * lam * last_gae
        advantages[:, t] = last_gae
    advantages = advantages * mask
    return advantages, (advantages + values) * mask


@dataclass(frozen=True)
class PolicyLossOut:
    loss: Tensor
    clipfrac: Tensor
    approxkl: Tensor
    ratio_mean: Tensor


def clipped_policy_loss(
    *, logprobs: Tensor, old_logprobs: Tensor, advantages: Tensor, mask: Tensor, cliprange: float
) -> PolicyLossOut:
    """PPO's clipped surrogate, as a loss to minimise.

    [PPO] eq. 7: L = -E[min(rho A, clip(rho, 1-eps, 1+eps) A)], rho = pi/pi_old.
    approxkl = 0.5 E[(log rho)^2] (the estimator [N+] logs); clipfrac = share of tokens where
    the clipped branch is the one taken.
    """
    log_ratio = (logprobs - old_logprobs) * mask
    ratio = torch.exp(log_ratio)
    unclipped = -advantages * ratio
    clipped = -advantages * torch.clamp(ratio, 1.0 - cliprange, 1.0 + cliprange)
    loss = masked_mean(torch.max(unclipped, clipped), mask)
    with torch.no_grad():
        clipfrac = masked_mean((clipped > unclipped).float(), mask)
        approxkl = 0.5 * masked_mean(log_ratio**2, mask)
        ratio_mean = masked_mean(ratio, mask)
    return PolicyLossOut(loss, clipfrac, approxkl, ratio_mean)


def clipped_value_loss(
    *, values: Tensor, old_values: Tensor, returns: Tensor, mask: Tensor, cliprange_value: float
) -> tuple[Tensor, Tensor]:
    """Clipped value loss 0.5 E[max((V - R)^2, (clip(V, V_old +- eps) - R)^2)] ([N+] / OpenAI baselines).

    Returns (loss, fraction of tokens where the clipped term was larger).
    """
    clipped_values = old_values + torch.clamp(values - old_values, -cliprange_value, cliprange_value)
    loss_unclipped = (values - returns) ** 2
    loss_clipped = (clipped_values - returns) ** 2
    loss = 0.5 * masked_mean(torch.max(loss_unclipped, loss_clipped), mask)
    with torch.no_grad():
        clipfrac = masked_mean((loss_clipped > loss_unclipped).float(), mask)
    return loss, clipfrac


class FixedKLController:
    """A constant KL coefficient beta."""

    def __init__(self, kl_coef: float) -> None:
        self.value = kl_coef

    def update(self, current_kl: float, n_steps: int) -> None:
        """Keep beta fixed."""


class AdaptiveKLController:
    """Move beta so the observed KL tracks a target ([Ziegler] section 2.2).

    e_t = clip(KL_t / KL_target - 1, -0.2, 0.2);  beta_{t+1} = beta_t (1 + K_beta e_t),
    with K_beta = n_steps / horizon (episodes this update over the horizon in episodes).
    """

    def __init__(self, kl_coef: float, *, target: float, horizon: int) -> None:
        self.value = kl_coef
        self.target = target
        self.horizon = horizon

    def update(self, current_kl: float, n_steps: int) -> None:
        """Scale beta up when KL is above target, down when below."""
        error = min(max(current_kl / self.target - 1.0, -0.2), 0.2)
        self.value *= 1.0 + error * n_steps / self.horizon
