"""Export writes: create immutable dataset snapshots, now or in the background.

A snapshot is built in a temporary directory and renamed into place only when complete, so
a reader never sees half a dataset. The export itself runs outside any transaction: on
SQLite a transaction takes the write lock, and an export can take minutes.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import uuid
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from labeling.exports.build import BuildResult, Progress, build_export, file_hashes, manifest_for
from labeling.exports.filters import Scope, rankings_filtered, scope_resolve
from labeling.exports.params import ExportParams, params_from_dict
from labeling.exports.split import SPLITS
from labeling.models import DatasetSnapshot, Preference, Project, Prompt, SnapshotStatus

# Exports estimated above this many preference rows go to the worker when one is wanted.
SYNC_MAX_ROWS = getattr(settings, "PREFLOOP_EXPORT_SYNC_MAX_ROWS", 50_000)


def _default_name(params: ExportParams) -> str:
    if params.kind == "preference":
        return f"preference-{params.aggregation}-{params.pairs}".replace("_", "-")
    if params.kind == "kto":
        return "kto-judged"
    return f"{params.kind}-{params.aggregation}".replace("_", "-") if params.kind == "sft" else "prompts"


def _prepare(project: Project, params: dict) -> Scope:
    """Validate parameters and refuse early an export that cannot have rows."""
    scope = scope_resolve(project, params_from_dict(params))
    if scope.params.kind == "prompt":
        if not Prompt.objects.filter(project=project).exists():
            raise ValidationError("Nothing to export: this project has no prompts yet.")
    elif not rankings_filtered(scope).exists():
        raise ValidationError("Nothing to export: no rankings match these filters. Widen the filters or collect rankings first.")
    return scope


def _empty_message(result: BuildResult) -> str:
    reasons = {**result.dropped_rankings, **result.dropped_pairs}
    detail = ", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in sorted(reasons.items())) or "no pairs (all ties?)"
    return f"Nothing to export: every row was filtered out ({detail}). Nothing was written."


def _temp_dir(project: Project) -> Path:
    path = Path(settings.EXPORTS_DIR) / project.slug / f".tmp-{uuid.uuid4().hex}"
    path.mkdir(parents=True)
    return path


def _build(scope: Scope, progress: Progress | None) -> tuple[Path, BuildResult]:
    """Write the export to a fresh temp directory; remove it and raise when there are no rows."""
    tmp = _temp_dir(scope.project)
    try:
        result = build_export(scope, tmp, progress=progress)
        if not result.total:
            raise ValidationError(_empty_message(result))
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return tmp, result


@transaction.atomic
def _finish(snapshot: DatasetSnapshot, *, scope: Scope, result: BuildResult, tmp: Path) -> DatasetSnapshot:
    """Write the manifest, move the files into place and record them (call with a saved snapshot)."""
    files = file_hashes(tmp)
    manifest = {"snapshot": {"id": snapshot.id, "name": snapshot.name}, **manifest_for(scope, result, files)}
    manifest_bytes = (json.dumps(manifest, sort_keys=True, indent=2, ensure_ascii=False) + "\n").encode()
    (tmp / "manifest.json").write_bytes(manifest_bytes)
    final = tmp.parent / f"{snapshot.id}-{slugify(snapshot.name) or 'snapshot'}"
    tmp.rename(final)
    snapshot.path = str(final)
    snapshot.files = files
    # The manifest lists every file's sha256, so its own hash identifies the whole snapshot.
    snapshot.sha256 = hashlib.sha256(manifest_bytes).hexdigest()
    snapshot.manifest = manifest
    snapshot.row_count, snapshot.train_rows, snapshot.test_rows = result.total, result.rows["train"], result.rows["test"]
    snapshot.status, snapshot.error, snapshot.finished_at = SnapshotStatus.SUCCEEDED, "", timezone.now()
    snapshot.save()
    return snapshot


def _new_snapshot(project: Project, scope: Scope, user, status: str) -> DatasetSnapshot:
    params = scope.params
    return DatasetSnapshot.objects.create(
        project=project,
        name=params.name or _default_name(params),
        kind=params.kind,
        params=params.as_dict(),
        status=status,
        created_by=user if getattr(user, "is_authenticated", False) else None,
    )


def snapshot_create(*, project: Project, params: dict, user=None, progress: Progress | None = None) -> DatasetSnapshot:
    """Export now and return the finished snapshot; raise ValidationError on bad or empty input."""
    scope = _prepare(project, params)
    tmp, result = _build(scope, progress)
    try:
        return _finish(_new_snapshot(project, scope, user, SnapshotStatus.RUNNING), scope=scope, result=result, tmp=tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def snapshot_request(*, project: Project, params: dict, user=None, enqueue: bool = True) -> DatasetSnapshot:
    """Validate, store a pending snapshot and queue its export for the worker.

    enqueue=False leaves it pending for the caller's own background work to build with
    snapshot_build (a training run exports its data as its first step).
    """
    from labeling.exports.tasks import snapshot_build_task

    scope = _prepare(project, params)
    with transaction.atomic():
        snapshot = _new_snapshot(project, scope, user, SnapshotStatus.PENDING)
        if enqueue:
            transaction.on_commit(lambda: snapshot_build_task.enqueue(snapshot.id))
    return snapshot


def snapshot_start(*, project: Project, params: dict, user=None, background: bool | None = None) -> DatasetSnapshot:
    """Export now, or queue it when asked to or when it looks large (background=None)."""
    if background is None:
        background = Preference.objects.filter(comparison__project=project).count() > SYNC_MAX_ROWS
    if background:
        return snapshot_request(project=project, params=params, user=user)
    return snapshot_create(project=project, params=params, user=user)


def snapshot_build(*, snapshot: DatasetSnapshot, progress: Progress | None = None) -> DatasetSnapshot:
    """Run a pending snapshot's export (the worker's entry point); record failures on it."""
    claimed = DatasetSnapshot.objects.filter(pk=snapshot.pk, status=SnapshotStatus.PENDING).update(status=SnapshotStatus.RUNNING)
    if not claimed:
        return snapshot  # another worker took it, or it already ran
    try:
        scope = _prepare(snapshot.project, snapshot.params)
        tmp, result = _build(scope, progress)
        _finish(snapshot, scope=scope, result=result, tmp=tmp)
    except ValidationError as exc:
        _fail(snapshot, " ".join(exc.messages))
    except Exception as exc:
        _fail(snapshot, f"Export failed: {exc.__class__.__name__}: {exc}")
        raise
    return snapshot


def _fail(snapshot: DatasetSnapshot, message: str) -> None:
    snapshot.status, snapshot.error, snapshot.finished_at = SnapshotStatus.FAILED, message, timezone.now()
    snapshot.save(update_fields=["status", "error", "finished_at"])


def snapshot_file(snapshot: DatasetSnapshot, split: str = "train") -> Path:
    """Return the JSONL file of one split of a finished snapshot (what training jobs read)."""
    if split not in SPLITS:
        raise ValidationError({"split": [f"must be one of {', '.join(SPLITS)}; got {split!r}."]})
    if snapshot.status != SnapshotStatus.SUCCEEDED or not snapshot.path:
        raise FileNotFoundError(f"Snapshot {snapshot.pk} is {snapshot.status}, it has no files yet.")
    path = Path(snapshot.path) / f"{split}.jsonl"
    if split in (snapshot.manifest or {}).get("empty_splits", ()):
        raise FileNotFoundError(f"Snapshot {snapshot.pk} has no {split} rows: an empty split has no file.")
    if not path.is_file():
        raise FileNotFoundError(f"Snapshot {snapshot.pk} lost its file {path.name}.")
    return path
