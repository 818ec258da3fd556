"""Schedules: decide when a project trains automatically (filled in by the schedules work, issue 5)."""

from __future__ import annotations


def schedules_tick() -> None:
    """Fire due schedules; PLACEHOLDER: a no-op until schedules are implemented.

    The worker calls this every tick (about 30 s, training.worker.TICK_HOOKS). The implementation
    must be safe when two workers tick at once (one run per firing: lean on run_create's
    one-active-run constraint and a conditional UPDATE of Schedule.last_fired_at).
    """
    return None
