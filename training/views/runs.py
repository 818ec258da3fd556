"""Run pages: a project's runs, one run's live page, cancel."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from labeling.access import is_manager, project_get_for_member, require_manager
from labeling.views._render import render_page, wants_partial
from training import selectors
from training.charts import run_charts
from training.models import Run
from training.services.runs import run_cancel


@login_required
def run_list(request: HttpRequest, project_id: int) -> HttpResponse:
    """List a project's runs, newest first."""
    project = project_get_for_member(request.user, project_id)
    runs = selectors.runs_for_project(project)[:200]
    context = {"project": project, "runs": runs, "can_manage": is_manager(request.user, project)}
    return render_page(request, "training/run_list.html", context)


def run_context(request: HttpRequest, run: Run) -> dict[str, Any]:
    return {
        "run": run,
        "project": run.project,
        "can_manage": is_manager(request.user, run.project),
        "latest": selectors.run_latest_metrics(run),
        "charts": run_charts(selectors.run_metric_series(run)),
        "versions": list(run.model_versions.all()),
        "chain": selectors.run_chain_step(run),
        "current_ids": selectors.current_model_ids(request.user),
    }


@login_required
def run_detail(request: HttpRequest, run_id: int) -> HttpResponse:
    """Show a run; while it is active the live part polls itself every 2 s."""
    run = selectors.run_get_for_member(request.user, run_id)
    return render_page(request, "training/run_detail.html", run_context(request, run), partial="live")


@login_required
@require_POST
def run_cancel_view(request: HttpRequest, run_id: int) -> HttpResponse:
    """Cancel a run (managers)."""
    run = selectors.run_get_for_member(request.user, run_id)
    require_manager(request.user, run.project)
    run = run_cancel(run=run)
    if not wants_partial(request):
        messages.info(request, f"Run #{run.pk}: cancel requested." if run.is_active else f"Run #{run.pk} cancelled.")
        return redirect("training:run-detail", run.pk)
    return render_page(request, "training/run_detail.html", run_context(request, run), partial="live")
