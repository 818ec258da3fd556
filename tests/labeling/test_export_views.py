"""Export pages and API: who may export and download, what bad input gets back."""

from __future__ import annotations

import hashlib
import json

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from labeling.exports.services import snapshot_create
from labeling.models import DatasetSnapshot, Role, SnapshotStatus
from tests.factories import add_member, make_project, make_user
from tests.labeling.test_export_snapshots import ranked_project


@pytest.fixture
def snapshot(project, manager):
    ranked_project(project, 4, annotators=1)
    return snapshot_create(project=project, params={"test_fraction": 0}, user=manager)


@pytest.fixture
def outsider(db):
    """A manager of another project."""
    user = make_user("outsider")
    add_member(make_project(), user, Role.MANAGER)
    return user


def page(project) -> str:
    return reverse("exports:export-list", args=[project.pk])


def test_manager_sees_form_and_snapshots(client, manager, snapshot):
    client.force_login(manager)
    body = client.get(page(snapshot.project)).content.decode()
    assert 'name="aggregation"' in body and snapshot.name in body and "24 (24 / 0)" in body


def test_annotator_gets_403_and_other_projects_404(client, annotator, outsider, snapshot):
    client.force_login(annotator)
    assert client.get(page(snapshot.project)).status_code == 403
    assert client.post(page(snapshot.project), {}).status_code == 403
    assert client.get(reverse("exports:snapshot-download", args=[snapshot.pk, "train.jsonl"])).status_code == 403
    client.force_login(outsider)
    assert client.get(page(snapshot.project)).status_code == 404
    assert client.get(reverse("exports:snapshot-detail", args=[snapshot.pk])).status_code == 404
    assert client.get(reverse("exports:snapshot-download", args=[snapshot.pk, "train.jsonl"])).status_code == 404


def test_form_post_creates_snapshot_and_redirects(client, manager, project):
    ranked_project(project, 3, annotators=1)
    client.force_login(manager)
    response = client.post(page(project), {"kind": "preference", "aggregation": "majority", "pairs": "best_vs_worst",
                                           "min_agreement": "0", "test_fraction": "0", "seed": "0", "format": "parquet", "style": "conversational"})
    assert response.status_code == 302
    snapshot = DatasetSnapshot.objects.get()
    assert snapshot.row_count == 3 and "train.parquet" in snapshot.files


def test_htmx_post_answers_with_the_panel_partial(client, manager, project):
    ranked_project(project, 2, annotators=1)
    client.force_login(manager)
    data = {"kind": "preference", "aggregation": "all", "pairs": "all", "min_agreement": "0", "test_fraction": "0.1", "seed": "1", "format": "jsonl", "style": "conversational"}
    response = client.post(page(project), data, headers={"HX-Request": "true"})
    body = response.content.decode()
    assert response.status_code == 200 and "<html" not in body and 'id="export-panel"' in body and "written: 12 rows" in body


def test_bad_form_input_is_400_naming_the_field(client, manager, project):
    ranked_project(project, 1, annotators=1)
    client.force_login(manager)
    response = client.post(page(project), {"kind": "preference", "aggregation": "all", "pairs": "all", "min_agreement": "2", "test_fraction": "0", "seed": "0", "format": "jsonl", "style": "conversational"})
    assert response.status_code == 400 and "min_agreement:" in response.content.decode()
    response = client.post(page(project), {"kind": "preference", "aggregation": "all", "pairs": "all", "min_agreement": "0", "test_fraction": "0", "seed": "0", "format": "jsonl", "style": "conversational", "annotators_include": "ghost"})
    assert response.status_code == 400 and "annotators_include: &#x27;ghost&#x27; is not a member" in response.content.decode()


def test_empty_export_page_says_so(client, manager, project):
    client.force_login(manager)
    response = client.post(page(project), {"kind": "preference", "aggregation": "all", "pairs": "all", "min_agreement": "0", "test_fraction": "0", "seed": "0", "format": "jsonl", "style": "conversational"})
    assert response.status_code == 400 and "Nothing to export" in response.content.decode()
    assert not DatasetSnapshot.objects.exists()


