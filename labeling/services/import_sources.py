"""Where import rows come from, and the column mapping that turns them into PrefLoop's fields.

A Source reads rows in batches, again from the start each time it is asked (a preview reads a
few, the import all of them), so a 1M-row Parquet file or `datasets` folder is never held in
memory: Parquet is read a row batch at a time, a `datasets` folder is memory-mapped Arrow.
A Hugging Face Hub id goes through `datasets.load_dataset` into the local cache and is then
read exactly like a local folder.
"""

from __future__ import annotations

import shutil
import uuid
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labeling.services.import_rows import RowError, parse_csv, parse_jsonl

BATCH_ROWS = 1000
FIELDS = ("prompt", "messages", "chosen", "rejected", "margin", "responses", "gold", "id", "tags", "reference")
# Column names other datasets use for PrefLoop's fields, tried in order when a field has no column of its name.
ALIASES = {
    "prompt": ("question", "instruction", "problem", "query", "input"),
    "messages": ("conversations", "conversation", "dialogue", "chat"),
    "reference": ("answer", "solution", "ground_truth", "reward_model.ground_truth"),
    "tags": ("extra_info.tags",),
}

Batch = list[tuple[int, Any]]  # (1-based row or line number, row dict or RowError)


class SourceError(ValueError):
    """The source cannot be read at all (missing, offline, not a dataset)."""


@dataclass
class Source:
    """Rows to import: a name for messages, column names, a row count when known, a batch reader."""

    name: str
    columns: list[str]
    total: int | None
    batches: Callable[[], Iterator[Batch]]
    unit: str = "row"  # what the numbers in errors count: "line" for JSONL/CSV, "row" for tables
    declared: bool = True  # columns come from a header or schema (not guessed from the first rows)


def _numbered(rows: Iterator[tuple[int, Any]]) -> Iterator[Batch]:
    batch: Batch = []
    for item in rows:
        batch.append(item)
        if len(batch) >= BATCH_ROWS:
            yield batch
            batch = []
    if batch:
        yield batch


def text_source(name: str, text: str, fmt: str) -> Source:
    """Return a JSONL or CSV text as a source (its numbers are file lines)."""
    parse = parse_csv if fmt == "csv" else parse_jsonl
    columns: dict[str, None] = {}
    for _, row in zip(range(100), parse(text), strict=False):
        if isinstance(row[1], dict):
            columns.update(dict.fromkeys(row[1]))
    return Source(name=name, columns=list(columns), total=None, batches=lambda: _numbered(parse(text)), unit="line", declared=fmt == "csv")


def rows_source(rows: list[Any]) -> Source:
    """Return rows given as a list (the API's JSON body) as a source."""
    columns = list(dict.fromkeys(k for r in rows[:100] if isinstance(r, dict) for k in r))
    return Source(name="rows", columns=columns, total=len(rows), batches=lambda: _numbered(iter(enumerate(rows, start=1))), declared=False)


def _arrow_columns(schema: Any) -> list[str]:
    """Return top-level column names plus `struct.field` for one level of struct fields."""
    import pyarrow as pa

    names = []
    for field in schema:
        names.append(field.name)
        if pa.types.is_struct(field.type):
            names.extend(f"{field.name}.{child.name}" for child in field.type)
    return names


def _table_batches(batches: Iterator[Any]) -> Iterator[Batch]:
    start = 1
    for record_batch in batches:
        rows = record_batch.to_pylist()
        yield list(enumerate(rows, start=start))
        start += len(rows)


