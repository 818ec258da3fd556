"""The labeling API contract: projects, import, claim, rank, skip, preferences."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from labeling.models import Assignment, AssignmentStatus, Comparison, Membership, Preference, Prompt, Ranking, Role
from tests.factories import add_member, api_client_for, make_comparison, make_project, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(annotator):
    return api_client_for(annotator)


@pytest.fixture
def manager_api(manager):
    return api_client_for(manager)


def claim(api, project) -> dict:
    response = api.post(f"/api/projects/{project.pk}/comparisons/next/")
    assert response.status_code == 200, response.content
    return response.json()


def best_first(payload: dict) -> list[list[int]]:
    return [[r["id"]] for r in payload["responses"]]


def test_requests_without_credentials_are_refused(project):
    assert APIClient().get("/api/projects/").status_code in (401, 403)


def test_project_list_shows_only_my_projects_with_my_role(api, project):
    make_project(name="Someone else's")
    response = api.get("/api/projects/")
    assert response.status_code == 200
    assert [(p["id"], p["role"]) for p in response.json()] == [(project.pk, "annotator")]
    detail = api.get(f"/api/projects/{project.pk}/").json()
    assert (detail["k"], detail["slug"]) == (project.k, project.slug)


def test_staff_create_projects_and_become_their_manager():
    admin = make_user(staff=True)
    response = api_client_for(admin).post("/api/projects/", {"name": "Code review", "k": 2, "overlap": 3}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["slug"], body["k"], body["overlap"], body["role"]) == ("code-review", 2, 3, "manager")
    assert Membership.objects.get(project_id=body["id"], user=admin).role == Role.MANAGER


def test_project_create_with_bad_k_names_the_field():
    response = api_client_for(make_user(staff=True)).post("/api/projects/", {"name": "x", "k": 12}, format="json")
    assert response.status_code == 400 and response.json()["errors"][0]["field"] == "k" and response.json()["detail"].startswith("k: ")


def test_next_leases_a_comparison_with_prompt_and_responses_in_display_order(api, project, annotator):
    comparison = make_comparison(project)
    body = claim(api, project)
    assignment = Assignment.objects.get(annotator=annotator)
    assert body["id"] == comparison.pk
    assert body["prompt"]["messages"] == comparison.prompt.messages
    assert [r["id"] for r in body["responses"]] == assignment.display_order
    assert {r["text"] for r in body["responses"]} == set(comparison.responses.values_list("text", flat=True))
    assert body["lease_expires_at"].startswith(str(assignment.expires_at.year))


def test_next_answers_204_when_nothing_is_left(api, project):
    assert api.post(f"/api/projects/{project.pk}/comparisons/next/").status_code == 204


def test_ranking_is_stored_with_its_preferences_and_the_same_key_returns_it(api, project):
    make_comparison(project)
    body = claim(api, project)
    payload = {"order": best_first(body), "flags": [], "note": "easy", "idempotency_key": "run-1", "strength": None, "time_spent_ms": 4200}
    first = api.post(f"/api/comparisons/{body['id']}/ranking/", payload, format="json")
    assert first.status_code == 201, first.content
    stored = first.json()
    assert (stored["comparison"], stored["created"], stored["next"]) == (body["id"], True, None)  # nothing else left
    ranking = Ranking.objects.get(pk=stored["id"])
    assert ranking.order == payload["order"] and ranking.note == "easy" and ranking.preferences.count() == 6
    assert ranking.display_order == [r["id"] for r in body["responses"]]  # what was shown is kept
    again = api.post(f"/api/comparisons/{body['id']}/ranking/", payload, format="json")
    assert again.status_code == 200 and again.json()["id"] == stored["id"] and again.json()["created"] is False
    assert Ranking.objects.count() == 1 and Preference.objects.count() == 6


def test_ranking_answers_with_the_next_comparison_already_leased(api, project, annotator):
    first, second = make_comparison(project), make_comparison(project)
    body = claim(api, project)
    stored = api.post(f"/api/comparisons/{body['id']}/ranking/", {"order": best_first(body)}, format="json").json()
    following = stored["next"]
    assert (body["id"], following["id"]) == (first.pk, second.pk)
    lease = Assignment.objects.get(annotator=annotator, comparison=second)
    assert [r["id"] for r in following["responses"]] == lease.display_order and lease.status == AssignmentStatus.ACTIVE
    assert claim(api, project)["id"] == second.pk  # claiming again renews that lease
    done = api.post(f"/api/comparisons/{second.pk}/ranking/?next=false", {"order": best_first(following)}, format="json")
    assert done.status_code == 201 and done.json()["next"] is None


def test_ranking_a_comparison_not_leased_to_you_is_409_saying_so(api, project, annotator):
    mine, theirs, never = make_comparison(project), make_comparison(project), make_comparison(project)
    rival = make_user()
    add_member(project, rival)
    assert claim(api, project)["id"] == mine.pk
    assert claim(api_client_for(rival), project)["id"] == theirs.pk
    for comparison in (theirs, never):
        order = [[r] for r in comparison.responses.values_list("id", flat=True)]
        response = api.post(f"/api/comparisons/{comparison.pk}/ranking/", {"order": order}, format="json")
        assert response.status_code == 409 and "not leased to you" in response.json()["detail"]
        assert "expired" not in response.json()["detail"]
    assert not Ranking.objects.exists()


def test_ranking_a_comparison_you_skipped_is_409_saying_so(api, project):
    make_comparison(project)
    body = claim(api, project)
    assert api.post(f"/api/comparisons/{body['id']}/skip/").status_code == 204
    response = api.post(f"/api/comparisons/{body['id']}/ranking/", {"order": best_first(body)}, format="json")
    assert response.status_code == 409 and "You skipped this comparison" in response.json()["detail"]
    assert not Ranking.objects.exists()


def test_second_ranking_with_a_new_key_is_a_conflict(api, project):
    make_comparison(project)
    body = claim(api, project)
    url = f"/api/comparisons/{body['id']}/ranking/"
    assert api.post(url, {"order": best_first(body), "idempotency_key": "a"}, format="json").status_code == 201
    conflict = api.post(url, {"order": best_first(body), "idempotency_key": "b"}, format="json")
    assert conflict.status_code == 409 and "already ranked" in conflict.json()["detail"]


@pytest.mark.parametrize(
    ("make_body", "field"),
    [
        (lambda ids, other: {"order": [[i] for i in ids[:-1]]}, "order"),  # missing
        (lambda ids, other: {"order": [[i] for i in ids] + [[ids[0]]]}, "order"),  # duplicated
        (lambda ids, other: {"order": [[i] for i in ids[:-1]] + [[other]]}, "order"),  # foreign
        (lambda ids, other: {"order": "best to worst"}, "order"),  # wrong type
        (lambda ids, other: {"order": [[str(i)] for i in ids]}, "order"),
        (lambda ids, other: {"order": [[i] for i in ids], "flags": "unsafe"}, "flags"),
        (lambda ids, other: {"order": [[i] for i in ids], "time_spent_ms": "soon"}, "time_spent_ms"),
        (lambda ids, other: {"order": [[i] for i in ids], "note": "n" * 6000}, "note"),
        (lambda ids, other: [[i] for i in ids], "body"),  # a list, not an object
    ],
    ids=["missing", "duplicated", "foreign", "string", "string-ids", "flags", "time", "long-note", "list-body"],
)
def test_bad_rankings_get_400_naming_the_field_and_write_nothing(api, project, make_body, field):
    make_comparison(project)
    other = make_comparison(project).responses.first().pk
    body = claim(api, project)
    response = api.post(f"/api/comparisons/{body['id']}/ranking/", make_body([r["id"] for r in body["responses"]], other), format="json")
    assert response.status_code == 400, response.content
    errors = response.json()["errors"]
    assert errors[0]["field"] == field and errors[0]["message"]
    assert field in response.json()["detail"]
    assert Ranking.objects.count() == 0 and Preference.objects.count() == 0


def test_ties_are_refused_with_400_when_the_project_forbids_them():
    project = make_project(allow_ties=False)
    user = make_user()
    add_member(project, user)
    api = api_client_for(user)
    make_comparison(project)
    body = claim(api, project)
    ids = [r["id"] for r in body["responses"]]
    response = api.post(f"/api/comparisons/{body['id']}/ranking/", {"order": [ids[:2], ids[2:3], ids[3:]]}, format="json")
    assert response.status_code == 400 and "ties are not allowed" in response.json()["errors"][0]["message"]
    assert Ranking.objects.count() == 0


def test_malformed_json_and_form_bodies_get_a_clear_4xx(api, project):
    make_comparison(project)
    body = claim(api, project)
    url = f"/api/comparisons/{body['id']}/ranking/"
    broken = api.post(url, data="{not json", content_type="application/json")
    assert broken.status_code == 400 and "JSON parse error" in broken.json()["detail"]
    assert api.post(url, data={"order": "1"}).status_code == 415  # JSON only
    assert Ranking.objects.count() == 0


def test_oversized_ranking_body_gets_413_with_the_limit(api, project, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    make_comparison(project)
    body = claim(api, project)
    payload = json.dumps({"order": best_first(body), "note": "x" * 20_000})
    response = api.post(f"/api/comparisons/{body['id']}/ranking/", data=payload, content_type="application/json")
    assert response.status_code == 413 and "too large" in response.json()["detail"]
    assert Ranking.objects.count() == 0


def test_skip_answers_204_and_the_comparison_is_not_offered_again(api, project, annotator):
    only = make_comparison(project)
    body = claim(api, project)
    assert api.post(f"/api/comparisons/{body['id']}/skip/").status_code == 204
    assert Assignment.objects.get(comparison=only, annotator=annotator).status == AssignmentStatus.SKIPPED
    assert api.post(f"/api/projects/{project.pk}/comparisons/next/").status_code == 204


def test_manager_imports_a_jsonl_file_and_gets_counts(manager_api, project):
    rows = [{"prompt": "Q1", "responses": ["a", "b", "c", "d"]}, {"prompt": "Q2"}]
    data = "\n".join(json.dumps(r) for r in rows).encode()
    upload = SimpleUploadedFile("p.jsonl", data, content_type="application/jsonl")
    response = manager_api.post(f"/api/projects/{project.pk}/import/", {"file": upload}, format="multipart")
    assert response.status_code == 200, response.content
    counts = {"rows": 2, "created_prompts": 2, "skipped_duplicates": 0, "created_comparisons": 1, "skipped_comparisons": 0}
    assert response.json() == {**counts, "dialogues": 0, "pairs": 0, "mapping": {"prompt": "prompt", "responses": "responses"}}


def test_manager_imports_json_rows(manager_api, project):
    response = manager_api.post(f"/api/projects/{project.pk}/import/", {"rows": [{"prompt": "Hi"}]}, format="json")
    assert response.status_code == 200 and response.json()["created_prompts"] == 1


def test_bad_import_gets_400_with_errors_by_line_and_imports_nothing(manager_api, project):
    data = b'{"prompt": "ok"}\n{"prompt": \n{"id": 3}\n'
    upload = SimpleUploadedFile("p.jsonl", data)
    response = manager_api.post(f"/api/projects/{project.pk}/import/", {"file": upload}, format="multipart")
    assert response.status_code == 400
    body = response.json()
    assert [(e["line"], e["field"]) for e in body["errors"]] == [(2, "json"), (3, "prompt")]
    assert body["total"] == 2 and "Nothing was imported" in body["detail"]
    assert Prompt.objects.count() == 0


def test_rows_sent_as_a_bare_list_or_a_string_are_handled(manager_api, project):
    assert manager_api.post(f"/api/projects/{project.pk}/import/", [{"prompt": "Hi"}], format="json").status_code == 200
    response = manager_api.post(f"/api/projects/{project.pk}/import/", {"rows": "prompt,x"}, format="json")
    assert response.status_code == 400 and "rows must be a list" in response.json()["errors"][0]["message"]


def test_import_without_file_or_rows_is_a_400(manager_api, project):
    response = manager_api.post(f"/api/projects/{project.pk}/import/", {}, format="json")
    assert response.status_code == 400 and response.json()["errors"][0]["field"] == "file"


def test_too_large_import_file_is_refused_with_the_limit(manager_api, project, settings):
    settings.MAX_UPLOAD_MB = 1
    upload = SimpleUploadedFile("p.jsonl", b'{"prompt": "' + b"x" * (1024 * 1024 + 10) + b'"}\n')
    response = manager_api.post(f"/api/projects/{project.pk}/import/", {"file": upload}, format="multipart")
    assert response.status_code == 400 and "1 MB limit" in response.json()["errors"][0]["message"]
    assert Prompt.objects.count() == 0


def _ranked_project(manager, n: int):
    """Rank n comparisons (best = lowest position) so preferences exist."""
    from labeling.services import comparison_claim_next, ranking_submit

    project = Membership.objects.get(user=manager).project
    for _ in range(n):
        make_comparison(project)
        assignment = comparison_claim_next(project=project, annotator=manager)
        order = list(assignment.comparison.responses.order_by("position").values_list("id", flat=True))
        ranking_submit(comparison=assignment.comparison, annotator=manager, data={"order": order})
    return project


def test_preferences_are_paginated_oldest_first_and_filter_by_since(manager_api, manager):
    project = _ranked_project(manager, 2)  # 2 × 6 pairs
    page = manager_api.get(f"/api/projects/{project.pk}/preferences/?limit=5").json()
    assert page["count"] == 12 and len(page["results"]) == 5 and page["next"]
    first = page["results"][0]
    assert {"chosen", "rejected", "margin", "prompt_messages", "chosen_text", "annotator"} <= set(first)
    ids = [p["id"] for p in page["results"]]
    assert ids == sorted(ids)
    newer = manager_api.get(f"/api/projects/{project.pk}/preferences/?since={ids[-1]}").json()
    assert newer["count"] == 7 and all(p["id"] > ids[-1] for p in newer["results"])
    assert manager_api.get(f"/api/projects/{project.pk}/preferences/?since=2000-01-01T00:00:00Z").json()["count"] == 12
    assert manager_api.get(f"/api/projects/{project.pk}/preferences/?since=2999-01-01").json()["count"] == 0


@pytest.mark.parametrize("junk", ["yesterday", "2024-13-45T99:00", "-5", "1e3"])
def test_junk_since_is_a_clear_400(manager_api, project, junk):
    response = manager_api.get(f"/api/projects/{project.pk}/preferences/", {"since": junk})
    assert response.status_code == 400 and "since" in json.dumps(response.json())


def test_schema_and_offline_docs_are_served(api):
    schema = api.get("/api/schema/")
    assert schema.status_code == 200
    text = schema.content.decode()
    for path in ["/api/projects/{id}/comparisons/next/", "/api/comparisons/{id}/ranking/", "/api/projects/{id}/preferences/"]:
        assert path in text
    docs = api.get("/api/docs/")
    assert docs.status_code == 200 and b"swagger-ui" in docs.content.lower()
    assert b"cdn.jsdelivr" not in docs.content and b"unpkg" not in docs.content


def test_the_annotation_loop_answers_json_whatever_the_client_accepts(api, project):
    make_comparison(project)
    claimed = api.post(f"/api/projects/{project.pk}/comparisons/next/", HTTP_ACCEPT="text/html")
    assert claimed.status_code == 200 and claimed["Content-Type"] == "application/json"
    stored = api.post(f"/api/comparisons/{claimed.json()['id']}/ranking/?next=false", {"order": best_first(claimed.json())}, format="json", HTTP_ACCEPT="application/xml")
    assert stored.status_code == 201 and stored.json()["next"] is None


def test_complete_comparisons_count_in_the_project(api, project):
    make_comparison(project)
    body = claim(api, project)
    api.post(f"/api/comparisons/{body['id']}/ranking/", {"order": best_first(body)}, format="json")
    assert Comparison.objects.get(pk=body["id"]).complete


def test_labeling_api_schema_generates_without_warnings():
    from django.urls import include, path
    from drf_spectacular.drainage import GENERATOR_STATS
    from drf_spectacular.generators import SchemaGenerator

    GENERATOR_STATS.reset()
    generator = SchemaGenerator(patterns=[path("api/", include("labeling.api_urls"))])
    with GENERATOR_STATS.silence():
        schema = generator.get_schema(request=None, public=True)
    assert not GENERATOR_STATS._warn_cache and not GENERATOR_STATS._error_cache, dict(GENERATOR_STATS._warn_cache)
    assert set(schema["paths"]) == {
        "/api/projects/", "/api/projects/{id}/", "/api/projects/{id}/import/", "/api/projects/{id}/import/preview/", "/api/projects/{id}/comparisons/next/",
        "/api/projects/{id}/preferences/", "/api/comparisons/{id}/ranking/", "/api/comparisons/{id}/skip/",
        "/api/projects/{id}/members/", "/api/projects/{id}/members/{username}/", "/api/users/",
    }
