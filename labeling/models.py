"""The human side of PrefLoop: projects, prompts, comparisons, rankings, preferences."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from labeling.inputs import SafeJSONField


class Role(models.TextChoices):
    ANNOTATOR = "annotator", "Annotator"
    MANAGER = "manager", "Manager"


class Project(models.Model):
    """A labeling project: what annotators rank and how."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True)
    instructions = models.TextField(blank=True, help_text="Markdown shown above every comparison.")
    k = models.PositiveSmallIntegerField(default=4, help_text="Responses per comparison (2–9).")
    overlap = models.PositiveSmallIntegerField(default=1, help_text="Rankings wanted per comparison.")
    allow_ties = models.BooleanField(default=True)
    lease_minutes = models.PositiveIntegerField(default=30)
    gold_share = models.FloatField(
        default=0.1, help_text="Share of each annotator's queue given to gold comparisons (0–1), when the project has any."
    )
    has_gold = models.BooleanField(default=False, editable=False, help_text="Set when a gold comparison is imported.")
    base_model = models.CharField(
        max_length=500, blank=True, help_text="Hugging Face id or local path; empty = the tiny local policy."
    )
    allow_demonstrations = models.BooleanField(
        default=False, help_text="Annotators may write a better response, or edit a shown one, while ranking."
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=Q(k__gte=2) & Q(k__lte=9), name="project_k_2_to_9"),
            models.CheckConstraint(condition=Q(overlap__gte=1), name="project_overlap_positive"),
            models.CheckConstraint(condition=Q(lease_minutes__gte=1), name="project_lease_positive"),
            models.CheckConstraint(condition=Q(gold_share__gte=0) & Q(gold_share__lte=1), name="project_gold_share_0_to_1"),
        ]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    """A user's role in a project."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.ANNOTATOR)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "user"], name="membership_unique_user")]

    def __str__(self) -> str:
        return f"{self.user} in {self.project} ({self.role})"


class Prompt(models.Model):
    """A chat prompt to collect responses for."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="prompts")
    messages = SafeJSONField(help_text='[{"role": "user", "content": "..."}]')
    content_hash = models.CharField(max_length=64)
    external_id = models.CharField(max_length=200, blank=True)
    tags = SafeJSONField(default=list, blank=True)
    reference = models.TextField(blank=True, help_text="Optional reference answer.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["project", "content_hash"], name="prompt_unique_hash")]

    def __str__(self) -> str:
        return self.external_id or f"prompt {self.pk}"

    @property
    def last_user_text(self) -> str:
        for message in reversed(self.messages or []):
            if message.get("role") == "user":
                return message.get("content", "")
        return ""


class Comparison(models.Model):
    """One prompt and K responses, the unit annotators rank."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="comparisons")
    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="comparisons")
    policy_version = models.CharField(max_length=200, blank=True, help_text="Name of the policy that generated it.")
    source = models.CharField(max_length=40, default="import", help_text="import | generate")
    ranking_count = models.PositiveIntegerField(default=0)
    complete = models.BooleanField(default=False)
    gold_response = models.ForeignKey(
        "Response", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="Known best response: a gold comparison, shown to every annotator to measure accuracy.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["project", "complete", "id"], name="comparison_open_idx")]

    def __str__(self) -> str:
        return f"comparison {self.pk}"

    @property
    def is_gold(self) -> bool:
        return self.gold_response_id is not None


class Response(models.Model):
    """One candidate answer inside a comparison."""

    comparison = models.ForeignKey(Comparison, on_delete=models.CASCADE, related_name="responses")
    position = models.PositiveSmallIntegerField()
    text = models.TextField()
    model_name = models.CharField(max_length=300, blank=True)
    generation_params = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["comparison_id", "position"]
        constraints = [
            models.UniqueConstraint(fields=["comparison", "position"], name="response_unique_position"),
            models.CheckConstraint(condition=Q(position__lte=8), name="response_position_below_9"),
        ]

    def __str__(self) -> str:
        return f"response {self.pk}"


class AssignmentStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    SUBMITTED = "submitted", "Submitted"
    SKIPPED = "skipped", "Skipped"


class SkipReason(models.TextChoices):
    CANNOT_JUDGE = "cannot_judge", "I can't judge this topic"
    BROKEN = "broken", "Prompt or responses are broken"
    OFFENSIVE = "offensive", "Offensive content"
    OTHER = "other", "Another reason"


class Assignment(models.Model):
    """A lease of a comparison to an annotator."""

    comparison = models.ForeignKey(Comparison, on_delete=models.CASCADE, related_name="assignments")
    annotator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="assignments")
    status = models.CharField(max_length=16, choices=AssignmentStatus.choices, default=AssignmentStatus.ACTIVE)
    display_order = models.JSONField(default=list, help_text="Response ids in the order shown.")
    skip_reason = models.CharField(max_length=40, blank=True, default="", db_default="", choices=SkipReason.choices)
    expires_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["comparison", "annotator"], name="assignment_unique_annotator")
        ]
        indexes = [
            models.Index(fields=["comparison", "status", "expires_at"], name="assignment_lease_idx"),
            # A claim first looks for the annotator's own live lease: without this it read every
            # assignment the annotator ever had (a claim's cost grew with their history). Not a
            # partial index on live leases: the claim's generic plan (lease_sql.py) then counted a
            # comparison's live leases by scanning everyone's, instead of by comparison_id.
            models.Index(fields=["annotator", "status", "expires_at"], name="assignment_live_by_annotator"),
        ]

    def __str__(self) -> str:
        return f"{self.annotator} ↦ {self.comparison} ({self.status})"


class Flag(models.TextChoices):
    UNSAFE = "unsafe", "Unsafe"
    ALL_BAD = "all_bad", "All bad"


class Ranking(models.Model):
    """One annotator's order of a comparison's responses, as tie groups best first."""

    comparison = models.ForeignKey(Comparison, on_delete=models.CASCADE, related_name="rankings")
    annotator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="rankings")
    order = models.JSONField(help_text="Tie groups of response ids, best first: [[3], [1, 4], [2]].")
    display_order = models.JSONField(default=list)
    strength = models.PositiveSmallIntegerField(null=True, blank=True, help_text="K=2: 1 slightly, 2 clearly, 3 much better.")
    flags = models.JSONField(default=list, blank=True)
    note = models.TextField(blank=True)
    time_spent_ms = models.PositiveIntegerField(default=0)
    idempotency_key = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["comparison", "annotator"], name="ranking_unique_annotator"),
            models.UniqueConstraint(
                fields=["annotator", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="ranking_unique_idempotency_key",
            ),
        ]

    def __str__(self) -> str:
        return f"ranking {self.pk} by {self.annotator}"


class Preference(models.Model):
    """A derived pair: chosen beat rejected in one ranking."""

    ranking = models.ForeignKey(Ranking, on_delete=models.CASCADE, related_name="preferences")
    comparison = models.ForeignKey(Comparison, on_delete=models.CASCADE, related_name="preferences")
    annotator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    chosen = models.ForeignKey(Response, on_delete=models.CASCADE, related_name="+")
    rejected = models.ForeignKey(Response, on_delete=models.CASCADE, related_name="+")
    margin = models.FloatField(default=1.0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["ranking", "chosen", "rejected"], name="preference_unique_pair"),
            models.CheckConstraint(condition=~Q(chosen=models.F("rejected")), name="preference_distinct_pair"),
        ]
        indexes = [models.Index(fields=["comparison", "id"], name="preference_comparison_idx")]

    def __str__(self) -> str:
        return f"{self.chosen_id} > {self.rejected_id}"


class SnapshotStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class DatasetSnapshot(models.Model):
    """An immutable preference (or prompt/SFT) export and its manifest."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="snapshots")
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=20, default="preference", help_text="preference | prompt | sft")
    params = models.JSONField(default=dict)
    status = models.CharField(max_length=16, choices=SnapshotStatus.choices, default=SnapshotStatus.PENDING)
    path = models.CharField(max_length=1000, blank=True, help_text="Directory with the stored files.")
    files = models.JSONField(default=dict, blank=True, help_text="{relative name: sha256}")
    sha256 = models.CharField(max_length=64, blank=True)
    manifest = models.JSONField(default=dict, blank=True)
    row_count = models.PositiveIntegerField(default=0)
    train_rows = models.PositiveIntegerField(default=0)
    test_rows = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return self.name


