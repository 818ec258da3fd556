"""`manage.py export_preferences` and the background task."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from labeling.exports.services import snapshot_file, snapshot_request
from labeling.exports.tasks import snapshot_build_task
from labeling.models import DatasetSnapshot, SnapshotStatus
from tests.labeling.test_export_snapshots import ranked_project


def test_command_exports_with_progress_and_reports_the_snapshot(project):
    ranked_project(project, 3, annotators=1)
    out, err = io.StringIO(), io.StringIO()
    call_command("export_preferences", project.slug, "--aggregation", "majority", "--pairs", "best_vs_rest", "--test-fraction", "0", stdout=out, stderr=err)
    snapshot = DatasetSnapshot.objects.get()
    assert f"Snapshot {snapshot.pk}" in out.getvalue() and "9 rows" in out.getvalue()
    assert "3/3 comparisons" in err.getvalue() and "100%" in err.getvalue()
    assert len(snapshot_file(snapshot).read_text().splitlines()) == 9


def test_command_params_json_and_errors_name_the_field(project):
    ranked_project(project, 2, annotators=1)
    call_command("export_preferences", str(project.pk), "--params-json", json.dumps({"kind": "prompt"}), "--no-progress", stdout=io.StringIO())
    assert DatasetSnapshot.objects.get().kind == "prompt"
    with pytest.raises(CommandError, match="min_agreement"):
        call_command("export_preferences", project.slug, "--min-agreement", "3", "--no-progress", stdout=io.StringIO())
    with pytest.raises(CommandError, match="No project"):
        call_command("export_preferences", "missing-project", stdout=io.StringIO())


def test_requested_export_is_queued_on_commit_and_built_by_the_task(project, django_capture_on_commit_callbacks):
    from django_tasks_db.models import DBTaskResult

    ranked_project(project, 2, annotators=1)
    with django_capture_on_commit_callbacks(execute=True):
        snapshot = snapshot_request(project=project, params={"format": "save_to_disk"})
    assert DBTaskResult.objects.filter(task_path__endswith="snapshot_build_task").count() == 1
    result = snapshot_build_task.call(snapshot.pk)
    snapshot.refresh_from_db()
    assert result["status"] == SnapshotStatus.SUCCEEDED and "hf.zip" in snapshot.files


def test_task_records_a_clear_error_when_the_export_turns_out_empty(project):
    ranked_project(project, 1, annotators=1)
    snapshot = snapshot_request(project=project, params={"min_agreement": 1.0, "aggregation": "majority", "tags": ["none-such"]})
    result = snapshot_build_task.call(snapshot.pk)
    assert result["status"] == SnapshotStatus.FAILED and "Nothing to export" in result["error"]
