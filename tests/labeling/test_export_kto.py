"""KTO exports: one judged answer per row — the top group desirable, the bottom group and all-bad undesirable."""

from __future__ import annotations

import json

from labeling.exports.demos import kto_labels
from labeling.exports.services import snapshot_create, snapshot_file
from tests.factories import add_member, make_comparison, make_prompt, make_user
from tests.labeling.test_export_snapshots import rank


def test_kto_labels_from_a_ranking() -> None:
    responses = {1: "a", 2: "b", 3: "c", 4: "d"}
    assert kto_labels([[1], [2, 3], [4]], [], responses) == [(1, True), (4, False)]
    assert kto_labels([[1, 2], [3, 4]], [], responses) == [(1, True), (2, True), (3, False), (4, False)]
    assert kto_labels([[1, 2, 3, 4]], [], responses) == [], "all tied: nothing to learn"
    assert kto_labels([[1], [2]], ["all_bad"], responses) == [(1, False), (2, False)]


def test_kto_snapshot_rows_are_what_the_kto_job_reads(project) -> None:
    annotator = make_user()
    add_member(project, annotator)
    good = make_comparison(project, prompt=make_prompt(project, "Explain tides."), texts=["Moon pulls water.", "Meh.", "Fish.", "?"])
    rank(good, annotator, [[0], [1], [2], [3]])
    bad = make_comparison(project, prompt=make_prompt(project, "Explain wind."), texts=["Air.", "No.", "Hm.", "?"])
    rank(bad, annotator, [[0], [1], [2], [3]], flags=["all_bad"])
    snapshot = snapshot_create(project=project, params={"kind": "kto", "test_fraction": 0, "exclude_flags": ["unsafe"]})
    rows = [json.loads(line) for line in snapshot_file(snapshot, "train").read_text().splitlines()]
    judged = sorted((r["completion"][0]["content"], r["label"]) for r in rows)
    assert judged == sorted([("Moon pulls water.", True), ("?", False), ("Air.", False), ("No.", False), ("Hm.", False), ("?", False)])
    assert all(r["prompt"][0]["role"] == "user" and isinstance(r["label"], bool) for r in rows)
    default = snapshot_create(project=project, params={"kind": "kto", "test_fraction": 0})
    assert default.row_count == 2, "all-bad rankings are excluded unless the flag filter lets them in"


def test_kto_snapshot_writes_parquet_with_a_boolean_label(project) -> None:
    import pyarrow.parquet as pq

    annotator = make_user()
    add_member(project, annotator)
    rank(make_comparison(project, texts=["Good.", "Bad."]), annotator, [[0], [1]])
    snapshot = snapshot_create(project=project, params={"kind": "kto", "test_fraction": 0, "format": "parquet"})
    table = pq.read_table(snapshot_file(snapshot, "train").with_suffix(".parquet"))
    assert table.column("label").to_pylist() == [True, False]
