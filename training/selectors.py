"""Training reads: runs, models, metrics, prompts to generate for, schedules and when they fire next.

Every function returns data (querysets, model instances, dataclasses, dicts); none builds a form.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.db.models import Exists, Max, OuterRef, QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone

from labeling.access import projects_for_user
from labeling.exports.split import TEST, split_of
from labeling.models import Comparison, DatasetSnapshot, Preference, Project, Prompt, Ranking
from training.kinds import RECIPES, training_kinds
from training.models import (
    ACTIVE_RUN_STATUSES,
    ChainStep,
    MetricPoint,
    ModelKind,
    ModelVersion,
    ProjectModels,
    Run,
    Schedule,
)


class PromptChoice:
    UNCOVERED = "uncovered"
    UNRANKED = "unranked"
    ALL = "all"
    TAG = "tag"
    GENERATE_DEFAULT = UNCOVERED  # a round never gives a prompt a second unfinished comparison
    CHOICES = [
        (UNCOVERED, "Prompts with no open comparison (never given one, or all of theirs fully ranked)"),
        (UNRANKED, "Unranked: prompts none of whose comparisons has a ranking yet"),
        (ALL, "All prompts, also those with an open comparison (another round of the same prompts)"),
        (TAG, "Prompts with a tag"),
    ]
    EMPTY_ADVICE = {
        UNCOVERED: "every prompt already has a comparison waiting for rankings (imported responses count); "
                   "rank those first, import new prompts, or choose “all” to add another round of the same prompts",
        UNRANKED: "every prompt has a ranked comparison; choose “uncovered” (the default) for the prompts whose "
                  "comparisons are all finished, or “all”",
        ALL: "the project has no prompts; import some first",
        TAG: "no prompt carries this tag; check its spelling or choose another set",
    }


def prompts_for_generation(*, project: Project, which: str, tag: str = "") -> QuerySet[Prompt]:
    """Return the prompts a generate round covers: uncovered (no open comparison), unranked, all, or tagged."""
    prompts = Prompt.objects.filter(project=project)
    if which == PromptChoice.UNCOVERED:
        open_comparison = Comparison.objects.filter(prompt=OuterRef("pk"), complete=False)
        prompts = prompts.exclude(Exists(open_comparison))
    elif which == PromptChoice.UNRANKED:
        ranked = Ranking.objects.filter(comparison__prompt=OuterRef("pk"))
        prompts = prompts.exclude(Exists(ranked))
    elif which == PromptChoice.TAG:
        # JSON containment is not on SQLite; tags lists are short, so filter in Python over ids.
        ids = [p.pk for p in prompts.only("id", "tags") if tag in (p.tags or [])]
        prompts = prompts.filter(pk__in=ids)
    return prompts.order_by("id")


def held_out_prompt_ids(snapshot: DatasetSnapshot) -> list[int]:
    """Return the project's prompts on the test side of the snapshot's split (never trained on)."""
    params = snapshot.params or {}
    fraction = float(params.get("test_fraction") or 0.0)
    if fraction <= 0:
        return []
    seed = int(params.get("seed") or 0)
    rows = Prompt.objects.filter(project_id=snapshot.project_id).values_list("pk", "content_hash")
    return [pk for pk, digest in rows if split_of(digest, seed=seed, test_fraction=fraction) == TEST]


def generation_round_sizes(project: Project, *, tag: str = "") -> dict[str, int]:
    """Return how many comparisons a generate round would create for each prompt choice (one per prompt)."""
    choices = [c for c, _ in PromptChoice.CHOICES if c != PromptChoice.TAG or tag]
    return {c: prompts_for_generation(project=project, which=c, tag=tag).count() for c in choices}


def project_pointers(project: Project) -> ProjectModels:
    """Return the project's current policy/reward pointers (unsaved and empty when none exist)."""
    found = ProjectModels.objects.select_related("policy", "reward").filter(project=project).first()
    return found or ProjectModels(project=project)


def reward_model_missing(project: Project) -> str | None:
    """Say why the project has no usable reward model, naming the real state (None when one is current)."""
    if project_pointers(project).reward_id:
        return None
    latest = ModelVersion.objects.filter(project=project, kind=ModelKind.REWARD).order_by("-id").first()
    if latest is not None:
        return f"{latest.name} exists but is not current — make it current on its model page"
    return "none has been trained yet; train one (kind reward) first"


