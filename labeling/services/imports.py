"""Importing prompts (and ready-made comparisons) from JSONL or CSV, all or nothing.

The whole file is read and checked before anything is written; any bad row refuses the whole
import with errors by line. Prompts are recognised by the hash of their normalised messages
and comparisons by the hash of their response texts, so importing a file twice adds nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction

from labeling.models import Project, Prompt, Response
from labeling.services.comparisons import NewComparison, NewResponse, comparisons_create
from labeling.services.import_rows import (
    CleanRow,
    Problem,
    RowError,
    clean_row,
    parse_csv,
    parse_jsonl,
    responses_signature,
)

logger = logging.getLogger(__name__)

MAX_ERRORS_SHOWN = 50
FORMATS = ("jsonl", "csv")
_CHUNK = 500  # stays under SQLite's limit on query parameters


@dataclass(frozen=True)
class ImportResult:
    rows: int
    created_prompts: int
    skipped_duplicates: int
    created_comparisons: int
    skipped_comparisons: int


class ImportValidationError(ValueError):
    """The file was refused; `errors` holds the first 50 problems, `total` how many there were."""

    def __init__(self, errors: list[Problem]) -> None:
        self.total = len(errors)
        self.errors = errors[:MAX_ERRORS_SHOWN]
        super().__init__(self.summary())

    def summary(self) -> str:
        """Describe the problems in one line for messages and logs."""
        first = self.errors[0] if self.errors else {"line": None, "field": "file", "message": "refused"}
        where = f"line {first['line']}, " if first["line"] else ""
        more = f" (and {self.total - 1} more)" if self.total > 1 else ""
        return f"Nothing was imported: {where}{first['field']}: {first['message']}{more}"


def _file_error(message: str) -> ImportValidationError:
    return ImportValidationError([{"line": None, "field": "file", "message": message}])


def _read_upload(upload: IO[bytes] | Any) -> bytes:
    """Read the upload whole, refusing files over MAX_UPLOAD_MB."""
    limit = settings.MAX_UPLOAD_MB * 1024 * 1024
    too_big = f"is larger than the {settings.MAX_UPLOAD_MB} MB limit; split it into smaller files"
    size = getattr(upload, "size", None)
    if size is not None and size > limit:
        raise _file_error(f"{size / 1024 / 1024:.1f} MB {too_big}")
    if hasattr(upload, "seek"):
        upload.seek(0)
    data = upload.read(limit + 1)
    if len(data) > limit:
        raise _file_error(f"the file {too_big}")
    return data.encode() if isinstance(data, str) else data


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")  # -sig: a byte-order mark from Excel or Notepad is dropped
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ImportValidationError(
            [
                {
                    "line": line,
                    "field": "file",
                    "message": f"is not UTF-8 text (byte 0x{data[exc.start]:02x} at line {line}); "
                    "save the file as UTF-8 and upload it again",
                }
            ]
        ) from exc


def _guess_format(name: str, text: str) -> str:
    lowered = name.lower()
    if lowered.endswith(".csv"):
        return "csv"
    if lowered.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    return "jsonl" if text.lstrip().startswith("{") else "csv"


def _parsed_rows(upload: Any, rows: Iterable[Any] | None, fmt: str | None) -> Iterator[tuple[int, Any]]:
    if rows is not None:
        if upload is not None:
            raise _file_error("give either a file or rows, not both")
        if not isinstance(rows, list | tuple):
            raise _file_error("rows must be a list of objects")
        return iter(enumerate(rows, start=1))
    if upload is None:
        raise _file_error("no file was given")
    text = _decode(_read_upload(upload))
    fmt = (fmt or _guess_format(getattr(upload, "name", "") or "", text)).lower()
    if fmt not in FORMATS:
        raise _file_error(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    return parse_csv(text) if fmt == "csv" else parse_jsonl(text)


def prompts_validate(*, project: Project, upload: Any = None, rows: Iterable[Any] | None = None, fmt: str | None = None) -> list[CleanRow]:
    """Read and check every row; raise ImportValidationError listing the problems by line."""
    clean: list[CleanRow] = []
    problems: list[Problem] = []
    for line, row in _parsed_rows(upload, rows, fmt):
        try:
            if isinstance(row, RowError):
                raise row
            clean.append(clean_row(row, line, project.k))
        except RowError as exc:
            problems.append({"line": line, "field": exc.field, "message": exc.message})
    problems.extend(_duplicate_ids(clean))
    if problems:
        raise ImportValidationError(sorted(problems, key=lambda p: p["line"] or 0))
    if not clean:
        raise _file_error("has no rows to import")
    return clean


def _duplicate_ids(rows: list[CleanRow]) -> list[Problem]:
    """Refuse an external id given to two different prompts in one file, naming both lines."""
    first: dict[str, CleanRow] = {}
    problems: list[Problem] = []
    for row in rows:
        if not row.external_id:
            continue
        seen = first.setdefault(row.external_id, row)
        if seen.content_hash != row.content_hash:
            message = f"{row.external_id!r} is also the id of a different prompt on line {seen.line}; ids must be unique"
            problems.append({"line": row.line, "field": "id", "message": message})
    return problems


def _chunks(items: list[Any]) -> Iterator[list[Any]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def _prompt_ids(project: Project, rows: list[CleanRow]) -> tuple[dict[str, int], set[int]]:
    """Map every row's hash to a prompt id, creating the new prompts; return (ids, ids that existed)."""
    hashes = list(dict.fromkeys(r.content_hash for r in rows))
    ids: dict[str, int] = {}
    for chunk in _chunks(hashes):
        ids.update(Prompt.objects.filter(project=project, content_hash__in=chunk).values_list("content_hash", "id"))
    new: dict[str, Prompt] = {}
    for r in rows:
        if r.content_hash not in ids and r.content_hash not in new:
            new[r.content_hash] = Prompt(
                project=project,
                messages=r.messages,
                content_hash=r.content_hash,
                external_id=r.external_id,
                tags=r.tags,
                reference=r.reference,
            )
    existed = set(ids.values())
    created = Prompt.objects.bulk_create(list(new.values()), batch_size=_CHUNK)
    ids.update((p.content_hash, p.pk) for p in created)
    return ids, existed


