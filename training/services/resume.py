"""Resume a failed or cancelled run from its job's last complete checkpoint (training/jobs/checkpoints.py)."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from training.jobs.checkpoints import MARKER, checkpoint_root
from training.models import ACTIVE_RUN_STATUSES, MetricPoint, Run, RunStatus
from training.services.runs import ActiveRunExists, _enqueue

RESUMABLE = (RunStatus.FAILED, RunStatus.CANCELLED)


def run_checkpoint(run: Run) -> str | None:
    """Name the newest complete checkpoint in the run's directory (None when there is none)."""
    root = checkpoint_root(Path(settings.RUNS_DIR) / str(run.pk))
    if not root.is_dir():
        return None
    complete = [p for p in root.iterdir() if p.is_dir() and (p / MARKER).exists() and p.name.rpartition("-")[2].isdigit()]
    return max(complete, key=lambda p: int(p.name.rpartition("-")[2])).name if complete else None


@transaction.atomic
def run_resume(*, run: Run) -> Run:
    """Queue a failed or cancelled run again in its own directory; its job resumes from the checkpoint.

    The metric points are dropped because the runner re-reads the job's metrics.jsonl from its start.
    """
    run = Run.objects.select_for_update().get(pk=run.pk)  # two clicks resume once
    if run.status not in RESUMABLE:
        raise ValidationError({"status": f"only a failed or cancelled run can be resumed; run #{run.pk} is {run.status}"})
    checkpoint = run_checkpoint(run)
    if checkpoint is None:
        raise ValidationError({"run": f"run #{run.pk} has no complete checkpoint to resume from; run it again instead"})
    inputs = {**run.inputs, "resumed_from": checkpoint, "resumes": int(run.inputs.get("resumes", 0)) + 1}
    try:
        with transaction.atomic():
            Run.objects.filter(pk=run.pk).update(
                status=RunStatus.QUEUED, inputs=inputs, error="", cancel_requested=False, pid=None, worker="",
                started_at=None, finished_at=None, heartbeat_at=None)
    except IntegrityError as exc:
        active = Run.objects.filter(project=run.project, kind=run.kind, status__in=ACTIVE_RUN_STATUSES).first()
        if active is None:
            raise
        raise ActiveRunExists(active) from exc
    MetricPoint.objects.filter(run=run).delete()
    transaction.on_commit(lambda: _enqueue(run.pk))
    run.refresh_from_db()
    return run
