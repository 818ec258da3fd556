"""Background tasks (django-tasks, database backend): `manage.py worker` executes them."""

from __future__ import annotations

from django_tasks import task


@task()
def run_execute_task(run_id: int) -> str:
    """Execute a queued run in this worker (a no-op if another worker already claimed it)."""
    from training.runner import run_execute

    return run_execute(run_id)


@task()
def schedule_fire_task(schedule_id: int) -> int | None:
    """Fire a schedule that a ranking made due (a no-op if another trigger fired it first)."""
    from training.services.schedules import schedule_fire

    run = schedule_fire(schedule_id=schedule_id)
    return run.pk if run else None
