"""Import API: preview a source through a column mapping, then import it (managers only).

Sources: a multipart `file` (JSONL, CSV, Parquet, or a zipped save_to_disk folder), a JSON
body of `rows`, or a Hugging Face Hub `hub_id`. The preview stages the source and answers a
`token`; the import takes that token (or a source directly) and the reviewed `mapping`.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from labeling import serializers as s
from labeling.access import project_get_for_member, require_manager
from labeling.api import ERROR, NOT_FOUND, _error
from labeling.inputs import CheckedJSONParser
from labeling.services import ImportValidationError, prompts_import
from labeling.services.import_staging import import_preview, mapping_parse, request_source, staged_discard

NOT_AN_OBJECT = 'must be a JSON object {"rows": [...]} (or a list of rows), or a multipart "file"'


def _refused(exc: ImportValidationError) -> Response:
    return Response({"detail": exc.summary(), "errors": exc.errors, "total": exc.total}, status=400)


def _options(data: Any) -> dict[str, Any]:
    """Return the import options of a body (a bare JSON list is just rows)."""
    keys = ("rows", "format", "token", "hub_id", "split", "mapping")
    if isinstance(data, list):
        return {**dict.fromkeys(keys), "rows": data}
    return {key: data.get(key) or None for key in keys}


class ProjectImportPreviewApi(APIView):
    parser_classes = [MultiPartParser, FormParser, CheckedJSONParser]

    @extend_schema(
        request={"multipart/form-data": s.ImportRequestSerializer, "application/json": s.ImportRequestSerializer},
        responses={200: s.ImportPreviewSerializer, 400: ERROR, 403: ERROR, 404: NOT_FOUND},
        summary="Preview an import: columns, the (suggested) mapping, the first rows as PrefLoop reads them; writes nothing",
    )
    def post(self, request: Request, pk: int) -> Response:
        project = project_get_for_member(request.user, pk)
        require_manager(request.user, project)
        if not isinstance(request.data, dict | list):
            return _error("body", NOT_AN_OBJECT)
        options, upload = _options(request.data), request.FILES.get("file")
        if upload is None and not options.get("token") and not options.get("hub_id"):
            return _error("file", 'send a multipart "file", a "hub_id", or the "token" of an earlier preview')
        try:
            source, staged = request_source(project=project, user=request.user, upload=upload, token=options["token"] or "",
                                            hub_id=options["hub_id"] or "", fmt=options["format"], split=options["split"], review=True)
            preview = import_preview(project=project, source=source, mapping=mapping_parse(options["mapping"]))
        except ImportValidationError as exc:
            return _refused(exc)
        return Response(s.ImportPreviewSerializer({"token": staged.token, **preview.__dict__}).data)


class ProjectImportApi(APIView):
    # JSON bodies are capped by DATA_UPLOAD_MAX_MEMORY_SIZE (413 beyond); larger imports go as a file.
    parser_classes = [MultiPartParser, FormParser, CheckedJSONParser]

    @extend_schema(
        request={"multipart/form-data": s.ImportRequestSerializer, "application/json": s.ImportRequestSerializer},
        responses={200: s.ImportResultSerializer, 400: ERROR, 403: ERROR, 404: NOT_FOUND, 413: ERROR},
        summary="Import prompts, dialogues or preference pairs (file, rows, hub_id or a preview's token), all or nothing",
    )
    def post(self, request: Request, pk: int) -> Response:
        project = project_get_for_member(request.user, pk)
        require_manager(request.user, project)
        if not isinstance(request.data, dict | list):
            return _error("body", NOT_AN_OBJECT)
        options, upload = _options(request.data), request.FILES.get("file")
        rows = options["rows"]
        if upload is None and rows is None and not options.get("token") and not options.get("hub_id"):
            return _error("file", 'send a multipart "file", a JSON body {"rows": [...]}, a "hub_id" or a preview\'s "token"')
        try:
            mapping = mapping_parse(options.get("mapping"))
            source, staged = request_source(project=project, user=request.user, upload=upload, token=options.get("token") or "",
                                            hub_id=options.get("hub_id") or "", fmt=options.get("format"), split=options.get("split"))
            result = prompts_import(project=project, upload=upload if source is None else None, rows=rows, fmt=options.get("format"),
                                    source=source, mapping=mapping, user=request.user)
        except ImportValidationError as exc:
            return _refused(exc)
        if staged is not None:
            staged_discard(staged)
        return Response(s.ImportResultSerializer(result).data)
