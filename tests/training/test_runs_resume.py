"""Resume a failed or cancelled run from its last complete checkpoint: API, button, refusals."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse
from rest_framework.test import APIClient

from tests.training.helpers import current_policy, fake_jobs  # noqa: F401 - fixture
from training.jobs import checkpoints
from training.models import MetricPoint, Run, RunStatus
from training.services.runs import run_create

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fake_jobs")]


def _api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def _failed_run(project, *, checkpoints_at: tuple[int, ...] = (), incomplete_at: tuple[int, ...] = ()) -> Run:
    current_policy(project)
    run = run_create(project=project, kind="dpo", config={})
    Run.objects.filter(pk=run.pk).update(status=RunStatus.FAILED, error="killed (SIGKILL)", progress=0.5)
    MetricPoint.objects.create(run=run, step=3, values={"loss": 0.5})
    root = checkpoints.checkpoint_root(Path(settings.RUNS_DIR) / str(run.pk))
    for step in checkpoints_at + incomplete_at:
        (root / f"checkpoint-{step}").mkdir(parents=True)
        if step in checkpoints_at:
            checkpoints.mark_complete(root / f"checkpoint-{step}")
    run.refresh_from_db()
    return run


def test_resume_api_queues_the_run_again_from_its_newest_complete_checkpoint(project, manager, monkeypatch):
    queued: list[int] = []
    monkeypatch.setattr("training.services.runs.RunQueue.enqueue", queued.append)
    run = _failed_run(project, checkpoints_at=(2, 4), incomplete_at=(6,))
    response = _api(manager).post(f"/api/runs/{run.pk}/resume/")
    assert response.status_code == 200, response.content
    run.refresh_from_db()
    assert run.status == RunStatus.QUEUED and run.error == ""
    assert run.inputs["resumed_from"] == "checkpoint-4" and run.inputs["resumes"] == 1
    assert not MetricPoint.objects.filter(run=run).exists()  # re-read from the job's metrics file


def test_resume_is_refused_without_a_complete_checkpoint_or_for_a_run_that_did_not_fail(project, manager):
    run = _failed_run(project, incomplete_at=(6,))
    response = _api(manager).post(f"/api/runs/{run.pk}/resume/")
    assert response.status_code == 400 and "no complete checkpoint to resume from" in response.content.decode()
    Run.objects.filter(pk=run.pk).update(status=RunStatus.SUCCEEDED)
    response = _api(manager).post(f"/api/runs/{run.pk}/resume/")
    assert response.status_code == 400 and "only a failed or cancelled run can be resumed" in response.content.decode()


def test_resume_is_for_managers(project, annotator):
    run = _failed_run(project, checkpoints_at=(2,))
    assert _api(annotator).post(f"/api/runs/{run.pk}/resume/").status_code == 403


def test_run_page_offers_resume_from_the_checkpoint_and_the_button_queues_it(client, project, manager):
    run = _failed_run(project, checkpoints_at=(8,))
    client.force_login(manager)
    html = client.get(reverse("training:run-detail", args=[run.pk])).content.decode()
    assert 'data-testid="run-resume"' in html and "Resume from checkpoint-8" in html
    response = client.post(reverse("training:run-resume", args=[run.pk]))
    assert response.status_code == 302
    run.refresh_from_db()
    assert run.inputs["resumed_from"] == "checkpoint-8"
