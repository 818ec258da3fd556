"""Rows and files: TRL preference rows, verl prompt rows, SFT rows; JSONL, Parquet, CSV, save_to_disk.

Every writer is incremental (one row or one row group at a time) and deterministic: sorted
keys, fixed column order, no timestamps of the export itself inside data files.
"""

from __future__ import annotations

import array
import csv
import functools
import hashlib
import itertools
import json
import os
import shutil
import struct
import zipfile
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json
import pyarrow.parquet as pq

from labeling.exports.split import SPLITS

PARQUET_ROW_GROUP = 10_000
WRITE_BUFFER = 1 << 20
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
# What _ENCODER.encode does for a str; for a list it would build a new C encoder per call.
_encode_str = json.encoder.encode_basestring


def dumps(row: dict[str, Any]) -> str:
    return _ENCODER.encode(row)


def _messages_json(messages: list[dict[str, str]]) -> str:
    """Encode cleaned chat messages exactly as dumps() would (keys content, role)."""
    return "[" + ",".join([f'{{"content":{_encode_str(m["content"])},"role":{_encode_str(m["role"])}}}' for m in messages]) + "]"


@functools.lru_cache(maxsize=4096)
def _json_string(value: str) -> str:
    """Encode a short repeated string (annotator pseudonym, timestamp) once."""
    return _encode_str(value)


class DictRows:
    """Rows given as dicts (SFT and prompt exports: one row per comparison or prompt)."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows
        self._text: str | None = None

    def __len__(self) -> int:
        return len(self.rows)

    def dicts(self) -> list[dict[str, Any]]:
        return self.rows

    def jsonl(self) -> str:
        """Return the rows as JSON lines (once: JSONL and Parquet both want them)."""
        if self._text is None:
            self._text = "".join(dumps(row) + "\n" for row in self.rows)
        return self._text


class PreferenceBlock:
    """One comparison's preference rows, kept as the few values that differ per pair.

    The prompt, responses and ids are shared by every pair of a comparison, so each is
    encoded once: to JSON for the lines, and to Arrow columns (taken per row) for Parquet.
    jsonl() gives byte-for-byte what dumps() gives for the dicts() rows; a test holds it to that.
    """

    WIDTH = 6  # values per pair in `rows`: annotator, chosen_id, rejected_id, created_at, margin, ranking ids ("1,2")

    def __init__(self, *, prompt: Any, responses: dict[int, str], style: str, comparison_id: int, prompt_id: int, policy_version: str) -> None:
        self.prompt, self.responses, self.style = prompt, responses, style
        self.comparison_id, self.prompt_id, self.policy_version = comparison_id, prompt_id, policy_version
        # One flat list of plain values, not a tuple per pair: Parquet keeps the values of
        # thousands of pairs until a row group is full, and tuples held that long would make
        # the garbage collector run (and sweep the whole heap) several times as often.
        self.rows: list[Any] = []

    def __len__(self) -> int:
        return len(self.rows) // self.WIDTH

    def add(self, annotator: str, chosen_id: int, rejected_id: int, created_at: str, margin: float, ranking_ids: tuple[int, ...]) -> None:
        ids = str(ranking_ids[0]) if len(ranking_ids) == 1 else ",".join(map(str, ranking_ids))
        self.rows += (annotator, chosen_id, rejected_id, created_at, float(margin), ids)

    def pairs(self) -> Iterator[tuple[str, int, int, str, float, str]]:
        """Yield each pair's values as one tuple."""
        values = iter(self.rows)
        return zip(*[values] * self.WIDTH, strict=True)

    def _response(self, text: str) -> Any:
        return text if self.style == "standard" else [{"content": text, "role": "assistant"}]

    def dicts(self) -> list[dict[str, Any]]:
        """Return the rows as dicts (for CSV)."""
        return [
            {
                "annotator": annotator, "chosen": self._response(self.responses[chosen]), "comparison_id": self.comparison_id,
                "created_at": created_at, "margin": margin, "policy_version": self.policy_version, "prompt": self.prompt,
                "prompt_id": self.prompt_id, "ranking_ids": [int(i) for i in ids.split(",") if i], "rejected": self._response(self.responses[rejected]),
            }
            for annotator, chosen, rejected, created_at, margin, ids in self.pairs()
        ]

    def jsonl(self) -> str:
        """Return the rows as JSON lines, keys in sorted order, each ending in a newline."""
        if self.style == "standard":
            responses = {rid: _encode_str(text) for rid, text in self.responses.items()}
            prompt = _encode_str(self.prompt)
        else:
            responses = {rid: f'[{{"content":{_encode_str(text)},"role":"assistant"}}]' for rid, text in self.responses.items()}
            prompt = _messages_json(self.prompt)
        after_chosen = f',"comparison_id":{int(self.comparison_id)},"created_at":'
        after_margin = f',"policy_version":{_ENCODER.encode(self.policy_version)},"prompt":{prompt},"prompt_id":{int(self.prompt_id)},"ranking_ids":['
        js = _json_string
        # json writes a finite float as repr(float) and an int list without spaces: same bytes, less work.
        return "".join([
            f'{{"annotator":{js(a)},"chosen":{responses[c]}{after_chosen}{js(t)},"margin":{m!r}{after_margin}{ids}],"rejected":{responses[r]}}}\n'
            for a, c, r, t, m, ids in self.pairs()
        ])


