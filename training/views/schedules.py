"""Schedule pages: list and add, edit, switch on/off, fire now (managers)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_http_methods, require_POST

from labeling.access import project_get_for_member, require_manager
from labeling.models import Project
from labeling.views._render import render_page, wants_partial
from training.forms.schedules import ScheduleForm, schedule_initial
from training.models import Schedule
from training.selectors import schedule_loop_context, schedule_status
from training.services.schedules import schedule_fire, schedule_save, schedule_set_enabled


def _schedule(request: HttpRequest, schedule_id: int) -> tuple[Schedule, Project]:
    """Return a schedule of a project the user manages (404 for non-members, 403 for annotators)."""
    schedule = Schedule.objects.filter(pk=schedule_id).select_related("project").first()
    if schedule is None:
        raise Http404("No such schedule.")
    project = project_get_for_member(request.user, schedule.project_id)
    require_manager(request.user, project)
    return schedule, project


def _schedules_context(project: Project, form: ScheduleForm | None = None) -> dict[str, Any]:
    return {
        "project": project,
        "loop": schedule_loop_context(project),
        "form": form or ScheduleForm(),
        "can_manage": True,
    }


@login_required
@require_http_methods(["GET", "POST"])
def schedule_list(request: HttpRequest, project_id: int) -> HttpResponse:
    """List a project's schedules with their next trigger, and add one (managers)."""
    project = project_get_for_member(request.user, project_id)
    require_manager(request.user, project)
    form = ScheduleForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            schedule_save(project=project, data=form.schedule_data())
        except ValidationError as exc:
            form.add_service_error(exc)
        else:
            messages.success(request, "Schedule saved.")
            return redirect("training:schedule-list", project.pk)
    status = 400 if request.method == "POST" else 200
    return render_page(request, "training/train_schedules.html", _schedules_context(project, form), status=status)


@login_required
@require_http_methods(["GET", "POST"])
def schedule_edit(request: HttpRequest, schedule_id: int) -> HttpResponse:
    """Edit one schedule (managers)."""
    schedule, project = _schedule(request, schedule_id)
    form = ScheduleForm(request.POST or None, initial=schedule_initial(schedule))
    if request.method == "POST" and form.is_valid():
        try:
            schedule_save(project=project, data=form.schedule_data(), schedule=schedule)
        except ValidationError as exc:
            form.add_service_error(exc)
        else:
            messages.success(request, "Schedule saved.")
            return redirect("training:schedule-list", project.pk)
    status = 400 if request.method == "POST" else 200
    context = {
        "project": project,
        "schedule": schedule,
        "status": schedule_status(schedule),
        "form": form,
        "can_manage": True,
    }
    return render_page(request, "training/train_schedule_edit.html", context, status=status)


def _after_action(request: HttpRequest, project: Project) -> HttpResponse:
    if wants_partial(request):
        return render_page(request, "training/train_schedules.html", _schedules_context(project), partial="schedule-table")
    return redirect("training:schedule-list", project.pk)


@login_required
@require_POST
def schedule_toggle(request: HttpRequest, schedule_id: int) -> HttpResponse:
    """Switch a schedule on or off (managers)."""
    schedule, project = _schedule(request, schedule_id)
    schedule = schedule_set_enabled(schedule=schedule, enabled=not schedule.enabled)
    messages.info(request, f"Schedule {'enabled' if schedule.enabled else 'disabled'}.")
    return _after_action(request, project)


@login_required
@require_POST
def schedule_fire_now(request: HttpRequest, schedule_id: int) -> HttpResponse:
    """Run a schedule's recipe now, whatever its triggers say (managers)."""
    schedule, project = _schedule(request, schedule_id)
    run = schedule_fire(schedule_id=schedule.pk, force=True, user=request.user)
    if run is None:
        messages.error(request, "The schedule is waiting for its current run to finish.")
    elif run.error:
        messages.error(request, run.error)
    else:
        messages.success(request, f"Recipe started: {run.get_kind_display()} run #{run.pk}.")
    return _after_action(request, project)
