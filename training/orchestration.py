"""Orchestration: execute a run, then register its outputs, then advance its recipe chain.

The one place where the steps after a job meet: the runner (process machinery) returns, the
outputs service registers what the job made, and the recipe service queues the chain's next step.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError

from training.runner import JobExit, run_job
from training.runner.finish import log_tail, run_fail
from training.services.outputs import run_outputs_register
from training.services.recipes import recipe_advance_safely


def run_complete(done: JobExit) -> str:
    """Register a cleanly exited run's outputs (or fail it), then advance its chain; return its status."""
    run, job = done.run, done.job
    logs = log_tail(job.run_dir)
    try:
        registered = run_outputs_register(
            run=run, run_dir=job.run_dir, values=job.values, start=job.start_version, logs=logs
        )
    except ValidationError as exc:
        run_fail(run, error="; ".join(exc.messages), logs=logs)
    else:
        if registered:
            recipe_advance_safely(run.pk)  # after commit; never raises: a chain problem leaves this run succeeded
    run.refresh_from_db(fields=["status"])
    return run.status


def run_execute(run_id: int) -> str:
    """Execute a queued run to the end; return its final status (or "skipped" when it was not queued)."""
    done = run_job(run_id)
    return run_complete(done) if isinstance(done, JobExit) else done
