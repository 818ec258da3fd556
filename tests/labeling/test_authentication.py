"""Token authentication (one raw query): the same answers as DRF's for good, bad and inactive tokens."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from tests.factories import api_client_for, make_user

pytestmark = pytest.mark.django_db


def test_a_valid_token_authenticates_and_a_wrong_one_is_401_with_the_reason(project, annotator):
    assert api_client_for(annotator).get("/api/projects/").status_code == 200
    stranger = APIClient()
    stranger.credentials(HTTP_AUTHORIZATION="Token not-a-real-key")
    response = stranger.get("/api/projects/")
    assert response.status_code in (401, 403) and response.json()["detail"] == "Invalid token."


def test_the_token_of_a_deactivated_user_is_refused():
    user = make_user()
    api = api_client_for(user)
    user.is_active = False
    user.save()
    response = api.get("/api/projects/")
    assert response.status_code in (401, 403) and "inactive" in response.json()["detail"]
