"""Importing from Parquet, `datasets` folders (and their zip), the Hub, through a column mapping; PrefLoop's own exports import back."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from labeling.exports.services import snapshot_create
from labeling.models import Comparison, Prompt, Response
from labeling.services import ImportValidationError, prompts_import
from labeling.services.import_sources import folder_source, hub_source, mapping_suggest, parquet_source
from labeling.services.import_staging import import_preview, source_from_path
from tests.factories import make_project, make_prompt
from tests.labeling.test_export_snapshots import ranked_project

pytestmark = pytest.mark.django_db


def write_parquet(path: Path, rows: list[dict], *, row_group_size: int = 1000) -> Path:
    pq.write_table(pa.Table.from_pylist(rows), path, row_group_size=row_group_size)
    return path


def stored(project) -> list[tuple[str, str]]:
    return sorted((p.messages[-1]["content"], p.reference) for p in Prompt.objects.filter(project=project))


def test_parquet_file_imports_prompts_and_comparisons_in_batches(project, tmp_path):
    rows = [{"prompt": f"Question {i}?", "reference": str(i), "responses": [f"r{i}-{n}" for n in range(4)] if i % 2 else None} for i in range(2500)]
    path = write_parquet(tmp_path / "p.parquet", rows)
    seen = []
    result = prompts_import(project=project, source=parquet_source(path), progress=lambda done, total: seen.append((done, total)))
    assert (result.rows, result.created_prompts, result.created_comparisons) == (2500, 2500, 1250)
    assert seen[-1] == (2500, 2500) and len(seen) == 3  # one step per 1000-row batch
    assert Prompt.objects.get(messages__0__content="Question 7?").reference == "7"


def test_parquet_errors_name_the_row_and_column_and_write_nothing(project, tmp_path):
    rows = [{"prompt": f"Q{i}"} for i in range(1500)]
    rows[1200] = {"prompt": ""}
    with pytest.raises(ImportValidationError) as exc:
        prompts_import(project=project, source=parquet_source(write_parquet(tmp_path / "p.parquet", rows)))
    assert [(e["line"], e["field"]) for e in exc.value.errors] == [(1201, "prompt")]
    assert "row 1201, prompt: is missing" in str(exc.value)
    assert Prompt.objects.count() == 0  # the first batch was written, then rolled back


def test_save_to_disk_folder_and_its_zip_import_the_chosen_split(project, tmp_path):
    from datasets import Dataset, DatasetDict

    folder = tmp_path / "ds"
    DatasetDict({
        "train": Dataset.from_list([{"question": "What is 1+1?", "answer": "2"}, {"question": "Capital of France?", "answer": "Paris"}]),
        "test": Dataset.from_list([{"question": "Held out?", "answer": "yes"}]),
    }).save_to_disk(str(folder))
    result = prompts_import(project=project, source=folder_source(folder))
    assert result.mapping == {**result.mapping, "prompt": "question", "reference": "answer"}
    assert stored(project) == [("Capital of France?", "Paris"), ("What is 1+1?", "2")]
    with zipfile.ZipFile(tmp_path / "ds.zip", "w") as archive:
        for path in folder.rglob("*"):
            archive.write(path, path.relative_to(tmp_path).as_posix())
    other = make_project()
    prompts_import(project=other, source=source_from_path(tmp_path / "ds.zip", split="test", work=tmp_path / "work"))
    assert stored(other) == [("Held out?", "yes")]


def test_a_folder_with_several_splits_and_no_train_asks_which(project, tmp_path):
    from datasets import Dataset, DatasetDict

    DatasetDict({"a": Dataset.from_list([{"prompt": "x"}]), "b": Dataset.from_list([{"prompt": "y"}])}).save_to_disk(str(tmp_path / "ds"))
    with pytest.raises(ValueError, match="has splits a, b; say which one"):
        folder_source(tmp_path / "ds")


def test_column_mapping_picks_the_columns_and_a_bad_one_is_named(project, tmp_path):
    rows = [{"q": "Translate 'chat'", "gold": "cat", "topic": "fr", "question": "not this one"}]
    path = write_parquet(tmp_path / "p.parquet", rows)
    with pytest.raises(ImportValidationError) as exc:
        prompts_import(project=project, source=parquet_source(path), mapping={"prompt": "qq"})
    assert exc.value.errors[0]["field"] == "mapping.prompt" and "no column 'qq'" in exc.value.errors[0]["message"]
    prompts_import(project=project, source=parquet_source(path), mapping={"prompt": "q", "reference": "gold", "tags": "topic"})
    prompt = Prompt.objects.get()
    assert (prompt.messages, prompt.reference, prompt.tags) == ([{"role": "user", "content": "Translate 'chat'"}], "cat", ["fr"])


def test_preview_shows_columns_mapping_and_first_rows_as_prefloop_reads_them(project, tmp_path):
    rows = [{"question": f"Q{i}", "answer": "A"} for i in range(8)] + [{"question": "", "answer": "A"}]
    preview = import_preview(project=project, source=parquet_source(write_parquet(tmp_path / "p.parquet", rows)))
    assert preview.columns == ["question", "answer"] and preview.mapping == {"prompt": "question", "reference": "answer"}
    assert preview.total == 9 and len(preview.sample) == 5
    assert preview.sample[0] == {"line": 1, "kind": "prompt", "messages": [{"role": "user", "content": "Q0"}], "responses": [], "reference": "A", "tags": [], "id": ""}
    assert Prompt.objects.count() == 0


def test_hub_id_offline_says_so_clearly(monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(ValueError, match=r"offline \(HF_HUB_OFFLINE=1\).*save_to_disk"):
        hub_source("trl-lib/ultrafeedback_binarized")


def test_hub_id_goes_through_load_dataset_then_reads_like_a_folder(project, monkeypatch, tmp_path):
    from datasets import Dataset, DatasetDict
    from huggingface_hub import constants

    calls = []

    def fake_load_dataset(repo_id, name=None):  # what datasets.load_dataset returns for a Hub id: a DatasetDict
        calls.append((repo_id, name))
        return DatasetDict({"train": Dataset.from_list([{"prompt": "From the hub"}])})

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr("datasets.load_dataset", fake_load_dataset)
    prompts_import(project=project, source=hub_source("someone/prompts"))
    assert calls == [("someone/prompts", None)] and stored(project) == [("From the hub", "")]


def test_mapping_suggestion_knows_common_names():
    assert mapping_suggest(["conversations", "input"])["messages"] == "conversations"
    assert mapping_suggest(["conversations", "input"])["prompt"] == "prompt"  # "input" beside a chat is not the prompt
    assert mapping_suggest(["prompt", "reward_model.ground_truth"])["reference"] == "reward_model.ground_truth"


# Round trip: PrefLoop's own exports import back -----------------------------------------------


def test_prompt_export_parquet_imports_back_unchanged(project, tmp_path):
    make_prompt(project, "What is 2+2?", reference="4", tags=["maths"])
    make_prompt(project, "Write a haiku.")
    snapshot = snapshot_create(project=project, params={"kind": "prompt", "test_fraction": 0})
    other = make_project()
    prompts_import(project=other, source=parquet_source(Path(snapshot.path) / "train.parquet"))
    def contents(p):
        return sorted(json.dumps([x.messages, x.reference, x.tags]) for x in Prompt.objects.filter(project=p))

    assert contents(other) == contents(project)


def test_sft_export_imports_back_with_the_answer_as_reference(project, tmp_path):
    ranked_project(project, 2, annotators=1)
    snapshot = snapshot_create(project=project, params={"kind": "sft", "test_fraction": 0, "format": "csv"})
    other = make_project()
    for name in ("train.jsonl", "train.csv"):
        result = prompts_import(project=other, source=source_from_path(Path(snapshot.path) / name))
        assert result.dialogues == 2
    assert stored(other) == [("Prompt 0: explain topic 0?", "best 0"), ("Prompt 1: explain topic 1?", "best 1")]


@pytest.mark.parametrize("fmt", ["jsonl", "parquet", "save_to_disk", "csv"])
@pytest.mark.parametrize("style", ["conversational", "standard"])
def test_preference_export_imports_back_as_pairs_with_their_labels(project, tmp_path, fmt, style):
    ranked_project(project, 2, annotators=2)
    snapshot = snapshot_create(project=project, params={"format": fmt, "style": style, "test_fraction": 0})
    root = Path(snapshot.path)
    if fmt == "save_to_disk":
        source = source_from_path(root / "hf.zip", work=tmp_path / "work")
    else:
        source = source_from_path(root / f"train.{fmt}")
    pairs = make_project(k=2)
    result = prompts_import(project=pairs, source=source)
    # 2 prompts x 6 pairs, each given by both annotators: one comparison per distinct pair.
    assert (result.rows, result.pairs, result.created_prompts, result.created_comparisons) == (24, 24, 2, 12)
    first = Comparison.objects.filter(project=pairs, prompt__messages__0__content="Prompt 0: explain topic 0?").order_by("id").first()
    responses = list(first.responses.order_by("position").values_list("text", "generation_params"))
    assert responses == [("best 0", {"import": {"label": "chosen", "margin": 1.0}}), ("good 0", {"import": {"label": "rejected", "margin": 1.0}})]
    assert prompts_import(project=pairs, source=source).created_comparisons == 0  # again: nothing new


def test_preference_rows_need_a_k2_project(project):
    with pytest.raises(ImportValidationError, match="K=4"):
        prompts_import(project=project, rows=[{"prompt": "p", "chosen": "a", "rejected": "b"}])


def test_implicit_prompt_conversations_import_as_pairs():
    project = make_project(k=2)
    chat = [{"role": "user", "content": "Hi"}]
    row = {"chosen": [*chat, {"role": "assistant", "content": "Hello!"}], "rejected": [*chat, {"role": "assistant", "content": "Go away."}]}
    prompts_import(project=project, rows=[row])
    assert Prompt.objects.get().messages == chat
    assert list(Response.objects.order_by("position").values_list("text", flat=True)) == ["Hello!", "Go away."]


def test_command_imports_parquet_with_a_mapping_and_previews(project, tmp_path):
    path = write_parquet(tmp_path / "p.parquet", [{"q": "One?"}, {"q": "Two?"}])
    out = io.StringIO()
    call_command("import_prompts", project.slug, str(path), "--map", "prompt=q", "--preview", stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[1] == "mapping: prompt <- q" and json.loads(lines[2])["messages"][0]["content"] == "One?"
    assert Prompt.objects.count() == 0
    err = io.StringIO()
    call_command("import_prompts", project.slug, str(path), "--map", "prompt=q", stdout=out, stderr=err)
    assert Prompt.objects.count() == 2 and "2/2 rows" in err.getvalue()
    with pytest.raises(CommandError, match="offline"):
        call_command("import_prompts", project.slug, "--hub", "someone/data", stdout=out)


# API: preview, then import what was previewed ---------------------------------------------------


def parquet_upload(tmp_path: Path, rows: list[dict]):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("rows.parquet", write_parquet(tmp_path / "rows.parquet", rows).read_bytes())


def test_api_preview_then_import_with_the_reviewed_mapping(project, manager, tmp_path):
    from tests.factories import api_client_for

    api = api_client_for(manager)
    url = f"/api/projects/{project.pk}/import/"
    upload = parquet_upload(tmp_path, [{"q": "Hello?", "gold": "Hi", "other": "x"}])
    preview = api.post(url + "preview/", {"file": upload, "mapping": json.dumps({"prompt": "q"})}, format="multipart")
    assert preview.status_code == 200, preview.content
    body = preview.json()
    assert body["columns"] == ["q", "gold", "other"] and body["mapping"] == {"prompt": "q"} and body["unit"] == "row"
    assert body["sample"][0]["messages"] == [{"role": "user", "content": "Hello?"}] and Prompt.objects.count() == 0
    done = api.post(url, {"token": body["token"], "mapping": {"prompt": "q", "reference": "gold"}}, format="json")
    assert done.status_code == 200, done.content
    assert done.json()["created_prompts"] == 1 and Prompt.objects.get().reference == "Hi"
    again = api.post(url, {"token": body["token"]}, format="json")  # the staged file went with the import
    assert again.status_code == 400 and "upload the file again" in again.json()["detail"]


def test_api_refuses_a_token_of_another_user_and_a_bad_mapping(project, manager, tmp_path):
    from labeling.models import Role
    from tests.factories import add_member, api_client_for, make_user

    api = api_client_for(manager)
    token = api.post(f"/api/projects/{project.pk}/import/preview/", {"file": parquet_upload(tmp_path, [{"prompt": "p"}])}, format="multipart").json()["token"]
    other = make_user("other-manager")
    add_member(project, other, Role.MANAGER)
    stolen = api_client_for(other).post(f"/api/projects/{project.pk}/import/", {"token": token}, format="json")
    assert stolen.status_code == 400 and Prompt.objects.count() == 0
    bad = api.post(f"/api/projects/{project.pk}/import/", {"token": token, "mapping": {"prompt": "nope"}}, format="json")
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "mapping.prompt"


def test_api_hub_id_offline_is_a_clear_400(project, manager):
    from tests.factories import api_client_for

    response = api_client_for(manager).post(f"/api/projects/{project.pk}/import/preview/", {"hub_id": "someone/data"}, format="json")
    assert response.status_code == 400 and "offline" in response.json()["detail"]
