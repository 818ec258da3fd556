"""Cleaning at snapshot time and the tag mix: known answers from a fixture with planted problems."""

from __future__ import annotations

import json

import pytest
from django.core.exceptions import ValidationError

from labeling.exports.cleaning import find_personal_data, find_secrets, mask_personal_data, secret_detectors
from labeling.exports.mix import mixed_prompt_ids, tag_mix_from
from labeling.exports.services import snapshot_create, snapshot_file
from tests.factories import add_member, make_comparison, make_prompt, make_user
from tests.labeling.test_export_snapshots import rank

AWS_KEY = "AKIAIOSFODNN7EXAMPLE"
GITHUB_TOKEN = "ghp_abcdefghijklmnopqrstuvwxyz0123456789AB"
PRIVATE_KEY = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----"

# (prompt, four responses best first). Planted: 2 secrets in responses, 1 in a prompt, 2 e-mails and 1 phone
# number in responses, 1 e-mail in a prompt, 1 exact and 1 near duplicate, 1 empty answer and short ones (only "Green." in a kept comparison).
FIXTURE = [
    ("How do I call the API?", [f"Use the key {AWS_KEY} in the header.", "Read the docs first, then call it.", "Call it.", "No idea."]),
    ("How do I push to git?", ["Run git push after committing your work.", f"Set GITHUB_TOKEN={GITHUB_TOKEN} then push.", "Push it somehow please.", "Ask someone."]),
    (f"My server key is {PRIVATE_KEY} - is it safe?", ["No: rotate it now.", "It is fine.", "Maybe.", "Yes."]),
    ("Who do I contact?", ["Write to help@example.com for support.", "Call (415) 555-2671 during office hours.", "Nobody at all can help.", "Ask a friend."]),
    ("What is my e-mail? It is jane.doe@example.org", ["I cannot see your inbox.", "It is what you wrote.", "Unknown to me.", "No."]),
    ("Name a colour.", ["Blue is a calm colour.", "blue   is a CALM colour.", "Red is a warm colour.", "Green."]),
    ("Describe the sea.", ["The sea is wide, deep and full of life in every part of it.",
                           "The sea is wide, deep and full of life in every part of it!!", "Salty water.", ""]),
]


@pytest.fixture
def planted(project):
    annotator = make_user()
    add_member(project, annotator)
    for prompt_text, texts in FIXTURE:
        comparison = make_comparison(project, prompt=make_prompt(project, prompt_text), texts=texts)
        rank(comparison, annotator, [[0], [1], [2], [3]])
    return project


def _rows(snapshot) -> list[dict]:
    return [json.loads(line) for line in snapshot_file(snapshot, "train").read_text().splitlines()]


def test_the_detectors_find_the_planted_secrets_and_personal_data() -> None:
    with secret_detectors():
        assert find_secrets(f"key {AWS_KEY}") == ["AWS Access Key"]
        assert find_secrets(f"token {GITHUB_TOKEN}") == ["GitHub Token"]
        assert find_secrets(PRIVATE_KEY) == ["Private Key"]
        assert find_secrets("The password is easy to forget; cats like warm places.") == []
    assert find_personal_data("mail a.b@example.com or +44 20 7946 0958") == {"email": 1, "phone": 1}
    assert find_personal_data("In 1999 there were 300 000 people and 42 cats.") == {}
    assert mask_personal_data("Call (415) 555-2671 or mail x@y.io.") == ("Call [phone] or mail [email].", {"email": 1, "phone": 1})


