"""Admin for the model registry, runs (metrics read-only), schedules, the promotion pointers, and train-now actions on Project."""

from __future__ import annotations

import dataclasses

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.exceptions import NotRegistered
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest

from labeling.models import Project
from training.models import ChainStep, MetricPoint, ModelVersion, ProjectModels, Run, RunKind, Schedule
from training.services.registry import model_promote
from training.services.runs import run_cancel
from training.services.schedules import ScheduleData, schedule_data_validate
from training.services.triggers import TrainRequest, train_start


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = ["name", "project", "kind", "parent", "run", "created_at"]
    list_filter = ["kind", "project"]
    search_fields = ["name", "path"]
    readonly_fields = ["created_at"]
    raw_id_fields = ["parent", "run"]
    actions = ["promote"]

    @admin.action(description="Promote (make current for its project)")
    def promote(self, request: HttpRequest, queryset: QuerySet[ModelVersion]) -> None:
        # Oldest first, so with several of one kind the newest selected one ends up current.
        for version in queryset.order_by("id"):
            try:
                model_promote(version=version)
                self.message_user(request, f"{version.name} is now the current {version.kind} of {version.project}.")
            except ValidationError as exc:
                self.message_user(request, f"{version.name}: {'; '.join(exc.messages)}", level=messages.ERROR)


class MetricPointInline(admin.TabularInline):
    model = MetricPoint
    fields = ["step", "values", "created_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    max_num = 0
    show_change_link = False

    def has_add_permission(self, request: HttpRequest, obj: Run | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Run | None = None) -> bool:
        return False


class ChainStepInline(admin.StackedInline):
    """A run's place in a recipe chain and what the chain decided (written by the recipe service only)."""

    model = ChainStep
    fk_name = "run"
    can_delete = False
    extra = 0
    max_num = 0

    def get_readonly_fields(self, request: HttpRequest, obj: Run | None = None) -> list[str]:
        return [f.name for f in ChainStep._meta.fields]

    def has_add_permission(self, request: HttpRequest, obj: Run | None = None) -> bool:
        return False


@admin.register(Run)
class RunAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "kind", "status", "progress", "created_by", "created_at", "finished_at"]
    list_filter = ["status", "kind", "project"]
    search_fields = ["error"]
    readonly_fields = [
        "project", "kind", "status", "config", "inputs", "outputs", "nproc", "timeout_s", "progress", "heartbeat_at",
        "pid", "worker", "cancel_requested", "error", "log_tail", "snapshot", "schedule", "parent_run", "created_by",
        "created_at", "started_at", "finished_at",
    ]
    inlines = [ChainStepInline, MetricPointInline]
    actions = ["cancel"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # runs are created through run_create (validated config), not by hand

    @admin.action(description="Cancel selected runs")
    def cancel(self, request: HttpRequest, queryset: QuerySet[Run]) -> None:
        active = [run_cancel(run=run) for run in queryset if run.is_active]
        self.message_user(request, f"Cancel requested for {len(active)} active run(s).")


class ScheduleAdminForm(forms.ModelForm):
    """The admin checks a schedule the way the schedule page does (triggers, per-kind hyperparameters)."""

    class Meta:
        model = Schedule
        fields = [
            "project", "recipe", "enabled", "every_n_preferences", "every_hours", "auto_promote",
            "min_win_rate", "generate_next", "config", "last_fired_at", "last_preference_id",
        ]

    def clean(self) -> dict:
        cleaned = super().clean()
        if self.errors:
            return cleaned
        names = [f.name for f in dataclasses.fields(ScheduleData)]
        data = ScheduleData(**{name: cleaned.get(name) for name in names if name in cleaned})
        try:
            cleaned["config"] = schedule_data_validate(data)
        except ValidationError as exc:
            self.add_error(None, exc)
        return cleaned


@admin.register(Schedule)
class ScheduleAdmin(admin.ModelAdmin):
    form = ScheduleAdminForm
    list_display = ["project", "recipe", "enabled", "every_n_preferences", "every_hours", "auto_promote", "last_fired_at"]
    list_filter = ["enabled", "recipe"]


@admin.register(ProjectModels)
class ProjectModelsAdmin(admin.ModelAdmin):
    list_display = ["project", "policy", "reward", "updated_at"]
    readonly_fields = ["project", "policy", "reward", "updated_at"]  # switch pointers with the promote action

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


# Actions on labeling's Project admin: installed from TrainingConfig.ready(), once both admins are registered.


def _train(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Project], kind: str) -> None:
    """Queue one run of `kind` per selected project, on a fresh snapshot with the default filters."""
    for project in queryset.order_by("id"):
        try:
            run = train_start(project=project, request=TrainRequest(kind=kind), user=request.user)
        except ValidationError as exc:
            modeladmin.message_user(request, f"{project}: {'; '.join(exc.messages)}", level=messages.ERROR)
        else:
            modeladmin.message_user(request, f"{project}: {run.get_kind_display()} run #{run.pk} queued.")


@admin.action(description="Train DPO now (fresh snapshot, default hyperparameters)")
def train_dpo_now(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Project]) -> None:
    _train(modeladmin, request, queryset, RunKind.DPO)


@admin.action(description="Train reward model now (fresh snapshot, default hyperparameters)")
def train_reward_now(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Project]) -> None:
    _train(modeladmin, request, queryset, RunKind.REWARD)


PROJECT_ACTIONS = (train_dpo_now, train_reward_now)


def project_admin_actions_install(site: admin.AdminSite = admin.site) -> None:
    """Add the training actions to the registered Project admin (idempotent)."""
    try:
        model_admin = site.get_model_admin(Project)
    except NotRegistered:
        return
    current = list(model_admin.actions or [])
    model_admin.actions = [*current, *(a for a in PROJECT_ACTIONS if a not in current)]
