"""Rows and files: TRL preference rows, verl prompt rows, SFT rows; JSONL, Parquet, CSV, save_to_disk.

Every writer is incremental (one row or one row group at a time) and deterministic: sorted
keys, fixed column order, no timestamps of the export itself inside data files.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import itertools
import json
import os
import shutil
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import pyarrow as pa
import pyarrow.json as pa_json
import pyarrow.parquet as pq

from labeling.exports.split import SPLITS

PARQUET_ROW_GROUP = 10_000
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)  # fixed member times keep the zip byte-identical
CSV_DANGEROUS = ("=", "+", "-", "@", "\t", "\r")

_MESSAGE = pa.struct([("content", pa.string()), ("role", pa.string())])
_MESSAGES = pa.list_(_MESSAGE)
_PROVENANCE = [
    ("annotator", pa.string()),
    ("comparison_id", pa.int64()),
    ("created_at", pa.string()),
    ("policy_version", pa.string()),
    ("prompt_id", pa.int64()),
    ("ranking_ids", pa.list_(pa.int64())),
]


def sha256_file(path: Path) -> str:
    """Return a file's sha256, reading it in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def schema_for(kind: str, style: str) -> pa.Schema:
    """Return the fixed Arrow schema of a snapshot kind (fields in sorted order, like the JSON)."""
    if kind == "prompt":
        fields = [
            ("ability", pa.string()),
            ("data_source", pa.string()),
            ("extra_info", pa.struct([("index", pa.int64()), ("prompt_id", pa.int64()), ("split", pa.string()), ("tags", pa.list_(pa.string()))])),
            ("prompt", _MESSAGES),
            ("prompt_id", pa.int64()),
            ("reference", pa.string()),
            ("reward_model", pa.struct([("ground_truth", pa.string()), ("style", pa.string())])),
        ]
    elif kind == "sft":
        fields = [*_PROVENANCE, ("messages", _MESSAGES), ("response_id", pa.int64())]
    else:
        text = pa.string() if style == "standard" else _MESSAGES
        fields = [*_PROVENANCE, ("chosen", text), ("margin", pa.float64()), ("prompt", text), ("rejected", text)]
    return pa.schema(sorted(fields))


def clean_messages(messages: Any) -> list[dict[str, str]]:
    """Keep role and content of each chat message, as strings (one schema for every row)."""
    return [{"content": str(m.get("content", "")), "role": str(m.get("role", ""))} for m in messages or () if isinstance(m, dict)]


def prompt_text(messages: list[dict[str, str]]) -> str:
    """Render chat messages as one string for TRL's standard (non-chat) form."""
    if len(messages) == 1:
        return messages[0]["content"]
    return "\n\n".join(f"{m['role']}: {m['content']}" for m in messages)


