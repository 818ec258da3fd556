"""Retry a write that SQLite refused with "database is locked" after its busy timeout.

Writes on the annotation loop are one statement or one short transaction, so the busy timeout
(settings: SQLITE_BUSY_TIMEOUT_S) is normally plenty; under a burst, a retry after a short
pause turns what would be a 500 into a slower answer. Only outside a caller's transaction: a
failed statement inside one leaves nothing to retry from.
"""

from __future__ import annotations

import functools
import random
import time
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from django.db import OperationalError, connection

ATTEMPTS = 4
P = ParamSpec("P")
T = TypeVar("T")


def _locked(exc: OperationalError) -> bool:
    return connection.vendor == "sqlite" and "locked" in str(exc).lower()


def retry_when_locked(func: Callable[P, T]) -> Callable[P, T]:
    """Run func again (up to ATTEMPTS times) when SQLite answers "database is locked"."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return func(*args, **kwargs)
            except OperationalError as exc:
                if attempt == ATTEMPTS or connection.in_atomic_block or not _locked(exc):
                    raise
                time.sleep(random.uniform(0.05, 0.2) * attempt)  # jitter: waiters do not wake together
        raise AssertionError("unreachable")

    return wrapper
