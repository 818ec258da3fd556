"""Run writes: create (validated, one active per project and kind), claim, cancel, recover orphans."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from labeling.models import DatasetSnapshot, Project, SnapshotStatus
from training.models import ACTIVE_RUN_STATUSES, ChainStep, Run, RunStatus, Schedule
from training.selectors import reward_model_missing
from training.services.configs import config_validate, job_spec
from training.services.registry import project_models_get

logger = logging.getLogger(__name__)

SNAPSHOT_FIELDS = frozenset({"train_file", "eval_file"})


@dataclass(frozen=True)
class ChainPosition:
    """Where a new run sits in a schedule's recipe chain (stored as its ChainStep)."""

    recipe: str
    index: int
    reason: str = ""
    snapshot: DatasetSnapshot | None = None

    def create_for(self, run: Run) -> ChainStep:
        return ChainStep.objects.create(
            run=run, recipe=self.recipe, index=self.index, reason=self.reason[:300], snapshot=self.snapshot
        )


class ActiveRunExists(ValidationError):
    """Another run of this kind is queued or running for the project."""

    def __init__(self, run: Run) -> None:
        self.run = run
        super().__init__({"kind": f"a {run.kind} run is already active: #{run.pk}"})


def worker_id() -> str:
    """Name this process as host:pid (stored on the runs it executes)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _check_inputs(*, project: Project, kind: str, snapshot: DatasetSnapshot | None, nproc: int) -> None:
    """Refuse a run whose inputs cannot work: no snapshot for a snapshot job, no reward model, bad nproc."""
    spec = job_spec(kind)
    if snapshot is not None:
        if snapshot.project_id != project.pk:
            raise ValidationError({"snapshot": "the snapshot belongs to another project"})
        # A pending snapshot is exported by the run itself, as its first step in the worker.
        if snapshot.status not in (SnapshotStatus.SUCCEEDED, SnapshotStatus.PENDING):
            raise ValidationError({"snapshot": f"snapshot {snapshot.name} is {snapshot.status}, not ready"})
    elif "train_file" in spec.system_fields:
        raise ValidationError({"snapshot": f"a {kind} run needs a dataset snapshot"})
    if "reward_model" in spec.system_fields and project_models_get(project=project).reward is None:
        missing = reward_model_missing(project)
        raise ValidationError({"kind": f"a {kind} run needs the project's current reward model: {missing}"})
    if not 1 <= nproc <= 64:
        raise ValidationError({"nproc": "nproc must be between 1 and 64"})


def run_create(
    *,
    project: Project,
    kind: str,
    config: dict[str, Any],
    user: Any = None,
    snapshot: DatasetSnapshot | None = None,
    nproc: int = 1,
    inputs: dict[str, Any] | None = None,
    timeout_s: int = 0,
    schedule: Schedule | None = None,
    parent_run: Run | None = None,
    chain: ChainPosition | None = None,
) -> Run:
    """Validate and queue a run, then enqueue its task after commit; ActiveRunExists if one is active."""
    clean = config_validate(kind, config)
    _check_inputs(project=project, kind=kind, snapshot=snapshot, nproc=nproc)
    try:
        # The savepoint keeps the caller's transaction usable when the partial unique index refuses us.
        with transaction.atomic():
            run = Run.objects.create(
                project=project, kind=kind, config=clean, inputs=inputs or {}, snapshot=snapshot, nproc=nproc,
                timeout_s=timeout_s, schedule=schedule, parent_run=parent_run,
                created_by=user if getattr(user, "is_authenticated", False) else None,
            )
            if chain is not None:
                chain.create_for(run)
    except IntegrityError as exc:
        active = Run.objects.filter(project=project, kind=kind, status__in=ACTIVE_RUN_STATUSES).first()
        if active is None:
            raise
        raise ActiveRunExists(active) from exc
    transaction.on_commit(lambda: _enqueue(run.pk))
    return run


class RunQueue:
    """How a queued run reaches a worker: TrainingConfig.ready() registers the task queue here.

    The write paths create runs and the task layer executes them (calling back into the write
    paths), so the services take the queue as a registration instead of importing the tasks.
    """

    enqueue: Callable[[int], None] | None = None

    @classmethod
    def register(cls, enqueue: Callable[[int], None]) -> None:
        cls.enqueue = enqueue


def _enqueue(run_id: int) -> None:
    if RunQueue.enqueue is None:
        raise ImproperlyConfigured("no run queue registered: is the training app installed?")
    RunQueue.enqueue(run_id)


def run_claim(*, run_id: int) -> bool:
    """Move a queued run to running for this worker; False if someone else took it or it was cancelled."""
    now = timezone.now()
    claimed = Run.objects.filter(pk=run_id, status=RunStatus.QUEUED).update(
        status=RunStatus.RUNNING, started_at=now, heartbeat_at=now, worker=worker_id()
    )
    return claimed == 1


def run_cancel(*, run: Run) -> Run:
    """Cancel a queued run at once, or ask the runner to stop a running one (SIGTERM, then SIGKILL)."""
    now = timezone.now()
    cancelled_now = Run.objects.filter(pk=run.pk, status=RunStatus.QUEUED).update(
        status=RunStatus.CANCELLED, cancel_requested=True, finished_at=now, error="cancelled before it started"
    )
    if not cancelled_now:
        Run.objects.filter(pk=run.pk, status=RunStatus.RUNNING).update(cancel_requested=True)
    run.refresh_from_db()
    return run


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _orphan_reason(run: Run, *, stale_before: Any) -> str | None:
    """Say why a running run has no live worker, or None if its worker may still be alive."""
    host, _, pid = run.worker.rpartition(":")
    if host == socket.gethostname() and pid.isdigit() and int(pid) != os.getpid() and not _pid_alive(int(pid)):
        return f"worker {run.worker} is gone (process not alive); the run was abandoned"
    if run.heartbeat_at is None or run.heartbeat_at < stale_before:
        seen = run.heartbeat_at.isoformat(timespec="seconds") if run.heartbeat_at else "never"
        return f"worker {run.worker or '?'} stopped sending heartbeats (last {seen}); the run was abandoned"
    return None


def _kill_orphan_job(run: Run) -> None:
    """Kill an abandoned job's process group on this host, checking the pid still is that run's job."""
    if not run.pid or not run.worker.startswith(f"{socket.gethostname()}:"):
        return
    try:
        environ = open(f"/proc/{run.pid}/environ", "rb").read().split(b"\0")  # noqa: SIM115
    except OSError:
        return
    if f"PREFLOOP_RUN_ID={run.pk}".encode() not in environ:
        return  # the pid was reused by an unrelated process
    try:
        os.killpg(run.pid, 9)
    except (ProcessLookupError, PermissionError):
        pass


def runs_fail_orphaned() -> list[Run]:
    """Mark runs left running by a dead worker failed, with the reason; return them."""
    stale_before = timezone.now() - timedelta(seconds=settings.PREFLOOP_STALE_AFTER_S)
    failed = []
    for run in Run.objects.filter(status=RunStatus.RUNNING):
        reason = _orphan_reason(run, stale_before=stale_before)
        if reason is None:
            continue
        # Conditional on the heartbeat we judged by, so a runner that just beat is left alone.
        if Run.objects.filter(pk=run.pk, status=RunStatus.RUNNING, heartbeat_at=run.heartbeat_at).update(
            status=RunStatus.FAILED, error=reason, finished_at=timezone.now()
        ):
            _kill_orphan_job(run)
            logger.warning("run %s: %s", run.pk, reason)
            failed.append(run)
    return failed