def test_preference_snapshot_drops_what_each_filter_finds_and_the_manifest_counts_it(planted) -> None:
    params = {"test_fraction": 0, "drop_secrets": True, "personal_data": "drop", "dedupe": "near", "drop_empty": True,
              "min_length": 8}
    snapshot = snapshot_create(project=planted, params=params)
    cleaning = snapshot.manifest["cleaning"]
    assert cleaning["removed"] == {
        "comparisons": {"personal_data": 1, "secret": 1},
        "responses": {"duplicate": 1, "empty": 1, "near_duplicate": 1, "personal_data": 2, "secret": 2, "too_short": 1},
        "rows": {},
    }
    assert cleaning["secret_kinds"] == {"AWS Access Key": 1, "GitHub Token": 1, "Private Key": 1}
    assert cleaning["settings"]["personal_data"] == "drop"
    assert snapshot.manifest["dropped"]["rankings"]["cleaned_prompt"] == 2
    # 5 comparisons left, 6 pairs each before cleaning; each removed response takes its 3 pairs
    # (pairs between two removed responses counted once): 30 - 21 = 9 rows.
    assert snapshot.manifest["dropped"]["rows"]["cleaned_response"] == 21
    text = json.dumps(_rows(snapshot))
    for planted_text in (AWS_KEY, GITHUB_TOKEN, "PRIVATE KEY", "help@example.com", "555-2671", "jane.doe", "CALM"):
        assert planted_text not in text
    assert snapshot.manifest["rows"]["total"] == len(_rows(snapshot)) == 9


def test_masking_keeps_the_rows_and_replaces_personal_data(planted) -> None:
    snapshot = snapshot_create(project=planted, params={"test_fraction": 0, "personal_data": "mask"})
    cleaning = snapshot.manifest["cleaning"]
    assert cleaning["masked"] == {"email": 2, "phone": 1}
    assert cleaning["removed"] == {"comparisons": {}, "responses": {}, "rows": {}}
    rows = _rows(snapshot)
    assert len(rows) == 7 * 6
    text = json.dumps(rows)
    assert "[email] for support" in text and "Call [phone] during" in text and "It is jane" not in text
    assert "help@example.com" not in text and "jane.doe@example.org" not in text


def test_exact_duplicate_rows_across_the_export_are_written_once(project) -> None:
    annotator = make_user()
    add_member(project, annotator)
    prompt = make_prompt(project, "Say hi.")
    for _ in range(2):  # a second round that produced the same answers
        rank(make_comparison(project, prompt=prompt, texts=["Hi there!", "Go away."]), annotator, [[0], [1]])
    snapshot = snapshot_create(project=project, params={"test_fraction": 0, "dedupe": "exact", "kind": "sft"})
    assert len(_rows(snapshot)) == 1 and snapshot.manifest["cleaning"]["removed"]["rows"] == {"duplicate": 1}
    plain = snapshot_create(project=project, params={"test_fraction": 0, "kind": "sft"})
    assert len(_rows(plain)) == 2 and "cleaning" not in plain.manifest


def test_tag_mix_picks_prompts_to_the_target_shares_and_reports_before_and_after(project) -> None:
    annotator = make_user()
    add_member(project, annotator)
    for i, tag in enumerate(["code"] * 12 + ["chat"] * 4 + ["other"] * 3):
        comparison = make_comparison(project, prompt=make_prompt(project, f"Question {i}?", tags=[tag]), texts=["good", "bad"])
        rank(comparison, annotator, [[0], [1]])
    snapshot = snapshot_create(project=project, params={"test_fraction": 0, "tag_mix": "code=0.5, chat=0.5"})
    mix = snapshot.manifest["mix"]
    assert mix["target"] == {"chat": 0.5, "code": 0.5}
    assert mix["before"] == {"(other)": {"prompts": 3, "share": 0.1579}, "chat": {"prompts": 4, "share": 0.2105},
                             "code": {"prompts": 12, "share": 0.6316}}
    assert mix["after"] == {"chat": {"prompts": 4, "share": 0.5}, "code": {"prompts": 4, "share": 0.5}}
    assert snapshot.manifest["rows"]["total"] == 8
    assert snapshot.manifest["dropped"]["rankings"]["tag_mix"] == 11
    assert snapshot.manifest["params"]["tag_mix"] == {"chat": 0.5, "code": 0.5}