class DemonstrationStatus(models.TextChoices):
    PENDING = "pending", "Waiting for review"
    ACCEPTED = "accepted", "Accepted"
    REJECTED = "rejected", "Rejected"


class Demonstration(models.Model):
    """An answer to learn from: written or edited by an annotator while ranking, or imported; a manager reviews it."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="demonstrations")
    comparison = models.ForeignKey(Comparison, null=True, blank=True, on_delete=models.CASCADE, related_name="demonstrations")
    messages = models.JSONField(help_text="The conversation the text answers (ends with a user turn).")
    text = models.TextField()
    edited_from = models.ForeignKey(Response, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    status = models.CharField(max_length=16, choices=DemonstrationStatus.choices, default=DemonstrationStatus.PENDING)
    reviewed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    reviewed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["comparison", "author"], name="demonstration_one_per_annotator",
                                    condition=Q(comparison__isnull=False, author__isnull=False)),
            models.CheckConstraint(condition=~Q(text=""), name="demonstration_text_not_empty"),
        ]

    def __str__(self) -> str:
        return f"demonstration {self.pk} ({self.status})"


class ResponseFlag(models.Model):
    """One annotator's flag on one response of a ranking they gave ("this one is unsafe")."""

    ranking = models.ForeignKey(Ranking, on_delete=models.CASCADE, related_name="response_flags")
    response = models.ForeignKey(Response, on_delete=models.CASCADE, related_name="flags")
    flag = models.CharField(max_length=16, choices=[(Flag.UNSAFE, Flag.UNSAFE.label)], default=Flag.UNSAFE)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["ranking", "response", "flag"], name="responseflag_unique")]

    def __str__(self) -> str:
        return f"{self.response_id} {self.flag} in ranking {self.ranking_id}"
