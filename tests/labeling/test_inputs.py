"""The input gate: NUL, lone surrogates, deep JSON and huge numbers get a 400 naming the field.

Runs on SQLite and PostgreSQL alike: PostgreSQL is where NUL and surrogates used to be 500s.
"""

from __future__ import annotations

import json
from unittest import mock

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection

from labeling.models import Prompt, Ranking
from tests.factories import api_client_for, make_comparison, make_prompt

pytestmark = pytest.mark.django_db

SURROGATE = '"\\ud800"'  # a lone surrogate, as a JSON escape (no UTF-8 encoder would write it raw)
NUL = '"\\u0000"'


@pytest.fixture
def api(annotator):
    return api_client_for(annotator)


@pytest.fixture
def manager_api(manager):
    return api_client_for(manager)


def upload(manager_api, project, name: str, content: bytes):
    return manager_api.post(f"/api/projects/{project.pk}/import/", {"file": SimpleUploadedFile(name, content)}, format="multipart")


def raw_json(client, url: str, body: str):
    return client.post(url, data=body.encode("utf-8"), content_type="application/json")


def claimed(api, project) -> dict:
    make_comparison(project)
    return api.post(f"/api/projects/{project.pk}/comparisons/next/").json()


@pytest.mark.parametrize("escape, what", [(SURROGATE, "lone surrogate"), (NUL, "NUL")])
def test_jsonl_import_with_bad_text_is_refused_naming_line_and_field(manager_api, project, escape, what):
    content = f'{{"prompt": "fine"}}\n{{"prompt": "bad {escape[1:-1]} text", "tags": ["ok"]}}\n'.encode()
    response = upload(manager_api, project, "p.jsonl", content)
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert (error["line"], error["field"]) == (2, "prompt") and what in error["message"]
    assert Prompt.objects.count() == 0


def test_csv_import_with_a_nul_byte_names_the_row(manager_api, project):
    response = upload(manager_api, project, "p.csv", b"prompt,reference\nfine,ok\nbad,ref\x00erence\n")
    assert response.status_code == 400
    assert response.json()["errors"][0] == {"line": 3, "field": "reference", "message": response.json()["errors"][0]["message"]}
    assert "NUL" in response.json()["detail"] and Prompt.objects.count() == 0


def test_json_rows_import_with_surrogate_in_a_response_names_the_row(manager_api, project):
    texts = ", ".join(['"a"', '"b"', '"c"', SURROGATE])
    body = f'{{"rows": [{{"prompt": "q"}}, {{"prompt": "q2", "responses": [{texts}]}}]}}'
    response = raw_json(manager_api, f"/api/projects/{project.pk}/import/", body)
    assert response.status_code == 400 and response.json()["errors"][0]["field"] == "rows[1].responses[3]"
    assert Prompt.objects.count() == 0


@pytest.mark.parametrize("field, value", [("note", NUL), ("note", SURROGATE), ("idempotency_key", NUL)])
def test_ranking_api_refuses_bad_text_naming_the_field(api, project, field, value):
    body = claimed(api, project)
    order = json.dumps([[r["id"]] for r in body["responses"]])
    response = raw_json(api, f"/api/comparisons/{body['id']}/ranking/", f'{{"order": {order}, "{field}": {value}}}')
    assert response.status_code == 400 and response.json()["errors"][0]["field"] == field
    assert response.json()["detail"].startswith(f"{field}: contains")
    assert Ranking.objects.count() == 0


def test_a_json_body_is_parsed_once_by_the_gate_and_handed_to_the_view(api, project):
    body = claimed(api, project)
    with mock.patch("rest_framework.parsers.json.load", side_effect=AssertionError("parsed twice")):
        response = api.post(f"/api/comparisons/{body['id']}/ranking/", {"order": [[r["id"]] for r in body["responses"]], "note": "fine"}, format="json")
    assert response.status_code == 201 and Ranking.objects.get().note == "fine"


def test_a_body_in_another_charset_is_still_parsed_as_it_declares(api, project):
    body = claimed(api, project)
    data = json.dumps({"order": [[r["id"]] for r in body["responses"]], "note": "café"}, ensure_ascii=False).encode("latin-1")
    response = api.post(f"/api/comparisons/{body['id']}/ranking/", data=data, content_type="application/json; charset=latin-1")
    assert response.status_code == 201 and Ranking.objects.get().note == "café"