def _known_signatures(prompt_ids: list[int]) -> set[tuple[int, str]]:
    """Return (prompt id, responses signature) of the comparisons these prompts already have."""
    texts: dict[int, tuple[int, list[str]]] = {}
    for chunk in _chunks(prompt_ids):
        rows = (
            Response.objects.filter(comparison__prompt_id__in=chunk)
            .order_by("comparison_id", "position")
            .values_list("comparison_id", "comparison__prompt_id", "text")
        )
        for comparison_id, prompt_id, text in rows:
            texts.setdefault(comparison_id, (prompt_id, []))[1].append(text)
    return {(prompt_id, responses_signature(t)) for prompt_id, t in texts.values()}


def _create_comparisons(project: Project, rows: list[CleanRow], ids: dict[str, int], existing: set[int]) -> int:
    known = _known_signatures(sorted(existing))
    todo: list[CleanRow] = []
    for r in rows:
        if r.responses is None:
            continue
        key = (ids[r.content_hash], responses_signature([text for text, _ in r.responses]))
        if key not in known:
            known.add(key)
            todo.append(r)
    items = [
        NewComparison(
            ids[r.content_hash],
            [NewResponse(text, model_name=model) for text, model in r.responses or []],
            gold_position=r.gold,
        )
        for r in todo
    ]
    comparisons = comparisons_create(project=project, items=items, source="import")
    return len(comparisons)


def prompts_import(
    *,
    project: Project,
    upload: Any = None,
    rows: Iterable[Any] | None = None,
    fmt: str | None = None,
    user: AbstractBaseUser | None = None,
) -> ImportResult:
    """Validate a whole JSONL/CSV file (or a list of row dicts) and import it atomically.

    Rows carrying exactly K responses also create a comparison. Raises ImportValidationError
    (nothing written) when any row is bad, the file is too big or not UTF-8.
    """
    clean = prompts_validate(project=project, upload=upload, rows=rows, fmt=fmt)
    try:
        with transaction.atomic():
            ids, existed = _prompt_ids(project, clean)
            comparisons = _create_comparisons(project, clean, ids, existed)
    except IntegrityError as exc:
        # Only a concurrent import of the same prompts gets here (the hash is unique per project).
        raise _file_error("another import of the same prompts ran at the same time; upload again") from exc
    with_responses = sum(1 for r in clean if r.responses is not None)
    created = len(ids) - len(existed)
    result = ImportResult(
        rows=len(clean),
        created_prompts=created,
        skipped_duplicates=len(clean) - created,
        created_comparisons=comparisons,
        skipped_comparisons=with_responses - comparisons,
    )
    logger.info("import into %s by %s: %s", project.slug, getattr(user, "username", None), result)
    return result
