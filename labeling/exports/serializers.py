"""API shapes of exports: snapshots out, export parameters in (validated by the service)."""

from __future__ import annotations

from django.urls import reverse
from rest_framework import serializers

from labeling.exports.params import AGGREGATIONS, FLAGS, FORMATS, KINDS, PAIR_SELECTIONS, STYLES
from labeling.exports.selectors import snapshot_downloads, snapshot_primary_file
from labeling.models import DatasetSnapshot


class ExportRequestSerializer(serializers.Serializer):
    """Export parameters (all optional). Documents the API; `params_from_dict` validates."""

    name = serializers.CharField(required=False, max_length=80)
    kind = serializers.ChoiceField(choices=KINDS, required=False, default="preference")
    aggregation = serializers.ChoiceField(choices=AGGREGATIONS, required=False, default="all")
    pairs = serializers.ChoiceField(choices=PAIR_SELECTIONS, required=False, default="all")
    min_agreement = serializers.FloatField(required=False, min_value=0, max_value=1, default=0.0)
    exclude_flags = serializers.ListField(child=serializers.ChoiceField(choices=FLAGS), required=False, default=list(FLAGS))
    annotators_include = serializers.ListField(child=serializers.CharField(), required=False, help_text="Usernames.")
    annotators_exclude = serializers.ListField(child=serializers.CharField(), required=False, help_text="Usernames.")
    min_annotator_agreement = serializers.FloatField(required=False, min_value=0, max_value=1, default=0.0, help_text="Leave out annotators agreeing with the others less than this (0–1).")
    min_gold_accuracy = serializers.FloatField(required=False, min_value=0, max_value=1, default=0.0, help_text="Leave out annotators with gold accuracy below this (0–1).")
    date_from = serializers.DateField(required=False)
    date_to = serializers.DateField(required=False)
    policy_versions = serializers.ListField(child=serializers.CharField(), required=False)
    tags = serializers.ListField(child=serializers.CharField(), required=False)
    cap_per_tag = serializers.IntegerField(required=False, min_value=1, allow_null=True)
    test_fraction = serializers.FloatField(required=False, min_value=0, max_value=0.5, default=0.1)
    seed = serializers.IntegerField(required=False, min_value=0, default=0)
    format = serializers.ChoiceField(choices=FORMATS, required=False, help_text="Default: parquet for prompt exports, jsonl otherwise.")
    style = serializers.ChoiceField(choices=STYLES, required=False, default="conversational")
    data_source = serializers.CharField(required=False, max_length=100, help_text="Prompt exports: verl's data_source; default prefloop/<slug>.")
    ability = serializers.CharField(required=False, max_length=100, help_text="Prompt exports: verl's ability; default chat.")
    background = serializers.BooleanField(required=False, allow_null=True, help_text="Queue for the worker; default: only large exports.")


class SnapshotSerializer(serializers.ModelSerializer):
    """A snapshot with its counts, files and download links."""

    project = serializers.IntegerField(source="project_id", read_only=True)
    download_url = serializers.SerializerMethodField()
    files_urls = serializers.SerializerMethodField()

    class Meta:
        model = DatasetSnapshot
        fields = [
            "id", "project", "name", "kind", "status", "params", "row_count", "train_rows", "test_rows",
            "sha256", "files", "manifest", "error", "created_at", "finished_at", "download_url", "files_urls",
        ]
        read_only_fields = fields

    def _url(self, snapshot: DatasetSnapshot, name: str) -> str:
        path = reverse("export-download-api", args=[snapshot.pk]) + f"?file={name}"
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path

    def get_download_url(self, snapshot: DatasetSnapshot) -> str | None:
        if not snapshot_downloads(snapshot):
            return None
        return self._url(snapshot, snapshot_primary_file(snapshot))

    def get_files_urls(self, snapshot: DatasetSnapshot) -> dict[str, str]:
        return {name: self._url(snapshot, name) for name in snapshot_downloads(snapshot)}
