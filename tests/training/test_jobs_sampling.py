"""The sort-free nucleus filter keeps what transformers' top-p keeps."""

import pytest
import torch
from transformers.generation.logits_process import TopPLogitsWarper

from training.jobs.sampling import NucleusByThreshold


@pytest.mark.parametrize("top_p", [0.5, 0.9, 0.95])
@pytest.mark.parametrize("temperature", [0.3, 1.0, 3.0])
def test_nucleus_by_threshold_keeps_the_same_tokens_as_sorted_top_p(top_p, temperature):
    torch.manual_seed(0)
    scores = torch.randn(32, 512) / temperature
    ours = ~torch.isinf(NucleusByThreshold(top_p)(None, scores.clone()))
    theirs = ~torch.isinf(TopPLogitsWarper(top_p)(None, scores.clone()))
    assert torch.equal(ours, theirs)
    kept_mass = (torch.softmax(scores, -1) * ours).sum(-1)
    assert bool((kept_mass >= top_p - 1e-5).all())


def test_nucleus_keeps_a_single_dominant_token():
    scores = torch.tensor([[10.0, 0.0, 0.0, 0.0]])
    kept = ~torch.isinf(NucleusByThreshold(0.9)(None, scores))
    assert kept.tolist() == [[True, False, False, False]]


def test_nucleus_with_top_p_one_changes_nothing():
    scores = torch.randn(4, 16)
    assert torch.equal(NucleusByThreshold(1.0)(None, scores), scores)
