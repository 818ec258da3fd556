"""The import page: upload a file (or name a Hub dataset), review its column mapping, import (managers only).

"Review" stages the source and shows its columns, a mapping select per PrefLoop field and the
first rows as PrefLoop reads them; "Import" applies it. "Import now" skips the review (the
suggested mapping). Every step answers the page, or its result partial for htmx.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from labeling.forms import ImportForm
from labeling.models import Project
from labeling.services import ImportValidationError, prompts_import
from labeling.services.import_sources import FIELDS
from labeling.services.import_staging import (
    import_preview,
    request_source,
    staged_discard,
    staged_get,
    staged_queue,
    staged_state,
)
from labeling.views._render import render_page
from labeling.views.manager import managed_project

PAGE = "labeling/import.html"


def _posted_mapping(request: HttpRequest) -> dict[str, str] | None:
    """Return the review form's mapping (map_<field> selects), or None when it was not shown."""
    if not any(f"map_{name}" in request.POST for name in FIELDS):
        return None
    return {name: request.POST.get(f"map_{name}", "") for name in FIELDS}


def _errors(context: dict[str, Any], exc: ImportValidationError) -> None:
    context |= {"errors": exc.errors, "error_total": exc.total, "error_summary": exc.summary(), "unit": exc.unit}


def _review_or_import(request: HttpRequest, project: Project, context: dict[str, Any], *, upload: Any, options: dict[str, Any]) -> int:
    """Stage and preview (action review), or import; fill the context and return the status."""
    action = request.POST.get("action", "import")
    token = request.POST.get("token", "")
    try:
        source, staged = request_source(project=project, user=request.user, upload=upload, token=token, hub_id=options.get("hub_id") or "",
                                        fmt=options.get("format") or None, split=options.get("split") or None, review=action == "review")
        mapping = _posted_mapping(request)
        if action == "background" and staged is not None:
            staged_queue(staged, mapping=mapping)
            context |= {"progress": staged_state(staged), "token": staged.token}
            return 202
        if action == "review":
            context |= {"preview": import_preview(project=project, source=source, mapping=mapping), "token": staged.token}
            return 200
        context["result"] = prompts_import(project=project, upload=upload if source is None else None, fmt=options.get("format") or None,
                                           source=source, mapping=mapping, user=request.user)
    except ImportValidationError as exc:
        _errors(context, exc)
        return 400
    if staged is not None:
        staged_discard(staged)
    return 200


@login_required
def project_import(request: HttpRequest, project_id: int) -> HttpResponse:
    """Import prompts, dialogues or preference pairs; review the mapping first, or import at once."""
    project = managed_project(request, project_id)
    context: dict[str, Any] = {"project": project, "form": ImportForm()}
    if request.method != "POST":
        return render_page(request, PAGE, context)
    if request.POST.get("token"):
        context["filename"] = request.POST.get("source_name", "")
        status = _review_or_import(request, project, context, upload=None, options={})
        return render_page(request, PAGE, context, partial="result", status=status)
    form = context["form"] = ImportForm(request.POST, request.FILES)
    status = 400
    if form.is_valid():
        upload = form.cleaned_data["file"]
        context["filename"] = upload.name if upload else form.cleaned_data["hub_id"]
        status = _review_or_import(request, project, context, upload=upload, options=form.cleaned_data)
    return render_page(request, PAGE, context, partial="result", status=status)


@login_required
@require_GET
def project_import_progress(request: HttpRequest, project_id: int, token: str) -> HttpResponse:
    """Show a background import's progress bar (polled by htmx), then its summary or its problems."""
    project = managed_project(request, project_id)
    context: dict[str, Any] = {"project": project, "form": ImportForm(), "token": token}
    try:
        state = staged_state(staged_get(token=token, project=project, user=request.user))
    except ImportValidationError as exc:
        _errors(context, exc)
        return render_page(request, PAGE, context, partial="result", status=404)
    if state["state"] == "done":
        context["result"] = state["result"]
    elif state["state"] == "failed":
        context |= {"errors": state["errors"], "error_total": state["total_errors"], "error_summary": state["summary"], "unit": state["unit"]}
    else:
        context["progress"] = state
    return render_page(request, PAGE, context, partial="result")
