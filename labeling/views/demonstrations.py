"""Demonstrations: an annotator writes or edits a response from the ranking page; managers review them."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.http import require_POST

from labeling.access import project_get_for_member, require_manager
from labeling.models import Assignment, Comparison, Demonstration, Ranking
from labeling.services.demonstrations import demonstration_review, demonstration_submit, demonstrations_pending
from labeling.views._render import render_page

QUEUE_TEMPLATE = "labeling/demonstrations.html"
FORM_TEMPLATE = "labeling/partials/demonstrate.html"


def _comparison_for_annotator(request: HttpRequest, project_id: int, comparison_id: int) -> Comparison:
    """The comparison, if it is in a project of the user and the user was shown it (leased or ranked it)."""
    project = project_get_for_member(request.user, project_id)
    comparison = get_object_or_404(Comparison.objects.select_related("project", "prompt"), pk=comparison_id, project=project)
    shown = (Assignment.objects.filter(comparison=comparison, annotator=request.user).exists()
             or Ranking.objects.filter(comparison=comparison, annotator=request.user).exists())
    if not shown:
        raise Http404("No such comparison in your queue.")
    return comparison


@login_required
@require_POST
def demonstration_submit_view(request: HttpRequest, project_id: int, comparison_id: int) -> HttpResponse:
    """Store the annotator's written or edited response; answer htmx with the form's partial."""
    comparison = _comparison_for_annotator(request, project_id, comparison_id)
    context = {"project": comparison.project, "comparison": comparison, "demo_text": request.POST.get("text", "")}
    try:
        demonstration_submit(comparison=comparison, annotator=request.user, text=request.POST.get("text"),
                             edited_from=request.POST.get("edited_from"))
    except ValidationError as exc:
        context["demo_error"] = " ".join(exc.messages)
        return render_page(request, FORM_TEMPLATE, context, partial="demonstrate", status=400)
    context["demo_saved"] = True
    if request.htmx:
        return render_page(request, FORM_TEMPLATE, context, partial="demonstrate")
    messages.success(request, "Your response was saved for review.")
    return redirect("labeling:comparison-rank", project_id=comparison.project_id)


@login_required
def demonstration_queue(request: HttpRequest, project_id: int) -> HttpResponse:
    """Managers: the demonstrations waiting for review; POST accepts (optionally edited) or rejects one."""
    project = project_get_for_member(request.user, project_id)
    require_manager(request.user, project)
    status = 200
    if request.method == "POST":
        demo = get_object_or_404(Demonstration, pk=request.POST.get("demonstration") or 0, project=project)
        try:
            demonstration_review(demonstration=demo, reviewer=request.user, action=request.POST.get("action", ""),
                                 text=request.POST.get("text"))
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            status = 400
        else:
            messages.success(request, f"Demonstration {demo.pk} {'accepted' if request.POST.get('action') == 'accept' else 'rejected'}.")
            if not request.htmx:
                return redirect("labeling:demonstration-queue", project_id=project.pk)
    context = {"project": project, "pending": list(demonstrations_pending(project)[:100])}
    return render_page(request, QUEUE_TEMPLATE, context, partial="queue", status=status)
