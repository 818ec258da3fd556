"""Training reads: runs, models, metrics, prompts to generate for, the project's loop panel."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Exists, OuterRef, QuerySet
from django.shortcuts import get_object_or_404

from labeling.access import projects_for_user
from labeling.models import Project, Prompt, Ranking
from training.models import ACTIVE_RUN_STATUSES, MetricPoint, ModelVersion, ProjectModels, Run


class PromptChoice:
    UNRANKED = "unranked"
    ALL = "all"
    TAG = "tag"
    CHOICES = [
        (UNRANKED, "Unranked: prompts none of whose comparisons has a ranking yet"),
        (ALL, "All prompts"),
        (TAG, "Prompts with a tag"),
    ]


def prompts_for_generation(*, project: Project, which: str, tag: str = "") -> QuerySet[Prompt]:
    """Return the prompts a generate round covers: unranked, all, or those carrying a tag."""
    prompts = Prompt.objects.filter(project=project)
    if which == PromptChoice.UNRANKED:
        ranked = Ranking.objects.filter(comparison__prompt=OuterRef("pk"))
        prompts = prompts.exclude(Exists(ranked))
    elif which == PromptChoice.TAG:
        # JSON containment is not on SQLite; tags lists are short, so filter in Python over ids.
        ids = [p.pk for p in prompts.only("id", "tags") if tag in (p.tags or [])]
        prompts = prompts.filter(pk__in=ids)
    return prompts.order_by("id")


def project_pointers(project: Project) -> ProjectModels:
    """Return the project's current policy/reward pointers (unsaved and empty when none exist)."""
    found = ProjectModels.objects.select_related("policy", "reward").filter(project=project).first()
    return found or ProjectModels(project=project)


def runs_for_project(project: Project) -> QuerySet[Run]:
    return Run.objects.filter(project=project).select_related("created_by", "snapshot").order_by("-id")


def runs_for_user(user: Any) -> QuerySet[Run]:
    """Return runs in projects the user belongs to."""
    return Run.objects.filter(project__in=projects_for_user(user)).select_related("project")


def run_get_for_member(user: Any, run_id: int | str) -> Run:
    """Return a run of one of the user's projects; 404 otherwise, so others' ids leak nothing."""
    return get_object_or_404(runs_for_user(user).select_related("project", "snapshot", "created_by"), pk=int(run_id))


def model_versions_for_user(user: Any) -> QuerySet[ModelVersion]:
    return ModelVersion.objects.filter(project__in=projects_for_user(user)).select_related("project", "parent", "run")


def model_version_get_for_member(user: Any, version_id: int | str) -> ModelVersion:
    """Return a model version of one of the user's projects; 404 otherwise."""
    return get_object_or_404(model_versions_for_user(user), pk=int(version_id))


def current_model_ids(user: Any) -> set[int]:
    """Return the ids of every current policy and reward model in the user's projects."""
    rows = ProjectModels.objects.filter(project__in=projects_for_user(user)).values_list("policy_id", "reward_id")
    return {i for row in rows for i in row if i}


def run_latest_metrics(run: Run) -> dict[str, Any]:
    """Return the newest value of every metric the run has logged."""
    latest: dict[str, Any] = {}
    for values in MetricPoint.objects.filter(run=run).order_by("id").values_list("values", flat=True):
        latest.update(values)
    return latest


def run_metric_series(run: Run) -> dict[str, list[tuple[float, float]]]:
    """Return {metric: [(step, value), ...]} for every numeric metric, in logging order."""
    series: dict[str, list[tuple[float, float]]] = {}
    for step, values in MetricPoint.objects.filter(run=run).order_by("id").values_list("step", "values"):
        for name, value in values.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                series.setdefault(name, []).append((float(step), float(value)))
    return series


@dataclass
class LineageNode:
    version: ModelVersion
    children: list[LineageNode] = field(default_factory=list)


def model_lineage(project: Project) -> list[LineageNode]:
    """Return the project's versions as trees (roots first, children oldest first)."""
    versions = list(ModelVersion.objects.filter(project=project).select_related("run").order_by("id"))
    nodes = {v.pk: LineageNode(v) for v in versions}
    roots = []
    for v in versions:
        parent = nodes.get(v.parent_id) if v.parent_id else None
        (parent.children if parent else roots).append(nodes[v.pk])
    return roots


def project_loop_context(project: Project, *, user: Any = None) -> dict[str, Any]:
    """Return the context templates/training/partials/project_loop.html needs."""
    from labeling.access import is_manager
    from training.forms import GenerateRoundForm
    from training.selectors_schedules import schedule_loop_context

    pointers = project_pointers(project)
    runs = list(runs_for_project(project)[:5])
    try:
        generate_form = GenerateRoundForm(project=project)
    except ValidationError:  # no generate job installed: show the loop without the form
        generate_form = None
    return {
        "project": project,
        "current_policy": pointers.policy,
        "current_reward": pointers.reward,
        "recent_runs": runs,
        "active_runs": [r for r in runs if r.status in ACTIVE_RUN_STATUSES],
        "generate_form": generate_form,
        "can_manage": bool(user is not None and is_manager(user, project)),
        **schedule_loop_context(project),
    }
