"""Importing prompts from JSONL and CSV: validated whole, atomic, deduplicated."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from labeling.models import Comparison, Prompt, Response
from labeling.services import ImportValidationError, prompts_import

pytestmark = pytest.mark.django_db


def jsonl(*rows: object) -> bytes:
    return "\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows).encode()


def upload(data: bytes, name: str = "prompts.jsonl") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data)


def four(prefix: str = "answer") -> list[str]:
    return [f"{prefix} {i}" for i in range(4)]


def test_jsonl_import_creates_prompts_and_comparisons_with_k_responses(project):
    data = jsonl(
        {"prompt": "What is 2+2?", "id": "q1", "tags": ["maths"], "reference": "4", "responses": four()},
        {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]},
        {"prompt": "Name a colour", "responses": [{"text": "Red", "model": "m1"}, "Blue", "Green", "Plaid"]},
    )
    result = prompts_import(project=project, upload=upload(data))
    assert (result.created_prompts, result.created_comparisons, result.skipped_duplicates) == (3, 2, 0)
    first = Prompt.objects.get(external_id="q1")
    assert first.messages == [{"role": "user", "content": "What is 2+2?"}]
    assert first.tags == ["maths"] and first.reference == "4"
    texts = list(Response.objects.filter(comparison__prompt=first).order_by("position").values_list("text", flat=True))
    assert texts == four()
    assert Response.objects.get(text="Red").model_name == "m1"
    assert Prompt.objects.get(messages__0__role="system").messages[-1] == {"role": "user", "content": "Hi"}


def test_reimporting_the_same_file_adds_nothing(project):
    data = jsonl({"prompt": "A", "responses": four()}, {"prompt": "B"})
    prompts_import(project=project, upload=upload(data))
    again = prompts_import(project=project, upload=upload(data))
    assert (again.created_prompts, again.skipped_duplicates, again.created_comparisons, again.skipped_comparisons) == (0, 2, 0, 1)
    assert Prompt.objects.count() == 2 and Comparison.objects.count() == 1


def test_same_prompt_with_new_responses_adds_a_comparison_but_no_prompt(project):
    prompts_import(project=project, rows=[{"prompt": "A", "responses": four("v1")}])
    result = prompts_import(project=project, rows=[{"prompt": "  A  ", "responses": four("v2")}])
    assert (result.created_prompts, result.created_comparisons) == (0, 1)
    assert Prompt.objects.count() == 1 and Comparison.objects.count() == 2


def test_duplicate_rows_inside_one_file_are_counted_once(project):
    result = prompts_import(project=project, rows=[{"prompt": "A", "responses": four()}] * 3)
    assert (result.created_prompts, result.skipped_duplicates, result.created_comparisons) == (1, 2, 1)


def test_broken_json_names_the_line_and_imports_nothing(project):
    data = jsonl({"prompt": "ok"}, "", '{"prompt": "broken",', {"prompt": "fine"})
    with pytest.raises(ImportValidationError) as exc:
        prompts_import(project=project, upload=upload(data))
    assert exc.value.errors == [{"line": 3, "field": "json", "message": exc.value.errors[0]["message"]}]
    assert "line 3" in exc.value.errors[0]["message"]
    assert Prompt.objects.count() == 0


def test_missing_prompt_and_wrong_response_count_are_reported_per_line(project):
    rows = [{"prompt": "ok"}, {"id": "x"}, {"prompt": "three", "responses": ["a", "b", "c"]}]
    with pytest.raises(ImportValidationError) as exc:
        prompts_import(project=project, rows=rows)
    errors = exc.value.errors
    assert [(e["line"], e["field"]) for e in errors] == [(2, "prompt"), (3, "responses")]
    assert "exactly 4" in errors[1]["message"]
    assert Prompt.objects.count() == 0 and Comparison.objects.count() == 0


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ({"messages": [{"role": "assistant", "content": "a"}]}, "messages"),
        ({"messages": [{"role": "robot", "content": "q"}]}, "messages[0].role"),
        ({"messages": [{"role": "user", "content": ""}]}, "messages[0].content"),
        ({"messages": "not json"}, "messages"),
        ({"prompt": "a", "messages": [{"role": "user", "content": "b"}]}, "prompt"),
        ({"prompt": 12}, "prompt"),
        ({"prompt": "a", "tags": {"x": 1}}, "tags"),
        ({"prompt": "a", "responses": [{"text": ""}, "b", "c", "d"]}, "responses[0].text"),
        ({"prompt": "a", "responses": "nope"}, "responses"),
        ({"prompt": "a", "id": ["list"]}, "id"),
        ("just a string", "row"),
    ],
)
def test_bad_rows_name_the_field(project, row, field):
    with pytest.raises(ImportValidationError) as exc:
        prompts_import(project=project, rows=[row])
    assert exc.value.errors[0]["field"] == field
    assert exc.value.errors[0]["line"] == 1
    assert Prompt.objects.count() == 0


def test_only_the_first_50_errors_are_kept_with_the_total(project):
    with pytest.raises(ImportValidationError) as exc:
        prompts_import(project=project, rows=[{"id": n} for n in range(120)])
    assert len(exc.value.errors) == 50 and exc.value.total == 120
    assert "and 119 more" in str(exc.value)


def test_wrong_encoding_is_refused_with_a_clear_message(project):
    data = "prompt\ncafé au lait\n".encode("latin-1")
    with pytest.raises(ImportValidationError) as exc:
        prompts_import(project=project, upload=upload(data, "p.csv"))
    assert "not UTF-8" in exc.value.errors[0]["message"] and exc.value.errors[0]["line"] == 2
    assert Prompt.objects.count() == 0


def test_oversized_file_is_refused(project, settings):
    settings.MAX_UPLOAD_MB = 1
    data = jsonl(*({"prompt": f"p{n} " + "x" * 1000} for n in range(1100)))
    with pytest.raises(ImportValidationError) as exc:
        prompts_import(project=project, upload=upload(data))
    assert "1 MB limit" in exc.value.errors[0]["message"]
    assert Prompt.objects.count() == 0


def test_bom_and_blank_lines_are_tolerated(project):
    data = b"\xef\xbb\xbf" + jsonl({"prompt": "A"}, "", "   ", {"prompt": "B"}) + b"\n\n"
    assert prompts_import(project=project, upload=upload(data)).created_prompts == 2


def test_empty_file_is_refused(project):
    with pytest.raises(ImportValidationError, match="no rows"):
        prompts_import(project=project, upload=upload(b"\n\n"))


def test_csv_with_numbered_response_columns_and_multiline_cells(project):
    data = (
        b"prompt,id,tags,reference,response_1,response_2,response_3,response_4\r\n"
        b'"Write a haiku\nabout rain",h1,"poetry, short",,a,b,c,d\r\n'
        b"\r\n"
        b'Plain question,h2,"[""x"",""y""]",ref,,,,\r\n'
    )
    result = prompts_import(project=project, upload=upload(data, "p.csv"))
    assert (result.created_prompts, result.created_comparisons) == (2, 1)
    assert Prompt.objects.get(external_id="h1").tags == ["poetry", "short"]
    assert Prompt.objects.get(external_id="h2").tags == ["x", "y"]
    assert Prompt.objects.get(external_id="h1").messages[0]["content"] == "Write a haiku\nabout rain"


def test_csv_messages_and_responses_as_json_columns(project):
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["messages", "responses"])
    writer.writerow([json.dumps([{"role": "user", "content": "Hi"}]), json.dumps(four())])
    result = prompts_import(project=project, upload=upload(buffer.getvalue().encode(), "p.csv"))
    assert (result.created_prompts, result.created_comparisons) == (1, 1)


def test_csv_errors_name_the_starting_line_of_the_record(project):
    data = b'prompt,response_1,response_2,response_3,response_4\n"multi\nline",a,b,c,d\n"x",a,b,,\n'
    with pytest.raises(ImportValidationError) as exc:
        prompts_import(project=project, upload=upload(data, "p.csv"))
    assert exc.value.errors[0]["line"] == 4 and exc.value.errors[0]["field"] == "responses"


def test_csv_without_prompt_column_is_refused(project):
    with pytest.raises(ImportValidationError, match="no column for the prompt"):
        prompts_import(project=project, upload=upload(b"title,body\nq,a\n", "p.csv"))


def test_csv_with_common_column_names_maps_them_to_prompt_and_reference(project):
    result = prompts_import(project=project, upload=upload(b"question,answer\nWhat is 2+2?,4\n", "p.csv"))
    assert result.mapping["prompt"] == "question" and result.mapping["reference"] == "answer"
    assert Prompt.objects.get().reference == "4"


def test_one_bad_row_among_many_writes_nothing(project):
    rows = [{"prompt": f"p{n}", "responses": four(str(n))} for n in range(30)] + [{"prompt": ""}]
    with pytest.raises(ImportValidationError):
        prompts_import(project=project, rows=rows)
    assert Prompt.objects.count() == 0 and Response.objects.count() == 0