def runs_for_project(project: Project) -> QuerySet[Run]:
    return Run.objects.filter(project=project).select_related("created_by", "snapshot", "chain_step").order_by("-id")


def runs_for_user(user: Any) -> QuerySet[Run]:
    """Return runs in projects the user belongs to."""
    return Run.objects.filter(project__in=projects_for_user(user)).select_related("project", "chain_step")


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


def run_chain_step(run: Run) -> ChainStep | None:
    """Return the run's place in a recipe chain (and what the chain decided), or None outside a chain."""
    return ChainStep.objects.select_related("version", "snapshot").filter(run=run).first()


def run_metric_points(run: Run, *, name: str | None = None) -> QuerySet[MetricPoint] | list[MetricPoint]:
    """Return a run's metric lines oldest first; with `name`, only the lines carrying it, reduced to it."""
    points = MetricPoint.objects.filter(run=run).order_by("id")
    if name is None:
        return points
    return [
        MetricPoint(run_id=p.run_id, step=p.step, values={name: p.values[name]}, created_at=p.created_at)
        for p in points.filter(values__has_key=name).iterator()
    ]


def _is_data_warning(values: dict[str, Any]) -> bool:
    """A job's data warning as a metrics line ({"dropped_pairs": 78, "split": "train", "reason": "…"}), not a figure."""
    return isinstance(values.get("reason"), str) and "split" in values


def run_latest_metrics(run: Run, *, with_warnings: bool = True) -> dict[str, Any]:
    """Return the newest value of every metric the run has logged (without its data warnings if asked)."""
    latest: dict[str, Any] = {}
    for values in MetricPoint.objects.filter(run=run).order_by("id").values_list("values", flat=True):
        if with_warnings or not _is_data_warning(values):
            latest.update(values)
    return latest


def run_data_warnings(run: Run) -> list[str]:
    """The job's data warnings (pairs dropped or truncated, and why): from its result, or while it runs its metrics."""
    found = ((run.outputs or {}).get("result") or {}).get("data_warnings")
    if isinstance(found, list):
        return [str(w.get("message", "")) for w in found if isinstance(w, dict) and w.get("message")]
    rows = MetricPoint.objects.filter(run=run).order_by("id").values_list("values", flat=True)
    return [values["reason"] for values in rows if _is_data_warning(values)]


def run_metric_series(run: Run) -> dict[str, list[tuple[float, float]]]:
    """Return {metric: [(step, value), ...]} for every numeric metric, in logging order (data warnings are no series)."""
    series: dict[str, list[tuple[float, float]]] = {}
    for step, values in MetricPoint.objects.filter(run=run).order_by("id").values_list("step", "values"):
        if _is_data_warning(values):
            continue
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


# Schedules: counts since the last firing, what blocks one, when it is due.


def latest_preference_id(project: Project | int) -> int:
    """Return the newest preference id of a project (0 when it has none)."""
    return Preference.objects.filter(comparison__project=project).aggregate(m=Max("id"))["m"] or 0


def new_preferences(schedule: Schedule) -> int:
    """Count the project's preferences stored since the schedule last fired."""
    return Preference.objects.filter(
        comparison__project_id=schedule.project_id, id__gt=schedule.last_preference_id
    ).count()


def schedule_active_run(schedule: Schedule) -> Run | None:
    """Return a queued or running run that blocks the schedule: its own chain, or a run of its first kind."""
    first = RECIPES[schedule.recipe][0]
    own = Run.objects.filter(schedule=schedule, status__in=ACTIVE_RUN_STATUSES)
    same_kind = Run.objects.filter(project_id=schedule.project_id, kind=first, status__in=ACTIVE_RUN_STATUSES)
    return (own | same_kind).order_by("id").first()


def next_time(schedule: Schedule) -> datetime | None:
    """Return when the time trigger is next due (None without one)."""
    if schedule.every_hours is None:
        return None
    return (schedule.last_fired_at or schedule.created_at) + timedelta(hours=schedule.every_hours)


