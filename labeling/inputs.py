"""One gate for what enters: text without NUL or lone surrogates, sane JSON, numbers in range.

PostgreSQL cannot store NUL in text or JSON, and a lone surrogate ("\\ud800", legal in JSON,
not in Unicode) cannot be encoded as UTF-8, so either one fails far from where it came in
(an admin page, an export, a generate run). Everything is checked here, at the door:
`InputGateMiddleware` checks query strings, form fields and JSON bodies of every request (and
keeps a checked JSON body for `CheckedJSONParser`, so an API view does not parse it again);
imports check each row with `check_value` so the error names the line. The defensive half, for
text stored before the gate existed or made by a model: `SafeJSONField` (prompt messages and
tags read back clean) and `safe_text` (generated responses are stored clean).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.db import models
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, QueryDict
from django.shortcuts import render
from rest_framework.parsers import JSONParser

MAX_JSON_DEPTH = 64  # the deepest real body (an import row's messages) is 4 levels
INT_MIN, INT_MAX = -(2**63), 2**63 - 1  # what both databases store in a bigint
_MAX_INT_DIGITS = 20  # longer digit runs are out of range whatever their value

_BAD_TEXT = re.compile("[\x00\ud800-\udfff]")
_JSON_STRINGS = re.compile(rb'"(?:[^"\\]+|\\.)*"', re.DOTALL)
_JSON_BRACKETS = re.compile(rb"[\[\]{}]")
_INTEGER = re.compile(r"[+-]?\d+")
_LONG_PATH_NUMBER = re.compile(r"/(\d{19,})(?=/|$)")
_ESCAPED_BAD_TEXT = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")  # in stored JSON text (pairs match too: rare, harmless)


class InputRefused(ValueError):
    """One field of the input is refused; `field` names it (a JSON path such as rows[3].prompt)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class _OutOfRange:
    """Stands in for a JSON integer too long to be a number we store, so the walk can name its field."""


OUT_OF_RANGE = _OutOfRange()


def text_problem(value: str) -> str | None:
    """Say what is wrong with a text (NUL or a lone surrogate), or None when it is fine."""
    found = _BAD_TEXT.search(value)
    if found is None:
        return None
    where = f"at character {found.start() + 1}"
    if found.group() == "\x00":
        return f"contains a NUL character (U+0000) {where}; remove it"
    return f"contains a lone surrogate (U+{ord(found.group()):04X}) {where}, which is not valid Unicode text"


def safe_text(value: str) -> str:
    """Replace NUL and lone surrogates with U+FFFD so stored text always renders and encodes."""
    return _BAD_TEXT.sub("\ufffd", value)


def safe_value(value: Any) -> Any:
    """Return JSON-like data with every text passed through safe_text (for rows stored before the gate)."""
    if isinstance(value, str):
        return safe_text(value)
    if isinstance(value, list | tuple):
        return [safe_value(item) for item in value]
    if isinstance(value, dict):
        return {safe_value(key): safe_value(item) for key, item in value.items()}
    return value


class SafeJSONField(models.JSONField):
    """A JSONField whose reads replace NUL and lone surrogates (rows stored before the input gate).

    SQLite kept "\\ud800" escapes inside JSON text, and every page, export or job that later
    encoded such a value failed. Same column as JSONField, so migrations see a plain JSONField.
    """

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        decoded = super().from_db_value(value, expression, connection)
        if isinstance(value, str) and _ESCAPED_BAD_TEXT.search(value):  # a NUL or surrogate is always escaped
            return safe_value(decoded)
        return decoded

    def deconstruct(self) -> tuple[str, str, list[Any], dict[str, Any]]:
        name, _, args, kwargs = super().deconstruct()
        return name, "django.db.models.JSONField", args, kwargs


def _number_problem(value: Any) -> str | None:
    if value is OUT_OF_RANGE or (isinstance(value, int) and not isinstance(value, bool) and not INT_MIN <= value <= INT_MAX):
        return "is a number out of range (at most 19 digits)"
    if isinstance(value, float) and not math.isfinite(value):
        return "must be a finite number (1e999, NaN and Infinity are refused)"
    return None


