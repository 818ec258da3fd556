"""The managers' data browser: filters, agreement per comparison, the side-by-side detail, access."""

from __future__ import annotations

import pytest
from django.urls import reverse

from labeling.browse import browse_choices
from labeling.models import Ranking, Role
from labeling.quality import comparison_agreement
from tests.factories import add_member, make_comparison, make_project, make_prompt, make_user


def test_comparison_agreement_is_the_share_of_concordant_pairs():
    assert comparison_agreement([[[1], [2], [3]], [[1], [2], [3]]]) == 1.0
    assert comparison_agreement([[[1], [2], [3]], [[3], [2], [1]]]) == 0.0
    assert comparison_agreement([[[1], [2], [3]], [[2], [1], [3]]]) == pytest.approx(2 / 3)
    assert comparison_agreement([[[1], [2, 3]], [[1], [3], [2]]]) == 1.0  # the tied pair is left out
    assert comparison_agreement([[[1], [2]]]) is None


@pytest.fixture
def data(db, client):
    project = make_project(k=3, overlap=2)
    manager, ann, bob = make_user("lead"), make_user("ann"), make_user("bob")
    add_member(project, manager, Role.MANAGER)
    add_member(project, ann)
    add_member(project, bob)
    agreed = make_comparison(project, prompt=make_prompt(project, "Agreed on", tags=["poem"]), policy_version="v1")
    split = make_comparison(project, prompt=make_prompt(project, "Split on"), policy_version="v2")
    untouched = make_comparison(project, prompt=make_prompt(project, "Nobody ranked"))
    for comparison, orders in ((agreed, ([0, 1, 2], [0, 1, 2])), (split, ([0, 1, 2], [2, 1, 0]))):
        ids = list(comparison.responses.values_list("pk", flat=True))
        for user, order, flags in zip((ann, bob), orders, ([], ["unsafe"] if comparison is split else []), strict=True):
            Ranking.objects.create(comparison=comparison, annotator=user, order=[[ids[i]] for i in order], flags=flags)
    client.force_login(manager)
    return project, agreed, split, untouched


def _ids(client, project, **params) -> list[int]:
    response = client.get(reverse("labeling:data-browse", args=[project.pk]), params)
    assert response.status_code == 200
    body = response.content.decode()
    return sorted(int(part.split('"')[0]) for part in body.split('<tr data-comparison="')[1:])


def test_each_filter_narrows_the_list(client, data):
    project, agreed, split, untouched = data
    assert _ids(client, project) == sorted([agreed.pk, split.pk, untouched.pk])
    assert _ids(client, project, tag="poem") == [agreed.pk]
    assert _ids(client, project, annotator="bob") == sorted([agreed.pk, split.pk])
    assert _ids(client, project, policy_version="v2") == [split.pk]
    assert _ids(client, project, flag="unsafe") == [split.pk]
    assert _ids(client, project, flag="all_bad") == []
    assert _ids(client, project, agreement="low") == [split.pk]
    assert _ids(client, project, agreement="high") == [agreed.pk]


def test_each_annotator_and_policy_version_is_offered_once(client, data):
    """Seen on `make demo`: the filters listed annotator1 32 times (once per ranking) and ppo-4 30 times."""
    project, agreed, split, untouched = data
    make_comparison(project, prompt=make_prompt(project, "Another v2"), policy_version="v2")
    assert browse_choices(project) == {"tags": ["poem"], "annotators": ["ann", "bob"], "policy_versions": ["v1", "v2"]}
    body = client.get(reverse("labeling:data-browse", args=[project.pk])).content.decode()
    assert body.count('<option value="bob"') == 1 and body.count('<option value="v2"') == 1


def test_unknown_filter_value_is_a_400_naming_it(client, data):
    project = data[0]
    response = client.get(reverse("labeling:data-browse", args=[project.pk]), {"annotator": "ghost"})
    assert response.status_code == 400 and "Annotator:" in response.content.decode()


def test_detail_shows_every_annotators_ranking_side_by_side(client, data):
    project, _, split, _ = data
    body = client.get(reverse("labeling:data-comparison", args=[project.pk, split.pk])).content.decode()
    assert '<th scope="col" class="num">ann</th><th scope="col" class="num">bob</th>' in body
    first = split.responses.order_by("position").first()
    row = body.split(f'<tr data-response="{first.pk}">')[1].split("</tr>")[0]
    assert row.count('class="num rank-cell">1<') == 1 and row.count('class="num rank-cell">3<') == 1
    assert "agreement 0%" in body and "Unsafe" in body


def test_annotators_and_outsiders_cannot_browse(client, data):
    project, agreed, _, _ = data
    client.force_login(project.memberships.get(user__username="ann").user)
    assert client.get(reverse("labeling:data-browse", args=[project.pk])).status_code == 403
    client.force_login(make_user("outsider"))
    assert client.get(reverse("labeling:data-comparison", args=[project.pk, agreed.pk])).status_code == 404
    other = make_project()
    add_member(other, project.memberships.get(role=Role.MANAGER).user, Role.MANAGER)
    client.force_login(project.memberships.get(role=Role.MANAGER).user)
    assert client.get(reverse("labeling:data-comparison", args=[other.pk, agreed.pk])).status_code == 404
