"""`manage.py worker`: django-tasks' database worker plus PrefLoop's orphan recovery and periodic tick."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django_tasks_db.management.commands.db_worker import Command as DbWorkerCommand

from training.runner.cleanup import stale_temp_dirs_remove
from training.services.runs import runs_fail_orphaned
from training.tasks import runs_requeue_lost
from training.worker import DEFAULT_TICK_S, Ticker, tick


class Command(DbWorkerCommand):
    help = "Run background tasks (training runs) and the periodic tick (orphaned runs, schedules)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        super().add_arguments(parser)
        parser.add_argument(
            "--tick-interval", type=float, default=DEFAULT_TICK_S,
            help="Seconds between periodic ticks (schedules, orphan checks); 0 turns the tick off.",
        )
        # Autoreload would restart the worker under a running job; opt in with --reload.
        parser.set_defaults(reload=False)

    def handle(self, *args: Any, tick_interval: float, **options: Any) -> None:
        for run in runs_fail_orphaned():
            self.stdout.write(f"run {run.pk} was left running by a dead worker: marked failed")
        for run_id in runs_requeue_lost():
            self.stdout.write(f"run {run_id} was taken off the queue by a dead worker: queued again")
        removed = stale_temp_dirs_remove()  # after the orphans: their directories are stale now too
        if removed:
            self.stdout.write(f"removed {removed} temporary output director{'y' if removed == 1 else 'ies'} of dead jobs")
        ticker = None
        if options.get("batch"):
            tick()  # a batch worker exits when the queue is empty: tick once instead of in a thread
        elif tick_interval > 0:
            ticker = Ticker(tick_interval)
            ticker.start()
        try:
            super().handle(*args, **options)
        finally:
            if ticker is not None:
                ticker.stop()
