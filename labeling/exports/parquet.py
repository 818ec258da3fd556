"""Parquet files built in the same pass as the JSONL, one row group at a time.

Rows arrive as blocks (a comparison's preference pairs, or dict rows). Preference blocks are
turned into Arrow columns directly; dict rows (SFT, prompt exports: one per comparison or
prompt) are parsed from their JSON lines in C++. The files are byte-for-byte what parsing the
finished JSONL gave before, in the same row groups of PARQUET_ROW_GROUP rows.
"""

from __future__ import annotations

import array
import itertools
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json
import pyarrow.parquet as pq

from labeling.exports.formats import MESSAGE, DictRows, PreferenceBlock
from labeling.exports.split import SPLITS

PARQUET_ROW_GROUP = 10_000
_ZERO = struct.pack("=i", 0)


def _numbers(kind: pa.DataType, values: array.array | bytes) -> pa.Array:
    """Return a fixed-width Arrow array over packed numbers (no copy)."""
    return pa.Array.from_buffers(kind, memoryview(values).nbytes // kind.byte_width, [None, pa.py_buffer(values)])


def _packed(kind: pa.DataType, code: str, values: Sequence[Any]) -> pa.Array:
    """Return a fixed-width Arrow array of Python numbers (struct packs faster than array.array)."""
    return _numbers(kind, struct.pack(f"={len(values)}{code}", *values))


def _offsets(sizes: pa.Array) -> pa.Array:
    """Return int32 list/string offsets: 0, then the running total of the sizes (summed in C++, checked)."""
    return pa.concat_arrays([_numbers(pa.int32(), _ZERO), pc.cumulative_sum_checked(sizes)])


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
    return pa.ListArray.from_arrays(one_each, pa.StructArray.from_arrays([texts, roles], fields=list(MESSAGE)))


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

        def response(which: list[int]) -> pa.Array:
            # Response ids are primary keys, unique within a batch: look them up in C++, not per row in Python.
            picked = texts.take(pc.index_in(_packed(pa.int64(), "q", which), value_set=ids))
            return picked if self._standard else _one_message(picked, "assistant")

        if self._standard:
            prompts = _strings(text["prompt"])
        else:
            messages = pa.StructArray.from_arrays([_strings(text["content"]), _strings(text["role"])], fields=list(MESSAGE))
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
        self._directory = directory
        self._writers: dict[str, pq.ParquetWriter] = {}  # opened with a split's first row group: no empty files

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
            if split not in self._writers:
                self._writers[split] = pq.ParquetWriter(self._directory / f"{split}.parquet", self._schema, compression="zstd")
            self._writers[split].write_table(table.slice(0, rows), row_group_size=PARQUET_ROW_GROUP)
        self._carry[split] = table.slice(rows)

    def close(self) -> None:
        for split in SPLITS:
            if len(self._pending[split]) or self._carry[split].num_rows:
                self._flush(split, final=True)
        for writer in self._writers.values():
            writer.close()
