"""Gold comparisons: imported with a known best response, mixed into every annotator's queue."""

from __future__ import annotations

import pytest

from labeling.models import Comparison
from labeling.services import (
    ImportValidationError,
    gold_claim_next,
    prompts_import,
    queue_claim_next,
    ranking_submit,
)
from tests.factories import add_member, api_client_for, make_project, make_user


def _rows(n: int, *, gold: bool) -> list[dict]:
    return [
        {"prompt": f"{'gold' if gold else 'plain'} {i}", "responses": [f"good {i}", f"bad {i}"], **({"gold": 0} if gold else {})}
        for i in range(n)
    ]


def test_import_marks_the_named_response_as_gold_by_index_or_text(db):
    project = make_project(k=2)
    prompts_import(project=project, rows=[*_rows(1, gold=True), {"prompt": "t", "responses": ["x", "y"], "gold": "y"}])
    golds = {c.prompt.last_user_text: c.gold_response.text for c in Comparison.objects.select_related("gold_response", "prompt")}
    assert golds == {"gold 0": "good 0", "t": "y"}


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"prompt": "p", "gold": 0}, "needs the row's responses"),
        ({"prompt": "p", "responses": ["a", "b"], "gold": 2}, "between 0 and 1"),
        ({"prompt": "p", "responses": ["a", "b"], "gold": "c"}, "exactly one response's text"),
    ],
)
def test_bad_gold_is_refused_with_its_line_and_field(db, row, message):
    project = make_project(k=2)
    with pytest.raises(ImportValidationError) as caught:
        prompts_import(project=project, rows=[{"prompt": "fine", "responses": ["a", "b"]}, row])
    error = caught.value.errors[0]
    assert (error["line"], error["field"]) == (2, "gold") and message in error["message"]
    assert not Comparison.objects.exists()  # nothing half-written


def _rank_next(project, user) -> Comparison:
    lease = queue_claim_next(project=project, annotator=user)
    comparison = lease.comparison
    ids = lease.display_order
    ranking_submit(comparison=comparison, annotator=user, data={"order": [[i] for i in ids], "idempotency_key": ""})
    return comparison


def test_gold_is_about_the_share_of_each_queue_and_ignores_overlap(db):
    project = make_project(k=2, overlap=1, gold_share=0.25)
    prompts_import(project=project, rows=_rows(3, gold=True) + _rows(12, gold=False))
    people = [make_user("ann"), make_user("bob")]
    for user in people:
        add_member(project, user)
    for user in people:
        ranked = [_rank_next(project, user) for _ in range(8)]
        assert [c.is_gold for c in ranked] == [False, False, False, True] * 2  # every 4th, for both
    assert set(Comparison.objects.filter(gold_response__isnull=False, ranking_count=2).values_list("pk", flat=True)) == {
        c.pk for c in Comparison.objects.filter(gold_response__isnull=False).order_by("id")[:2]
    }


def test_a_gold_share_of_zero_keeps_gold_out_of_the_queue(db):
    project = make_project(k=2, gold_share=0)
    prompts_import(project=project, rows=_rows(2, gold=True))
    user = make_user("ann")
    add_member(project, user)
    assert gold_claim_next(project=project, annotator=user) is None


def test_annotators_ranking_through_the_api_get_gold_at_the_same_share(db):
    project = make_project(k=2, overlap=1, gold_share=0.25)
    prompts_import(project=project, rows=_rows(2, gold=True) + _rows(8, gold=False))
    user = make_user("ann")
    add_member(project, user)
    api = api_client_for(user)
    claimed = api.post(f"/api/projects/{project.pk}/comparisons/next/").json()
    served = []
    for _ in range(8):
        served.append(Comparison.objects.get(pk=claimed["id"]).is_gold)
        order = [[r["id"]] for r in claimed["responses"]]
        answer = api.post(f"/api/comparisons/{claimed['id']}/ranking/", {"order": order}, format="json")
        assert answer.status_code == 201, answer.json()
        claimed = answer.json()["next"]
    assert served == [False, False, False, True] * 2


def test_a_project_without_gold_skips_the_gold_queue(db, django_assert_num_queries):
    project = make_project(k=2)
    prompts_import(project=project, rows=_rows(2, gold=False))
    user = make_user("ann")
    add_member(project, user)
    project.refresh_from_db()
    assert not project.has_gold
    with django_assert_num_queries(0):
        assert gold_claim_next(project=project, annotator=user) is None
