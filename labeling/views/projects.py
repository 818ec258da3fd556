"""Project pages: the list, one project's home, and the create form for staff."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from labeling import selectors
from labeling.access import is_manager, project_get_for_member, projects_for_user
from labeling.forms import ProjectForm
from labeling.hooks import project_panels_render
from labeling.models import Ranking
from labeling.services import ProjectError, project_create
from labeling.views._render import render_page


@login_required
def project_list(request: HttpRequest) -> HttpResponse:
    """List the projects the user belongs to, with their progress."""
    projects = selectors.projects_overview(projects_for_user(request.user), request.user).order_by("name")
    return render_page(request, "labeling/project_list.html", {"projects": projects})


@login_required
def project_detail(request: HttpRequest, project_id: int) -> HttpResponse:
    """Show a project's instructions, progress, and where to go next."""
    project = project_get_for_member(request.user, project_id)
    context = {
        "project": project,
        "can_manage": is_manager(request.user, project),
        "mine": selectors.annotator_progress(project=project, annotator=request.user),
        "overall": selectors.project_progress(project=project),
        "has_ranked": Ranking.objects.filter(comparison__project=project, annotator=request.user).exists(),
        # Panels other apps registered (labeling.hooks), e.g. training's model loop.
        "panels": project_panels_render(project, user=request.user),
    }
    return render_page(request, "labeling/project_detail.html", context)


@login_required
def project_new(request: HttpRequest) -> HttpResponse:
    """Create a project (staff only); the creator becomes its manager."""
    if not request.user.is_staff:
        raise PermissionDenied("Only staff can create projects.")
    form = ProjectForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            project = project_create(**form.cleaned_data, user=request.user)
        except ProjectError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            messages.success(request, f"Project “{project.name}” created. Import prompts to start.")
            return redirect("labeling:project-detail", project_id=project.pk)
    status = 400 if form.is_bound else 200
    return render_page(request, "labeling/project_form.html", {"form": form}, status=status)
