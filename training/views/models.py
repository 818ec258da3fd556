"""Model pages: a project's lineage, one model, promote, roll back."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from labeling.access import is_manager, project_get_for_member, require_manager
from labeling.views._render import render_page, wants_partial
from training import selectors
from training.services.registry import model_promote, model_rollback


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
    require_manager(request.user, project)  # paths and run links are no annotator's business
    return render_page(request, "training/model_list.html", models_context(request, project), partial="models")


@login_required
def model_detail(request: HttpRequest, version_id: int) -> HttpResponse:
    """Show one model: where it came from, its metrics, its children."""
    version = selectors.model_version_get_for_member(request.user, version_id)
    require_manager(request.user, version.project)
    context = {
        **models_context(request, version.project),
        "version": version,
        "children": list(version.children.order_by("id")),
    }
    return render_page(request, "training/model_detail.html", context)


def _switch(request: HttpRequest, version_id: int, action: Callable[..., Any], done: str) -> HttpResponse:
    version = selectors.model_version_get_for_member(request.user, version_id)
    require_manager(request.user, version.project)
    status = 200
    try:
        action(version=version)
        messages.success(request, f"{version.name} {done}.")
    except ValidationError as exc:
        messages.error(request, "; ".join(exc.messages))
        status = 400
    if not wants_partial(request):
        return redirect("training:model-list", version.project_id)
    context = models_context(request, version.project)
    return render_page(request, "training/model_list.html", context, partial="models", status=status)


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
