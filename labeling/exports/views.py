"""Export pages: the project's export form and snapshot list, a snapshot's manifest, downloads."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from labeling.access import project_get_for_member, require_manager
from labeling.exports.forms import ExportForm
from labeling.exports.selectors import (
    snapshot_download_path,
    snapshot_downloads,
    snapshot_get_for_member,
    snapshot_list,
)
from labeling.exports.services import snapshot_start
from labeling.models import SnapshotStatus

PAGE = "labeling/exports/export_list.html"


def _page(request: HttpRequest, project, form: ExportForm, *, status: int = 200) -> HttpResponse:
    snapshots = list(snapshot_list(project=project)[:50])
    context = {
        "project": project,
        "form": form,
        "snapshots": snapshots,
        "pending": any(s.status in (SnapshotStatus.PENDING, SnapshotStatus.RUNNING) for s in snapshots),
    }
    template = f"{PAGE}#export-panel" if request.htmx else PAGE
    return render(request, template, context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def export_list(request: HttpRequest, project_id: int) -> HttpResponse:
    """Show the export form and the project's snapshots; create one on POST."""
    project = project_get_for_member(request.user, project_id)
    require_manager(request.user, project)
    if request.method == "GET":
        return _page(request, project, ExportForm())
    form = ExportForm(request.POST)
    if form.is_valid():
        try:
            snapshot = snapshot_start(project=project, params=form.params(), user=request.user, background=form.cleaned_data["background"] or None)
        except ValidationError as exc:
            form.add_service_error(exc)
        else:
            queued = snapshot.status == SnapshotStatus.PENDING
            messages.success(request, f"Export “{snapshot.name}” {'queued for the worker' if queued else f'written: {snapshot.row_count} rows'}.")
            if request.htmx:
                return _page(request, project, ExportForm())
            return redirect("exports:export-list", project_id=project.pk)
    return _page(request, project, form, status=400)


@login_required
@require_GET
def snapshot_list_partial(request: HttpRequest, project_id: int) -> HttpResponse:
    """Return the snapshot table alone (polled by htmx while exports are pending)."""
    project = project_get_for_member(request.user, project_id)
    require_manager(request.user, project)
    snapshots = list(snapshot_list(project=project)[:50])
    pending = any(s.status in (SnapshotStatus.PENDING, SnapshotStatus.RUNNING) for s in snapshots)
    return render(request, f"{PAGE}#snapshot-table", {"project": project, "snapshots": snapshots, "pending": pending})


@login_required
@require_GET
def snapshot_detail(request: HttpRequest, snapshot_id: int) -> HttpResponse:
    """Show a snapshot's manifest and its files."""
    snapshot = snapshot_get_for_member(request.user, snapshot_id)
    require_manager(request.user, snapshot.project)
    context = {"snapshot": snapshot, "project": snapshot.project, "downloads": snapshot_downloads(snapshot)}
    return render(request, "labeling/exports/snapshot_detail.html", context)


@login_required
@require_GET
def snapshot_download(request: HttpRequest, snapshot_id: int, name: str) -> FileResponse:
    """Stream one file of a snapshot (managers only)."""
    snapshot = snapshot_get_for_member(request.user, snapshot_id)
    require_manager(request.user, snapshot.project)
    path = snapshot_download_path(snapshot, name)
    filename = f"{snapshot.project.slug}-{snapshot.pk}-{name.replace('/', '-')}"
    return FileResponse(open(path, "rb"), as_attachment=True, filename=filename)
