"""API shapes of the labeling side (the public contract documented at /api/docs/)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from labeling.models import Assignment, Flag, Preference, Project
from labeling.services.projects import MAX_LEASE_MINUTES, MAX_OVERLAP
from labeling.services.ranking import MAX_NOTE_CHARS


class ErrorItemSerializer(serializers.Serializer):
    line = serializers.IntegerField(required=False, allow_null=True, help_text="Import errors: the file's line.")
    field = serializers.CharField()
    message = serializers.CharField()


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()
    errors = ErrorItemSerializer(many=True, required=False)
    total = serializers.IntegerField(required=False, help_text="Import errors: how many in all (50 are listed).")


class ProjectSerializer(serializers.ModelSerializer):
    role = serializers.SerializerMethodField(help_text="Your role: manager, annotator (staff count as managers).")

    class Meta:
        model = Project
        fields = ["id", "name", "slug", "instructions", "k", "overlap", "allow_ties", "lease_minutes", "base_model", "created_at", "role"]
        read_only_fields = fields

    def get_role(self, project: Project) -> str | None:
        user = self.context["request"].user
        if user.is_staff:
            return "manager"
        return self.context.get("roles", {}).get(project.pk)


class ProjectCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    slug = serializers.SlugField(max_length=80, required=False, allow_blank=True)
    instructions = serializers.CharField(required=False, allow_blank=True, default="")
    k = serializers.IntegerField(min_value=2, max_value=9, default=4)
    overlap = serializers.IntegerField(min_value=1, max_value=MAX_OVERLAP, default=1)
    allow_ties = serializers.BooleanField(default=True)
    lease_minutes = serializers.IntegerField(min_value=1, max_value=MAX_LEASE_MINUTES, default=30)
    base_model = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class ImportRequestSerializer(serializers.Serializer):
    file = serializers.FileField(required=False, help_text="JSONL, CSV, Parquet, or a zipped save_to_disk folder (multipart/form-data).")
    format = serializers.ChoiceField(choices=["jsonl", "csv", "parquet"], required=False, help_text="Default: from the file name.")
    rows = serializers.ListField(child=serializers.DictField(), required=False, help_text="JSON body instead of a file.")
    hub_id = serializers.CharField(required=False, help_text="A Hugging Face Hub dataset id (needs a network).")
    split = serializers.CharField(required=False, help_text="Split of a folder or Hub dataset (default: train).")
    token = serializers.CharField(required=False, help_text="The token of a preview: import what was previewed.")
    mapping = serializers.DictField(child=serializers.CharField(allow_blank=True), required=False,
                                    help_text='{field: column}, fields prompt, messages, chosen, rejected, margin, responses, id, tags, reference; JSON text in multipart.')


class ImportResultSerializer(serializers.Serializer):
    rows = serializers.IntegerField()
    created_prompts = serializers.IntegerField()
    skipped_duplicates = serializers.IntegerField()
    created_comparisons = serializers.IntegerField()
    skipped_comparisons = serializers.IntegerField()
    dialogues = serializers.IntegerField(help_text="Rows ending with an assistant turn (kept as the prompt's reference).")
    pairs = serializers.IntegerField(help_text="chosen/rejected rows (2-response comparisons).")
    mapping = serializers.DictField(child=serializers.CharField())


class ImportPreviewSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="Send it back to /import/ with the reviewed mapping.")
    source = serializers.CharField()
    columns = serializers.ListField(child=serializers.CharField())
    mapping = serializers.DictField(child=serializers.CharField())
    fields = serializers.ListField(child=serializers.CharField())
    total = serializers.IntegerField(allow_null=True)
    unit = serializers.CharField(help_text="What error numbers count: line (JSONL/CSV) or row (tables).")
    sample = serializers.ListField(child=serializers.DictField())
    warning = serializers.CharField(help_text="Set when no column maps to the prompt yet.")


class ChatMessageSerializer(serializers.Serializer):
    role = serializers.CharField()
    content = serializers.CharField()


class ClaimedPromptSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    messages = ChatMessageSerializer(many=True)


class ShownResponseSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    text = serializers.CharField()


class ClaimedComparisonSerializer(serializers.Serializer):
    """A leased comparison: rank its responses (shown in this order) before the lease expires."""

    id = serializers.IntegerField(source="comparison.id")
    project = serializers.IntegerField(source="comparison.project_id")
    prompt = ClaimedPromptSerializer(source="comparison.prompt")
    policy_version = serializers.CharField(
        source="comparison.policy_version", help_text="The policy version that generated it (\"\" for imported responses)."
    )
    responses = serializers.SerializerMethodField()
    lease_expires_at = serializers.DateTimeField(source="expires_at")

    @extend_schema_field(ShownResponseSerializer(many=True))
    def get_responses(self, assignment: Assignment) -> list[dict[str, Any]]:
        return shown_responses(assignment)


def shown_responses(assignment: Assignment) -> list[dict[str, Any]]:
    """List the responses in the order this annotator is shown them (recorded for bias checks)."""
    responses = list(assignment.comparison.responses.all())
    shown = {rid: n for n, rid in enumerate(assignment.display_order or [])}
    responses.sort(key=lambda r: (shown.get(r.pk, len(shown)), r.position))
    return [{"id": r.pk, "text": r.text} for r in responses]


def claimed_payload(assignment: Assignment) -> dict[str, Any]:
    """Render a lease as ClaimedComparisonSerializer does, from the loaded objects, without DRF's per-field cost."""
    comparison = assignment.comparison
    prompt = comparison.prompt
    messages = [
        {"role": str(m.get("role", "")), "content": str(m.get("content", ""))}
        for m in (prompt.messages if isinstance(prompt.messages, list) else [])
        if isinstance(m, dict)
    ]
    return {
        "id": comparison.pk,
        "project": comparison.project_id,
        "prompt": {"id": prompt.pk, "messages": messages},
        "policy_version": comparison.policy_version,
        "responses": shown_responses(assignment),
        "lease_expires_at": _DATETIME.to_representation(assignment.expires_at),
    }


