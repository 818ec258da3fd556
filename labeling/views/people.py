"""People: managers invite new users into a project; the invite link sets their password."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import get_user_model, login
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import SetPasswordForm
from django.contrib.auth.tokens import default_token_generator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.encoding import force_str
from django.utils.http import urlsafe_base64_decode
from django.views.decorators.http import require_http_methods, require_POST

from labeling.forms import InviteForm, MemberAddForm
from labeling.services import ProjectError, user_invite
from labeling.views.manager import managed_project, members_page


@login_required
@require_POST
def project_invite(request: HttpRequest, project_id: int) -> HttpResponse:
    """Create a new user as a member of the project and show the link that sets their password."""
    project = managed_project(request, project_id)
    form = InviteForm(request.POST, prefix="invite")
    if form.is_valid():
        try:
            invite = user_invite(project=project, **form.cleaned_data)
        except ProjectError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            notice = f"{invite.user.username} is invited as {invite.membership.get_role_display().lower()}: send them the link below."
            return members_page(request, project, MemberAddForm(), notice=notice, invited=invite.user.pk)
    return members_page(request, project, MemberAddForm(), invite_form=form, status=400)


def _invited_user(uidb64: str, token: str):  # type: ignore[no-untyped-def]
    try:
        user = get_user_model().objects.get(pk=force_str(urlsafe_base64_decode(uidb64)), is_active=True)
    except (ValueError, TypeError, OverflowError, get_user_model().DoesNotExist):
        return None
    return user if default_token_generator.check_token(user, token) else None


@require_http_methods(["GET", "POST"])
def invite_accept(request: HttpRequest, uidb64: str, token: str) -> HttpResponse:
    """Let an invited user choose a password, sign them in, and take them to their project."""
    user = _invited_user(uidb64, token)
    if user is None:
        context = {
            "title": "This invite link no longer works",
            "message": "It was already used to set a password, or it expired. Sign in, or ask your manager for a new link.",
        }
        return render(request, "error.html", context, status=400)
    form = SetPasswordForm(user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        form.save()
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        membership = user.memberships.select_related("project").order_by("created_at").first()
        messages.success(request, f"Welcome, {user.username}. Your password is set.")
        if membership is not None:
            return redirect("labeling:project-detail", project_id=membership.project_id)
        return redirect("labeling:project-list")
    status = 400 if form.is_bound else 200
    return render(request, "registration/invite_accept.html", {"form": form, "invitee": user}, status=status)
