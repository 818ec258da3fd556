"""The "Train now" page: kind, base model, data, hyperparameters, processes."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_http_methods

from labeling.access import project_get_for_member, require_manager
from labeling.views._render import render_page
from training.forms.hyperparameters import HyperparameterForm
from training.forms.train import TrainForm
from training.models import RunKind
from training.services.runs import ActiveRunExists
from training.services.triggers import train_kinds_installed, train_start

HP_PREFIX = "hp"


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
        return render_page(request, "training/train.html", context)
    data = request.POST if request.method == "POST" else None
    base = request.GET.get("base", "")  # "Evaluate it against its parent" on a run page links here with the model
    form = TrainForm(data, project=project, kind=kind, initial={"base": int(base)} if base.isdigit() else None)
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
    return render_page(request, "training/train.html", context, partial="train-form", status=status)


