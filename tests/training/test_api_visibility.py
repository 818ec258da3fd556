"""Annotators read runs and models through the API without server paths or job stderr; managers see all."""

from __future__ import annotations

import json

import pytest

from tests.factories import api_client_for
from tests.training.helpers import current_policy
from training.models import Run, RunKind, RunStatus

pytestmark = pytest.mark.django_db

TRACEBACK = 'Traceback (most recent call last):\n  File "/srv/prefloop/training/jobs/dpo.py", line 9\nMemoryError'


@pytest.fixture
def failed_run(project):
    return Run.objects.create(
        project=project, kind=RunKind.DPO, status=RunStatus.FAILED, error=TRACEBACK, log_tail=TRACEBACK,
        inputs={"model": "/srv/prefloop/var/models/p/policy-v0", "snapshot_id": 3}, outputs={"dir": "/srv/prefloop/var/models/p/dpo-9"},
    )


def test_annotator_sees_a_failed_run_without_paths_or_stderr(annotator, failed_run):
    api = api_client_for(annotator)
    body = api.get(f"/api/runs/{failed_run.pk}/").json()
    assert body["status"] == "failed" and body["error"] == "The run failed; its managers can read why."
    assert "/srv/" not in json.dumps(body) and body["log_tail"] == "" and body["inputs"] == {}
    listed = api.get(f"/api/projects/{failed_run.project_id}/runs/").json()["results"]
    assert listed[0]["id"] == failed_run.pk and "/srv/" not in json.dumps(listed)


def test_manager_sees_the_error_and_the_inputs(manager, failed_run):
    body = api_client_for(manager).get(f"/api/runs/{failed_run.pk}/").json()
    assert body["error"] == TRACEBACK and body["inputs"]["model"].startswith("/srv/") and "MemoryError" in body["log_tail"]


def test_annotator_sees_models_without_their_paths(annotator, manager, project):
    version = current_policy(project)
    api = api_client_for(annotator)
    for_annotator = api.get("/api/models/").json()["results"][0]
    assert for_annotator["name"] == version.name and for_annotator["path"] is None and for_annotator["is_current"]
    assert api.get(f"/api/models/{version.pk}/").json()["path"] is None
    assert api_client_for(manager).get(f"/api/models/{version.pk}/").json()["path"] == version.path
