"""Background tasks (django-tasks, database backend): `manage.py worker` executes them."""

from __future__ import annotations

from django_tasks import task


@task()
def run_execute_task(run_id: int) -> str:
    """Execute a queued run in this worker (a no-op if another worker already claimed it)."""
    from training.runner import run_execute

    return run_execute(run_id)
