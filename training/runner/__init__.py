"""The runner: execute one Run as a job process and record what happened.

Split by phase: prepare.py (run dir, system fields, command), process.py (spawn, tail metrics,
heartbeat, cancel, timeout), finish.py (exit code -> status, register outputs).
"""

from __future__ import annotations

import logging

from training.models import Run
from training.runner.finish import run_fail, run_finish
from training.runner.prepare import PrepareError, run_prepare
from training.runner.process import JobMonitor
from training.services.runs import run_claim

logger = logging.getLogger(__name__)


def run_execute(run_id: int) -> str:
    """Claim a queued run and execute it to the end; return its final status (or "skipped")."""
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
        raise
    else:
        run_finish(run, job, outcome)
    run.refresh_from_db(fields=["status"])
    return run.status
