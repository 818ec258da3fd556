"""A write SQLite refused with "database is locked" is retried instead of becoming a 500."""

from __future__ import annotations

import pytest
from django.db import OperationalError, connection

from labeling.services import retry
from labeling.services.retry import retry_when_locked


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's lock")
def test_a_locked_write_is_retried_and_succeeds(monkeypatch):
    monkeypatch.setattr(retry.time, "sleep", lambda s: None)
    calls = []

    @retry_when_locked
    def write() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise OperationalError("database is locked")
        return "stored"

    assert write() == "stored" and len(calls) == 3


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's lock")
def test_other_errors_and_a_lock_that_never_clears_are_raised(monkeypatch):
    monkeypatch.setattr(retry.time, "sleep", lambda s: None)

    @retry_when_locked
    def broken() -> None:
        raise OperationalError("no such table: x")

    @retry_when_locked
    def stuck() -> None:
        raise OperationalError("database is locked")

    with pytest.raises(OperationalError, match="no such table"):
        broken()
    with pytest.raises(OperationalError, match="locked"):
        stuck()
