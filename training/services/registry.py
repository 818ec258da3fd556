"""Model registry writes: register a complete model, promote it, roll back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from labeling.models import Project
from training.models import ModelKind, ModelVersion, ProjectModels, Run

COMPLETE_MARKER = "COMPLETE"  # written by common.atomic_output_dir as the last step before the rename


def model_dir_is_complete(path: str | Path) -> bool:
    """True when a local model directory was finished by atomic_output_dir."""
    return (Path(path) / COMPLETE_MARKER).is_file()


def project_models_get(*, project: Project, lock: bool = False) -> ProjectModels:
    """Return the project's pointer row, creating it; lock it when the caller will switch pointers."""
    ProjectModels.objects.get_or_create(project=project)
    if lock:
        # Lock only the pointer row: PostgreSQL refuses FOR UPDATE across the nullable joins.
        ProjectModels.objects.select_for_update().filter(project=project).values_list("pk").get()
    return ProjectModels.objects.select_related("policy", "reward").get(project=project)


@transaction.atomic
def model_version_register(
    *,
    project: Project,
    kind: str,
    name: str,
    path: str,
    parent: ModelVersion | None = None,
    run: Run | None = None,
    metrics: dict[str, Any] | None = None,
) -> ModelVersion:
    """Register a finished model; a local path must carry the COMPLETE marker (a hub id is taken as is)."""
    if kind not in ModelKind.values:
        raise ValidationError({"kind": f"unknown model kind {kind!r}"})
    local = Path(path)
    if local.is_absolute() or local.exists():
        if not model_dir_is_complete(local):
            raise ValidationError({"path": f"{path} is not a complete model directory (no {COMPLETE_MARKER} marker)"})
    if ModelVersion.objects.filter(project=project, name=name).exists():
        raise ValidationError({"name": f"a model named {name!r} already exists in this project"})
    return ModelVersion.objects.create(
        project=project, kind=kind, name=name, path=str(path), parent=parent, run=run, metrics=metrics or {}
    )


@transaction.atomic
def model_promote(*, version: ModelVersion) -> ProjectModels:
    """Make a version the project's current policy or reward model (an atomic pointer switch)."""
    pointers = project_models_get(project=version.project, lock=True)
    if version.path.startswith("/") and not model_dir_is_complete(version.path):
        raise ValidationError({"path": f"{version.path} is missing or incomplete; it cannot be promoted"})
    setattr(pointers, version.kind, version)
    pointers.save(update_fields=[version.kind, "updated_at"])
    return pointers


@transaction.atomic
def model_rollback(*, version: ModelVersion) -> ProjectModels:
    """Point the project back at an earlier version of the same kind."""
    pointers = project_models_get(project=version.project, lock=True)
    current: ModelVersion | None = getattr(pointers, version.kind)
    if current is None or version.pk >= current.pk:
        raise ValidationError({"version": f"{version.name} is not earlier than the current {version.kind}; promote it instead"})
    return model_promote(version=version)
