"""Snapshots end to end through the service: files, manifest, filters, split, determinism, errors."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from django.core.exceptions import ValidationError

from labeling.exports.filters import annotator_pseudonym
from labeling.exports.services import snapshot_build, snapshot_create, snapshot_file, snapshot_request
from labeling.models import DatasetSnapshot, Preference, Ranking, SnapshotStatus
from tests.factories import add_member, make_comparison, make_prompt, make_user


def rank(comparison, annotator, order_positions: list[list[int]], *, flags: list[str] | None = None) -> Ranking:
    """Store a ranking (tie groups of response positions, best first) and its pairs, as labeling does."""
    by_pos = {r.position: r.id for r in comparison.responses.all()}
    order = [[by_pos[p] for p in group] for group in order_positions]
    ranking = Ranking.objects.create(comparison=comparison, annotator=annotator, order=order, flags=flags or [])
    Preference.objects.bulk_create(
        Preference(ranking=ranking, comparison=comparison, annotator=annotator, chosen_id=a, rejected_id=b, margin=float(j - i))
        for i, better in enumerate(order)
        for j in range(i + 1, len(order))
        for a in better
        for b in order[j]
    )
    return ranking


def ranked_project(project, n: int = 12, *, annotators: int = 2, tags=None, policy: str = "policy-v1", start: int = 0):
    """Give the project n comparisons, each ranked by `annotators` people who agree; return them."""
    people = [make_user() for _ in range(annotators)]
    for person in people:
        add_member(project, person)
    comparisons = []
    for i in range(start, start + n):
        prompt = make_prompt(project, f"Prompt {i}: explain topic {i}?", tags=(tags or [])[i % len(tags)] if tags else [])
        comparison = make_comparison(project, prompt=prompt, policy_version=policy, texts=[f"best {i}", f"good {i}", f"meh {i}", f"bad {i}"])
        for person in people:
            rank(comparison, person, [[0], [1], [2], [3]])
        comparisons.append(comparison)
    return people, comparisons


def rows(snapshot: DatasetSnapshot, split: str = "train") -> list[dict]:
    return [json.loads(line) for line in snapshot_file(snapshot, split).read_text().splitlines()]


@pytest.fixture
def data(project):
    return ranked_project(project)


def test_preference_rows_are_trl_conversational_with_provenance(project, data):
    people, comparisons = data
    snapshot = snapshot_create(project=project, params={"test_fraction": 0}, user=None)
    first = rows(snapshot)[0]
    assert first["prompt"] == [{"content": "Prompt 0: explain topic 0?", "role": "user"}]
    assert first["chosen"] == [{"content": "best 0", "role": "assistant"}]
    assert first["rejected"] == [{"content": "good 0", "role": "assistant"}]
    assert first["margin"] == 1.0
    assert first["comparison_id"] == comparisons[0].pk and first["prompt_id"] == comparisons[0].prompt_id
    assert first["policy_version"] == "policy-v1" and first["created_at"].endswith("Z")
    assert first["annotator"] == annotator_pseudonym(people[0].pk) and people[0].username not in json.dumps(first)
    assert snapshot.row_count == 12 * 2 * 6 and snapshot.test_rows == 0


def test_standard_style_writes_plain_strings(project, data):
    first = rows(snapshot_create(project=project, params={"style": "standard", "test_fraction": 0}))[0]
    assert (first["prompt"], first["chosen"], first["rejected"]) == ("Prompt 0: explain topic 0?", "best 0", "good 0")


def test_split_is_by_prompt_and_stable_across_exports(project, data):
    first = snapshot_create(project=project, params={"test_fraction": 0.4, "seed": 3})
    train, test = {r["prompt_id"] for r in rows(first)}, {r["prompt_id"] for r in rows(first, "test")}
    assert train and test and not train & test
    # More data later: the old prompts keep their side.
    ranked_project(project, 5, start=100)
    second = snapshot_create(project=project, params={"test_fraction": 0.4, "seed": 3})
    assert train <= {r["prompt_id"] for r in rows(second)} and test <= {r["prompt_id"] for r in rows(second, "test")}


def test_same_params_on_same_data_give_byte_identical_files(project, data):
    params = {"format": "parquet", "aggregation": "bradley_terry", "test_fraction": 0.3}
    first, second = snapshot_create(project=project, params=params), snapshot_create(project=project, params=params)
    assert first.path != second.path
    assert first.files == second.files and {"train.parquet", "test.parquet", "ids/ranking_ids.txt"} <= set(first.files)
    for name in ("train.jsonl", "test.parquet"):
        assert (Path(first.path) / name).read_bytes() == (Path(second.path) / name).read_bytes()


def test_csv_and_zipped_folder_are_deterministic_too(project, data):
    for fmt, names in (("csv", {"train.csv"}), ("save_to_disk", {"hf.zip"})):
        a, b = (snapshot_create(project=project, params={"format": fmt}) for _ in range(2))
        assert names <= set(a.files)
        assert {k: v for k, v in a.files.items() if k in names} == {k: v for k, v in b.files.items() if k in names}


def test_parquet_matches_jsonl_row_for_row(project, data):
    snapshot = snapshot_create(project=project, params={"format": "parquet", "test_fraction": 0})
    table = pq.read_table(Path(snapshot.path) / "train.parquet")
    assert table.to_pylist() == rows(snapshot)
    assert pq.ParquetFile(Path(snapshot.path) / "train.parquet").metadata.num_rows == snapshot.train_rows


def test_manifest_records_params_counts_drops_and_inputs(project, data):
    people, comparisons = data
    rank(make_comparison(project, policy_version="policy-v1"), people[0], [[0], [1], [2], [3]], flags=["unsafe"])
    snapshot = snapshot_create(project=project, params={"name": "round 1", "test_fraction": 0})
    on_disk = json.loads((Path(snapshot.path) / "manifest.json").read_text())
    assert on_disk == snapshot.manifest
    assert on_disk["params"]["aggregation"] == "all" and on_disk["rows"] == {"total": 144, "train": 144, "test": 0}
    assert on_disk["dropped"]["rankings"] == {"flagged": 1}
    assert on_disk["inputs"]["annotators"] == sorted(annotator_pseudonym(p.pk) for p in people)
    assert on_disk["inputs"]["policy_versions"] == ["policy-v1"] and on_disk["inputs"]["rankings"] == 24
    ranking_ids = (Path(snapshot.path) / "ids/ranking_ids.txt").read_text().split()
    assert sorted(map(int, ranking_ids)) == sorted(Ranking.objects.exclude(flags=["unsafe"]).values_list("id", flat=True))
    assert Path(snapshot.path).name == f"{snapshot.pk}-round-1" and len(snapshot.sha256) == 64


def test_keeping_flagged_rankings_when_asked(project, data):
    people, _ = data
    rank(make_comparison(project), people[0], [[0], [1], [2], [3]], flags=["all_bad"])
    assert snapshot_create(project=project, params={"exclude_flags": []}).row_count == 150


def test_annotator_and_policy_filters(project, data):
    people, _ = data
    other = make_comparison(project, policy_version="policy-v2")
    rank(other, people[1], [[0], [1, 2, 3]])
    only_one = snapshot_create(project=project, params={"annotators_include": [people[0].username], "test_fraction": 0})
    assert {r["annotator"] for r in rows(only_one)} == {annotator_pseudonym(people[0].pk)}
    v2 = snapshot_create(project=project, params={"policy_versions": ["policy-v2"], "test_fraction": 0})
    assert v2.row_count == 3 and {r["comparison_id"] for r in rows(v2)} == {other.pk}
    excluded = snapshot_create(project=project, params={"annotators_exclude": [people[1].username]})
    assert excluded.manifest["dropped"]["rankings"] == {"annotator_excluded": 13}


def test_tag_filter_and_cap_per_tag(project):
    ranked_project(project, 12, annotators=1, tags=[["math"], ["code"], ["math", "code"]])
    maths = snapshot_create(project=project, params={"tags": ["math"], "test_fraction": 0})
    assert maths.manifest["inputs"]["comparisons"] == 8
    capped = snapshot_create(project=project, params={"cap_per_tag": 2, "test_fraction": 0})
    assert 2 <= capped.manifest["inputs"]["comparisons"] <= 4  # at most 2 prompts per tag
    assert capped.manifest["dropped"]["rankings"]["cap_per_tag"] == 12 - capped.manifest["inputs"]["comparisons"]


def test_majority_collapses_annotators_into_one_row_per_pair(project, data):
    snapshot = snapshot_create(project=project, params={"aggregation": "majority", "pairs": "best_vs_worst", "test_fraction": 0})
    assert snapshot.row_count == 12
    row = rows(snapshot)[0]
    assert len(row["ranking_ids"]) == 2 and len(row["annotator"].split(",")) == 2
    assert (row["chosen"][0]["content"], row["rejected"][0]["content"]) == ("best 0", "bad 0")


def test_prompt_snapshot_has_verl_columns_and_reference(project):
    make_prompt(project, "What is 2+2?", reference="4", tags=["math"])
    snapshot = snapshot_create(project=project, params={"kind": "prompt", "test_fraction": 0})
    row = rows(snapshot)[0]
    assert row["prompt"] == [{"content": "What is 2+2?", "role": "user"}] and row["reference"] == "4"
    assert row["data_source"] == row["datasource"] == f"prefloop/{project.slug}"
    assert row["extra_info"]["prompt_id"] == row["prompt_id"] and row["ability"] == "chat"


def test_prompt_with_reference_is_scored_by_rule_and_without_by_model(project):
    make_prompt(project, "What is 2+2?", reference="4")
    make_prompt(project, "Write a poem.")
    snapshot = snapshot_create(project=project, params={"kind": "prompt", "test_fraction": 0})
    styles = {r["prompt"][0]["content"]: r["reward_model"] for r in rows(snapshot)}
    assert styles == {"What is 2+2?": {"ground_truth": "4", "style": "rule"}, "Write a poem.": {"ground_truth": "", "style": "model"}}


def test_prompt_exports_default_to_parquet_with_the_projects_data_source_and_ability(project):
    make_prompt(project, "What is 2+2?", reference="4")
    default = snapshot_create(project=project, params={"kind": "prompt", "test_fraction": 0})
    assert default.params["format"] == "parquet" and "train.parquet" in default.files
    chosen = snapshot_create(project=project, params={"kind": "prompt", "test_fraction": 0, "data_source": "openai/gsm8k", "ability": "math"})
    row = pq.read_table(Path(chosen.path) / "train.parquet").to_pylist()[0]
    assert (row["data_source"], row["datasource"], row["ability"]) == ("openai/gsm8k", "openai/gsm8k", "math")


def test_bad_data_source_names_the_field(project):
    make_prompt(project, "What is 2+2?")
    with pytest.raises(ValidationError) as info:
        snapshot_create(project=project, params={"kind": "prompt", "data_source": "has spaces"})
    assert "data_source" in info.value.message_dict


def test_an_empty_split_writes_no_file_and_the_manifest_says_so(project, data):
    snapshot = snapshot_create(project=project, params={"format": "parquet", "test_fraction": 0})
    assert snapshot.manifest["empty_splits"] == ["test"] and snapshot.manifest["rows"]["test"] == 0
    assert not [name for name in snapshot.files if name.startswith("test")]
    with pytest.raises(FileNotFoundError, match="no test rows"):
        snapshot_file(snapshot, "test")


def test_sft_snapshot_appends_the_top_response(project, data):
    row = rows(snapshot_create(project=project, params={"kind": "sft", "test_fraction": 0}))[0]
    assert row["messages"][-1] == {"content": "best 0", "role": "assistant"} and row["messages"][0]["role"] == "user"


def test_csv_neutralises_formula_cells(project):
    person = make_user()
    add_member(project, person)
    comparison = make_comparison(project, texts=["=HYPERLINK(\"http://x\")", "+1", "@SUM(A1)", "-2"])
    rank(comparison, person, [[0], [1], [2], [3]])
    snapshot = snapshot_create(project=project, params={"format": "csv", "style": "standard", "test_fraction": 0})
    with open(Path(snapshot.path) / "train.csv", newline="") as handle:
        cells = [cell for row in csv.reader(handle) for cell in row]
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@")]
    assert "'=HYPERLINK(\"http://x\")" in cells


def test_csv_keeps_markdown_that_only_looks_like_a_formula_exact(project):
    person = make_user()
    add_member(project, person)
    texts = ["- **Spaced repetition** works", "+ plus bullet (with a note)", "@ home", "- call(x) in a list"]
    comparison = make_comparison(project, texts=texts)
    rank(comparison, person, [[0], [1], [2], [3]])
    snapshot = snapshot_create(project=project, params={"format": "csv", "style": "standard", "test_fraction": 0})
    with open(Path(snapshot.path) / "train.csv", newline="") as handle:
        cells = {cell for row in csv.reader(handle) for cell in row}
    assert {"- **Spaced repetition** works", "+ plus bullet (with a note)", "@ home", "'- call(x) in a list"} <= cells


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"aggregation": "vote"}, "aggregation"),
        ({"min_agreement": 1.5}, "min_agreement"),
        ({"test_fraction": "lots"}, "test_fraction"),
        ({"exclude_flags": ["boring"]}, "exclude_flags"),
        ({"date_from": "yesterday"}, "date_from"),
        ({"colour": "blue"}, "colour"),
        ({"annotators_include": ["nobody"]}, "annotators_include"),
    ],
)
def test_bad_params_name_the_field(project, data, params, field):
    with pytest.raises(ValidationError) as info:
        snapshot_create(project=project, params=params)
    assert field in info.value.message_dict


def test_empty_export_says_so_and_writes_nothing(project, settings):
    with pytest.raises(ValidationError, match="Nothing to export"):
        snapshot_create(project=project, params={})
    person = make_user()
    add_member(project, person)
    rank(make_comparison(project), person, [[0, 1, 2, 3]])  # all tied: no pairs
    with pytest.raises(ValidationError, match="Nothing to export"):
        snapshot_create(project=project, params={})
    assert not DatasetSnapshot.objects.exists()
    assert not [p for p in Path(settings.EXPORTS_DIR).rglob("*") if p.is_file()]


def test_background_export_runs_in_the_worker_task(project, data):
    snapshot = snapshot_request(project=project, params={"format": "parquet"})
    assert snapshot.status == SnapshotStatus.PENDING and not snapshot.path
    snapshot_build(snapshot=snapshot)
    snapshot.refresh_from_db()
    assert snapshot.status == SnapshotStatus.SUCCEEDED and snapshot_file(snapshot).is_file()
    assert snapshot_build(snapshot=snapshot).status == SnapshotStatus.SUCCEEDED  # a second run is a no-op


def test_snapshot_file_refuses_unknown_split(project, data):
    snapshot = snapshot_create(project=project, params={})
    with pytest.raises(ValidationError):
        snapshot_file(snapshot, "validation")


@pytest.mark.parametrize("style", ["conversational", "standard"])
def test_fast_jsonl_lines_equal_the_canonical_encoding(project, data, style):
    """The JSONL-only path pre-encodes lines; the CSV path encodes dicts. Both must give the same bytes."""
    params = {"style": style, "test_fraction": 0.3, "aggregation": "majority"}
    fast = snapshot_create(project=project, params=params)
    via_dicts = snapshot_create(project=project, params={**params, "format": "csv"})
    for name in ("train.jsonl", "test.jsonl"):
        assert fast.files[name] == via_dicts.files[name]
