"""The worker's own duties beside running tasks: recover orphaned runs and tick periodic hooks."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from django.db import close_old_connections, connection

from training.services.runs import runs_fail_orphaned
from training.services.schedules import schedules_tick
from training.tasks import runs_requeue_lost

logger = logging.getLogger(__name__)

# Called every tick, in order: recover orphaned runs (left running, or taken off the queue and
# dropped by a dead worker), then fire due schedules.
TICK_HOOKS: list[Callable[[], Any]] = [runs_fail_orphaned, runs_requeue_lost, schedules_tick]
DEFAULT_TICK_S = 30.0


def tick() -> None:
    """Run every hook once; one failing hook is logged and does not stop the others."""
    for hook in TICK_HOOKS:
        try:
            hook()
        except Exception:  # noqa: BLE001 - a periodic hook must never take the worker down
            logger.exception("tick hook %s failed", getattr(hook, "__name__", hook))
    close_old_connections()


class Ticker(threading.Thread):
    """Call tick() every `interval` seconds until stopped (a daemon: it dies with the worker)."""

    def __init__(self, interval: float) -> None:
        super().__init__(name="prefloop-ticker", daemon=True)
        self.interval = interval
        self.stopped = threading.Event()

    def run(self) -> None:
        try:
            while not self.stopped.wait(self.interval):
                tick()
        finally:
            connection.close()

    def stop(self) -> None:
        self.stopped.set()