def parquet_source(path: Path | str, name: str = "") -> Source:
    """Return a Parquet file as a source, read one row batch at a time."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        meta = pq.ParquetFile(path)
    except (OSError, pa.ArrowInvalid) as exc:
        raise SourceError(f"is not a readable Parquet file ({exc})") from exc
    return Source(
        name=name or Path(path).name,
        columns=_arrow_columns(meta.schema_arrow),
        total=meta.metadata.num_rows,
        batches=lambda: _table_batches(pq.ParquetFile(path).iter_batches(batch_size=BATCH_ROWS)),
    )


def dataset_source(dataset: Any, name: str) -> Source:
    """Return a `datasets.Dataset` as a source (memory-mapped Arrow, read a batch at a time)."""
    table = dataset.with_format("arrow")
    return Source(
        name=name,
        columns=_arrow_columns(dataset.features.arrow_schema),
        total=len(dataset),
        batches=lambda: _table_batches(b for t in table.iter(batch_size=BATCH_ROWS) for b in t.to_batches()),
    )


def _pick_split(data: Any, split: str | None, name: str) -> Any:
    from datasets import DatasetDict

    if not isinstance(data, DatasetDict):
        return data
    splits = sorted(data)
    chosen = split or ("train" if "train" in data else splits[0] if len(splits) == 1 else None)
    if chosen not in data:
        raise SourceError(f"{name} has splits {', '.join(splits)}; say which one to import (split)")
    return data[chosen]


def folder_source(path: Path | str, *, split: str | None = None, name: str = "") -> Source:
    """Return a `datasets.save_to_disk` folder (a Dataset or a DatasetDict) as a source."""
    from datasets import load_from_disk

    name = name or Path(path).name
    try:
        data = load_from_disk(str(path))
    except (FileNotFoundError, ValueError, OSError) as exc:
        raise SourceError(f"{name} is not a datasets folder written by save_to_disk ({exc})") from exc
    picked = _pick_split(data, split, name)
    return dataset_source(picked, f"{name} [{split or 'train'}]" if picked is not data else name)


def unzip_dataset(archive: Path, target: Path) -> Path:
    """Extract a zipped save_to_disk folder (e.g. a snapshot's hf.zip) safely; return the dataset folder."""
    target.mkdir(parents=True, exist_ok=True)
    try:
        with zipfile.ZipFile(archive) as zipped:
            for member in zipped.infolist():
                out = (target / member.filename).resolve()
                if target.resolve() not in out.parents and out != target.resolve():
                    raise SourceError(f"the zip holds a path outside its folder: {member.filename!r}")
            zipped.extractall(target)
    except zipfile.BadZipFile as exc:
        raise SourceError("is not a zip file") from exc
    markers = sorted(p.parent for p in target.rglob("*") if p.name in ("dataset_dict.json", "state.json"))
    if not markers:
        raise SourceError("the zip holds no datasets folder (no dataset_dict.json or state.json)")
    return min(markers, key=lambda p: len(p.parts))  # a DatasetDict's folder holds its splits' folders


def hub_offline() -> bool:
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def hub_source(repo_id: str, *, split: str | None = None, config: str | None = None) -> Source:
    """Download a Hub dataset into the local cache and read it as a local folder is read."""
    from datasets import load_dataset

    if hub_offline():
        raise SourceError(
            f"cannot fetch {repo_id!r}: this machine is offline (HF_HUB_OFFLINE=1). On a machine that is online run "
            f"datasets.load_dataset({repo_id!r}).save_to_disk('folder') and import that folder (or its zip)"
        )
    try:
        data = load_dataset(repo_id, name=config or None)
    except Exception as exc:  # datasets raises many kinds (not found, gated, network): report any of them
        raise SourceError(f"cannot load {repo_id!r} from the Hugging Face Hub: {exc.__class__.__name__}: {exc}") from exc
    return dataset_source(_pick_split(data, split, repo_id), f"{repo_id} [{split or 'train'}]")


def staging_dir(root: Path) -> Path:
    """Return a fresh directory under root for one upload; remove ones older than a day."""
    import time

    root.mkdir(parents=True, exist_ok=True)
    for old in root.iterdir():
        if old.is_dir() and time.time() - old.stat().st_mtime > 86400:
            shutil.rmtree(old, ignore_errors=True)
    path = root / uuid.uuid4().hex
    path.mkdir()
    return path


# Column mapping -----------------------------------------------------------------------------


def mapping_suggest(columns: list[str]) -> dict[str, str]:
    """Map each PrefLoop field to the column of its name, else to the first alias present."""
    present = set(columns)
    mapping = {}
    for name in FIELDS:
        found = next((c for c in (name, *ALIASES.get(name, ())) if c in present), None)
        if found:
            mapping[name] = found
        else:
            mapping[name] = name  # absent here; a later JSONL row may still have it
    if mapping["messages"] in present and mapping["prompt"] != "prompt":
        mapping["prompt"] = "prompt"  # an alias such as "input" beside a chat column is not the prompt
    return mapping


def mapping_resolve(columns: list[str], mapping: dict[str, str] | None) -> dict[str, str]:
    """Check a user's mapping {field: column} ("" leaves a field out); None means the suggestion."""
    if mapping is None:
        return mapping_suggest(columns)
    if not isinstance(mapping, dict):
        raise RowError("mapping", "must be an object {field: column}")
    resolved = {}
    for name, column in mapping.items():
        if name not in FIELDS:
            raise RowError("mapping", f"unknown field {name!r}; fields are {', '.join(FIELDS)}")
        if column in (None, ""):
            continue
        if not isinstance(column, str) or (columns and column not in columns):
            raise RowError(f"mapping.{name}", f"no column {column!r} in this file (columns: {', '.join(columns) or 'none'})")
        resolved[name] = column
    return resolved


def _lookup(row: dict[str, Any], column: str) -> Any:
    if column in row:
        return row[column]
    head, _, rest = column.partition(".")
    inner = row.get(head)
    return inner.get(rest) if rest and isinstance(inner, dict) else None


def mapped(row: Any, mapping: dict[str, str]) -> Any:
    """Return the row with PrefLoop's field names (rows that are not objects pass through for the checker)."""
    if not isinstance(row, dict):
        return row
    return {name: _lookup(row, column) for name, column in mapping.items()}
