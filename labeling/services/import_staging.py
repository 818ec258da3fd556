"""Opening an import source (a path, an upload, a Hub id) and previewing it before it is applied.

An upload is first *staged*: stored under DATA_DIR/imports/<token>/ with a small meta.json
(project, user, how to read it), so the review page can show its columns and a mapped
preview, and the import itself reads the same bytes again. Staged files older than a day are
removed when the next one is staged; an applied import removes its own.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings

from labeling.models import Project
from labeling.services.import_rows import RowError, clean_row
from labeling.services.import_sources import (
    FIELDS,
    Source,
    SourceError,
    folder_source,
    hub_source,
    mapped,
    mapping_resolve,
    parquet_source,
    staging_dir,
    text_source,
    unzip_dataset,
)
from labeling.services.imports import ImportValidationError, _decode, _file_error, _guess_format, resolved_mapping

PREVIEW_ROWS = 5
TABLE_SUFFIXES = (".parquet", ".zip")
_TOKEN = re.compile(r"^[0-9a-f]{32}$")


def _root() -> Path:
    return Path(settings.DATA_DIR) / "imports"


def source_from_path(path: Path, *, fmt: str | None = None, split: str | None = None, work: Path | None = None) -> Source:
    """Open a local file or folder: a datasets folder, .parquet, a zipped folder, or JSONL/CSV text."""
    if path.is_dir():
        return folder_source(path, split=split)
    if not path.is_file():
        raise SourceError(f"no such file or folder: {path}")
    suffix = path.suffix.lower()
    if fmt == "parquet" or suffix == ".parquet":
        return parquet_source(path)
    if suffix == ".zip":
        return folder_source(unzip_dataset(path, work or staging_dir(_root()) / "unzipped"), split=split, name=path.name)
    text = _decode(path.read_bytes())
    return text_source(path.name, text, (fmt or _guess_format(path.name, text)).lower())


def _copy_upload(upload: Any, target: Path) -> None:
    """Copy an upload to disk, refusing one over MAX_UPLOAD_MB."""
    limit = settings.MAX_UPLOAD_MB * 1024 * 1024
    written = 0
    with open(target, "wb") as out:
        for chunk in upload.chunks() if hasattr(upload, "chunks") else iter(lambda: upload.read(1 << 20), b""):
            written += len(chunk)
            if written > limit:
                raise _file_error(f"is larger than the {settings.MAX_UPLOAD_MB} MB limit; import it with manage.py import_prompts")
            out.write(chunk)


def _safe_name(name: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(name or "upload").name)[:100].lstrip(".")
    return cleaned or "upload"


@dataclass(frozen=True)
class Staged:
    """An upload or Hub id kept for review: its token and how to read it."""

    token: str
    name: str
    meta: dict[str, Any] = field(default_factory=dict)


def stage(*, project: Project, user: Any, upload: Any = None, hub_id: str = "", fmt: str | None = None, split: str | None = None) -> Staged:
    """Keep an upload (or a Hub dataset id) for review; return its token."""
    if not upload and not hub_id:
        raise _file_error("give a file or a Hugging Face dataset id")
    directory = staging_dir(_root())
    meta = {"project": project.pk, "user": getattr(user, "pk", None), "fmt": fmt or "", "split": split or "", "hub_id": hub_id or ""}
    if upload:
        meta["file"] = _safe_name(getattr(upload, "name", ""))
        try:
            _copy_upload(upload, directory / meta["file"])
        except BaseException:
            shutil.rmtree(directory, ignore_errors=True)
            raise
    (directory / "meta.json").write_text(json.dumps(meta))
    return Staged(token=directory.name, name=meta.get("file") or hub_id, meta=meta)


def staged_get(*, token: str, project: Project, user: Any) -> Staged:
    """Return a staged upload of this project and user; refuse anything else as expired."""
    directory = _root() / token if _TOKEN.match(token or "") else None
    meta_path = directory / "meta.json" if directory else None
    if meta_path is None or not meta_path.is_file():
        raise _file_error("this upload is no longer here (kept for a day); upload the file again")
    meta = json.loads(meta_path.read_text())
    if meta.get("project") != project.pk or meta.get("user") != getattr(user, "pk", None):
        raise _file_error("this upload is no longer here (kept for a day); upload the file again")
    return Staged(token=token, name=meta.get("file") or meta.get("hub_id"), meta=meta)


def staged_source(staged: Staged) -> Source:
    """Open a staged upload (or fetch its Hub dataset) for reading."""
    meta, directory = staged.meta, _root() / staged.token
    try:
        if meta.get("hub_id"):
            return hub_source(meta["hub_id"], split=meta.get("split") or None)
        return source_from_path(directory / meta["file"], fmt=meta.get("fmt") or None, split=meta.get("split") or None, work=directory / "unzipped")
    except SourceError as exc:
        raise _file_error(str(exc)) from exc


def staged_discard(staged: Staged) -> None:
    shutil.rmtree(_root() / staged.token, ignore_errors=True)


# Preview ------------------------------------------------------------------------------------


def _kind(row: Any) -> str:
    if row.response_params:
        return "preference pair"
    if row.completion:
        return "dialogue"
    return "comparison" if row.responses else "prompt"


@dataclass
class ImportPreview:
    """What an import would read: the columns, the mapping, and the first rows as PrefLoop sees them."""

    source: str
    columns: list[str]
    mapping: dict[str, str]
    total: int | None
    unit: str
    sample: list[dict[str, Any]]
    fields: tuple[str, ...] = FIELDS
    warning: str = ""  # e.g. no column maps to the prompt yet: pick one before importing


def import_preview(*, project: Project, source: Source, mapping: dict[str, str] | None = None) -> ImportPreview:
    """Map and check the first rows of a source (nothing is written); raise ImportValidationError for a bad mapping."""
    try:
        resolved, warning = resolved_mapping(source, mapping), ""
    except ImportValidationError as exc:
        if exc.errors[0]["field"] != "file":
            raise  # a mapping naming a missing column
        resolved, warning = mapping_resolve(source.columns, mapping), exc.errors[0]["message"]
    sample: list[dict[str, Any]] = []
    for batch in source.batches():
        for line, row in batch[:PREVIEW_ROWS]:
            sample.append(_preview_row(line, row, resolved, project.k))
        break
    shown = {f: c for f, c in resolved.items() if c in source.columns or not source.declared}
    return ImportPreview(source=source.name, columns=source.columns, mapping=shown, total=source.total, unit=source.unit, sample=sample, warning=warning)


def _preview_row(line: int, row: Any, mapping: dict[str, str], k: int) -> dict[str, Any]:
    try:
        if isinstance(row, RowError):
            raise row
        clean = clean_row(mapped(row, mapping), line, k)
    except RowError as exc:
        return {"line": line, "error": f"{exc.field}: {exc.message}"}
    return {
        "line": line,
        "kind": _kind(clean),
        "messages": clean.messages,
        "responses": [text for text, _ in clean.responses or ()],
        "reference": clean.reference,
        "tags": clean.tags,
        "id": clean.external_id,
    }


# Requests (web form and API) ------------------------------------------------------------------


def mapping_parse(value: Any) -> dict[str, str] | None:
    """Return a mapping given as an object or its JSON text (a form field); None when absent."""
    from labeling.inputs import InputRefused, json_loads

    if value in (None, "", {}):
        return None
    if isinstance(value, str):
        try:
            value = json_loads(value)
        except (ValueError, InputRefused) as exc:
            raise _file_error(f"mapping is not a JSON object {{field: column}} ({exc})") from exc
    if not isinstance(value, dict) or not all(isinstance(v, str | type(None)) for v in value.values()):
        raise _file_error("mapping must be an object {field: column name}")
    return value


def _needs_staging(upload: Any, fmt: str | None) -> bool:
    return fmt == "parquet" or Path(getattr(upload, "name", "") or "").suffix.lower() in TABLE_SUFFIXES


def request_source(*, project: Project, user: Any, upload: Any = None, token: str = "", hub_id: str = "", fmt: str | None = None,
                   split: str | None = None, review: bool = False) -> tuple[Source | None, Staged | None]:
    """Return what a request imports from: a staged upload (token), a Hub id, or an upload.

    With review, or for Parquet/zip uploads (read from disk), the upload is staged first.
    (None, None) means a plain JSONL/CSV upload or rows, which prompts_import reads itself.
    """
    if token:
        staged = staged_get(token=token, project=project, user=user)
    elif hub_id or (upload is not None and (review or _needs_staging(upload, fmt))):
        staged = stage(project=project, user=user, upload=upload, hub_id=hub_id, fmt=fmt, split=split)
    else:
        return None, None
    return staged_source(staged), staged


# Background imports: the worker runs a staged import and writes its progress beside it --------


def _write_state(staged: Staged, state: dict[str, Any]) -> None:
    path = _root() / staged.token / "progress.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state))
    tmp.replace(path)  # readers never see half a file


def staged_state(staged: Staged) -> dict[str, Any]:
    """Return a background import's state: {"state": queued|running|done|failed, "done", "total", "result"|"errors"}."""
    path = _root() / staged.token / "progress.json"
    return json.loads(path.read_text()) if path.is_file() else {"state": "queued", "done": 0, "total": None}


