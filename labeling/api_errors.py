"""One error shape for the whole API: {"detail": ..., "errors": [...]} with a 4xx code."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

_API_MESSAGES = {
    400: "Bad request.",
    403: "You do not have permission to do that.",
    404: "Not found: no such object (ids are integers), or you are not a member of its project.",
    413: "Request body too large.",
    500: "Server error.",
}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Let DRF build the response, and turn parse errors of oversized bodies into 413."""
    from django.core.exceptions import RequestDataTooBig

    if isinstance(exc, RequestDataTooBig):
        return Response({"detail": f"Request body too large: {exc}"}, status=413)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or "Not found.")
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or "Permission denied.")
    response = drf_exception_handler(exc, context)
    if response is not None and isinstance(exc, exceptions.ValidationError):
        response.data = _validation_body(response.data)
    return response


def _flatten(data: Any, field: str = "") -> list[dict[str, str]]:
    """Turn DRF's nested {"field": ["message"]} into [{"field", "message"}] with dotted field paths."""
    if isinstance(data, dict):
        return [e for key, value in data.items() for e in _flatten(value, f"{field}.{key}" if field else str(key))]
    if isinstance(data, list):
        if all(not isinstance(item, dict | list) for item in data):
            return [{"field": field or "body", "message": str(item)} for item in data]
        return [e for n, item in enumerate(data) for e in _flatten(item, f"{field}[{n}]")]
    return [{"field": field or "body", "message": str(data)}]


def _validation_body(data: Any) -> dict[str, Any]:
    """Give a serializer's 400 the API's shape: {"detail": "field: message", "errors": [...]}."""
    if isinstance(data, dict) and "detail" in data:
        return data
    errors = [
        {**e, "field": "body" if e["field"] == "non_field_errors" else e["field"]} for e in _flatten(data)
    ] or [{"field": "body", "message": "is invalid"}]
    first = errors[0]
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return {"detail": f"{first['field']}: {first['message']}{more}", "errors": errors}


class ApiJsonErrorsMiddleware:
    """Answer every error under /api/ as JSON {"detail": ...}: URL 404s (a non-integer id), 413s, 500s.

    DRF views already answer JSON; this catches what happens outside them (URL resolution,
    Django's own error pages), so an API client never has to parse HTML.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if not request.path.startswith("/api/") or response.status_code < 400:
            return response
        if response.get("Content-Type", "").startswith("application/json"):
            return response
        if response.status_code >= 500 and settings.DEBUG:
            return response  # keep Django's debug page for the developer
        return JsonResponse({"detail": _API_MESSAGES.get(response.status_code, response.reason_phrase)}, status=response.status_code)


_ERROR_REF = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
_DOCUMENTED_ERRORS = {
    "400": "Refused: `detail` says why and `errors` names the field (bad text, deep JSON, numbers out of range too).",
    "401": "Not signed in (send `Authorization: Token <key>`).",
    "403": "Not allowed: not a member, or a manager action.",
    "404": "No such object (ids are integers), or not a member of its project.",
    "413": "Request body too large.",
}


def document_errors(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """drf-spectacular hook: give every operation the error responses any request can get, in the one error shape."""
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            codes = ["400", "413"] if method in ("post", "put", "patch") else ["400"]
            if {} not in operation.get("security", []):  # [{}] marks an operation open to anyone
                codes += ["401", "403"]
            if "{" in path or operation.get("parameters"):  # a path id, or a filter naming a project
                codes.append("404")
            responses = operation.setdefault("responses", {})
            for code in codes:
                responses.setdefault(code, {"description": _DOCUMENTED_ERRORS[code], "content": _ERROR_REF})
    return result