def test_download_streams_the_file_and_refuses_other_names(client, manager, snapshot):
    client.force_login(manager)
    response = client.get(reverse("exports:snapshot-download", args=[snapshot.pk, "train.jsonl"]))
    assert response.status_code == 200 and response.streaming
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert len(lines) == snapshot.train_rows and "chosen" in json.loads(lines[0])
    for name in ("../manifest.json", "nope.jsonl", "hf/state.json"):
        assert client.get(reverse("exports:snapshot-download", args=[snapshot.pk, name])).status_code == 404


def test_detail_page_shows_manifest_and_files(client, manager, snapshot):
    client.force_login(manager)
    body = client.get(reverse("exports:snapshot-detail", args=[snapshot.pk])).content.decode()
    assert "ids/ranking_ids.txt" in body and snapshot.files["train.jsonl"] in body


# API


@pytest.fixture
def api(manager):
    client = APIClient()
    client.force_authenticate(manager)
    return client


def url(project) -> str:
    return f"/api/projects/{project.pk}/exports/"


def test_api_creates_lists_reads_and_downloads(api, project):
    ranked_project(project, 3, annotators=1)
    created = api.post(url(project), {"aggregation": "bradley_terry", "test_fraction": 0}, format="json")
    assert created.status_code == 201 and created.json()["row_count"] == 18
    sid = created.json()["id"]
    assert api.get(url(project)).json()["results"][0]["id"] == sid
    detail = api.get(f"/api/exports/{sid}/").json()
    assert detail["manifest"]["params"]["aggregation"] == "bradley_terry" and "train.jsonl" in detail["files_urls"]
    download = api.get(f"/api/exports/{sid}/download/")
    assert download.status_code == 200 and len(b"".join(download.streaming_content).splitlines()) == 18
    assert api.get(f"/api/exports/{sid}/download/?file=manifest.json").status_code == 200


@pytest.mark.parametrize(("body", "field"), [({"pairs": "best"}, "pairs"), ({"seed": -1}, "seed"), ({"tags": "x", "cap_per_tag": 0}, "cap_per_tag"), ({"bogus": 1}, "bogus")])
def test_api_bad_params_are_400_naming_the_field(api, project, body, field):
    ranked_project(project, 1, annotators=1)
    response = api.post(url(project), body, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == field and field in response.json()["detail"]


def test_api_empty_export_is_400_with_message(api, project):
    response = api.post(url(project), {}, format="json")
    assert response.status_code == 400 and "Nothing to export" in response.json()["detail"]


def test_api_background_export_is_queued(api, project):
    ranked_project(project, 2, annotators=1)
    response = api.post(url(project), {"background": True}, format="json")
    assert response.status_code == 202 and response.json()["status"] == SnapshotStatus.PENDING


def test_api_access_rules(project, annotator, outsider, snapshot):
    client = APIClient()
    assert client.get(url(project)).status_code in (401, 403)
    client.force_authenticate(annotator)
    assert client.post(url(project), {}, format="json").status_code == 403
    assert client.get(f"/api/exports/{snapshot.pk}/download/").status_code == 403
    client.force_authenticate(outsider)
    assert client.get(url(project)).status_code == 404
    assert client.get(f"/api/exports/{snapshot.pk}/").status_code == 404
    assert client.get(f"/api/exports/{snapshot.pk}/download/").status_code == 404


def test_every_file_a_snapshot_lists_downloads_including_the_saved_folder_members(api, client, manager, project):
    ranked_project(project, 2, annotators=1)
    sid = api.post(url(project), {"format": "save_to_disk", "test_fraction": 0}, format="json").json()["id"]
    detail = api.get(f"/api/exports/{sid}/").json()
    assert any(name.startswith("hf/train/") for name in detail["files"]) and set(detail["files"]) <= set(detail["files_urls"])
    client.force_login(manager)
    for name, digest in detail["files"].items():
        body = b"".join(api.get(detail["files_urls"][name]).streaming_content)
        page_body = b"".join(client.get(reverse("exports:snapshot-download", args=[sid, name])).streaming_content)
        assert hashlib.sha256(body).hexdigest() == hashlib.sha256(page_body).hexdigest() == digest, name
