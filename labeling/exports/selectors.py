"""Export reads: snapshots a user may see, and the files they may download."""

from __future__ import annotations

from pathlib import Path

from django.db.models import QuerySet
from django.http import Http404

from labeling.access import User, projects_for_user
from labeling.models import DatasetSnapshot, Project, SnapshotStatus

PRIMARY_FILE = {"jsonl": "train.jsonl", "parquet": "train.parquet", "save_to_disk": "hf.zip", "csv": "train.csv"}


def snapshot_list(*, project: Project) -> QuerySet[DatasetSnapshot]:
    """Return the project's snapshots, newest first."""
    return DatasetSnapshot.objects.filter(project=project).order_by("-id")


def snapshot_get_for_member(user: User, snapshot_id: int | str) -> DatasetSnapshot:
    """Return the snapshot if the user belongs to its project; 404 otherwise."""
    try:
        return DatasetSnapshot.objects.select_related("project").get(
            pk=int(snapshot_id), project__in=projects_for_user(user)
        )
    except (DatasetSnapshot.DoesNotExist, ValueError, TypeError) as exc:
        raise Http404("No such export.") from exc


def snapshot_downloads(snapshot: DatasetSnapshot) -> list[str]:
    """Return the downloadable file names: every file the snapshot lists (hf/ members too) and the manifest."""
    if snapshot.status != SnapshotStatus.SUCCEEDED:
        return []
    return sorted([*snapshot.files, "manifest.json"])


def snapshot_primary_file(snapshot: DatasetSnapshot) -> str:
    """Return the file a plain "download" gives: the train split in the requested format (else the test split)."""
    fmt = (snapshot.params or {}).get("format", "jsonl")
    name = PRIMARY_FILE.get(fmt, "train.jsonl")
    if name not in (snapshot.files or {}) and name.replace("train", "test") in (snapshot.files or {}):
        return name.replace("train", "test")
    return name


def snapshot_download_path(snapshot: DatasetSnapshot, name: str) -> Path:
    """Return the path of a downloadable file of the snapshot; 404 for anything else."""
    if name not in snapshot_downloads(snapshot):
        raise Http404("No such file in this export.")
    root = Path(snapshot.path).resolve()
    path = (root / name).resolve()
    if root not in path.parents or not path.is_file():
        raise Http404("No such file in this export.")
    return path
