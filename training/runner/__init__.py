"""The runner: process machinery for one Run, and nothing else.

Split by phase: prepare.py (run dir, system fields, config.json, command), process.py (spawn,
tail metrics, heartbeat, cancel, timeout), finish.py (exit code -> status, log tail). What a
clean exit means for the project (register the model, ingest comparisons, advance a recipe
chain) is decided by the caller: training.orchestration.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from training.models import Run
from training.runner.cleanup import run_temp_dirs_remove
from training.runner.finish import run_exit, run_fail
from training.runner.prepare import PreparedJob, PrepareError, run_prepare
from training.runner.process import JobMonitor
from training.services.runs import run_claim

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobExit:
    """A job that exited cleanly: its run (still `running`) and where it left its outputs."""

    run: Run
    job: PreparedJob


def run_job(run_id: int) -> JobExit | str:
    """Claim a queued run and run its job to the end.

    Returns a JobExit for a clean exit (the caller registers outputs and marks it succeeded), else
    the run's final status ("failed", "cancelled") or "skipped" when the run was not queued.
    """
    if not run_claim(run_id=run_id):
        logger.info("run %s is not queued any more; not starting it twice", run_id)
        return "skipped"
    run = Run.objects.select_related("project", "snapshot").get(pk=run_id)
    try:
        job = run_prepare(run)
        outcome = JobMonitor(run, job).run()
    except PrepareError as exc:
        run_fail(run, error=str(exc))
    except OSError as exc:  # the run dir or the launcher itself failed (disk full, bad interpreter)
        run_fail(run, error=f"cannot start the job: {exc}")
    except BaseException as exc:
        run_fail(run, error=f"the worker stopped while the job ran ({type(exc).__name__}: {exc}); the job was killed")
        run_temp_dirs_remove(run)
        raise
    else:
        if run_exit(run, job, outcome):
            return JobExit(run=run, job=job)
    run_temp_dirs_remove(run)  # a job killed mid-save (SIGKILL) cannot remove its own temporary output
    run.refresh_from_db(fields=["status"])
    return run.status
