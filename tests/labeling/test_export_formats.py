"""The fast writers against the plain ones: hand-assembled JSON lines and column-built Parquet."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from labeling.exports import parquet
from labeling.exports.formats import DictRows, JsonlSink, PreferenceBlock, clean_messages, prompt_text, schema_for
from labeling.exports.parquet import ParquetSink

TRICKY = ['plain', 'quote " and backslash \\ and slash /', "new\nline\ttab\r\x00\x1f", "café ünïcode", "emoji 🙂 outside the BMP",
          "line separator \u2028 and \u2029", "", "<script>alert(1)</script>", "=1+2"]


def lines(text: str) -> list[str]:
    # Not splitlines(): that also cuts at U+2028, which JSON (ensure_ascii=False) leaves raw.
    return text.split("\n")[:-1]


def blocks(style: str) -> list[PreferenceBlock]:
    """Three comparisons with awkward text, several pairs each, one pair from two rankings."""
    out = []
    for n in range(3):
        messages = clean_messages([{"role": "system", "content": TRICKY[n]}, {"role": "user", "content": TRICKY[n + 3]}, "not a message"])
        responses = {100 * n + k: TRICKY[(n + k) % len(TRICKY)] for k in range(4)}
        block = PreferenceBlock(prompt=prompt_text(messages) if style == "standard" else messages, responses=responses, style=style,
                                comparison_id=n + 1, prompt_id=10 + n, policy_version=TRICKY[n + 4])
        ids = list(responses)
        block.add("a-1", ids[0], ids[1], "2026-01-02T03:04:05.123456Z", 1, (7,))
        block.add("a-1,a-2", ids[0], ids[3], "2026-01-02T03:04:05Z", 0.1 + 0.2, (7, 8 + n))
        block.add("a-ü", ids[2], ids[1], "2026-01-02T03:04:05Z", -2.5e-7, (2**40,))
        out.append(block)
    return out


@pytest.mark.parametrize("style", ["conversational", "standard"])
def test_block_lines_are_exactly_what_json_dumps_writes(style):
    for block in blocks(style):
        expected = "".join(json.dumps(row, sort_keys=True, ensure_ascii=False, separators=(",", ":")) + "\n" for row in block.dicts())
        assert block.jsonl() == expected
        assert [json.loads(line) for line in lines(block.jsonl())] == block.dicts()


@pytest.mark.parametrize("style", ["conversational", "standard"])
def test_parquet_built_from_columns_holds_the_same_rows_in_even_row_groups(style, tmp_path, monkeypatch):
    monkeypatch.setattr(parquet, "PARQUET_ROW_GROUP", 4)  # 9 rows in blocks of 3: row groups cut across comparisons
    schema = schema_for("preference", style)
    sink, jsonl = ParquetSink(tmp_path, schema, kind="preference"), JsonlSink(tmp_path)
    for block in blocks(style):
        sink.write("train", block)
        jsonl.write("train", block)
    sink.close()
    jsonl.close()
    table = pq.read_table(tmp_path / "train.parquet")
    assert table.schema.remove_metadata() == schema
    assert table.to_pylist() == [json.loads(line) for line in lines((tmp_path / "train.jsonl").read_text(encoding="utf-8"))]
    assert [pq.ParquetFile(tmp_path / "train.parquet").metadata.row_group(i).num_rows for i in range(3)] == [4, 4, 1]
    assert not (tmp_path / "test.parquet").exists() and not (tmp_path / "test.jsonl").exists()  # no 0-row files


def test_parquet_of_dict_rows_matches_their_lines(tmp_path):
    schema = schema_for("sft", "conversational")
    row = {"annotator": "a-1", "comparison_id": 1, "created_at": "2026-01-02T03:04:05Z", "policy_version": "p", "prompt_id": 2,
           "ranking_ids": [3, 4], "messages": [{"content": TRICKY[2], "role": "user"}, {"content": TRICKY[4], "role": "assistant"}], "response_id": 5}
    sink = ParquetSink(tmp_path, schema, kind="sft")
    sink.write("train", DictRows([row, {**row, "comparison_id": 6}]))
    sink.close()
    assert pq.read_table(tmp_path / "train.parquet").to_pylist() == [row, {**row, "comparison_id": 6}]
