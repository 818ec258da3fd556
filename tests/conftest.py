"""Shared fixtures. Area-specific fixtures live next to their tests."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


@pytest.fixture(autouse=True)
def _data_dir(settings, tmp_path):
    """Give every test its own data directory (models, runs, exports)."""
    settings.DATA_DIR = tmp_path / "data"
    settings.MODELS_DIR = settings.DATA_DIR / "models"
    settings.RUNS_DIR = settings.DATA_DIR / "runs"
    settings.EXPORTS_DIR = settings.DATA_DIR / "exports"
    settings.DATA_DIR.mkdir(parents=True, exist_ok=True)
    # The real hasher costs about a second per user on this machine; tests need no real hashing.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # Tests should not trip the login limiter or leak cached state between each other.
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def project(db):
    from tests.factories import make_project

    return make_project()


@pytest.fixture
def manager(db, project):
    from labeling.models import Role
    from tests.factories import add_member, make_user

    user = make_user("manager")
    add_member(project, user, Role.MANAGER)
    return user


@pytest.fixture
def annotator(db, project):
    from tests.factories import add_member, make_user

    user = make_user("annotator")
    add_member(project, user)
    return user


def pytest_collection_modifyitems(config, items):
    """Run the `heavy` tests (minutes each) first: with `-n 2 --maxschedchunk 1` (make test) each starts on
    its own worker at once while the other worker takes the quick tests, instead of one finishing last."""
    items.sort(key=lambda item: item.get_closest_marker("heavy") is None)


@pytest.fixture
def loop_member(db):
    """A project (K = 2) with one open comparison, and a member who can claim it: (project, user)."""
    from tests.factories import add_member, make_comparison, make_project, make_user

    project = make_project(k=2)
    user = make_user()
    add_member(project, user)
    make_comparison(project, texts=["one", "two"])
    return project, user