def _child(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def check_value(value: Any, field: str = "") -> None:
    """Walk a parsed JSON value; raise InputRefused naming the first bad text or number."""
    stack: list[tuple[str, Any]] = [(field, value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str):
            problem = text_problem(item)
        elif isinstance(item, dict):
            problem = next((text_problem(k) for k in item if isinstance(k, str) and text_problem(k)), None)
            stack.extend((_child(path, k), v) for k, v in reversed(item.items()))
        elif isinstance(item, list | tuple):
            problem = None
            stack.extend((_child(path, n), v) for n, v in reversed(list(enumerate(item))))
        else:
            problem = _number_problem(item)
        if problem:
            raise InputRefused(path or "body", problem)


def _parse_int(digits: str) -> int | _OutOfRange:
    return OUT_OF_RANGE if len(digits.lstrip("-")) > _MAX_INT_DIGITS else int(digits)


def json_depth(raw: bytes) -> int:
    """Return how deeply arrays and objects nest in a JSON text (brackets inside strings ignored)."""
    if raw.count(b"[") + raw.count(b"{") <= MAX_JSON_DEPTH:
        return min(raw.count(b"[") + raw.count(b"{"), MAX_JSON_DEPTH)
    depth = deepest = 0
    for bracket in _JSON_BRACKETS.findall(_JSON_STRINGS.sub(b'""', raw)):
        depth += 1 if bracket in (b"[", b"{") else -1
        deepest = max(deepest, depth)
    return deepest


def json_loads(raw: str | bytes) -> Any:
    """Parse JSON like json.loads, refusing deep nesting; overlong integers become OUT_OF_RANGE.

    Raises InputRefused for nesting beyond MAX_JSON_DEPTH (json.loads would hit RecursionError)
    and json.JSONDecodeError / UnicodeDecodeError for text that is not JSON.
    """
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    if json_depth(data) > MAX_JSON_DEPTH:
        raise InputRefused("body", f"nests arrays/objects deeper than {MAX_JSON_DEPTH} levels")
    return json.loads(raw, parse_int=_parse_int)


def _check_params(params: Any, *, numbers: bool) -> None:
    for name, values in params.lists():
        for value in (name, *values):
            problem = text_problem(value)
            if problem is None and numbers and _INTEGER.fullmatch(value.strip()):
                problem = _number_problem(_parse_int(value.strip()))
            if problem:
                raise InputRefused(name, problem)


def _is_json(request: HttpRequest) -> bool:
    content_type = (request.content_type or "").lower()
    return content_type == "application/json" or content_type.endswith("+json")


def check_request(request: HttpRequest) -> None:
    """Check a request's query string, form fields and JSON body; raise InputRefused on the first problem."""
    _check_params(request.GET, numbers=True)
    if request.method not in ("POST", "PUT", "PATCH", "DELETE"):
        return
    if _is_json(request):
        try:
            body = request.body
        except RequestDataTooBig:
            return  # the view answers 413 with its own message
        if body.strip():
            try:
                value = json_loads(body)
            except (json.JSONDecodeError, UnicodeDecodeError):
                return  # not JSON at all: the parser of the view says so
            check_value(value)
            if (request.encoding or "utf-8").lower().replace("-", "") == "utf8":  # json_loads read it as UTF-8 too
                request.checked_json = value  # CheckedJSONParser hands it to the view: parsed once
    elif request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        try:
            _check_params(_form_fields(request), numbers=False)
        except RequestDataTooBig:
            return


def _form_fields(request: HttpRequest) -> QueryDict:
    """Return the form fields without consuming the stream a DRF view still has to parse."""
    if not request.path.startswith("/api/"):
        return request.POST
    if request.content_type == "application/x-www-form-urlencoded":
        return QueryDict(request.body, encoding=request.encoding)
    # API uploads: the only multipart endpoint is the import, whose file is checked row by row.
    return QueryDict()


def _refusal(request: HttpRequest, error: InputRefused) -> HttpResponse:
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": str(error), "errors": [{"field": error.field, "message": error.message}]}, status=400)
    context = {"title": "Bad request", "message": f"Refused: {error}."}
    return render(request, "error.html", context, status=400)


def _id_out_of_range(path: str) -> bool:
    return any(int(digits) > INT_MAX for digits in _LONG_PATH_NUMBER.findall(path))


class InputGateMiddleware:
    """Refuse bad text, deep JSON and out-of-range numbers with a 400 that names the field."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if _id_out_of_range(request.path):
            # No object has such an id; the database would raise on the lookup instead.
            raise Http404("No such object.")
        try:
            check_request(request)
        except InputRefused as error:
            return _refusal(request, error)
        return self.get_response(request)


class CheckedJSONParser(JSONParser):
    """DRF's JSON parser, answering with the body InputGateMiddleware already parsed and checked.

    Without the gate's value (the middleware absent, a body it left to the view) it parses as DRF does.
    """

    def parse(self, stream: Any, media_type: str | None = None, parser_context: dict[str, Any] | None = None) -> Any:
        request = (parser_context or {}).get("request")
        checked = getattr(getattr(request, "_request", None), "checked_json", _UNCHECKED)
        if checked is not _UNCHECKED:
            return checked
        return super().parse(stream, media_type, parser_context)


_UNCHECKED = object()
