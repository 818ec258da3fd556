"""Schedules: save them, decide when one is due, and fire it exactly once.

A schedule is checked by the worker's periodic tick (`schedules_tick`, every 30 s by default), not
on each submit: a ranking then costs no query for schedules (issue 13). Firing is two-phase: a short
transaction locks the schedule row, re-checks that it is due and moves its marks
(last_fired_at, last_preference_id); only then, outside the lock, is the snapshot exported and
the first run queued. A second trigger racing the first waits on the lock, then sees the moved
marks and does nothing; the one-active-run constraint is the last guard.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from labeling.models import Project
from training.kinds import RECIPES
from training.models import Recipe, Run, RunKind, RunStatus, Schedule
from training.selectors import latest_preference_id, reward_model_missing, schedule_active_run, schedule_due
from training.services.configs import config_validate, job_spec
from training.services.recipes import GENERATE_PROMPTS_KEY, SNAPSHOT_KEY, recipe_start
from training.services.runs import ChainPosition

logger = logging.getLogger(__name__)

MAX_EVERY_HOURS = 24 * 365


@dataclass(frozen=True)
class ScheduleData:
    """The editable fields of a schedule (from the form or the admin)."""

    recipe: str = Recipe.DPO
    enabled: bool = True
    every_n_preferences: int | None = None
    every_hours: float | None = None
    auto_promote: bool = False
    min_win_rate: float = 0.5
    generate_next: bool = False
    config: dict[str, Any] | None = None


def schedule_config_validate(recipe: str, config: Any) -> dict[str, Any]:
    """Check the per-kind hyperparameters of a schedule; ValidationError names the kind and field."""
    if not isinstance(config, dict):
        raise ValidationError({"config": 'must be a JSON object like {"dpo": {"beta": 0.1}}'})
    allowed = {*RECIPES[recipe], RunKind.GENERATE, SNAPSHOT_KEY, GENERATE_PROMPTS_KEY}
    clean: dict[str, Any] = {}
    for key, value in config.items():
        if key not in allowed:
            raise ValidationError(
                {"config": f"{key}: not a step of the {recipe} recipe; use {', '.join(sorted(allowed))}"}
            )
        if not isinstance(value, dict):
            raise ValidationError({"config": f"{key}: must be a JSON object"})
        if key in (SNAPSHOT_KEY, GENERATE_PROMPTS_KEY):
            clean[key] = value
            continue
        try:
            config_validate(key, value)
        except ValidationError as exc:
            raise ValidationError({"config": f"{key}.{'; '.join(exc.messages)}"}) from exc
        clean[key] = value
    return clean


def _validate(data: ScheduleData) -> None:
    if data.recipe not in RECIPES:
        raise ValidationError({"recipe": f"choose one of {', '.join(RECIPES)}"})
    if data.every_n_preferences is None and data.every_hours is None:
        raise ValidationError({"every_n_preferences": "set a number of new preferences, a number of hours, or both"})
    if data.every_n_preferences is not None and not 1 <= data.every_n_preferences <= 10_000_000:
        raise ValidationError({"every_n_preferences": "must be at least 1"})
    if data.every_hours is not None and not 0 < data.every_hours <= MAX_EVERY_HOURS:
        raise ValidationError({"every_hours": f"must be more than 0 and at most {MAX_EVERY_HOURS}"})
    if not 0.0 <= data.min_win_rate <= 1.0:
        raise ValidationError({"min_win_rate": "must be between 0 and 1"})


def schedule_data_validate(data: ScheduleData) -> dict[str, Any]:
    """Check a schedule's triggers and hyperparameters; return the clean config (ValidationError names the field)."""
    _validate(data)
    return schedule_config_validate(data.recipe, data.config or {})


def recipe_blocker(*, project: Project, recipe: str) -> str | None:
    """Say why a recipe's chain could not run in this project today (None when every step can start)."""
    steps = RECIPES[recipe]
    for index, kind in enumerate(steps):
        if "reward_model" not in job_spec(kind).system_fields or RunKind.REWARD in steps[:index]:
            continue
        missing = reward_model_missing(project)
        if missing:
            label = Recipe(recipe).label
            return (f"the {label} recipe's {kind} step needs the project's current reward model: {missing}; "
                    "or choose a recipe that trains a reward model first")
    return None


