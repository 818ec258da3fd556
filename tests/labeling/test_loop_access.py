"""The loop's token access: one query finds the token's user and their project or lease, and answers as separate checks would."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from labeling.models import Membership, Ranking
from tests.factories import api_client_for, make_comparison, make_project, make_user

pytestmark = pytest.mark.django_db


def _claim(api, project_id):  # type: ignore[no-untyped-def]
    return api.post(f"/api/projects/{project_id}/comparisons/next/")


def _submit(api, claimed):  # type: ignore[no-untyped-def]
    order = [[r["id"]] for r in claimed["responses"]]
    return api.post(f"/api/comparisons/{claimed['id']}/ranking/?next=false", {"order": order}, format="json")


def test_an_unknown_token_and_an_inactive_users_token_get_401_on_claim_and_submit(loop_member):
    project, user = loop_member
    api = api_client_for(user)
    claimed = _claim(api, project.pk).json()
    stranger = APIClient()
    stranger.credentials(HTTP_AUTHORIZATION="Token 0123456789abcdef0123456789abcdef01234567")
    assert _claim(stranger, project.pk).status_code == 401
    assert _submit(stranger, claimed).status_code == 401
    user.is_active = False
    user.save()
    for response in (_claim(api, project.pk), _submit(api, claimed)):
        assert response.status_code == 401 and response.json()["detail"] == "User inactive or deleted."
    assert not Ranking.objects.exists()


def test_a_project_the_user_does_not_belong_to_is_404_like_one_that_does_not_exist(loop_member):
    project, user = loop_member
    other = make_project(k=2)
    make_comparison(other, texts=["a", "b"])
    api = api_client_for(user)
    for project_id in (other.pk, other.pk + 1000):
        response = _claim(api, project_id)
        assert response.status_code == 404 and response.json()["detail"] == "No such project."
    assert _claim(api, project.pk).status_code == 200


def test_a_member_removed_from_the_project_cannot_submit_on_the_lease_they_hold(loop_member):
    project, user = loop_member
    api = api_client_for(user)
    claimed = _claim(api, project.pk).json()
    Membership.objects.filter(project=project, user=user).delete()
    assert _submit(api, claimed).status_code == 404
    assert not Ranking.objects.exists()


def test_staff_claim_and_submit_in_a_project_they_are_not_a_member_of(loop_member):
    project, _ = loop_member
    api = api_client_for(make_user(staff=True))
    claimed = _claim(api, project.pk)
    assert claimed.status_code == 200 and claimed.json()["project"] == project.pk
    stored = _submit(api, claimed.json())
    assert stored.status_code == 201 and Ranking.objects.filter(pk=stored.json()["id"]).exists()
