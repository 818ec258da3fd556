"""Importing prompts, dialogues and preference pairs, all or nothing, from any Source.

Sources (import_sources.py): JSONL/CSV uploads, rows in a JSON body, Parquet files,
`datasets` folders (or their zip) and Hub datasets, each read through a column mapping. The
rows stream in batches: each batch is checked, then written inside one transaction; any bad
row stops the writing, the rest is still checked so every problem is reported by line (or
row) and field, and the transaction is rolled back — nothing is half-written. Memory stays
flat: one batch at a time, duplicates found by the database (the prompt hash is unique per
project; comparisons are recognised by the hash of their response texts), so importing a file
twice adds nothing.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction

from labeling.models import Project, Prompt, Response
from labeling.services.comparisons import NewComparison, NewResponse, comparisons_create
from labeling.services.import_rows import CleanRow, Problem, RowError, clean_row, responses_signature
from labeling.services.import_sources import Source, SourceError, mapped, mapping_resolve, rows_source, text_source

logger = logging.getLogger(__name__)

MAX_ERRORS_SHOWN = 50
FORMATS = ("jsonl", "csv")
_CHUNK = 500  # stays under SQLite's limit on query parameters


Progress = Callable[[int, int | None], None]


@dataclass
class ImportResult:
    rows: int = 0
    created_prompts: int = 0
    skipped_duplicates: int = 0
    created_comparisons: int = 0
    skipped_comparisons: int = 0
    dialogues: int = 0  # rows whose final assistant turn became the prompt's reference
    pairs: int = 0  # chosen/rejected rows (2-response comparisons)
    mapping: dict[str, str] = field(default_factory=dict)


class ImportValidationError(ValueError):
    """The file was refused; `errors` holds the first 50 problems, `total` how many there were."""

    def __init__(self, errors: list[Problem], *, total: int | None = None, unit: str = "line") -> None:
        self.total = total if total is not None else len(errors)
        self.errors = errors[:MAX_ERRORS_SHOWN]
        self.unit = unit  # "line" of a JSONL/CSV file, "row" of a table; the key stays "line"
        super().__init__(self.summary())

    def summary(self) -> str:
        """Describe the problems in one line for messages and logs."""
        first = self.errors[0] if self.errors else {"line": None, "field": "file", "message": "refused"}
        where = f"{self.unit} {first['line']}, " if first["line"] else ""
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


def upload_source(upload: Any, fmt: str | None = None) -> Source:
    """Return a JSONL/CSV upload (read whole: uploads are capped by MAX_UPLOAD_MB) as a source."""
    text = _decode(_read_upload(upload))
    name = getattr(upload, "name", "") or "upload"
    fmt = (fmt or _guess_format(name, text)).lower()
    if fmt not in FORMATS:
        raise _file_error(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    return text_source(name, text, fmt)


def _source(upload: Any, rows: Iterable[Any] | None, fmt: str | None) -> Source:
    if rows is not None:
        if upload is not None:
            raise _file_error("give either a file or rows, not both")
        if not isinstance(rows, list | tuple):
            raise _file_error("rows must be a list of objects")
        return rows_source(list(rows))
    if upload is None:
        raise _file_error("no file was given")
    return upload_source(upload, fmt)


def resolved_mapping(source: Source, mapping: dict[str, str] | None) -> dict[str, str]:
    """Return the mapping to use, refusing one that maps no column to the prompt."""
    try:
        resolved = mapping_resolve(source.columns, mapping)
    except RowError as exc:
        raise ImportValidationError([{"line": None, "field": exc.field, "message": exc.message}]) from exc
    if source.declared and not {"prompt", "messages", "chosen"} & {f for f, c in resolved.items() if c in source.columns}:
        raise _file_error(
            f"has no column for the prompt (columns: {', '.join(source.columns)}); map one to prompt or messages, "
            "or give chosen/rejected"
        )
    return resolved


class _IdRegister:
    """External ids seen so far in this file, kept on disk: memory stays flat for millions of rows.

    sqlite3 with an empty file name is a private temporary database on disk, gone when closed.
    """

    def __init__(self) -> None:
        self._db = sqlite3.connect("")
        self._db.execute("CREATE TABLE ids (id TEXT PRIMARY KEY, digest TEXT, line INTEGER)")

    def conflicts(self, rows: list[CleanRow]) -> list[tuple[CleanRow, int]]:
        """Register the rows' ids; return (row, first line) where an id already names a different prompt."""
        named = [r for r in rows if r.external_id]
        if not named:
            return []
        self._db.executemany("INSERT OR IGNORE INTO ids VALUES (?, ?, ?)", [(r.external_id, r.content_hash[:16], r.line) for r in named])
        ids = list({r.external_id for r in named})
        first = {}
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            query = f"SELECT id, digest, line FROM ids WHERE id IN ({','.join('?' * len(chunk))})"
            first.update((i, (d, n)) for i, d, n in self._db.execute(query, chunk))
        return [(r, first[r.external_id][1]) for r in named if first[r.external_id][0] != r.content_hash[:16]]

    def close(self) -> None:
        self._db.close()