class JsonlSink:
    """Write one JSON object per line to <split>.jsonl."""

    def __init__(self, directory: Path) -> None:
        # A large buffer: a few hundred bytes per row add up to many small write calls otherwise.
        self._files: dict[str, TextIO] = {
            s: open(directory / f"{s}.jsonl", "w", encoding="utf-8", newline="\n", buffering=WRITE_BUFFER) for s in SPLITS
        }

    def write(self, split: str, rows: PreferenceBlock | DictRows) -> None:
        self._files[split].write(rows.jsonl())

    def close(self) -> None:
        for handle in self._files.values():
            handle.close()


def _numbers(kind: pa.DataType, values: array.array | bytes) -> pa.Array:
    """Return a fixed-width Arrow array over packed numbers (no copy)."""
    return pa.Array.from_buffers(kind, memoryview(values).nbytes // kind.byte_width, [None, pa.py_buffer(values)])


def _packed(kind: pa.DataType, code: str, values: Sequence[Any]) -> pa.Array:
    """Return a fixed-width Arrow array of Python numbers (struct packs faster than array.array)."""
    return _numbers(kind, struct.pack(f"={len(values)}{code}", *values))


def _offsets(sizes: pa.Array) -> pa.Array:
    """Return int32 list/string offsets: 0, then the running total of the sizes (summed in C++, checked)."""
    return pa.concat_arrays([_numbers(pa.int32(), _ZERO), pc.cumulative_sum_checked(sizes)])


_ZERO = struct.pack("=i", 0)


def _strings(values: list[str]) -> pa.Array:
    """Return a string array (UTF-8 bytes and offsets)."""
    text = "".join(values)
    data = text.encode()
    # All ASCII (the usual case for ids, names and times): lengths in characters are lengths in bytes.
    sizes = list(map(len, values)) if len(data) == len(text) else [len(v.encode()) for v in values]
    return pa.StringArray.from_buffers(len(values), _offsets(_packed(pa.int32(), "i", sizes)).buffers()[1], pa.py_buffer(data))


def _id_lists(texts: list[str]) -> pa.Array:
    """Return list<int64> from comma-joined ids ("7" or "7,8"; "" for none), split and parsed in C++."""
    if "" not in texts:
        return pc.split_pattern(_strings(texts), ",").cast(pa.list_(pa.int64()))
    pieces = [t.split(",") if t else [] for t in texts]
    values = [int(i) for i in itertools.chain.from_iterable(pieces)]
    return pa.ListArray.from_arrays(_offsets(_packed(pa.int32(), "i", [len(p) for p in pieces])), _packed(pa.int64(), "q", values))


def _one_message(texts: pa.Array, role: str) -> pa.Array:
    """Wrap each text as a one-message list [{"content": text, "role": role}]."""
    count, encoded = len(texts), role.encode()
    role_ends = _offsets(_numbers(pa.int32(), struct.pack("=i", len(encoded)) * count))
    roles = pa.StringArray.from_buffers(count, role_ends.buffers()[1], pa.py_buffer(encoded * count))
    one_each = _offsets(_numbers(pa.int32(), struct.pack("=i", 1) * count))
    return pa.ListArray.from_arrays(one_each, pa.StructArray.from_arrays([texts, roles], fields=list(_MESSAGE)))


_NUMBER_COLUMNS = {"slot": "i", "comparison_id": "q", "prompt_id": "q", "message_count": "i", "response_id": "q"}
_TEXT_COLUMNS = ("policy_version", "prompt", "content", "role", "response")


class _PreferenceColumns:
    """Collect preference blocks and turn them into an Arrow table.

    Values wait in flat lists and array.arrays of strings and numbers, which the garbage
    collector does not track. Arrays are built from buffers rather than with pa.array():
    that is faster for flat values, and pa.array() imports pandas on first use (a second
    and tens of MB per process).
    """

    def __init__(self, schema: pa.Schema) -> None:
        self._schema = schema
        self._standard = schema.field("prompt").type == pa.string()
        self._clear()

    def _clear(self) -> None:
        self._rows: list[Any] = []  # the blocks' flat rows, PreferenceBlock.WIDTH values per pair
        self._num = {name: array.array(code) for name, code in _NUMBER_COLUMNS.items()}
        self._str: dict[str, list[str]] = {name: [] for name in _TEXT_COLUMNS}

    def __len__(self) -> int:
        return len(self._rows) // PreferenceBlock.WIDTH

    def add(self, block: PreferenceBlock) -> None:
        num, text = self._num, self._str
        num["slot"].extend(itertools.repeat(len(num["comparison_id"]), len(block)))  # per row: its comparison
        num["comparison_id"].append(block.comparison_id)
        num["prompt_id"].append(block.prompt_id)
        text["policy_version"].append(block.policy_version)
        if self._standard:
            text["prompt"].append(block.prompt)
        else:
            num["message_count"].append(len(block.prompt))
            text["content"].extend([m["content"] for m in block.prompt])
            text["role"].extend([m["role"] for m in block.prompt])
        num["response_id"].extend(block.responses)
        text["response"].extend(block.responses.values())
        self._rows.extend(block.rows)

    def take(self) -> pa.Table:
        """Return the collected rows as a table and start afresh."""
        num, text = self._num, self._str
        annotator, chosen, rejected, created_at, margin, ranking_ids = (self._rows[i :: PreferenceBlock.WIDTH] for i in range(PreferenceBlock.WIDTH))
        slots, ids, texts = _numbers(pa.int32(), num["slot"]), _numbers(pa.int64(), num["response_id"]), _strings(text["response"])

        def response(which: tuple[int, ...]) -> pa.Array:
            # Response ids are primary keys, unique within a batch: look them up in C++, not per row in Python.
            picked = texts.take(pc.index_in(_packed(pa.int64(), "q", which), value_set=ids))
            return picked if self._standard else _one_message(picked, "assistant")

        if self._standard:
            prompts = _strings(text["prompt"])
        else:
            messages = pa.StructArray.from_arrays([_strings(text["content"]), _strings(text["role"])], fields=list(_MESSAGE))
            prompts = pa.ListArray.from_arrays(_offsets(_numbers(pa.int32(), num["message_count"])), messages)
        columns = {
            "annotator": _strings(annotator), "chosen": response(chosen),
            "comparison_id": _numbers(pa.int64(), num["comparison_id"]).take(slots), "created_at": _strings(created_at),
            "margin": _packed(pa.float64(), "d", margin), "policy_version": _strings(text["policy_version"]).take(slots),
            "prompt": prompts.take(slots), "prompt_id": _numbers(pa.int64(), num["prompt_id"]).take(slots),
            "ranking_ids": _id_lists(ranking_ids), "rejected": response(rejected),
        }
        self._clear()
        return pa.Table.from_arrays([columns[name] for name in self._schema.names], schema=self._schema)


class _DictColumns:
    """Collect dict rows (as their JSON lines) and parse them into Arrow columns in C++."""

    def __init__(self, schema: pa.Schema) -> None:
        self._schema = schema
        self._options = pa_json.ParseOptions(explicit_schema=schema, unexpected_field_behavior="error")
        self._lines: list[str] = []
        self._rows = 0

    def __len__(self) -> int:
        return self._rows

    def add(self, block: DictRows) -> None:
        self._lines.append(block.jsonl())
        self._rows += len(block)

    def take(self) -> pa.Table:
        text, self._lines, self._rows = "".join(self._lines).encode(), [], 0
        table = pa_json.read_json(pa.BufferReader(text), read_options=pa_json.ReadOptions(use_threads=False), parse_options=self._options)
        return table.select(self._schema.names).cast(self._schema)


def _empty_table(schema: pa.Schema) -> pa.Table:
    # Not schema.empty_table(): that imports pandas.
    return pa.Table.from_batches([], schema=schema)


class ParquetSink:
    """Write <split>.parquet in row groups of PARQUET_ROW_GROUP rows, in the same pass as the JSONL.

    Rows arrive a comparison at a time; the few past a row group's end wait for the next one,
    so memory holds at most about one row group per split.
    """

    def __init__(self, directory: Path, schema: pa.Schema, *, kind: str) -> None:
        self._schema = schema
        columns = _PreferenceColumns if kind == "preference" else _DictColumns
        self._pending = {s: columns(schema) for s in SPLITS}
        self._carry = {s: _empty_table(schema) for s in SPLITS}
        self._writers = {s: pq.ParquetWriter(directory / f"{s}.parquet", schema, compression="zstd") for s in SPLITS}
        self._wrote = dict.fromkeys(SPLITS, False)

    def write(self, split: str, rows: PreferenceBlock | DictRows) -> None:
        pending = self._pending[split]
        pending.add(rows)
        if len(pending) + self._carry[split].num_rows >= PARQUET_ROW_GROUP:
            self._flush(split, final=False)

    def _flush(self, split: str, *, final: bool) -> None:
        """Write whole row groups of the collected rows (and the rest too when final)."""
        parts = [self._carry[split]]
        if len(self._pending[split]):
            parts.append(self._pending[split].take())
        table = pa.concat_tables(parts)
        rows = table.num_rows if final else table.num_rows - table.num_rows % PARQUET_ROW_GROUP
        if rows:
            self._writers[split].write_table(table.slice(0, rows), row_group_size=PARQUET_ROW_GROUP)
            self._wrote[split] = True
        self._carry[split] = table.slice(rows)

    def close(self) -> None:
        for split, writer in self._writers.items():
            if len(self._pending[split]) or self._carry[split].num_rows:
                self._flush(split, final=True)
            if not self._wrote[split]:
                writer.write_table(_empty_table(self._schema))
            writer.close()


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

    def write(self, split: str, rows: PreferenceBlock | DictRows) -> None:
        self._writers[split].writerows([csv_cell(row[c]) for c in self._columns] for row in rows.dicts())

    def close(self) -> None:
        for handle in self._handles.values():
            handle.close()


def open_sinks(directory: Path, *, fmt: str, kind: str, schema: pa.Schema) -> list[Any]:
    """Return the row sinks for a format; JSONL is always written so training has one input format.

    The save_to_disk folder is made from the finished JSONL afterwards.
    """
    sinks: list[Any] = [JsonlSink(directory)]
    if fmt == "csv":
        sinks.append(CsvSink(directory, schema))
    elif fmt == "parquet":
        sinks.append(ParquetSink(directory, schema, kind=kind))
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
