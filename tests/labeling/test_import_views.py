"""The import page: review a file's column mapping and first rows, then import it (or import at once)."""

from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from labeling.models import Prompt

HX = {"HX-Request": "true"}


def parquet(rows: list[dict]) -> SimpleUploadedFile:
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows), buffer)
    return SimpleUploadedFile("questions.parquet", buffer.getvalue())


@pytest.fixture
def page(client, manager, project):
    client.force_login(manager)
    return reverse("labeling:project-import", args=[project.pk])


def test_review_shows_columns_mapping_and_first_rows_then_import_applies_the_chosen_mapping(client, page, project):
    rows = [{"question": "Why is the sky <b>blue</b>?", "answer": "Rayleigh", "notes": "n"}]
    review = client.post(page, {"file": parquet(rows), "action": "review"}, headers=HX)
    html = review.content.decode()
    assert review.status_code == 200 and 'data-testid="import-review"' in html and Prompt.objects.count() == 0
    assert '<option value="question" selected>question</option>' in html and "Why is the sky &lt;b&gt;blue&lt;/b&gt;?" in html
    token = html.split('name="token" value="')[1].split('"')[0]
    mapping = {f"map_{field}": "" for field in ("prompt", "messages", "chosen", "rejected", "margin", "responses", "id", "tags", "reference")}
    done = client.post(page, {"token": token, "action": "import", **mapping, "map_prompt": "question", "map_tags": "notes"}, headers=HX)
    assert done.status_code == 200 and "<strong>1</strong> new prompt" in done.content.decode()
    prompt = Prompt.objects.get()
    assert (prompt.reference, prompt.tags) == ("", ["n"])  # the reviewed mapping left reference out


def test_review_of_a_bad_mapping_names_the_field_and_imports_nothing(client, page):
    token = client.post(page, {"file": parquet([{"q": "x"}]), "action": "review"}).content.decode().split('name="token" value="')[1].split('"')[0]
    response = client.post(page, {"token": token, "action": "import", "map_prompt": "missing"})
    assert response.status_code == 400 and "mapping.prompt" in response.content.decode() and Prompt.objects.count() == 0


def test_import_now_reads_parquet_with_the_suggested_mapping(client, page):
    response = client.post(page, {"file": parquet([{"question": "One?"}, {"question": "Two?"}]), "action": "import"})
    assert response.status_code == 200 and Prompt.objects.count() == 2


def test_hub_dataset_offline_says_so_on_the_page(client, page):
    response = client.post(page, {"hub_id": "someone/data", "action": "review"})
    assert response.status_code == 400 and "offline (HF_HUB_OFFLINE=1)" in response.content.decode()


def test_background_import_shows_progress_then_the_summary(client, page, project, manager, django_capture_on_commit_callbacks):
    from django_tasks_db.models import DBTaskResult

    from labeling.import_tasks import staged_import_task

    html = client.post(page, {"file": parquet([{"question": f"Q{i}?"} for i in range(3)]), "action": "review"}).content.decode()
    token = html.split('name="token" value="')[1].split('"')[0]
    with django_capture_on_commit_callbacks(execute=True):
        queued = client.post(page, {"token": token, "action": "background"}, headers=HX)
    assert queued.status_code == 202 and "<progress" in queued.content.decode() and "Waiting for the worker" in queued.content.decode()
    assert DBTaskResult.objects.filter(task_path__endswith="staged_import_task").count() == 1
    state = staged_import_task.call(token, project.pk, manager.pk)
    assert state["state"] == "done" and Prompt.objects.count() == 3
    done = client.get(reverse("labeling:project-import-progress", args=[project.pk, token]), headers=HX).content.decode()
    assert "<strong>3</strong> new prompts" in done and "<progress" not in done


def test_background_import_of_bad_rows_reports_them_and_writes_nothing(client, page, project, manager):
    from labeling.import_tasks import staged_import_task

    html = client.post(page, {"file": parquet([{"question": "ok"}, {"question": ""}]), "action": "review"}).content.decode()
    token = html.split('name="token" value="')[1].split('"')[0]
    client.post(page, {"token": token, "action": "background"})
    assert staged_import_task.call(token, project.pk, manager.pk)["state"] == "failed"
    page_html = client.get(reverse("labeling:project-import-progress", args=[project.pk, token])).content.decode()
    assert "Nothing was imported" in page_html and '<td class="num">2</td>' in page_html and Prompt.objects.count() == 0