class _Checker:
    """Check rows batch by batch, remembering what the whole file needs (duplicate ids)."""

    def __init__(self, project: Project, mapping: dict[str, str]) -> None:
        self.k, self.mapping = project.k, mapping
        self.problems: list[Problem] = []
        self.count = 0
        self.ids = _IdRegister()

    def batch(self, batch: list[tuple[int, Any]]) -> list[CleanRow]:
        clean: list[CleanRow] = []
        for line, row in batch:
            try:
                if isinstance(row, RowError):
                    raise row
                clean.append(clean_row(mapped(row, self.mapping), line, self.k))
            except RowError as exc:
                self._problem(line, exc.field, exc.message)
        # An external id given to two different prompts in one file is refused, naming both lines.
        for row, line in self.ids.conflicts(clean):
            self._problem(row.line, "id", f"{row.external_id!r} is also the id of a different prompt on line {line}; ids must be unique")
        return clean

    def _problem(self, line: int | None, field: str, message: str) -> None:
        self.count += 1
        if len(self.problems) < MAX_ERRORS_SHOWN:
            self.problems.append({"line": line, "field": field, "message": message})


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
            [
                NewResponse(text, model_name=model, generation_params={"import": params} if params else {})
                for (text, model), params in zip(r.responses or [], r.response_params or [{}] * len(r.responses or []), strict=True)
            ],
            gold_position=r.gold,
        )
        for r in todo
    ]
    comparisons = comparisons_create(project=project, items=items, source="import")
    return len(comparisons)


def _write(project: Project, rows: list[CleanRow], result: ImportResult) -> None:
    """Write one checked batch (call inside the import's transaction) and count what it added."""
    ids, existed = _prompt_ids(project, rows)
    comparisons = _create_comparisons(project, rows, ids, set(ids.values()))
    created = len(ids) - len(existed)
    with_responses = sum(1 for r in rows if r.responses is not None)
    result.rows += len(rows)
    result.created_prompts += created
    result.skipped_duplicates += len(rows) - created
    result.created_comparisons += comparisons
    result.skipped_comparisons += with_responses - comparisons
    result.dialogues += sum(1 for r in rows if r.completion)
    # A dialogue ending with an assistant turn is also a demonstration, for a manager to review (new prompts only,
    # so importing the same file twice adds none).
    new_dialogues = [r.messages + [{"role": "assistant", "content": r.completion}]
                     for r in rows if r.completion and ids[r.content_hash] not in existed]
    if new_dialogues:
        from labeling.services.demonstrations import demonstrations_import

        demonstrations_import(project=project, dialogues=new_dialogues)
    result.pairs += sum(1 for r in rows if r.response_params)


def _run(project: Project, source: Source, mapping: dict[str, str], progress: Progress | None) -> ImportResult:
    shown = {f: c for f, c in mapping.items() if c in source.columns}  # what the file's columns went to
    checker, result = _Checker(project, mapping), ImportResult(mapping=shown)
    seen = 0
    try:
        for batch in source.batches():
            clean = checker.batch(batch)
            if not checker.count:
                _write(project, clean, result)
            seen += len(batch)
            if progress:
                progress(seen, source.total)
    finally:
        checker.ids.close()
    if progress and source.total is None:
        progress(seen, seen)
    if checker.count:
        raise ImportValidationError(sorted(checker.problems, key=lambda p: p["line"] or 0), total=checker.count, unit=source.unit)
    if not result.rows:
        raise _file_error("has no rows to import")
    return result


def prompts_import(
    *,
    project: Project,
    upload: Any = None,
    rows: Iterable[Any] | None = None,
    fmt: str | None = None,
    user: AbstractBaseUser | None = None,
    source: Source | None = None,
    mapping: dict[str, str] | None = None,
    progress: Progress | None = None,
) -> ImportResult:
    """Import a source (or a JSONL/CSV upload, or a list of row dicts) atomically, through a column mapping.

    Rows carrying exactly K responses also create a comparison, chosen/rejected rows a 2-response
    one. Raises ImportValidationError (nothing written) when any row is bad, the mapping or the
    file is unusable, too big or not UTF-8. `mapping` None uses the suggested one.
    """
    try:
        source = source or _source(upload, rows, fmt)
    except SourceError as exc:
        raise _file_error(str(exc)) from exc
    resolved = resolved_mapping(source, mapping)
    try:
        with transaction.atomic():
            result = _run(project, source, resolved, progress)
    except IntegrityError as exc:
        # Only a concurrent import of the same prompts gets here (the hash is unique per project).
        raise _file_error("another import of the same prompts ran at the same time; upload again") from exc
    except SourceError as exc:
        raise _file_error(str(exc)) from exc
    logger.info("import of %s into %s by %s: %s", source.name, project.slug, getattr(user, "username", None), result)
    return result
