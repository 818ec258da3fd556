"""The worker's own duties beside running tasks: recover orphaned runs and tick periodic hooks."""

from __future__ import annotations

import logging
import threading

from django.db import close_old_connections, connection
from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)

# Called every tick, in order. Schedules plug in through schedules_tick (issue 5).
TICK_HOOKS: list[str] = [
    "training.services.runs.runs_fail_orphaned",
    "training.services.schedules.schedules_tick",
]
DEFAULT_TICK_S = 30.0


def tick() -> None:
    """Run every hook once; one failing hook is logged and does not stop the others."""
    for path in TICK_HOOKS:
        try:
            import_string(path)()
        except Exception:  # noqa: BLE001 - a periodic hook must never take the worker down
            logger.exception("tick hook %s failed", path)
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
