"""Map a job's exit to the run's status and keep the log tail (outputs are registered elsewhere)."""

from __future__ import annotations

import signal
from pathlib import Path

from django.utils import timezone

from training.models import Run, RunStatus
from training.runner.prepare import PreparedJob
from training.runner.process import Outcome

ERROR_LINES = 20
LOG_LINES = 60


def file_tail(path: Path, *, lines: int, max_bytes: int = 64_000) -> str:
    """Return the last lines of a log file (progress bars' carriage returns count as line ends)."""
    try:
        with path.open("rb") as fh:
            fh.seek(0, 2)
            size = fh.tell()
            fh.seek(max(0, size - max_bytes))
            data = fh.read().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return ""
    kept = [line.rstrip() for line in data.replace("\r", "\n").split("\n") if line.strip()]
    return "\n".join(kept[-lines:])


def log_tail(run_dir: Path) -> str:
    """Return the end of stdout and stderr, labelled."""
    parts = []
    for name in ("stdout", "stderr"):
        text = file_tail(run_dir / f"{name}.log", lines=LOG_LINES)
        if text:
            parts.append(f"--- {name} ---\n{text}")
    return "\n".join(parts)


def exit_error(run: Run, outcome: Outcome, stderr_tail: str) -> tuple[str, str]:
    """Return (status, error) for a job that did not succeed."""
    if outcome.stopped == "cancelled":
        return RunStatus.CANCELLED, "cancelled: the job was stopped on request"
    if outcome.stopped == "timeout":
        head = f"timed out after {int(outcome.elapsed_s)} s (limit {run.timeout_s or 'server default'})"
    elif outcome.returncode is not None and outcome.returncode < 0:
        head = f"killed by {signal.Signals(-outcome.returncode).name}"
    elif outcome.returncode == 2:
        head = "the job refused its config (exit 2)"
    else:
        head = f"the job failed (exit {outcome.returncode})"
    return RunStatus.FAILED, f"{head}\n{stderr_tail}".strip()


def run_exit(run: Run, job: PreparedJob, outcome: Outcome) -> bool:
    """Record a job that did not exit cleanly (failed, cancelled, timed out); True for a clean exit.

    A clean exit leaves the run `running`: it becomes `succeeded` only in the transaction that
    registers its outputs (training.services.outputs), so no run is succeeded without them.
    """
    if outcome.returncode == 0 and outcome.stopped is None:
        return True
    status, error = exit_error(run, outcome, file_tail(job.run_dir / "stderr.log", lines=ERROR_LINES))
    Run.objects.filter(pk=run.pk, status=RunStatus.RUNNING).update(
        status=status, error=error, log_tail=log_tail(job.run_dir), finished_at=timezone.now()
    )
    return False


def run_fail(run: Run, *, error: str, logs: str = "") -> None:
    """Mark a running run failed with a reason."""
    Run.objects.filter(pk=run.pk, status=RunStatus.RUNNING).update(
        status=RunStatus.FAILED, error=error, log_tail=logs, finished_at=timezone.now()
    )
