"""Background tasks (django-tasks, database backend): `manage.py worker` executes them."""

from __future__ import annotations

import logging
from functools import cache

from django.db import connection
from django_tasks import task

from labeling import rawrows
from training.models import Schedule
from training.orchestration import run_execute
from training.selectors import schedule_due
from training.services.schedules import schedule_fire

logger = logging.getLogger(__name__)


@task()
def run_execute_task(run_id: int) -> str:
    """Execute a queued run in this worker (a no-op if another worker already claimed it)."""
    return run_execute(run_id)


def run_enqueue(run_id: int) -> None:
    """Queue a run for a worker (registered as the run queue in TrainingConfig.ready)."""
    run_execute_task.enqueue(run_id)


@task()
def schedule_fire_task(schedule_id: int) -> int | None:
    """Fire a schedule that a ranking made due (a no-op if another trigger fired it first)."""
    run = schedule_fire(schedule_id=schedule_id)
    return run.pk if run else None


def schedules_on_ranking(*, ranking_id: int, project_id: int) -> None:
    """After a ranking commits: queue a firing for each schedule of the project that is now due.

    A labeling ranking hook (registered in TrainingConfig.ready). The firing runs in the worker (an
    export can take minutes; the annotator's request must not wait for it). Never raises: a
    schedule problem must not fail an annotator's submit.
    """
    try:
        for schedule in _count_schedules(project_id):
            if schedule_due(schedule) is not None:
                schedule_fire_task.enqueue(schedule.pk)
    except Exception:  # noqa: BLE001 - see the docstring
        logger.exception("checking schedules after ranking %s failed", ranking_id)


def _count_schedules(project_id: int) -> list[Schedule]:
    """The project's enabled schedules with a preference-count trigger: one raw query, as it runs on every submit."""
    with connection.cursor() as cursor:
        cursor.execute(_count_schedules_sql(connection.vendor), [project_id])
        return [rawrows.instance(Schedule, row) for row in cursor.fetchall()]


@cache
def _count_schedules_sql(vendor: str) -> str:
    return (
        f"SELECT {rawrows.columns(Schedule, 's')} FROM {Schedule._meta.db_table} s "
        "WHERE s.project_id = %s AND s.enabled AND s.every_n_preferences IS NOT NULL ORDER BY s.id"
    )
