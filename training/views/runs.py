"""Run pages (managers): a project's runs, one run's live page, cancel, run again."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils import timezone
from django.views.decorators.http import require_POST

from labeling.access import project_get_for_member, require_manager
from labeling.views._render import render_page, wants_partial
from training import display, selectors
from training.charts import run_charts
from training.kinds import kind_spec
from training.models import Run, RunStatus
from training.services.distributed import launcher_defaults
from training.services.resume import run_checkpoint, run_resume
from training.services.runs import run_cancel, run_create


@login_required
def run_list(request: HttpRequest, project_id: int) -> HttpResponse:
    """List a project's runs, newest first (managers: logs and paths are no annotator's business)."""
    project = project_get_for_member(request.user, project_id)
    require_manager(request.user, project)
    runs = selectors.runs_for_project(project)[:200]
    context = {"project": project, "runs": runs, "can_manage": True}
    return render_page(request, "training/run_list.html", context)


def _headline(kind: str) -> tuple[tuple[str, str], ...]:
    spec = kind_spec(kind)
    return spec.headline if spec else ()


def _samples(run: Run) -> list[dict[str, str]]:
    """Sampled answers a job reported in its result (sft: held-out prompts), as plain strings."""
    found = ((run.outputs or {}).get("result") or {}).get("samples")
    if not isinstance(found, list):
        return []
    keys = ("prompt", "demonstration", "response")
    return [{k: str(s.get(k, "")) for k in keys} for s in found[:20] if isinstance(s, dict)]


def run_context(request: HttpRequest, run: Run) -> dict[str, Any]:
    series = selectors.run_metric_series(run)
    charts = display.charted(series)
    latest = selectors.run_latest_metrics(run, with_warnings=False)
    return {
        "run": run,
        "project": run.project,
        "can_manage": True,
        "tracking": selectors.run_tracking(run),
        "launcher_defaults": launcher_defaults(),  # server paths: the run page is for managers
        "key_figures": display.key_figures(series, lead=_headline(run.kind)),
        "latest": {k: v for k, v in latest.items() if k not in charts},
        "charts": run_charts(charts, headline=_headline(run.kind)),
        "samples": _samples(run),
        "data_warnings": selectors.run_data_warnings(run),
        "timing": display.timing(started=run.started_at, finished=run.finished_at, progress=run.progress, now=timezone.now()),
        "log": display.clean_log(run.log_tail),
        "can_rerun": run.status in (RunStatus.FAILED, RunStatus.CANCELLED),
        "checkpoint": run_checkpoint(run) if run.status in (RunStatus.FAILED, RunStatus.CANCELLED) else None,
        "versions": list(run.model_versions.select_related("parent")),
        "chain": selectors.run_chain_step(run),
        "current_ids": selectors.current_model_ids(request.user),
    }


def _managed_run(request: HttpRequest, run_id: int) -> Run:
    run = selectors.run_get_for_member(request.user, run_id)
    require_manager(request.user, run.project)
    return run


@login_required
def run_detail(request: HttpRequest, run_id: int) -> HttpResponse:
    """Show a run; while it is active the live part polls itself every 2 s."""
    run = _managed_run(request, run_id)
    return render_page(request, "training/run_detail.html", run_context(request, run), partial="live")


@login_required
@require_POST
def run_cancel_view(request: HttpRequest, run_id: int) -> HttpResponse:
    """Cancel a run (managers)."""
    run = run_cancel(run=_managed_run(request, run_id))
    if not wants_partial(request):
        messages.info(request, f"Run #{run.pk}: cancel requested." if run.is_active else f"Run #{run.pk} cancelled.")
        return redirect("training:run-detail", run.pk)
    return render_page(request, "training/run_detail.html", run_context(request, run), partial="live")


@login_required
@require_POST
def run_rerun_view(request: HttpRequest, run_id: int) -> HttpResponse:
    """Queue a new run with a failed or cancelled run's kind, configuration and inputs (managers)."""
    run = _managed_run(request, run_id)
    try:
        again = run_create(
            project=run.project, kind=run.kind, config=run.config, user=request.user, snapshot=run.snapshot,
            nproc=run.nproc, inputs=run.inputs, timeout_s=run.timeout_s,
        )
    except ValidationError as exc:
        messages.error(request, "Could not run it again: " + "; ".join(exc.messages))
        return redirect("training:run-detail", run.pk)
    messages.success(request, f"Run #{again.pk} queued with the settings of run #{run.pk}.")
    return redirect("training:run-detail", again.pk)


@login_required
@require_POST
def run_resume_view(request: HttpRequest, run_id: int) -> HttpResponse:
    """Resume a failed or cancelled run from its last complete checkpoint (managers)."""
    run = _managed_run(request, run_id)
    try:
        run = run_resume(run=run)
    except ValidationError as exc:
        messages.error(request, "Could not resume it: " + "; ".join(exc.messages))
        return redirect("training:run-detail", run.pk)
    messages.success(request, f"Run #{run.pk} queued to resume from {run.inputs['resumed_from']}.")
    return redirect("training:run-detail", run.pk)