def timestamp(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


# One encoder for every row: json.dumps would build a new one per call.
_ENCODER = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def dumps(row: dict[str, Any]) -> str:
    return _ENCODER.encode(row)


class PreferenceLines:
    """Encode one comparison's preference rows straight to JSON lines.

    The prompt and each response are encoded once per comparison instead of once per pair,
    which roughly halves the cost of the JSONL pass. The output is byte-for-byte what
    dumps(row) gives for the same row (keys in sorted order); a test holds it to that.
    """

    def __init__(self, *, prompt: Any, responses: dict[int, str], style: str, comparison_id: int, prompt_id: int, policy_version: str) -> None:
        enc = _ENCODER.encode
        self._responses = {
            rid: enc(text if style == "standard" else [{"content": text, "role": "assistant"}]) for rid, text in responses.items()
        }
        self._after_chosen = f',"comparison_id":{int(comparison_id)},"created_at":'
        self._after_margin = f',"policy_version":{enc(policy_version)},"prompt":{enc(prompt)},"prompt_id":{int(prompt_id)},"ranking_ids":'

    def line(self, *, annotator: str, chosen_id: int, rejected_id: int, created_at: str, margin: float, ranking_ids: list[int]) -> str:
        """Return the row as one JSON line (without the newline)."""
        # json writes a finite float as repr(float) and an int list without spaces: same bytes, less work.
        return "".join((
            '{"annotator":', _json_string(annotator), ',"chosen":', self._responses[chosen_id], self._after_chosen,
            _json_string(created_at), ',"margin":', repr(float(margin)), self._after_margin,
            "[", ",".join(map(str, ranking_ids)), '],"rejected":', self._responses[rejected_id], "}",
        ))


@functools.lru_cache(maxsize=4096)
def _json_string(value: str) -> str:
    """Encode a short repeated string (annotator pseudonym, timestamp) once."""
    return _ENCODER.encode(value)


class JsonlSink:
    """Write one JSON object per line to <split>.jsonl."""

    def __init__(self, directory: Path) -> None:
        self._files: dict[str, TextIO] = {s: open(directory / f"{s}.jsonl", "w", encoding="utf-8", newline="\n") for s in SPLITS}

    def write(self, split: str, row: dict[str, Any]) -> None:
        self._files[split].write(dumps(row) + "\n")

    def write_line(self, split: str, line: str) -> None:
        self._files[split].write(line + "\n")

    def close(self) -> None:
        for handle in self._files.values():
            handle.close()


def _line_chunks(path: Path, lines: int) -> Iterator[bytes]:
    """Yield the file's bytes in chunks of whole lines."""
    with open(path, "rb") as handle:
        while chunk := b"".join(itertools.islice(handle, lines)):
            yield chunk


def jsonl_to_parquet(directory: Path, *, schema: pa.Schema) -> None:
    """Convert each <split>.jsonl to <split>.parquet, one row group of PARQUET_ROW_GROUP lines at a time.

    Parsing the finished JSONL in C++ is several times faster than building Arrow tables from
    Python dicts. We cut the file into line chunks ourselves because Arrow's streaming JSON
    reader parses ahead without bound (its memory grew with the file in our measurements).
    """
    options = pa_json.ParseOptions(explicit_schema=schema, unexpected_field_behavior="error")
    for split in SPLITS:
        with pq.ParquetWriter(directory / f"{split}.parquet", schema, compression="zstd") as writer:
            wrote = False
            for chunk in _line_chunks(directory / f"{split}.jsonl", PARQUET_ROW_GROUP):
                table = pa_json.read_json(pa.BufferReader(chunk), read_options=pa_json.ReadOptions(use_threads=False), parse_options=options)
                writer.write_table(table.select(schema.names).cast(schema), row_group_size=PARQUET_ROW_GROUP)
                wrote = True
            if not wrote:
                writer.write_table(schema.empty_table())


def csv_cell(value: Any) -> Any:
    """Neutralise a cell a spreadsheet would run as a formula (OWASP CSV injection)."""
    if isinstance(value, list | dict):
        value = dumps(value) if isinstance(value, dict) else json.dumps(value, ensure_ascii=False, sort_keys=True)
    if isinstance(value, str) and value.startswith(CSV_DANGEROUS):
        return "'" + value
    return value


class CsvSink:
    """Write <split>.csv with one column per field; nested values as JSON text."""

    def __init__(self, directory: Path, schema: pa.Schema) -> None:
        self._columns = schema.names
        self._handles = {s: open(directory / f"{s}.csv", "w", encoding="utf-8", newline="") for s in SPLITS}
        self._writers = {s: csv.writer(h, lineterminator="\n") for s, h in self._handles.items()}
        for writer in self._writers.values():
            writer.writerow(self._columns)

    def write(self, split: str, row: dict[str, Any]) -> None:
        self._writers[split].writerow([csv_cell(row[c]) for c in self._columns])

    def close(self) -> None:
        for handle in self._handles.values():
            handle.close()


def open_sinks(directory: Path, *, fmt: str, schema: pa.Schema) -> list[Any]:
    """Return the row sinks for a format; JSONL is always written so training has one input format.

    Parquet and the save_to_disk folder are made from the finished JSONL afterwards.
    """
    sinks: list[Any] = [JsonlSink(directory)]
    if fmt == "csv":
        sinks.append(CsvSink(directory, schema))
    return sinks


def save_to_disk(directory: Path, *, schema: pa.Schema, counts: dict[str, int]) -> None:
    """Build a `datasets` folder (hf/) from the JSONL files and zip it (hf.zip) for download."""
    from datasets import Dataset, DatasetDict, Features
    from datasets.utils.logging import disable_progress_bar

    disable_progress_bar()  # worker and command logs want our progress, not tqdm bars per split
    cache = directory / ".hf-cache"
    features = Features.from_arrow_schema(schema)
    parts = {}
    for split in (s for s in SPLITS if counts.get(s)):
        source = directory / f"{split}.jsonl"
        dataset = Dataset.from_json(str(source), features=features, cache_dir=str(cache))
        # datasets fingerprints from file paths and times; the content hash keeps state.json
        # (and so hf.zip) byte-identical across re-exports of the same data.
        dataset._fingerprint = sha256_file(source)[:16]
        parts[split] = dataset
    DatasetDict(parts).save_to_disk(str(directory / "hf"))
    shutil.rmtree(cache, ignore_errors=True)
    zip_folder(directory / "hf", directory / "hf.zip")


def zip_folder(folder: Path, target: Path) -> None:
    """Zip a folder with sorted names and fixed times, so equal contents give equal bytes."""
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for root, dirs, files in os.walk(folder):
            dirs.sort()
            for name in sorted(files):
                path = Path(root) / name
                info = zipfile.ZipInfo(str(path.relative_to(folder.parent)), date_time=ZIP_EPOCH)
                info.compress_type = zipfile.ZIP_DEFLATED
                with open(path, "rb") as src, archive.open(info, "w") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
