"""Model work: the model registry, runs and their metrics, schedules."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from labeling.models import DatasetSnapshot, Project


class ModelKind(models.TextChoices):
    POLICY = "policy", "Policy"
    REWARD = "reward", "Reward model"


class ModelVersion(models.Model):
    """A registered model: a complete local directory or a hub id."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="model_versions")
    kind = models.CharField(max_length=16, choices=ModelKind.choices)
    name = models.CharField(max_length=200)
    path = models.CharField(max_length=1000, help_text="Local directory or Hugging Face hub id.")
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children")
    run = models.ForeignKey("Run", null=True, blank=True, on_delete=models.SET_NULL, related_name="model_versions")
    metrics = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="modelversion_unique_name")]

    def __str__(self) -> str:
        return self.name


class ProjectModels(models.Model):
    """A project's current policy and reward model (the promotion pointers)."""

    project = models.OneToOneField(Project, on_delete=models.CASCADE, primary_key=True, related_name="current_models")
    policy = models.ForeignKey(ModelVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    reward = models.ForeignKey(ModelVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "project models"

    def __str__(self) -> str:
        return f"{self.project}: policy={self.policy}, reward={self.reward}"


class RunKind(models.TextChoices):
    BOOTSTRAP = "bootstrap", "Bootstrap tiny policy"
    GENERATE = "generate", "Generate responses"
    SFT = "sft", "Supervised fine-tune"
    REWARD = "reward", "Reward model"
    DPO = "dpo", "DPO"
    KTO = "kto", "KTO"
    ORPO = "orpo", "ORPO"
    PPO = "ppo", "PPO"
    RLOO = "rloo", "RLOO"
    GRPO = "grpo", "GRPO"
    EVALUATE = "evaluate", "Evaluate"


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


ACTIVE_RUN_STATUSES = (RunStatus.QUEUED, RunStatus.RUNNING)


class Run(models.Model):
    """One piece of model work, executed by the worker in its own process."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="runs")
    kind = models.CharField(max_length=16, choices=RunKind.choices)
    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.QUEUED)
    config = models.JSONField(default=dict, blank=True, help_text="Validated job configuration.")
    inputs = models.JSONField(default=dict, blank=True, help_text="Model versions, snapshot, prompts.")
    outputs = models.JSONField(default=dict, blank=True)
    nproc = models.PositiveSmallIntegerField(default=1, help_text="Processes (torchrun / accelerate launch).")
    timeout_s = models.PositiveIntegerField(default=0, help_text="0 = the server default.")
    progress = models.FloatField(default=0.0)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    pid = models.IntegerField(null=True, blank=True)
    worker = models.CharField(max_length=200, blank=True, help_text="host:pid of the worker running it.")
    cancel_requested = models.BooleanField(default=False)
    error = models.TextField(blank=True)
    log_tail = models.TextField(blank=True)
    snapshot = models.ForeignKey(DatasetSnapshot, null=True, blank=True, on_delete=models.PROTECT, related_name="runs")
    schedule = models.ForeignKey("Schedule", null=True, blank=True, on_delete=models.SET_NULL, related_name="runs")
    parent_run = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="next_runs")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "kind"],
                condition=Q(status__in=["queued", "running"]),
                name="run_one_active_per_project_kind",
            ),
            models.CheckConstraint(condition=Q(progress__gte=0) & Q(progress__lte=1), name="run_progress_0_1"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} run {self.pk} ({self.status})"

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_RUN_STATUSES


class MetricPoint(models.Model):
    """One line of a job's metrics.jsonl."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="metric_points")
    step = models.IntegerField()
    values = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["run_id", "id"]
        indexes = [models.Index(fields=["run", "step"], name="metricpoint_run_step_idx")]

    def __str__(self) -> str:
        return f"{self.run_id}@{self.step}"


class Recipe(models.TextChoices):
    DPO = "dpo", "dpo"
    REWARD_PPO = "reward_ppo", "reward → ppo"
    REWARD_GRPO = "reward_grpo", "reward → grpo"
    REWARD_RLOO = "reward_rloo", "reward → rloo"
    REWARD = "reward", "reward"
    SFT_DPO = "sft_dpo", "sft → dpo"
    SFT_REWARD_PPO = "sft_reward_ppo", "sft → reward → ppo"


class Schedule(models.Model):
    """When to train a project automatically, and what to do with the result."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="schedules")
    recipe = models.CharField(max_length=20, choices=Recipe.choices, default=Recipe.DPO)
    enabled = models.BooleanField(default=True)
    every_n_preferences = models.PositiveIntegerField(null=True, blank=True)
    every_hours = models.FloatField(null=True, blank=True)
    auto_promote = models.BooleanField(default=False)
    min_win_rate = models.FloatField(default=0.5)
    generate_next = models.BooleanField(default=False)
    config = models.JSONField(default=dict, blank=True, help_text="Hyperparameters per kind: {\"dpo\": {...}}.")
    last_fired_at = models.DateTimeField(null=True, blank=True)
    last_preference_id = models.BigIntegerField(default=0, help_text="Newest preference seen at the last firing.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(every_n_preferences__isnull=False) | Q(every_hours__isnull=False),
                name="schedule_has_trigger",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.project}: {self.get_recipe_display()}"


class ChainStep(models.Model):
    """A run's place in a schedule's recipe chain, and what the chain decided once the run succeeded.

    Written when the step is queued (recipe, index, reason, snapshot) and once more when the chain
    advances past it (decided_at and the decision fields); decided_at set means "already advanced".
    """

    run = models.OneToOneField(Run, on_delete=models.CASCADE, primary_key=True, related_name="chain_step")
    recipe = models.CharField(max_length=20, choices=Recipe.choices)
    index = models.PositiveSmallIntegerField(default=0, help_text="Step number in the recipe, from 0.")
    reason = models.CharField(max_length=300, blank=True, help_text="Why the schedule fired (the chain's first step).")
    snapshot = models.ForeignKey(
        DatasetSnapshot, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="The chain's snapshot: the data it trains on and the prompts it holds out.",
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    promoted = models.BooleanField(null=True, blank=True, help_text="None: no promotion decision at this step.")
    decision = models.TextField(blank=True, help_text="Why it was (not) promoted.")
    win_rate = models.FloatField(null=True, blank=True)
    min_win_rate = models.FloatField(null=True, blank=True)
    version = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="The model promoted, or the candidate sent to evaluation.",
    )
    evaluating = models.BooleanField(default=False, help_text="The new policy went to an evaluate step.")
    next_run = models.ForeignKey(Run, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    ended = models.BooleanField(default=False)
    stopped = models.TextField(blank=True, help_text="Why the next step could not start.")
    error = models.TextField(blank=True, help_text="Why advancing the chain failed.")

    def __str__(self) -> str:
        return f"{self.recipe} step {self.index} (run {self.run_id})"

    @property
    def decided(self) -> bool:
        return self.decided_at is not None
