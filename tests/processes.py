"""Helpers for tests that start real server or worker processes on the test database."""

from __future__ import annotations

from django.db import connection


def live_database_url() -> str:
    """The DATABASE_URL of the test database, for a `manage.py` or gunicorn process started by a test."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
