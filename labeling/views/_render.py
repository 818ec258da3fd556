"""Rendering helpers shared by the labeling views."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def wants_partial(request: HttpRequest) -> bool:
    """Tell whether to answer with a fragment: an htmx request that is not a boosted or history load."""
    htmx = getattr(request, "htmx", None)
    return bool(htmx) and not htmx.boosted and not htmx.history_restore_request


def render_page(
    request: HttpRequest, template: str, context: dict[str, Any], *, partial: str | None = None, status: int = 200
) -> HttpResponse:
    """Render the whole page, or only its named partial for htmx requests."""
    name = f"{template}#{partial}" if partial and wants_partial(request) else template
    return render(request, name, context, status=status)
