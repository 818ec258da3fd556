"""The "generate next round" page."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_http_methods

from labeling.access import project_get_for_member, require_manager
from labeling.views._render import render_page
from training import selectors
from training.forms.generate import GenerateRoundForm
from training.services.generation import generation_round_start


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
            run = generation_round_start(
                project=project, user=request.user, which=data["which"], tag=data["tag"], config=form.config()
            )
        except ValidationError as exc:
            form.add_service_error(exc)
        else:
            messages.success(request, f"Generating the next round: run #{run.pk}.")
            return redirect("training:run-detail", run.pk)
    status = 400 if request.method == "POST" else 200
    context = {"project": project, "form": form, "current_policy": selectors.project_pointers(project).policy}
    return render_page(request, "training/generate.html", context, status=status)
