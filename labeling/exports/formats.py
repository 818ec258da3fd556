"""Rows and files: TRL preference rows, verl prompt rows, SFT rows; JSONL, CSV, save_to_disk (Parquet: parquet.py).

Every writer is incremental (one row or one row group at a time) and deterministic: sorted
keys, fixed column order, no timestamps of the export itself inside data files.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import json
import os
import re
import shutil
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import pyarrow as pa

from labeling.exports.split import SPLITS

WRITE_BUFFER = 1 << 20
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)  # fixed member times keep the zip byte-identical
# A cell a spreadsheet runs: "=" always; "+", "-", "@" when a formula follows (no space after
# the sign, or a function call / DDE pipe on the first line), so "- **bold** item" stays exact.
_FORMULA_ALWAYS = ("=", "\t", "\r")
_FORMULA_SIGNS = ("+", "-", "@")
_FORMULA_BODY = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*\(|\|")  # NAME( calls a function; | is DDE

MESSAGE = pa.struct([("content", pa.string()), ("role", pa.string())])
_MESSAGES = pa.list_(MESSAGE)
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
            ("datasource", pa.string()),
            ("extra_info", pa.struct([("index", pa.int64()), ("prompt_id", pa.int64()), ("split", pa.string()), ("tags", pa.list_(pa.string()))])),
            ("prompt", _MESSAGES),
            ("prompt_id", pa.int64()),
            ("reference", pa.string()),
            ("reward_model", pa.struct([("ground_truth", pa.string()), ("style", pa.string())])),
        ]
    elif kind == "sft":
        fields = [*_PROVENANCE, ("messages", _MESSAGES), ("response_id", pa.int64())]
    elif kind == "kto":  # one judged answer per row (TRL's unpaired preference form)
        fields = [*_PROVENANCE, ("completion", _MESSAGES), ("label", pa.bool_()), ("prompt", _MESSAGES), ("response_id", pa.int64())]
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
    """Write one JSON object per line to <split>.jsonl; a split without rows gets no file."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._files: dict[str, TextIO] = {}

    def write(self, split: str, rows: PreferenceBlock | DictRows) -> None:
        handle = self._files.get(split)
        if handle is None:
            # A large buffer: a few hundred bytes per row add up to many small write calls otherwise.
            handle = self._files[split] = open(self._directory / f"{split}.jsonl", "w", encoding="utf-8", newline="\n", buffering=WRITE_BUFFER)
        handle.write(rows.jsonl())

    def close(self) -> None:
        for handle in self._files.values():
            handle.close()


def is_formula(text: str) -> bool:
    """Say whether a spreadsheet would run this cell as a formula (OWASP CSV injection)."""
    if text.startswith(_FORMULA_ALWAYS):
        return True
    if not text.startswith(_FORMULA_SIGNS):
        return False
    rest = text[1:]
    if rest[:1] and not rest[:1].isspace():
        return True  # "-2+3", "+cmd|...", "@SUM(...)"
    return bool(_FORMULA_BODY.search(rest.split("\n", 1)[0]))


def csv_cell(value: Any) -> Any:
    """Encode one CSV cell: lists/objects as JSON text, formula cells prefixed with a quote."""
    if isinstance(value, list | dict):
        value = dumps(value) if isinstance(value, dict) else json.dumps(value, ensure_ascii=False, sort_keys=True)
    if isinstance(value, str) and is_formula(value):
        return "'" + value
    return value


class CsvSink:
    """Write <split>.csv with one column per field; lists and objects (chat messages) as JSON text."""

    def __init__(self, directory: Path, schema: pa.Schema) -> None:
        self._directory = directory
        self._columns = schema.names
        self._handles: dict[str, TextIO] = {}
        self._writers: dict[str, Any] = {}

    def _writer(self, split: str) -> Any:
        if split not in self._writers:
            handle = self._handles[split] = open(self._directory / f"{split}.csv", "w", encoding="utf-8", newline="")
            self._writers[split] = csv.writer(handle, lineterminator="\n")
            self._writers[split].writerow(self._columns)
        return self._writers[split]

    def write(self, split: str, rows: PreferenceBlock | DictRows) -> None:
        self._writer(split).writerows([csv_cell(row[c]) for c in self._columns] for row in rows.dicts())

    def close(self) -> None:
        for handle in self._handles.values():
            handle.close()


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
