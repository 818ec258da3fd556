"""Manager pages of a project: dashboard, members, prompt import (403 for annotators)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from labeling import selectors
from labeling.access import project_get_for_member, require_manager
from labeling.forms import InviteForm, MemberAddForm, MemberRemoveForm
from labeling.models import Project
from labeling.services import (
    ProjectError,
    invite_path,
    membership_add,
    membership_remove,
)
from labeling.views._render import render_page, wants_partial


def managed_project(request: HttpRequest, project_id: int) -> Project:
    """Return the project if the user manages it: 404 for non-members, 403 for annotators."""
    project = project_get_for_member(request.user, project_id)
    require_manager(request.user, project)
    return project


@login_required
def project_dashboard(request: HttpRequest, project_id: int) -> HttpResponse:
    """Show progress, preference counts and per-annotator figures."""
    project = managed_project(request, project_id)
    context = {
        "project": project,
        "stats": selectors.dashboard_stats(project=project),
        "quality": selectors.project_quality(project=project),
    }
    return render_page(request, "labeling/dashboard.html", context, partial="stats")


def members_page(
    request: HttpRequest,
    project: Project,
    form: MemberAddForm,
    *,
    status: int = 200,
    notice: str = "",
    invite_form: InviteForm | None = None,
    invited: int | None = None,
) -> HttpResponse:
    """Render the members page: the list (pending invites with their links), add and invite forms."""
    members = list(selectors.members_of(project))
    links = {
        m.user_id: request.build_absolute_uri(invite_path(m.user)) for m in members if not m.user.has_usable_password()
    }
    context = {
        "project": project,
        "members": [(m, links.get(m.user_id)) for m in members],
        "form": form,
        "invite_form": invite_form or InviteForm(prefix="invite"),
        "notice": notice,
        "invited_link": links.get(invited) if invited else None,
    }
    return render_page(request, "labeling/members.html", context, partial="members", status=status)


@login_required
def project_members(request: HttpRequest, project_id: int) -> HttpResponse:
    """List members; add an existing user by username with a role (or change their role)."""
    project = managed_project(request, project_id)
    form = MemberAddForm(request.POST if request.method == "POST" else None)
    if request.method != "POST":
        return members_page(request, project, form)
    if form.is_valid():
        try:
            membership = membership_add(project=project, **form.cleaned_data)
        except ProjectError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            notice = f"{membership.user.username} is now a {membership.get_role_display().lower()}."
            if wants_partial(request):
                return members_page(request, project, MemberAddForm(), notice=notice)
            messages.success(request, notice)
            return redirect("labeling:project-members", project_id=project.pk)
    return members_page(request, project, form, status=400)


@login_required
@require_POST
def project_member_remove(request: HttpRequest, project_id: int) -> HttpResponse:
    """Remove a member (the last manager stays)."""
    project = managed_project(request, project_id)
    form = MemberRemoveForm(request.POST)
    if form.is_valid():
        try:
            membership_remove(project=project, username=form.cleaned_data["username"])
        except ProjectError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, f"Removed {form.cleaned_data['username']} from the project.")
    else:
        messages.error(request, "Say which member to remove.")
    return redirect("labeling:project-members", project_id=project.pk)
