"""Training API: membership (404), manager-only writes (403), validation (400 naming the field), 409."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from labeling.models import Role
from tests.factories import add_member, make_project, make_prompt, make_user
from tests.training.helpers import current_policy, fake_jobs  # noqa: F401 - fixture
from tests.training.loop_helpers import rank_new_comparisons
from training.models import ProjectModels, Run, RunStatus
from training.services.runs import run_create

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fake_jobs")]


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_models_list_shows_only_my_projects_and_marks_the_current_one(project, manager):
    mine = current_policy(project, "mine")
    current_policy(make_project(), "theirs")
    body = client_for(manager).get("/api/models/").json()
    assert [(m["name"], m["is_current"]) for m in body["results"]] == [("mine", True)]
    assert client_for(manager).get(f"/api/models/?project={project.pk}").json()["results"][0]["id"] == mine.pk


def test_another_projects_model_and_run_answer_404(project, manager):
    other = make_project()
    theirs = current_policy(other, "theirs")
    their_run = run_create(project=other, kind="dpo", config={})
    client = client_for(manager)
    assert client.get(f"/api/models/{theirs.pk}/").status_code == 404
    assert client.post(f"/api/models/{theirs.pk}/promote/").status_code == 404
    assert client.get(f"/api/runs/{their_run.pk}/").status_code == 404
    assert client.post(f"/api/runs/{their_run.pk}/cancel/").status_code == 404
    assert client.get(f"/api/projects/{other.pk}/runs/").status_code == 404
    assert client.get(f"/api/models/?project={other.pk}").status_code == 404
    their_run.refresh_from_db()
    assert their_run.status == RunStatus.QUEUED


def test_annotator_cannot_promote_or_start_or_cancel(project, annotator):
    v1 = current_policy(project, "v1")
    v2 = current_policy(project, "v2")
    run = run_create(project=project, kind="dpo", config={})
    client = client_for(annotator)
    assert client.get(f"/api/models/{v1.pk}/").status_code == 200
    assert client.post(f"/api/models/{v1.pk}/promote/").status_code == 403
    assert client.post(f"/api/projects/{project.pk}/runs/", {"kind": "reward", "config": {}}, format="json").status_code == 403
    assert client.post(f"/api/runs/{run.pk}/cancel/").status_code == 403
    assert ProjectModels.objects.get(project=project).policy == v2


def test_manager_promotes_and_rolls_back(project, manager):
    v1 = current_policy(project, "v1")
    v2 = current_policy(project, "v2")
    client = client_for(manager)
    response = client.post(f"/api/models/{v1.pk}/rollback/")
    assert response.status_code == 200 and response.json()["is_current"] is True
    assert client.post(f"/api/models/{v1.pk}/rollback/").status_code == 400  # not earlier than itself
    assert client.post(f"/api/models/{v2.pk}/promote/").json()["is_current"] is True


def test_manager_starts_a_run_and_reads_it_back(project, manager):
    rank_new_comparisons(project, 2)  # a dpo run reads preferences (its snapshot is exported from them)
    client = client_for(manager)
    response = client.post(f"/api/projects/{project.pk}/runs/", {"kind": "dpo", "config": {"steps": 5}}, format="json")
    assert response.status_code == 201, response.json()
    run_id = response.json()["id"]
    detail = client.get(f"/api/runs/{run_id}/").json()
    assert detail["status"] == "queued" and detail["config"]["steps"] == 5 and detail["latest_metrics"] == {}
    assert [r["id"] for r in client.get(f"/api/projects/{project.pk}/runs/").json()["results"]] == [run_id]
    # A double click: the second answers 409 naming the active run.
    again = client.post(f"/api/projects/{project.pk}/runs/", {"kind": "dpo", "config": {}}, format="json")
    assert again.status_code == 409
    assert again.json()["detail"] == f"a dpo run is already active: #{run_id}"
    cancelled = client.post(f"/api/runs/{run_id}/cancel/").json()
    assert cancelled["status"] == "cancelled"


@pytest.mark.parametrize(
    ("body", "field", "needle"),
    [
        ({"kind": "dpo", "config": {"stepz": 1}}, "config", "stepz"),
        ({"kind": "dpo", "config": {"steps": -1}}, "config", "steps"),
        ({"kind": "dpo", "config": "steps=1"}, "config", "JSON object"),
        ({"kind": "quantum", "config": {}}, "kind", ""),
        ({"kind": "dpo", "nproc": 0}, "nproc", ""),
    ],
)
def test_bad_run_requests_answer_400_naming_the_field(project, manager, body, field, needle):
    response = client_for(manager).post(f"/api/projects/{project.pk}/runs/", body, format="json")
    assert response.status_code == 400
    text = str(response.json())
    assert field in text and needle in text
    assert not Run.objects.exists()


def test_generate_through_the_api_takes_k_from_the_project(manager):
    project = make_project(k=3)
    add_member(project, manager, Role.MANAGER)
    make_prompt(project)
    response = client_for(manager).post(
        f"/api/projects/{project.pk}/runs/", {"kind": "generate", "config": {"temperature": 0.5}, "prompts": {"which": "all"}}, format="json"
    )
    assert response.status_code == 201, response.json()
    assert response.json()["inputs"]["k"] == 3


def test_anonymous_gets_nothing(project):
    assert APIClient().get("/api/models/").status_code in (401, 403)


def test_staff_sees_every_project(project):
    current_policy(project, "v1")
    assert client_for(make_user(staff=True)).get("/api/models/").json()["count"] == 1
