"""Training triggers: "Train now" and the project's schedules (create, edit, switch on/off, fire now).

Thin views: membership check (404), manager check (403), a form, one service call, render.
An htmx request gets the named partial; every action also works as a plain form post.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from labeling.access import project_get_for_member, require_manager
from labeling.models import Project
from training.forms_train import HyperparameterForm, ScheduleForm, TrainForm, schedule_initial
from training.models import RunKind, Schedule
from training.selectors_schedules import schedule_loop_context, schedule_status
from training.services.runs import ActiveRunExists
from training.services.schedules import schedule_fire, schedule_save, schedule_set_enabled
from training.services.triggers import train_kinds_installed, train_start

HP_PREFIX = "hp"


def _render(
    request: HttpRequest, template: str, context: dict[str, Any], *, partial: str | None = None, status: int = 200
) -> HttpResponse:
    htmx = getattr(request, "htmx", None)
    name = f"{template}#{partial}" if partial and htmx and not htmx.boosted else template
    return render(request, name, context, status=status)


def _pick_kind(request: HttpRequest, kinds: list[str]) -> str | None:
    wanted = request.POST.get("kind") or request.GET.get("kind") or RunKind.DPO
    return wanted if wanted in kinds else (kinds[0] if kinds else None)


def _add_errors(exc: ValidationError, form: TrainForm, hp_form: HyperparameterForm) -> None:
    """Put a service error on the field it names: data/base fields, else a hyperparameter, else the form."""
    for key, msgs in getattr(exc, "message_dict", {None: exc.messages}).items():
        if key == "config":
            hp_form.add_service_error(ValidationError({"config": msgs}))
            continue
        for message in msgs:
            form.add_error(key if key in form.fields else None, message)


@login_required
@require_http_methods(["GET", "POST"])
def train_now(request: HttpRequest, project_id: int) -> HttpResponse:
    """Start a training run: kind, base model, data, hyperparameters, processes (managers)."""
    project = project_get_for_member(request.user, project_id)
    require_manager(request.user, project)
    kinds = train_kinds_installed()
    kind = _pick_kind(request, kinds)
    context: dict[str, Any] = {"project": project, "kinds": kinds, "kind": kind, "can_manage": True}
    if kind is None:
        return _render(request, "training/train.html", context)
    data = request.POST if request.method == "POST" else None
    form = TrainForm(data, project=project, kind=kind)
    hp_form = HyperparameterForm(data, kind=kind, prefix=HP_PREFIX)
    context.update(form=form, hp_form=hp_form)
    if request.method == "POST" and form.is_valid() and hp_form.is_valid():
        try:
            run = train_start(project=project, request=form.request(hp_form.config()), user=request.user)
        except ActiveRunExists as exc:
            form.add_error(None, f"{exc.messages[0]}: wait for it to finish or cancel it.")
        except ValidationError as exc:
            _add_errors(exc, form, hp_form)
        else:
            messages.success(request, f"{run.get_kind_display()} run #{run.pk} queued.")
            return redirect("training:run-detail", run.pk)
    status = 400 if request.method == "POST" else 200
    return _render(request, "training/train.html", context, partial="train-form", status=status)


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
    return _render(request, "training/train_schedules.html", _schedules_context(project, form), status=status)


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
    return _render(request, "training/train_schedule_edit.html", context, status=status)


def _after_action(request: HttpRequest, project: Project) -> HttpResponse:
    if getattr(request, "htmx", None):
        return _render(request, "training/train_schedules.html", _schedules_context(project), partial="schedule-table")
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
