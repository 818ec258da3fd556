"""Schedule reads: when each schedule fires next, and how far the loop has come since the last run."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.utils import timezone

from labeling.models import Preference, Project
from training.models import Run, RunKind, Schedule
from training.services.schedules import new_preferences, next_time, schedule_active_run

TRAINING_KINDS = (RunKind.REWARD, RunKind.DPO, RunKind.PPO, RunKind.RLOO, RunKind.GRPO, RunKind.SFT)


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
    return Run.objects.filter(project=project, kind__in=TRAINING_KINDS).order_by("-id").first()


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
