"""The annotation loop's lane: token-authenticated calls of the loop endpoints skip the page middleware.

Every claim and submit of an API client went through sessions, CommonMiddleware, CSRF,
authentication, messages and htmx, none of which a token-authenticated JSON call uses (about a
tenth of a loop's Python calls, issue 13). This middleware, placed right after the JSON error
handler, sends a POST with `Authorization: Token …` to a view of the annotation loop
(`labeling.api.AnnotationLoopApi`) through the input gate, X-Frame-Options and the CSP header,
the same middleware classes the full stack uses, and then straight to the view. Any other
request goes down the full stack.
"""

from __future__ import annotations

from collections.abc import Callable

from django.core.handlers.exception import convert_exception_to_response
from django.http import HttpRequest, HttpResponse
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.urls import Resolver404, ResolverMatch, resolve

from config.csp import CSPMiddleware
from labeling.api import AnnotationLoopApi
from labeling.inputs import InputGateMiddleware

# Outermost first, in the order of settings.MIDDLEWARE.
LANE_MIDDLEWARE = (InputGateMiddleware, XFrameOptionsMiddleware, CSPMiddleware)


class AnnotationLoopLane:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        lane = convert_exception_to_response(_call_view)
        for middleware in reversed(LANE_MIDDLEWARE):  # built as Django builds its chain
            lane = convert_exception_to_response(middleware(lane))
        self.lane = lane

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method == "POST" and request.META.get("HTTP_AUTHORIZATION", "").startswith("Token "):
            match = _loop_view(request.path_info)
            if match is not None:
                request.get_host()  # ALLOWED_HOSTS, which CommonMiddleware checks on the full stack (400 if not)
                request.resolver_match = match
                return self.lane(request)
        return self.get_response(request)


def _loop_view(path: str) -> ResolverMatch | None:
    """The URL's match if it names a view of the annotation loop, else None."""
    if not path.startswith("/api/"):
        return None
    try:
        match = resolve(path)
    except Resolver404:
        return None
    view_class = getattr(match.func, "view_class", None)
    return match if isinstance(view_class, type) and issubclass(view_class, AnnotationLoopApi) else None


def _call_view(request: HttpRequest) -> HttpResponse:
    """Call the matched view and render its response, as Django's handler does."""
    match = request.resolver_match
    response = match.func(request, *match.args, **match.kwargs)
    if hasattr(response, "render") and callable(response.render):
        response = response.render()
    if not response.streaming and not response.has_header("Content-Length"):  # as CommonMiddleware does
        response.headers["Content-Length"] = str(len(response.content))
    return response
