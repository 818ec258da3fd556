"""Export a run's pending snapshot in the worker, before the job starts (never in a web request)."""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.utils import timezone

from labeling.exports.services import snapshot_build
from labeling.models import DatasetSnapshot, SnapshotStatus
from training.models import Run

HEARTBEAT_EVERY_S = 5.0
WAIT_POLL_S = 1.0


class SnapshotNotReady(Exception):
    """The run's snapshot could not be exported; the message says why."""


def _heartbeat(run_id: int) -> Callable[[int, int], None]:
    """Return a progress callback that keeps the run's heartbeat fresh while the export runs."""
    last = [0.0]

    def beat(done: int, total: int) -> None:
        now = time.monotonic()
        if now - last[0] >= HEARTBEAT_EVERY_S:
            last[0] = now
            Run.objects.filter(pk=run_id).update(heartbeat_at=timezone.now())

    return beat


def _wait_for(run: Run, snapshot: DatasetSnapshot) -> None:
    """Wait while another run's worker exports the snapshot both runs read (bounded by the run's timeout)."""
    beat, deadline = _heartbeat(run.pk), time.monotonic() + (run.timeout_s or settings.PREFLOOP_RUN_TIMEOUT_S)
    while snapshot.status == SnapshotStatus.RUNNING and time.monotonic() < deadline:
        if Run.objects.filter(pk=run.pk, cancel_requested=True).exists():
            raise SnapshotNotReady("cancelled while waiting for its dataset snapshot")
        time.sleep(WAIT_POLL_S)
        beat(0, 0)
        snapshot.refresh_from_db()


def snapshot_ensure(run: Run) -> None:
    """Export the run's snapshot if it is still pending; SnapshotNotReady when it failed or is not buildable."""
    snapshot = run.snapshot
    if snapshot is None or snapshot.status == SnapshotStatus.SUCCEEDED:
        return
    if snapshot.status == SnapshotStatus.PENDING:
        try:
            snapshot_build(snapshot=snapshot, progress=_heartbeat(run.pk))
        except Exception:  # noqa: BLE001 - snapshot_build recorded the failure on the snapshot; the run fails with it
            pass
        snapshot.refresh_from_db()
    if snapshot.status == SnapshotStatus.RUNNING:
        _wait_for(run, snapshot)
    if snapshot.status == SnapshotStatus.FAILED:
        raise SnapshotNotReady(f"its dataset snapshot {snapshot.name} could not be exported: {snapshot.error}")
    if snapshot.status != SnapshotStatus.SUCCEEDED:
        raise SnapshotNotReady(f"its dataset snapshot {snapshot.name} is still {snapshot.status}")
