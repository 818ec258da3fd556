"""Background exports: the worker (`manage.py db_worker`) runs queued snapshots."""

from __future__ import annotations

from django_tasks import task

from labeling.models import DatasetSnapshot


@task()
def snapshot_build_task(snapshot_id: int) -> dict:
    """Build one pending snapshot; return its status and row count (stored as the task result)."""
    from labeling.exports.services import snapshot_build

    snapshot = snapshot_build(snapshot=DatasetSnapshot.objects.get(pk=snapshot_id))
    snapshot.refresh_from_db()
    return {"snapshot_id": snapshot.pk, "status": snapshot.status, "rows": snapshot.row_count, "error": snapshot.error}
