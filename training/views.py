"""Training pages: runs (list, live page, cancel), models (lineage, detail, promote, roll back), generate.

Thin views: check membership (404) and role (403), validate a form, call one service, render.
An htmx request gets the named partial only; every action also works as a plain form post.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from labeling.access import is_manager, project_get_for_member, require_manager
from training import selectors
from training.charts import run_charts
from training.forms import GenerateRoundForm
from training.models import Run
from training.services.generation import generation_round_start
from training.services.registry import model_promote, model_rollback
from training.services.runs import run_cancel


def _render(request: HttpRequest, template: str, context: dict[str, Any], *, partial: str | None = None, status: int = 200) -> HttpResponse:
    """Render the page, or only its named partial for an htmx request."""
    htmx = getattr(request, "htmx", None)
    name = f"{template}#{partial}" if partial and htmx and not htmx.boosted else template
    return render(request, name, context, status=status)



@login_required
def run_list(request: HttpRequest, project_id: int) -> HttpResponse:
    """List a project's runs, newest first."""
    project = project_get_for_member(request.user, project_id)
    runs = selectors.runs_for_project(project)[:200]
    return _render(request, "training/run_list.html", {"project": project, "runs": runs, "can_manage": is_manager(request.user, project)})


def run_context(request: HttpRequest, run: Run) -> dict[str, Any]:
    return {
        "run": run,
        "project": run.project,
        "can_manage": is_manager(request.user, run.project),
        "latest": selectors.run_latest_metrics(run),
        "charts": run_charts(selectors.run_metric_series(run)),
        "versions": list(run.model_versions.all()),
    }


@login_required
def run_detail(request: HttpRequest, run_id: int) -> HttpResponse:
    """Show a run; while it is active the live part polls itself every 2 s."""
    run = selectors.run_get_for_member(request.user, run_id)
    return _render(request, "training/run_detail.html", run_context(request, run), partial="live")


@login_required
@require_POST
def run_cancel_view(request: HttpRequest, run_id: int) -> HttpResponse:
    """Cancel a run (managers)."""
    run = selectors.run_get_for_member(request.user, run_id)
    require_manager(request.user, run.project)
    run = run_cancel(run=run)
    if not getattr(request, "htmx", None):
        messages.info(request, f"Run #{run.pk}: cancel requested." if run.is_active else f"Run #{run.pk} cancelled.")
        return redirect("training:run-detail", run.pk)
    return _render(request, "training/run_detail.html", run_context(request, run), partial="live")


def models_context(request: HttpRequest, project: Any) -> dict[str, Any]:
    pointers = selectors.project_pointers(project)
    return {
        "project": project,
        "lineage": selectors.model_lineage(project),
        "current_ids": {pointers.policy_id, pointers.reward_id} - {None},
        "pointers": pointers,
        "can_manage": is_manager(request.user, project),
    }


@login_required
def model_list(request: HttpRequest, project_id: int) -> HttpResponse:
    """Show a project's models as a lineage tree, the current ones marked."""
    project = project_get_for_member(request.user, project_id)
    return _render(request, "training/model_list.html", models_context(request, project), partial="models")


@login_required
def model_detail(request: HttpRequest, version_id: int) -> HttpResponse:
    """Show one model: where it came from, its metrics, its children."""
    version = selectors.model_version_get_for_member(request.user, version_id)
    context = {**models_context(request, version.project), "version": version, "children": list(version.children.order_by("id"))}
    return _render(request, "training/model_detail.html", context)


def _switch(request: HttpRequest, version_id: int, action: Any, done: str) -> HttpResponse:
    version = selectors.model_version_get_for_member(request.user, version_id)
    require_manager(request.user, version.project)
    status = 200
    try:
        action(version=version)
        messages.success(request, f"{version.name} {done}.")
    except ValidationError as exc:
        messages.error(request, "; ".join(exc.messages))
        status = 400
    if not getattr(request, "htmx", None):
        return redirect("training:model-list", version.project_id)
    return _render(request, "training/model_list.html", models_context(request, version.project), partial="models", status=status)


@login_required
@require_POST
def model_promote_view(request: HttpRequest, version_id: int) -> HttpResponse:
    """Make a version current (managers)."""
    return _switch(request, version_id, model_promote, "is now current")


@login_required
@require_POST
def model_rollback_view(request: HttpRequest, version_id: int) -> HttpResponse:
    """Go back to an earlier version (managers)."""
    return _switch(request, version_id, model_rollback, "is current again (rolled back)")


@login_required
@require_http_methods(["GET", "POST"])
def generate_round(request: HttpRequest, project_id: int) -> HttpResponse:
    """Start a generate run over unranked / all / tagged prompts (managers)."""
    project = project_get_for_member(request.user, project_id)
    require_manager(request.user, project)
    form = GenerateRoundForm(request.POST or None, project=project)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            run = generation_round_start(project=project, user=request.user, which=data["which"], tag=data["tag"], config=form.config())
        except ValidationError as exc:
            form.add_service_error(exc)
        else:
            messages.success(request, f"Generating the next round: run #{run.pk}.")
            return redirect("training:run-detail", run.pk)
    status = 400 if request.method == "POST" else 200
    context = {"project": project, "form": form, "current_policy": selectors.project_pointers(project).policy}
    return _render(request, "training/generate.html", context, status=status)