@transaction.atomic
def schedule_save(*, project: Project, data: ScheduleData, schedule: Schedule | None = None) -> Schedule:
    """Create or update a project's schedule after checking its triggers and hyperparameters."""
    config = schedule_data_validate(data)
    blocker = recipe_blocker(project=project, recipe=data.recipe) if data.enabled else None
    if blocker:
        raise ValidationError({"recipe": f"this schedule's chain cannot start: {blocker}"})
    schedule = schedule or Schedule(project=project)
    if schedule.project_id != project.pk:
        raise ValidationError({"schedule": "the schedule belongs to another project"})
    for name in (
        "recipe",
        "enabled",
        "every_n_preferences",
        "every_hours",
        "auto_promote",
        "min_win_rate",
        "generate_next",
    ):
        setattr(schedule, name, getattr(data, name))
    schedule.config = config
    if schedule.pk is None:
        # Count only preferences that arrive from now on: a new schedule does not fire on old data.
        schedule.last_preference_id = latest_preference_id(project)
    schedule.save()
    return schedule


def schedule_set_enabled(*, schedule: Schedule, enabled: bool) -> Schedule:
    """Switch a schedule on or off."""
    Schedule.objects.filter(pk=schedule.pk).update(enabled=enabled)
    schedule.refresh_from_db()
    return schedule


def _claim(schedule_id: int, *, now: datetime, force: bool) -> tuple[Schedule, str] | None:
    """Lock the schedule, re-check it, and move its marks; None when it is not (or no longer) due."""
    with transaction.atomic():
        schedule = Schedule.objects.select_for_update().filter(pk=schedule_id).first()
        if schedule is None:
            return None
        reason = schedule_due(schedule, now=now)
        if force and reason is None and schedule_active_run(schedule) is None:
            reason = "started by hand"
        if reason is None:
            return None
        schedule.last_fired_at = now
        schedule.last_preference_id = latest_preference_id(schedule.project_id)
        schedule.save(update_fields=["last_fired_at", "last_preference_id"])
    return schedule, reason


@transaction.atomic
def _record_failure(schedule: Schedule, reason: str, exc: ValidationError) -> Run:
    """Keep a failed run as the visible record of a firing that could not start (e.g. nothing to export)."""
    now = timezone.now()
    run = Run.objects.create(
        project_id=schedule.project_id,
        kind=RECIPES[schedule.recipe][0],
        status=RunStatus.FAILED,
        schedule=schedule,
        error="the schedule fired but could not start: " + "; ".join(exc.messages),
        started_at=now,
        finished_at=now,
    )
    ChainPosition(recipe=schedule.recipe, index=0, reason=reason).create_for(run)
    return run


def schedule_fire(
    *, schedule_id: int, now: datetime | None = None, force: bool = False, user: Any = None
) -> Run | None:
    """Fire a due schedule (or any idle one with force=True): export a snapshot and queue the recipe's first run.

    Deliberately not atomic: see the module docstring. Returns the run, a failed run recording why
    it could not start, or None when the schedule was not due.
    """
    claimed = _claim(schedule_id, now=now or timezone.now(), force=force)
    if claimed is None:
        return None
    schedule, reason = claimed
    try:
        return recipe_start(schedule=schedule, user=user, reason=reason)
    except ValidationError as exc:
        logger.warning("schedule %s fired (%s) but could not start: %s", schedule.pk, reason, exc.messages)
        return _record_failure(schedule, reason, exc)


def schedules_tick(now: datetime | None = None) -> list[Run]:
    """Fire every due schedule once (the worker calls this every tick; safe when two workers tick at once)."""
    now = now or timezone.now()
    started = []
    for schedule in Schedule.objects.filter(enabled=True).order_by("id"):
        if schedule_due(schedule, now=now) is None:
            continue  # cheap check without the lock; _claim checks again under it
        try:
            run = schedule_fire(schedule_id=schedule.pk, now=now)
        except Exception:  # noqa: BLE001 - one broken schedule must not stop the others
            logger.exception("schedule %s failed to fire", schedule.pk)
            continue
        if run is not None:
            started.append(run)
    return started
