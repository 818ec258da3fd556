"""The sort-free nucleus sampler draws from exactly the distribution transformers' top-p keeps."""

import pytest
import torch
from transformers.generation.logits_process import TopPLogitsWarper

from training.jobs.sampling import NucleusSampler

DRAWS = 100_000


def _empirical(sampler: NucleusSampler, scores: torch.Tensor) -> torch.Tensor:
    probs = torch.softmax(scores / sampler.temperature, -1).expand(DRAWS, -1).contiguous()
    return torch.bincount(sampler.draw(probs), minlength=scores.shape[-1]).float() / DRAWS


@pytest.mark.parametrize("top_p", [0.3, 0.9, 1.0])
@pytest.mark.parametrize("temperature", [0.5, 1.0])
def test_nucleus_sampler_matches_the_renormalised_top_p_distribution(top_p: float, temperature: float) -> None:
    torch.manual_seed(0)
    scores = torch.randn(1, 16) * 2
    expected = torch.softmax(TopPLogitsWarper(top_p)(None, scores.clone() / temperature), -1)[0]
    observed = _empirical(NucleusSampler(temperature, top_p), scores)
    assert (observed - expected).abs().max() < 0.01
    assert bool((observed[expected == 0] == 0).all()), "a token outside the nucleus was drawn"


def test_nucleus_sampler_keeps_a_single_dominant_token() -> None:
    out = NucleusSampler(1.0, 0.9)(None, torch.tensor([[10.0, 0.0, 0.0, 0.0]]).expand(64, -1))
    assert bool((out.argmax(-1) == 0).all())


def test_nucleus_sampler_hands_generate_one_token_per_row() -> None:
    out = NucleusSampler(0.8, 0.95)(None, torch.randn(8, 32))
    assert torch.equal(torch.isfinite(out).sum(-1), torch.ones(8, dtype=torch.long))


def test_rows_rejected_every_round_fall_back_to_the_sorted_draw() -> None:
    torch.manual_seed(1)
    scores = torch.randn(1, 16)
    expected = torch.softmax(TopPLogitsWarper(0.5)(None, scores.clone()), -1)[0]
    observed = _empirical(NucleusSampler(1.0, 0.5, rounds=0), scores)
    assert (observed - expected).abs().max() < 0.01
