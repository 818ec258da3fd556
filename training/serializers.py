"""API shapes for models and runs."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from labeling.models import Membership, Role
from training.models import ChainStep, MetricPoint, ModelVersion, Run, RunKind
from training.selectors import PromptChoice, run_latest_metrics


class ManagersOnlyMixin:
    """Blank what only a project's managers may read (server paths, job stderr) for everyone else.

    Pass the request in the context; without one the fields are blanked (safe by default).
    """

    managers_only: dict[str, Any] = {}

    def to_representation(self, instance: Any) -> dict[str, Any]:
        data = super().to_representation(instance)  # type: ignore[misc]
        if not self._reader_manages(instance.project_id):
            for field, blank in self.managers_only.items():
                if field in data:
                    data[field] = blank(data[field]) if callable(blank) else blank
        return data

    def _reader_manages(self, project_id: int) -> bool:
        context = self.context  # type: ignore[attr-defined]  # shared by every row of a list: computed once
        if "managed_project_ids" not in context:
            user = getattr(context.get("request"), "user", None)
            if user is None or not user.is_authenticated:
                context["managed_project_ids"] = frozenset()
            elif user.is_staff:
                context["managed_project_ids"] = None  # staff manage every project
            else:
                rows = Membership.objects.filter(user=user, role=Role.MANAGER).values_list("project_id", flat=True)
                context["managed_project_ids"] = frozenset(rows)
        managed = context["managed_project_ids"]
        return managed is None or project_id in managed


def _failure_note(error: str) -> str:
    return "The run failed; its managers can read why." if error else ""


def _chain_without_error(chain: dict[str, Any] | None) -> dict[str, Any] | None:
    return {**chain, "error": _failure_note(chain["error"])} if chain else chain


class ModelVersionSerializer(ManagersOnlyMixin, serializers.ModelSerializer):
    is_current = serializers.SerializerMethodField(help_text="Whether the project currently points at this version.")
    path = serializers.CharField(read_only=True, allow_null=True, help_text="Where the weights are; null unless you manage the project.")
    managers_only = {"path": None}

    class Meta:
        model = ModelVersion
        fields = ["id", "project", "kind", "name", "path", "parent", "run", "metrics", "created_at", "is_current"]
        read_only_fields = fields

    def get_is_current(self, version: ModelVersion) -> bool:
        current: set[int] = self.context.get("current_ids", set())
        return version.pk in current


class MetricPointSerializer(serializers.ModelSerializer):
    values = serializers.DictField(help_text="The line's metrics: {name: number or text}.")

    class Meta:
        model = MetricPoint
        fields = ["step", "values", "created_at"]
        read_only_fields = fields


class ChainStepSerializer(serializers.ModelSerializer):
    class Meta:
        model = ChainStep
        fields = [
            "recipe", "index", "reason", "snapshot", "decided_at", "promoted", "decision", "win_rate", "min_win_rate",
            "version", "evaluating", "next_run", "ended", "stopped", "error",
        ]
        read_only_fields = fields


class RunSerializer(ManagersOnlyMixin, serializers.ModelSerializer):
    chain = serializers.SerializerMethodField(help_text="The run's step in a schedule's recipe chain (null outside one).")
    # Inputs and outputs hold server paths; error and log_tail hold the job's stderr (tracebacks, paths).
    managers_only = {"inputs": {}, "outputs": {}, "error": _failure_note, "log_tail": "", "chain": _chain_without_error}

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
    """Which prompts a run works on; unknown keys are refused (a silently dropped key would change the run)."""

    which = serializers.ChoiceField(choices=PromptChoice.CHOICES, required=False)
    tag = serializers.CharField(required=False, allow_blank=True, default="", max_length=100)
    exclude_snapshot_test = serializers.BooleanField(
        required=False, allow_null=True, default=None,
        help_text="Leave out the prompts the snapshot (the run's, else the newest preference export) holds out "
        "for evaluation. Default: true for ppo, rloo and grpo; false otherwise. Not for generate.",
    )

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                known = ", ".join(self.fields)
                raise serializers.ValidationError({key: [f"unknown key; use {known}"] for key in unknown})
        return super().to_internal_value(data)


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
    accelerate_config = serializers.CharField(
        required=False, default="", allow_blank=True,
        help_text="Name of an accelerate config for nproc > 1 on GPUs: ddp, fsdp, zero3 (bundled) or one of the worker's own.")
    prompts = PromptSelectionSerializer(required=False, help_text="generate: which prompts (unranked, all, tag).")