def schedule_due(schedule: Schedule, *, now: datetime | None = None) -> str | None:
    """Say why the schedule should fire now, or None. A time trigger waits for at least one new preference."""
    if not schedule.enabled or schedule_active_run(schedule) is not None:
        return None
    fresh = new_preferences(schedule)
    if schedule.every_n_preferences is not None and fresh >= schedule.every_n_preferences:
        return f"{fresh} new preferences (every {schedule.every_n_preferences})"
    at = next_time(schedule)
    if at is not None and fresh > 0 and (now or timezone.now()) >= at:
        return f"{schedule.every_hours:g} h since the last run, {fresh} new preferences"
    return None


@dataclass(frozen=True)
class ScheduleStatus:
    """What the project page says about one schedule."""

    schedule: Schedule
    new_preferences: int
    remaining_preferences: int | None
    next_at: datetime | None
    blocking_run: Run | None
    text: str


def _at(moment: datetime, now: datetime) -> str:
    local, today = timezone.localtime(moment), timezone.localtime(now)
    if local <= today:
        return "now"
    return f"at {local:%H:%M}" if local.date() == today.date() else f"on {local:%Y-%m-%d} at {local:%H:%M}"


def _text(
    schedule: Schedule, fresh: int, remaining: int | None, at: datetime | None, blocking: Run | None, now: datetime
) -> str:
    if not schedule.enabled:
        return "disabled"
    if blocking is not None:
        return f"waiting for {blocking.kind} run #{blocking.pk} to finish"
    parts = []
    if remaining is not None:
        parts.append(f"in {remaining} preference{'s' if remaining != 1 else ''}" if remaining else "now")
    if at is not None:
        when = _at(at, now)
        if not fresh:  # a time trigger waits for something new to learn from
            when = "once new preferences arrive" if when == "now" else f"{when} once new preferences arrive"
        parts.append(when)
    return " or ".join(parts)


def schedule_status(schedule: Schedule, *, now: datetime | None = None) -> ScheduleStatus:
    """Describe a schedule's next trigger: "in 12 preferences", "at 14:00", or what it waits for."""
    now = now or timezone.now()
    fresh = new_preferences(schedule)
    remaining = max(schedule.every_n_preferences - fresh, 0) if schedule.every_n_preferences is not None else None
    at = next_time(schedule)
    blocking = schedule_active_run(schedule) if schedule.enabled else None
    return ScheduleStatus(
        schedule, fresh, remaining, at, blocking, _text(schedule, fresh, remaining, at, blocking, now)
    )


def schedules_for_project(project: Project) -> list[ScheduleStatus]:
    """Return every schedule of a project with its status, enabled ones first."""
    schedules = Schedule.objects.filter(project=project).order_by("-enabled", "id")
    return [schedule_status(s) for s in schedules]


def last_training_run(project: Project) -> Run | None:
    """Return the project's newest training run (any status)."""
    return Run.objects.filter(project=project, kind__in=training_kinds()).order_by("-id").first()


def preferences_since_last_run(project: Project) -> int:
    """Count preferences stored after the newest training run was created (all of them before the first)."""
    prefs = Preference.objects.filter(comparison__project=project)
    last = last_training_run(project)
    return prefs.filter(created_at__gt=last.created_at).count() if last else prefs.count()


def schedule_loop_context(project: Project) -> dict[str, Any]:
    """Return the schedule part of the project page's loop panel."""
    return {
        "schedules": schedules_for_project(project),
        "preferences_since_last_run": preferences_since_last_run(project),
        "last_training_run": last_training_run(project),
    }


@dataclass(frozen=True)
class RunTracking:
    """Where a run's tracking files are: TensorBoard event files under <run_dir>/tensorboard."""

    tensorboard_dir: str
    event_files: list[tuple[str, int]]  # (name, bytes)
    report_to: list[str]

    @property
    def command(self) -> str:
        return f"tensorboard --logdir {self.tensorboard_dir}"


def run_tracking(run: Run) -> RunTracking | None:
    """List a run's TensorBoard event files (None when the run wrote none)."""
    from django.conf import settings

    from training.jobs.tracking import TENSORBOARD_DIR

    folder = Path(settings.RUNS_DIR) / str(run.pk) / TENSORBOARD_DIR
    files = sorted(p for p in folder.glob("events.out.tfevents.*") if p.is_file()) if folder.is_dir() else []
    if not files:
        return None
    report_to = run.config.get("report_to") if isinstance(run.config.get("report_to"), list) else ["tensorboard"]
    return RunTracking(str(folder), [(p.name, p.stat().st_size) for p in files], report_to)
