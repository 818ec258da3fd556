"""Temporary output directories of killed jobs are removed: by the runner at once, by the worker at start."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command

from tests.training.helpers import current_policy, fake_jobs  # noqa: F401 - fixture
from training.models import Run, RunKind, RunStatus
from training.orchestration import run_execute
from training.services.runs import run_create

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fake_jobs")]


def _temp_dirs(project) -> list[str]:
    return sorted(p.name for p in (Path(settings.MODELS_DIR) / project.slug).glob(".tmp-*"))


def test_a_job_killed_by_sigkill_mid_save_leaves_no_temporary_directory(project):
    current_policy(project)
    run = run_create(project=project, kind="dpo", config={"mode": "selfkill"})
    run_execute(run.pk)
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED and "SIGKILL" in run.error
    assert _temp_dirs(project) == []


def test_worker_start_removes_leftovers_but_keeps_those_of_running_runs(project):
    running = Run.objects.create(project=project, kind=RunKind.DPO, status=RunStatus.RUNNING, worker="elsewhere:1")
    Run.objects.filter(pk=running.pk).update(heartbeat_at=None)  # judged by the heartbeat below
    done = Run.objects.create(project=project, kind=RunKind.DPO, status=RunStatus.FAILED)
    base = Path(settings.MODELS_DIR) / project.slug
    mine = base / f".tmp-dpo-{running.pk}-4242"
    lookalike = base / f".tmp-dpo-{running.pk}0-77"  # run 10's, not run 1's
    left = base / f".tmp-dpo-{done.pk}-99"
    for path in (mine, lookalike, left):
        (path / "weights").mkdir(parents=True)
    from training.runner.cleanup import stale_temp_dirs_remove

    assert stale_temp_dirs_remove() == 2
    assert _temp_dirs(project) == [mine.name]


@pytest.mark.django_db(transaction=True)  # the worker loop manages its own connections and transactions
def test_the_worker_command_sweeps_at_start(project):
    done = Run.objects.create(project=project, kind=RunKind.REWARD, status=RunStatus.FAILED)
    (Path(settings.MODELS_DIR) / project.slug / f".tmp-reward-{done.pk}-5").mkdir(parents=True)
    call_command("worker", batch=True, startup_delay=False, verbosity=0)
    assert _temp_dirs(project) == []
