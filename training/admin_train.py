"""Admin actions on Project: "Train DPO now", "Train reward model now" with the jobs' defaults.

labeling never imports training, so the actions are added to labeling's ProjectAdmin from here
(training's AppConfig.ready, which runs after the admin has discovered every ModelAdmin).
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin.exceptions import NotRegistered
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest

from labeling.models import Project
from training.models import RunKind
from training.services.triggers import TrainRequest, train_start


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
