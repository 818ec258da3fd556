"""The PostgreSQL backend's health check: no round trip on a quiet connection, a new connection after a hang-up."""

from __future__ import annotations

import time
from unittest import mock

import psycopg
import pytest
from django.db import connection
from django.db.backends.postgresql.base import DatabaseWrapper as DjangoPostgres

from tests.processes import live_database_url

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif("connection.vendor != 'postgresql'", reason="needs PostgreSQL (DATABASE_URL)"),
    pytest.mark.django_db(transaction=True),  # outside a transaction: the connection is idle between "requests"
]


def _backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def _next_request_checks() -> None:
    """What Django does when a request reuses the thread's connection: health-check it before the first query."""
    connection.health_check_done = False
    connection.close_if_health_check_failed()


def test_a_quiet_live_connection_is_reused_without_a_select_1():
    first = _backend_pid()
    with mock.patch.object(DjangoPostgres, "is_usable", autospec=True, return_value=True) as round_trip:
        _next_request_checks()
    assert round_trip.call_count == 0
    assert _backend_pid() == first


def test_a_connection_the_server_ended_is_replaced_before_the_request_uses_it():
    victim = _backend_pid()
    with psycopg.connect(live_database_url(), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [victim])
    time.sleep(0.2)  # the server's goodbye reaches the socket
    select_1 = DjangoPostgres.is_usable
    with mock.patch.object(DjangoPostgres, "is_usable", autospec=True, side_effect=select_1) as round_trip:
        _next_request_checks()
    assert round_trip.call_count == 1  # the socket had something to say: checked the slow way, and found dead
    assert _backend_pid() != victim  # the request's first query ran, on a new connection
