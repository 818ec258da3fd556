"""The shipped gunicorn settings size threads by database: 8 on PostgreSQL, 4 on SQLite, GUNICORN_THREADS first."""

from __future__ import annotations

import importlib

import pytest

import config.gunicorn


@pytest.mark.parametrize(
    ("env", "threads"),
    [
        ({"DATABASE_URL": "postgres://postgres@db:5432/prefloop"}, 8),
        ({"DATABASE_URL": "postgresql://db/prefloop"}, 8),
        ({"DATABASE_URL": "sqlite:////srv/prefloop/db.sqlite3"}, 4),
        ({}, 4),  # no DATABASE_URL: SQLite in var/
        ({"DATABASE_URL": "postgres://db/prefloop", "GUNICORN_THREADS": "16"}, 16),
    ],
)
def test_threads_follow_the_database_unless_set(monkeypatch, env, threads):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("GUNICORN_THREADS", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    try:
        assert importlib.reload(config.gunicorn).threads == threads
    finally:
        monkeypatch.undo()
        importlib.reload(config.gunicorn)
