"""Background imports: the worker (`manage.py worker`) runs a staged import and records its progress."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django_tasks import task

from labeling.models import Project


@task()
def staged_import_task(token: str, project_id: int, user_id: int | None) -> dict:
    """Import one staged upload; return its final state (also in its progress.json)."""
    from labeling.services.import_staging import staged_import_run

    user = get_user_model().objects.filter(pk=user_id).first() if user_id else None
    return staged_import_run(token=token, project=Project.objects.get(pk=project_id), user=user)
