"""Run a job process: spawn it in its own process group, tail its metrics, heartbeat, cancel, time out."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils import timezone

from training.models import MetricPoint, Run, RunStatus
from training.runner.prepare import PreparedJob

logger = logging.getLogger(__name__)

_IGNORED_KEYS = {"step", "progress", "time"}


@dataclass
class Outcome:
    returncode: int | None
    stopped: str | None = None  # "cancelled" or "timeout" when the runner stopped the job
    elapsed_s: float = 0.0


class MetricsTail:
    """Read complete new lines of a growing metrics.jsonl, remembering where it stopped."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0

    def read_new(self) -> list[dict[str, Any]]:
        try:
            with self.path.open("rb") as fh:
                fh.seek(self.offset)
                chunk = fh.read()
        except FileNotFoundError:
            return []
        end = chunk.rfind(b"\n")
        if end < 0:
            return []  # a line still being written: wait for its newline
        self.offset += end + 1
        rows = []
        for line in chunk[: end + 1].splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                logger.warning("skipping a malformed metrics line: %r", line[:200])
                continue
            if isinstance(row, dict):
                rows.append(row)
        return rows


def metrics_store(run_id: int, rows: list[dict[str, Any]]) -> None:
    """Save metric lines as MetricPoints and move the run's progress to the newest one."""
    if not rows:
        return
    points = []
    for row in rows:
        step = row.get("step", 0)
        values = {k: v for k, v in row.items() if k not in _IGNORED_KEYS and isinstance(v, (int, float, str))}
        points.append(MetricPoint(run_id=run_id, step=int(step) if isinstance(step, (int, float)) else 0, values=values))
    MetricPoint.objects.bulk_create(points)
    progress = [r["progress"] for r in rows if isinstance(r.get("progress"), (int, float))]
    if progress:
        Run.objects.filter(pk=run_id).update(progress=min(max(float(progress[-1]), 0.0), 1.0))


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


class JobMonitor:
    """Watch one job process until it ends, acting on cancel requests and the timeout."""

    def __init__(self, run: Run, job: PreparedJob) -> None:
        self.run_id = run.pk
        self.job = job
        self.timeout_s = run.timeout_s or settings.PREFLOOP_RUN_TIMEOUT_S
        self.poll_s = float(getattr(settings, "PREFLOOP_RUNNER_POLL_S", 1.0))
        self.tail = MetricsTail(job.run_dir / "metrics.jsonl")
        self.stopped: str | None = None
        self.kill_at: float | None = None

    def start(self) -> subprocess.Popen:
        out = (self.job.run_dir / "stdout.log").open("ab")
        err = (self.job.run_dir / "stderr.log").open("ab")
        with out, err:
            # Own session = own process group, so cancel reaches torchrun's workers too.
            proc = subprocess.Popen(
                self.job.command, cwd=settings.BASE_DIR, env=self.job.env, stdin=subprocess.DEVNULL,
                stdout=out, stderr=err, start_new_session=True,
            )
        Run.objects.filter(pk=self.run_id).update(pid=proc.pid)
        return proc

    def stop(self, proc: subprocess.Popen, reason: str) -> None:
        """Send SIGTERM to the job's group now and SIGKILL after the grace period."""
        if self.stopped is None:
            self.stopped = reason
            _signal_group(proc.pid, signal.SIGTERM)
            self.kill_at = time.monotonic() + settings.PREFLOOP_CANCEL_GRACE_S

    def check(self, proc: subprocess.Popen, started: float, next_beat: float) -> float:
        """Do one round of heartbeat, cancel and timeout checks; return the next heartbeat time."""
        now = time.monotonic()
        if now >= next_beat:
            Run.objects.filter(pk=self.run_id).update(heartbeat_at=timezone.now())
            next_beat = now + settings.PREFLOOP_HEARTBEAT_S
        cancel, status = Run.objects.filter(pk=self.run_id).values_list("cancel_requested", "status").get()
        if cancel or status != RunStatus.RUNNING:  # a run failed elsewhere (orphan check) must not go on
            self.stop(proc, "cancelled")
        if now - started > self.timeout_s:
            self.stop(proc, "timeout")
        if self.kill_at is not None and now >= self.kill_at:
            _signal_group(proc.pid, signal.SIGKILL)
        return next_beat

    def run(self) -> Outcome:
        started = time.monotonic()
        proc = self.start()
        next_beat = started
        try:
            while proc.poll() is None:
                metrics_store(self.run_id, self.tail.read_new())
                next_beat = self.check(proc, started, next_beat)
                try:
                    proc.wait(timeout=self.poll_s)  # returns as soon as the job ends, not a poll later
                except subprocess.TimeoutExpired:
                    pass
        except BaseException:
            # The worker is going down (signal, DB loss): no one would watch the job, so stop it.
            _signal_group(proc.pid, signal.SIGKILL)
            raise
        metrics_store(self.run_id, self.tail.read_new())
        # Whatever the leader left behind in its group (e.g. launcher workers) has no one to report to.
        _signal_group(proc.pid, signal.SIGKILL)
        return Outcome(returncode=proc.returncode, stopped=self.stopped, elapsed_s=time.monotonic() - started)
