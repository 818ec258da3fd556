"""Background tasks (django-tasks, database backend): `manage.py worker` executes them."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from django_tasks import task
from django_tasks.base import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from training.models import Run, RunStatus
from training.orchestration import run_execute

logger = logging.getLogger(__name__)


@task()
def run_execute_task(run_id: int) -> str:
    """Execute a queued run in this worker (a no-op if another worker already claimed it)."""
    return run_execute(run_id)


RUN_TASK_PATH = run_execute_task.module_path


def run_enqueue(run_id: int) -> None:
    """Queue a run for a worker (registered as the run queue in TrainingConfig.ready)."""
    run_execute_task.enqueue(run_id)


def runs_requeue_lost() -> list[int]:
    """Queue again the runs whose task a worker took off the queue but never started; return their ids.

    A worker starts a run (run_claim: queued to running) the moment it has taken the run's task,
    so a run still queued while its task has been running for PREFLOOP_STALE_AFTER_S was dropped
    by a worker that died in between, and would wait forever. Queueing it again is safe:
    run_claim lets only one task start a run, so it still runs once.
    """
    stale_before = timezone.now() - timedelta(seconds=settings.PREFLOOP_STALE_AFTER_S)
    queued = set(Run.objects.filter(status=RunStatus.QUEUED).values_list("pk", flat=True))
    if not queued:
        return []
    waiting, dropped = set(), {}
    results = DBTaskResult.objects.filter(task_path=RUN_TASK_PATH, status__in=[TaskResultStatus.READY, TaskResultStatus.RUNNING])
    for pk, status, started_at, args_kwargs in results.values_list("pk", "status", "started_at", "args_kwargs"):
        run_id = (args_kwargs.get("args") or [None])[0]
        if run_id not in queued:
            continue
        if status == TaskResultStatus.READY or started_at is None or started_at > stale_before:
            waiting.add(run_id)
        else:
            dropped.setdefault(run_id, []).append(pk)
    lost = sorted(set(dropped) - waiting)
    for run_id in lost:
        # The dead worker's task is over: failed, so it no longer reads as running.
        DBTaskResult.objects.filter(pk__in=dropped[run_id], status=TaskResultStatus.RUNNING).update(
            status=TaskResultStatus.FAILED, finished_at=timezone.now(), traceback="its worker died before starting the run",
        )
        run_enqueue(run_id)
        logger.warning("run %s: its worker died after taking it off the queue; queued again", run_id)
    return lost