def test_ranking_form_with_nul_in_the_note_is_a_400_page(client, annotator, project):
    client.force_login(annotator)
    comparison = make_comparison(project)
    url = f"/projects/{project.pk}/comparisons/{comparison.pk}/ranking/"
    response = client.post(url, {"note": "hello\x00", "idempotency_key": "k1"})
    assert response.status_code == 400 and b"note: contains a NUL character" in response.content
    assert Ranking.objects.count() == 0


def test_export_filters_with_bad_text_or_huge_numbers_are_400_naming_the_field(manager_api, project):
    url = f"/api/projects/{project.pk}/exports/"
    for body, field in [
        (f'{{"tags": [{NUL}]}}', "tags[0]"),
        (f'{{"annotators_include": [{SURROGATE}]}}', "annotators_include[0]"),
        ('{"seed": 1e999}', "seed"),
        ('{"cap_per_tag": 1e999}', "cap_per_tag"),
        ('{"cap_per_tag": NaN}', "cap_per_tag"),
    ]:
        response = raw_json(manager_api, url, body)
        assert response.status_code == 400, body
        assert response.json()["errors"][0]["field"] == field and response.json()["detail"].startswith(field)


def test_deeply_nested_json_is_400_not_a_recursion_error(api, manager_api, project):
    deep = "[" * 10_000 + "]" * 10_000
    for client, url in [
        (api, f"/api/comparisons/{claimed(api, project)['id']}/ranking/"),
        (manager_api, f"/api/projects/{project.pk}/import/"),
        (manager_api, f"/api/projects/{project.pk}/exports/"),
    ]:
        response = raw_json(client, url, f'{{"order": {deep}}}')
        assert response.status_code == 400 and "deeper than 64 levels" in response.json()["detail"]


def test_deeply_nested_jsonl_line_names_the_line(manager_api, project):
    content = b'{"prompt": "ok"}\n{"prompt": "x", "tags": ' + b"[" * 5000 + b"]" * 5000 + b"}\n"
    response = upload(manager_api, project, "p.jsonl", content)
    assert response.status_code == 400 and response.json()["errors"][0]["line"] == 2


@pytest.mark.parametrize("body", ['"AAA"', "123", "null", "true"])
def test_import_api_refuses_a_body_that_is_not_an_object(manager_api, project, body):
    response = raw_json(manager_api, f"/api/projects/{project.pk}/import/", body)
    assert response.status_code == 400 and "JSON object" in response.json()["detail"]


def test_import_with_a_5000_digit_id_names_the_line_and_field(manager_api, project):
    content = b'{"prompt": "a"}\n{"prompt": "b", "id": ' + b"7" * 5000 + b"}\n"
    response = upload(manager_api, project, "p.jsonl", content)
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert (error["line"], error["field"]) == (2, "id") and "out of range" in error["message"]
    rows = raw_json(manager_api, f"/api/projects/{project.pk}/import/", '{"rows": [{"prompt": "b", "id": ' + "7" * 5000 + "}]}")
    assert rows.status_code == 400 and rows.json()["errors"][0]["field"] == "rows[0].id"


def test_out_of_range_query_numbers_are_400_naming_the_parameter(manager_api, project):
    base = f"/api/projects/{project.pk}/preferences/"
    for query, name in [("limit=9223372036854775808", "limit"), ("offset=-9223372036854775809", "offset"), ("since=" + "9" * 4400, "since")]:
        response = manager_api.get(f"{base}?{query}")
        assert response.status_code == 400 and response.json()["errors"][0]["field"] == name, query
    assert manager_api.get(f"{base}?since=%00").json()["errors"][0]["field"] == "since"
    assert manager_api.get(f"{base}?limit=9223372036854775807").status_code == 200


def test_non_integer_and_huge_ids_are_json_404s(manager_api, project):
    for url in ["/api/projects/abc/", f"/api/projects/{'9' * 30}/", "/api/runs/1.5/", "/api/exports/x/download/", "/api/nothing/"]:
        response = manager_api.get(url)
        assert response.status_code == 404 and response["Content-Type"] == "application/json", url
        assert "detail" in response.json()


def test_serializer_400s_carry_detail_and_errors(db):
    from tests.factories import make_user

    response = api_client_for(make_user(staff=True)).post("/api/projects/", ["not", "an", "object"], format="json")
    assert response.status_code == 400 and response.json()["detail"].startswith("body: ")


def test_duplicate_ids_with_different_prompts_are_refused_with_both_lines(manager_api, project):
    content = b'{"id": "q1", "prompt": "first"}\n{"id": "q2", "prompt": "other"}\n{"id": "q1", "prompt": "second"}\n'
    response = upload(manager_api, project, "p.jsonl", content)
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert (error["line"], error["field"]) == (3, "id") and "line 1" in error["message"]
    assert Prompt.objects.count() == 0


