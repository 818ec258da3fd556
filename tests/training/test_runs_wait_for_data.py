"""Nothing heavy in a request: pages store a pending snapshot; the run's worker exports it before the job."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse

from labeling.models import Ranking, Role, SnapshotStatus
from tests.factories import add_member, make_user
from tests.training.helpers import current_policy, fake_jobs  # noqa: F401 - fixture
from tests.training.loop_helpers import CHAIN_JOBS, rank_new_comparisons
from training.models import Recipe, Run, RunStatus, Schedule
from training.orchestration import run_execute
from training.services.runs import run_create
from training.services.triggers import training_snapshot_request

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fake_jobs")]


def _exported_files() -> list[Path]:
    return list(Path(settings.EXPORTS_DIR).rglob("*.jsonl"))


def test_the_worker_exports_a_pending_snapshot_then_runs_the_job(project):
    current_policy(project)
    rank_new_comparisons(project, 3)
    snapshot = training_snapshot_request(project=project, params={"test_fraction": 0})
    run = run_create(project=project, kind="dpo", config={"steps": 2}, snapshot=snapshot)
    assert snapshot.status == SnapshotStatus.PENDING and _exported_files() == []
    assert run_execute(run.pk) == RunStatus.SUCCEEDED
    snapshot.refresh_from_db()
    assert snapshot.status == SnapshotStatus.SUCCEEDED and snapshot.train_rows == 3
    assert any(p.name == "train.jsonl" for p in _exported_files())


def test_a_run_whose_snapshot_cannot_be_exported_fails_saying_why(project):
    current_policy(project)
    rank_new_comparisons(project, 2)
    snapshot = training_snapshot_request(project=project, params={})
    run = run_create(project=project, kind="dpo", config={}, snapshot=snapshot)
    Ranking.objects.all().delete()  # the data went away between the click and the worker
    assert run_execute(run.pk) == RunStatus.FAILED
    run.refresh_from_db()
    assert "snapshot training-data could not be exported: Nothing to export" in run.error
    assert not run.model_versions.exists()


def test_firing_a_schedule_from_its_page_exports_nothing_in_the_request(client, project, settings):
    settings.PREFLOOP_JOB_MODULES = CHAIN_JOBS
    rank_new_comparisons(project, 2)
    schedule = Schedule.objects.create(project=project, recipe=Recipe.DPO, every_n_preferences=50)
    user = make_user()
    add_member(project, user, Role.MANAGER)
    client.force_login(user)
    response = client.post(reverse("training:schedule-fire", args=[schedule.pk]))
    assert response.status_code == 302
    run = Run.objects.get(schedule=schedule)
    assert (run.status, run.snapshot.status) == (RunStatus.QUEUED, SnapshotStatus.PENDING)
    assert run.chain_step.snapshot == run.snapshot and _exported_files() == []
    page = client.get(reverse("training:run-detail", args=[run.pk])).content.decode()
    assert "Waiting for data: its snapshot training-data is pending" in page
