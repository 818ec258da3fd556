"""API shapes for models and runs."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from training.models import ChainStep, ModelVersion, Run, RunKind
from training.selectors import PromptChoice, run_latest_metrics


class ModelVersionSerializer(serializers.ModelSerializer):
    is_current = serializers.SerializerMethodField(help_text="Whether the project currently points at this version.")

    class Meta:
        model = ModelVersion
        fields = ["id", "project", "kind", "name", "path", "parent", "run", "metrics", "created_at", "is_current"]
        read_only_fields = fields

    def get_is_current(self, version: ModelVersion) -> bool:
        current: set[int] = self.context.get("current_ids", set())
        return version.pk in current


class ChainStepSerializer(serializers.ModelSerializer):
    class Meta:
        model = ChainStep
        fields = [
            "recipe", "index", "reason", "snapshot", "decided_at", "promoted", "decision", "win_rate", "min_win_rate",
            "version", "evaluating", "next_run", "ended", "stopped", "error",
        ]
        read_only_fields = fields


class RunSerializer(serializers.ModelSerializer):
    chain = serializers.SerializerMethodField(help_text="The run's step in a schedule's recipe chain (null outside one).")

    class Meta:
        model = Run
        fields = [
            "id", "project", "kind", "status", "progress", "config", "inputs", "outputs", "nproc", "snapshot",
            "error", "cancel_requested", "heartbeat_at", "created_at", "started_at", "finished_at", "schedule",
            "parent_run", "chain",
        ]
        read_only_fields = fields

    @extend_schema_field(ChainStepSerializer(allow_null=True))
    def get_chain(self, run: Run) -> dict[str, Any] | None:
        try:
            step = run.chain_step  # the list selectors join it in, so a page of runs costs no query per run
        except ChainStep.DoesNotExist:
            return None
        return ChainStepSerializer(step).data


class RunDetailSerializer(RunSerializer):
    latest_metrics = serializers.SerializerMethodField(help_text="Newest value of every metric the job logged.")

    class Meta(RunSerializer.Meta):
        fields = [*RunSerializer.Meta.fields, "latest_metrics", "log_tail"]
        read_only_fields = fields

    def get_latest_metrics(self, run: Run) -> dict[str, Any]:
        return run_latest_metrics(run)


class PromptSelectionSerializer(serializers.Serializer):
    which = serializers.ChoiceField(choices=PromptChoice.CHOICES, default=PromptChoice.GENERATE_DEFAULT)
    tag = serializers.CharField(required=False, allow_blank=True, default="", max_length=100)


class RunCreateSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=RunKind.choices)
    config = serializers.JSONField(required=False, default=dict, help_text="Hyperparameters; unknown keys are refused.")
    snapshot = serializers.IntegerField(required=False, allow_null=True, help_text="DatasetSnapshot id (reward, dpo, ...).")
    snapshot_id = serializers.IntegerField(required=False, allow_null=True, help_text="Same as `snapshot`.")
    snapshot_params = serializers.JSONField(
        required=False, allow_null=True,
        help_text="Export filters for a fresh snapshot (min_agreement, aggregation, exclude_flags, test_fraction, ...); "
        "used when no snapshot is given. Without either, a fresh snapshot with the default filters is made.",
    )
    base = serializers.IntegerField(required=False, allow_null=True, help_text="Policy ModelVersion id to start from (default: the current policy).")
    nproc = serializers.IntegerField(required=False, default=1, min_value=1, max_value=64)
    prompts = PromptSelectionSerializer(required=False, help_text="generate: which prompts (unranked, all, tag).")
