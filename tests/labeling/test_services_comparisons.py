"""comparisons_create: the one write path for comparisons (imports and generation rounds)."""

from __future__ import annotations

import pytest

from labeling.services import NewComparison, NewResponse, comparisons_create
from tests.factories import make_prompt

pytestmark = pytest.mark.django_db


def test_comparisons_are_created_with_their_responses_in_order_and_tagged(project):
    prompts = [make_prompt(project), make_prompt(project)]
    items = [
        NewComparison(p.pk, [NewResponse(f"first for {p.pk}", model_name="m" * 400, generation_params={"seed": 1}),
                             NewResponse(f"second for {p.pk}")])
        for p in prompts
    ]
    made = comparisons_create(project=project, items=items, source="generate", policy_version="policy-3")
    assert [c.prompt_id for c in made] == [p.pk for p in prompts]
    for comparison, prompt in zip(made, prompts, strict=True):
        comparison.refresh_from_db()
        assert (comparison.source, comparison.policy_version) == ("generate", "policy-3")
        texts = list(comparison.responses.order_by("position").values_list("text", "model_name", "generation_params"))
        assert texts == [(f"first for {prompt.pk}", "m" * 300, {"seed": 1}), (f"second for {prompt.pk}", "", {})]
