"""Helpers for the run-machinery tests: fake jobs wired in, fast polling, a registered policy."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings

from training.models import ModelKind, ModelVersion
from training.services.registry import COMPLETE_MARKER, model_promote, model_version_register

FAKE_JOBS = {
    "dpo": "tests.training.fake_job",
    "reward": "tests.training.fake_job",
    "generate": "tests.training.fake_generate",
}


@pytest.fixture
def fake_jobs(settings):
    """Point model kinds at the fake jobs and make the runner poll fast."""
    settings.PREFLOOP_JOB_MODULES = FAKE_JOBS
    settings.PREFLOOP_RUNNER_POLL_S = 0.05
    settings.PREFLOOP_HEARTBEAT_S = 1
    settings.PREFLOOP_CANCEL_GRACE_S = 1
    return settings


def complete_model_dir(name: str) -> Path:
    """Make a finished-looking model directory under MODELS_DIR."""
    path = Path(settings.MODELS_DIR) / "fixtures" / name
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.json").write_text("{}")
    (path / COMPLETE_MARKER).write_text("ok\n")
    return path


def current_policy(project, name: str = "policy-v0", kind: str = ModelKind.POLICY) -> ModelVersion:
    """Register and promote a policy (or reward model) for the project."""
    version = model_version_register(project=project, kind=kind, name=name, path=str(complete_model_dir(name)))
    model_promote(version=version)
    return version