def test_tag_mix_applies_after_the_cap_per_tag(project) -> None:
    annotator = make_user()
    add_member(project, annotator)
    for i, tag in enumerate(["code"] * 12 + ["chat"] * 6):
        comparison = make_comparison(project, prompt=make_prompt(project, f"Q {i}?", tags=[tag]), texts=["good", "bad"])
        rank(comparison, annotator, [[0], [1]])
    snapshot = snapshot_create(project=project, params={"test_fraction": 0, "cap_per_tag": 8, "tag_mix": {"code": 0.75, "chat": 0.25}})
    assert snapshot.manifest["mix"]["before"]["code"]["prompts"] == 8, "the cap ran first"
    # 8 code prompts can carry 10.67 at 75%: floor(0.75 x 10.67) = 8 code, floor(0.25 x 10.67) = 2 chat.
    assert snapshot.manifest["mix"]["after"] == {"chat": {"prompts": 2, "share": 0.2}, "code": {"prompts": 8, "share": 0.8}}


def test_mix_counts_a_prompt_in_its_first_named_tag_and_is_seed_stable() -> None:
    rows = [(f"k{i}", i, ["b", "a"] if i < 4 else ["b"]) for i in range(10)]
    allowed, report = mixed_prompt_ids(rows, (("a", 0.5), ("b", 0.5)))
    assert report["before"]["a"]["prompts"] == 4 and report["before"]["b"]["prompts"] == 6
    assert allowed == {0, 1, 2, 3, 4, 5, 6, 7}
    assert mixed_prompt_ids(list(reversed(rows)), (("a", 0.5), ("b", 0.5)))[0] == allowed


@pytest.mark.parametrize(("params", "field", "message"), [
    ({"tag_mix": {"code": 0.5, "chat": 0.2}}, "tag_mix", "add up to 1"),
    ({"tag_mix": "code"}, "tag_mix", "tag=share"),
    ({"tag_mix": {"code": "lots"}}, "tag_mix", "must be a number"),
    ({"personal_data": "hide"}, "personal_data", "keep, mask, drop"),
    ({"dedupe": "fuzzy"}, "dedupe", "off, exact, near"),
    ({"min_length": -1}, "min_length", "between 0"),
    ({"drop_secrets": "maybe"}, "drop_secrets", "true or false"),
])
def test_bad_cleaning_and_mix_parameters_are_refused_naming_the_field(project, params, field, message) -> None:
    with pytest.raises(ValidationError) as info:
        snapshot_create(project=project, params=params)
    assert field in info.value.message_dict and message in info.value.message_dict[field][0]


def test_tag_mix_text_and_dict_forms_agree() -> None:
    assert tag_mix_from("code=0.5, chat: 0.5") == tag_mix_from({"chat": 0.5, "code": 0.5}) == (("chat", 0.5), ("code", 0.5))
    assert tag_mix_from({"a": 0.33, "b": 0.33, "c": 0.33})[0][1] == pytest.approx(1 / 3)


def test_the_export_page_offers_cleaning_and_the_snapshot_applies_what_the_manager_chose(client, planted) -> None:
    from django.urls import reverse

    from labeling.models import DatasetSnapshot, Role

    manager = make_user("boss")
    add_member(planted, manager, Role.MANAGER)
    client.force_login(manager)
    url = reverse("exports:export-list", args=[planted.pk])
    page = client.get(url).content.decode()
    assert "Cleaning and balance" in page and 'name="personal_data"' in page and 'name="tag_mix"' in page
    form = {"kind": "preference", "aggregation": "all", "pairs": "all", "min_agreement": "0", "test_fraction": "0",
            "seed": "0", "format": "jsonl", "style": "conversational", "personal_data": "mask", "dedupe": "off",
            "sft_source": "both", "drop_secrets": "on"}
    assert client.post(url, form).status_code == 302
    snapshot = DatasetSnapshot.objects.get()
    assert snapshot.manifest["cleaning"]["settings"]["personal_data"] == "mask"
    assert snapshot.manifest["cleaning"]["removed"]["comparisons"] == {"secret": 1}
    text = json.dumps(_rows(snapshot))
    assert "help@example.com" not in text and "[email]" in text and AWS_KEY not in text
    bad = client.post(url, {**form, "tag_mix": "code=0.9, chat=0.5"})
    assert bad.status_code == 400 and "add up to 1" in bad.content.decode()