def test_the_same_row_twice_is_still_one_prompt(manager_api, project):
    content = b'{"id": "q1", "prompt": "first"}\n{"id": "q1", "prompt": "first"}\n'
    response = upload(manager_api, project, "p.jsonl", content)
    assert response.status_code == 200 and Prompt.objects.count() == 1


needs_sqlite = pytest.mark.skipif(
    connection.vendor != "sqlite", reason="PostgreSQL refuses lone surrogates at insert, so none can be stored there"
)


@pytest.fixture
def stored_surrogate(project):
    """A prompt imported before the gate: SQLite keeps "\\ud800" inside a JSON column."""
    return make_prompt(project, text="before the gate \ud800 here", external_id="old")


@needs_sqlite
def test_admin_prompt_list_renders_a_stored_surrogate(client, stored_surrogate):
    from tests.factories import make_user

    client.force_login(make_user(staff=True))
    response = client.get("/admin/labeling/prompt/")
    assert response.status_code == 200 and "before the gate \ufffd here" in response.content.decode()


@needs_sqlite
def test_pages_showing_a_stored_surrogate_render(client, project, stored_surrogate):
    from tests.factories import make_user

    comparison = make_comparison(project, prompt=stored_surrogate)
    client.force_login(make_user(staff=True))
    for url in [f"/admin/labeling/prompt/{stored_surrogate.pk}/change/", f"/projects/{project.pk}/rank/"]:
        response = client.get(url)
        assert response.status_code == 200 and "before the gate \ufffd here" in response.content.decode(), url
    assert client.get(f"/admin/labeling/comparison/{comparison.pk}/change/").status_code == 200


@needs_sqlite
def test_prompt_export_of_a_stored_surrogate_succeeds(manager_api, project, stored_surrogate):
    response = manager_api.post(f"/api/projects/{project.pk}/exports/", {"kind": "prompt", "test_fraction": 0}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["status"] == "succeeded" and response.json()["row_count"] == 1


def test_largest_offsets_are_answered_not_500(manager_api, project):
    base = f"/api/projects/{project.pk}/preferences/"
    for query in ["offset=9223372036854775807", "limit=9223372036854775807&offset=9223372036854775807", "since=9223372036854775807"]:
        response = manager_api.get(f"{base}?{query}")
        assert response.status_code == 200 and response.json()["results"] == [], query


def test_export_page_form_with_nul_in_tags_is_a_400_page(client, manager, project):
    client.force_login(manager)
    response = client.post(f"/projects/{project.pk}/exports/", {"kind": "preference", "tags": "a\x00b"})
    assert response.status_code == 400 and b"tags: contains a NUL character" in response.content


@needs_sqlite
def test_generate_run_writes_the_prompt_file_of_a_stored_surrogate(project, stored_surrogate, tmp_path):
    from training.models import Run, RunKind
    from training.runner.prepare import write_prompts_file

    run = Run.objects.create(project=project, kind=RunKind.GENERATE, inputs={"prompts": {"which": "all"}})
    assert write_prompts_file(run, tmp_path / "prompts.jsonl") == 1
    row = json.loads((tmp_path / "prompts.jsonl").read_text(encoding="utf-8"))
    assert row["prompt"][0]["content"] == "before the gate \ufffd here"


def test_generated_text_with_nul_or_surrogates_is_stored_with_replacement_characters(project):
    from labeling.services.comparisons import NewComparison, NewResponse, comparisons_create

    prompt = make_prompt(project)
    texts = ["nul\x00here", "lone \udc80 surrogate", "fine", "also fine"]
    [comparison] = comparisons_create(
        project=project, items=[NewComparison(prompt.pk, [NewResponse(t, "policy\x00") for t in texts])], source="generate"
    )
    stored = list(comparison.responses.order_by("position").values_list("text", flat=True))
    assert stored == ["nul\ufffdhere", "lone \ufffd surrogate", "fine", "also fine"]


def test_parquet_import_with_nul_names_the_row_and_writes_nothing(project, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from labeling.services.import_sources import parquet_source
    from labeling.services.imports import ImportValidationError, prompts_import

    rows = [{"prompt": "fine", "reference": "ok"}, {"prompt": "bad", "reference": "nul\x00inside"}]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "p.parquet")
    with pytest.raises(ImportValidationError) as exc:
        prompts_import(project=project, source=parquet_source(tmp_path / "p.parquet"))
    assert [(e["line"], e["field"]) for e in exc.value.errors] == [(2, "reference")] and "NUL" in str(exc.value)
    assert Prompt.objects.count() == 0