_DATETIME = serializers.DateTimeField()


class RankingRequestSerializer(serializers.Serializer):
    """Documentation of the ranking body; the ranking service checks it and names the bad field."""

    order = serializers.ListField(
        child=serializers.ListField(child=serializers.IntegerField()),
        help_text="Tie groups of response ids, best first: [[12], [10, 13], [11]]. Every response exactly once.",
    )
    # Plain strings (not an enum) so the schema does not name the Flag choices twice (exports use them too).
    flags = serializers.ListField(
        child=serializers.CharField(), required=False, default=list, help_text=f"Any of: {', '.join(Flag.values)}."
    )
    note = serializers.CharField(required=False, allow_blank=True, max_length=MAX_NOTE_CHARS, default="")
    idempotency_key = serializers.CharField(required=False, allow_blank=True, max_length=100, help_text="Same key again: 200 with the stored ranking.")
    strength = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=3, help_text="K = 2 only: 1 slightly, 2 clearly, 3 much better.")
    time_spent_ms = serializers.IntegerField(required=False, min_value=0, default=0)


class RankingStoredSerializer(serializers.Serializer):
    """What a submit answers: the stored ranking's id and, unless ?next=false, your next comparison."""

    id = serializers.IntegerField(help_text="The ranking's id.")
    comparison = serializers.IntegerField()
    created = serializers.BooleanField(help_text="False when the same idempotency key was sent again.")
    next = ClaimedComparisonSerializer(
        allow_null=True, help_text="Your next comparison, already leased (null when nothing is left, or with ?next=false)."
    )


class PreferenceSerializer(serializers.ModelSerializer):
    annotator = serializers.CharField(source="annotator.username")
    prompt = serializers.IntegerField(source="comparison.prompt_id")
    prompt_messages = ChatMessageSerializer(source="comparison.prompt.messages", many=True)
    chosen_text = serializers.CharField(source="chosen.text")
    rejected_text = serializers.CharField(source="rejected.text")
    flags = serializers.JSONField(source="ranking.flags")
    policy_version = serializers.CharField(source="comparison.policy_version")

    class Meta:
        model = Preference
        fields = [
            "id", "ranking", "comparison", "prompt", "annotator", "chosen", "rejected", "margin",
            "prompt_messages", "chosen_text", "rejected_text", "flags", "policy_version", "created_at",
        ]
        read_only_fields = fields
