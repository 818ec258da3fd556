"""PPO's equations on small tensors, checked against answers worked out by hand."""

from __future__ import annotations

import math

import pytest
import torch

from training.jobs.rl.losses import (
    AdaptiveKLController,
    FixedKLController,
    clipped_policy_loss,
    clipped_value_loss,
    entropy_from_logits,
    gae,
    kl_shaped_rewards,
    logprobs_of,
    masked_whiten,
)


def t(*rows):
    return torch.tensor(rows, dtype=torch.float32)


def test_gae_matches_hand_computation_and_stops_at_the_mask():
    # Row 0, gamma=0.9, lam=0.5 (gamma*lam = 0.45), V = 0.5 everywhere, reward 1 at the end:
    #   t=2: delta = 1 + 0 - 0.5 = 0.5                 A2 = 0.5
    #   t=1: delta = 0 + 0.9*0.5 - 0.5 = -0.05         A1 = -0.05 + 0.45*0.5   = 0.175
    #   t=0: delta = -0.05                             A0 = -0.05 + 0.45*0.175 = 0.02875
    # Row 1, last position is padding (its value 9 must be ignored, the episode ends at t=1):
    #   t=1: delta = 2 + 0.9*0 - 1 = 1                 A1 = 1
    #   t=0: delta = 0 + 0.9*1 - 1 = -0.1              A0 = -0.1 + 0.45*1 = 0.35
    rewards = t([0, 0, 1], [0, 2, 0])
    values = t([0.5, 0.5, 0.5], [1, 1, 9])
    mask = t([1, 1, 1], [1, 1, 0])
    adv, ret = gae(rewards=rewards, values=values, mask=mask, gamma=0.9, lam=0.5)
    assert torch.allclose(adv, t([0.02875, 0.175, 0.5], [0.35, 1.0, 0.0]))
    assert torch.allclose(ret, t([0.52875, 0.675, 1.0], [1.35, 2.0, 0.0]))


def test_gae_with_lambda_one_and_gamma_one_is_return_minus_value():
    rewards, values, mask = t([1, 2, 3]), t([0.5, 1.0, 1.5]), t([1, 1, 1])
    adv, ret = gae(rewards=rewards, values=values, mask=mask, gamma=1.0, lam=1.0)
    assert torch.allclose(ret, t([6, 5, 3]))  # Monte-Carlo returns
    assert torch.allclose(adv, t([5.5, 4.0, 1.5]))


def test_whiten_uses_only_masked_positions_with_bessel_correction():
    x = t([1, 2, 3, 4, 100])
    mask = t([1, 1, 1, 1, 0])
    # mean 2.5, unbiased variance (2.25+0.25+0.25+2.25)/3 = 5/3
    expected = [(v - 2.5) / math.sqrt(5 / 3) for v in (1, 2, 3, 4)] + [0.0]
    assert torch.allclose(masked_whiten(x, mask), torch.tensor([expected]), atol=1e-6)
    kept = masked_whiten(x, mask, shift_mean=False)
    assert torch.allclose(kept[0, :4].mean(), torch.tensor(2.5), atol=1e-6)


def test_clipped_policy_loss_takes_the_pessimistic_branch():
    old = t([0.0, 0.0])
    new = torch.log(t([1.5, 0.5]))  # ratios 1.5 and 0.5
    mask = t([1, 1])
    # A=+1: token 1 max(-1.5, -1.2) = -1.2 (clipped), token 2 max(-0.5, -0.8) = -0.5 -> mean -0.85
    out = clipped_policy_loss(logprobs=new, old_logprobs=old, advantages=t([1, 1]), mask=mask, cliprange=0.2)
    assert out.loss.item() == pytest.approx(-0.85)
    assert out.clipfrac.item() == pytest.approx(0.5)
    assert out.approxkl.item() == pytest.approx(0.5 * (math.log(1.5) ** 2 + math.log(0.5) ** 2) / 2)
    # A=-1: token 1 max(1.5, 1.2) = 1.5, token 2 max(0.5, 0.8) = 0.8 (clipped) -> mean 1.15
    out = clipped_policy_loss(logprobs=new, old_logprobs=old, advantages=t([-1, -1]), mask=mask, cliprange=0.2)
    assert out.loss.item() == pytest.approx(1.15)
    assert out.clipfrac.item() == pytest.approx(0.5)


def test_policy_loss_at_ratio_one_is_minus_mean_advantage_with_no_clipping():
    logp = t([-1.0, -2.0, -3.0])
    out = clipped_policy_loss(logprobs=logp, old_logprobs=logp.clone(), advantages=t([1, -2, 4]), mask=t([1, 1, 0]), cliprange=0.2)
    assert out.loss.item() == pytest.approx(0.5)  # -(1 - 2) / 2 over the two real tokens
    assert out.clipfrac.item() == 0.0 and out.approxkl.item() == 0.0 and out.ratio_mean.item() == 1.0


def test_clipped_value_loss_hand_computed():
    # token 1: (0.5-1)^2 = 0.25 vs clipped V=0.2 -> (0.2-1)^2 = 0.64 -> 0.64 (clipped larger)
    # token 2: inside the clip range, both (−0.1−1)^2 = 1.21
    loss, clipfrac = clipped_value_loss(
        values=t([0.5, -0.1]), old_values=t([0.0, 0.0]), returns=t([1.0, 1.0]), mask=t([1, 1]), cliprange_value=0.2
    )
    assert loss.item() == pytest.approx(0.5 * (0.64 + 1.21) / 2)
    assert clipfrac.item() == pytest.approx(0.5)


def test_kl_shaped_rewards_put_the_score_on_the_last_real_token():
    rewards, kl = kl_shaped_rewards(
        logprobs=t([-1, -2, -3], [-1, -1, -1]),
        ref_logprobs=t([-1.5, -2, -2], [-1, -1, -1]),
        scores=torch.tensor([2.0, -1.0]),
        mask=t([1, 1, 0], [1, 1, 1]),
        kl_coef=0.1,
    )
    assert torch.allclose(kl, t([0.5, 0, 0], [0, 0, 0]))
    assert torch.allclose(rewards, t([-0.05, 2.0, 0.0], [0.0, 0.0, -1.0]))


def test_logprobs_divide_by_the_sampling_temperature():
    logits = torch.tensor([[[2.0, 0.0]]])
    token = torch.tensor([[0]])
    # softmax([2, 0] / 2) = softmax([1, 0]) -> p(0) = e / (e + 1)
    assert logprobs_of(logits, token, temperature=2.0).item() == pytest.approx(math.log(math.e / (math.e + 1)))


def test_entropy_of_uniform_logits_is_log_vocab():
    assert entropy_from_logits(torch.zeros(1, 1, 8)).item() == pytest.approx(math.log(8))


def test_adaptive_kl_controller_follows_ziegler_update():
    ctl = AdaptiveKLController(0.1, target=6.0, horizon=10_000)
    ctl.update(12.0, 100)  # error clipped to +0.2 -> beta * (1 + 0.2 * 100/10000)
    assert ctl.value == pytest.approx(0.1 * 1.002)
    ctl = AdaptiveKLController(0.1, target=6.0, horizon=10_000)
    ctl.update(3.0, 100)  # error -0.5 clipped to -0.2
    assert ctl.value == pytest.approx(0.1 * 0.998)
    fixed = FixedKLController(0.1)
    fixed.update(100.0, 100)
    assert fixed.value == 0.1
