"""The managers' data browser: comparisons with filters, and one comparison's rankings side by side."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_GET

from labeling import browse, selectors
from labeling.forms import DataFilterForm
from labeling.models import Comparison
from labeling.views._render import render_page
from labeling.views.manager import managed_project


@login_required
@require_GET
def data_browse(request: HttpRequest, project_id: int) -> HttpResponse:
    """List the project's comparisons, filtered by status, tag, annotator, version, flags, agreement."""
    project = managed_project(request, project_id)
    form = DataFilterForm(request.GET or None, choices=browse.browse_choices(project))
    valid = form.is_valid() if form.is_bound else True
    cleaned = form.cleaned_data if form.is_bound and valid else {}
    page = cleaned.get("page") or 1
    filters = browse.BrowseFilters(**{k: v for k, v in cleaned.items() if k != "page" and v})
    rows, total = browse.comparisons_browse(project=project, filters=filters, page=page)
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "project": project,
        "form": form,
        "rows": rows,
        "total": total,
        "page": page,
        "pages": max(1, -(-total // browse.PAGE_SIZE)),
        "query": query.urlencode(),
    }
    return render_page(request, "labeling/data_list.html", context, partial="results", status=200 if valid else 400)


@login_required
@require_GET
def data_comparison(request: HttpRequest, project_id: int, comparison_id: int) -> HttpResponse:
    """Show one comparison: prompt, responses, and every annotator's ranking side by side."""
    project = managed_project(request, project_id)
    comparison = get_object_or_404(Comparison.objects.select_related("prompt"), pk=comparison_id, project=project)
    context = {
        "project": project,
        "comparison": comparison,
        "chat": selectors.chat_messages(comparison.prompt.messages),
        **browse.comparison_side_by_side(comparison=comparison),
    }
    return render_page(request, "labeling/data_detail.html", context)
