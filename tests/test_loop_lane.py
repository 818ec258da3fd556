"""The annotation loop's lane: token calls of the loop skip the page middleware, keep the gate and the headers."""

from __future__ import annotations

from unittest import mock

import pytest
from django.contrib.sessions.middleware import SessionMiddleware
from django.test import Client

from tests.factories import api_client_for

pytestmark = pytest.mark.django_db

SECURITY_HEADERS = ("X-Frame-Options", "Content-Security-Policy", "X-Content-Type-Options", "Referrer-Policy", "Cross-Origin-Opener-Policy")


def _sessions_loaded(call):  # type: ignore[no-untyped-def]
    with mock.patch.object(SessionMiddleware, "process_request", autospec=True, side_effect=SessionMiddleware.process_request) as seen:
        response = call()
    return response, seen.call_count


def test_a_token_claim_skips_the_page_middleware_and_keeps_the_security_headers(loop_member):
    project, user = loop_member
    page = Client().get("/login/")
    claim, sessions = _sessions_loaded(lambda: api_client_for(user).post(f"/api/projects/{project.pk}/comparisons/next/"))
    assert claim.status_code == 200 and claim.json()["project"] == project.pk
    assert sessions == 0  # the lane: no session middleware for a token call
    for header in SECURITY_HEADERS:
        assert claim.headers.get(header) == page.headers.get(header), header
    assert claim.headers["Content-Length"] == str(len(claim.content))


def test_a_token_ranking_still_passes_the_input_gate(loop_member):
    project, user = loop_member
    api = api_client_for(user)
    claimed = api.post(f"/api/projects/{project.pk}/comparisons/next/").json()
    body = {"order": [[r["id"]] for r in claimed["responses"]], "note": "bad\x00note"}
    response = api.post(f"/api/comparisons/{claimed['id']}/ranking/", body, format="json")
    assert response.status_code == 400 and response.json()["errors"][0]["field"] == "note"


def test_a_bad_token_on_the_lane_is_a_json_401(loop_member):
    project, _ = loop_member
    response = Client().post(f"/api/projects/{project.pk}/comparisons/next/", HTTP_AUTHORIZATION="Token not-a-key")
    assert response.status_code == 401 and "detail" in response.json()


def test_a_session_call_of_the_loop_goes_down_the_full_stack_with_its_csrf_check(loop_member):
    project, user = loop_member
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)
    response, sessions = _sessions_loaded(lambda: browser.post(f"/api/projects/{project.pk}/comparisons/next/"))
    assert sessions == 1
    assert response.status_code == 403 and "CSRF" in response.json()["detail"]


def test_a_token_call_with_a_host_not_allowed_is_refused_as_on_the_full_stack(loop_member):
    project, user = loop_member
    response = api_client_for(user).post(f"/api/projects/{project.pk}/comparisons/next/", HTTP_HOST="evil.example")
    assert response.status_code == 400