def staged_queue(staged: Staged, *, mapping: dict[str, str] | None) -> None:
    """Queue the staged import for the worker (after the request's transaction commits)."""
    from django.db import transaction

    from labeling.import_tasks import staged_import_task

    _write_state(staged, {"state": "queued", "done": 0, "total": None, "mapping": mapping})
    transaction.on_commit(lambda: staged_import_task.enqueue(staged.token, staged.meta["project"], staged.meta["user"]))


def staged_import_run(*, token: str, project: Project, user: Any) -> dict[str, Any]:
    """Run a queued import (the worker's entry point), recording progress and the outcome in progress.json."""
    from labeling.services.imports import prompts_import

    staged = staged_get(token=token, project=project, user=user)
    mapping = staged_state(staged).get("mapping")

    def progress(done: int, total: int | None) -> None:
        _write_state(staged, {"state": "running", "done": done, "total": total})

    try:
        result = prompts_import(project=project, source=staged_source(staged), mapping=mapping, user=user, progress=progress)
    except ImportValidationError as exc:
        state = {"state": "failed", "errors": exc.errors, "total_errors": exc.total, "summary": exc.summary(), "unit": exc.unit}
    else:
        state = {"state": "done", "done": result.rows, "total": result.rows, "result": result.__dict__}
        for name in (staged.meta.get("file"), "unzipped"):  # the data goes; the state stays for the page
            if name:
                target = _root() / token / name
                shutil.rmtree(target, ignore_errors=True) if target.is_dir() else target.unlink(missing_ok=True)
    _write_state(staged, state)
    return state
