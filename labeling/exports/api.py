"""Export API: create and list a project's snapshots, read one, download its files (managers only)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.http import FileResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from labeling.access import project_get_for_member, require_manager
from labeling.exports.selectors import (
    snapshot_download_path,
    snapshot_get_for_member,
    snapshot_list,
    snapshot_primary_file,
)
from labeling.exports.serializers import ExportRequestSerializer, SnapshotSerializer
from labeling.exports.services import snapshot_start
from labeling.models import SnapshotStatus


def validation_response(error: ValidationError) -> Response:
    """Return a 400 whose detail names the bad field: {"detail": ..., "errors": [{"field", "message"}]}."""
    if hasattr(error, "error_dict"):
        errors = [{"field": f, "message": m} for f, e in error.error_dict.items() for m in ValidationError(e).messages]
    else:
        errors = [{"field": None, "message": m} for m in error.messages]
    detail = "; ".join(f"{e['field']}: {e['message']}" if e["field"] else e["message"] for e in errors)
    return Response({"detail": detail, "errors": errors}, status=status.HTTP_400_BAD_REQUEST)


class ProjectExportListApi(APIView):
    """GET: the project's snapshots, newest first (paginated). POST: export now (201) or queue it (202)."""

    pagination_class = LimitOffsetPagination  # also tells the schema the list is paginated

    @extend_schema(responses=SnapshotSerializer(many=True))
    def get(self, request: Request, project_id: int) -> Response:
        project = project_get_for_member(request.user, project_id)
        require_manager(request.user, project)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(snapshot_list(project=project), request, view=self)
        return paginator.get_paginated_response(SnapshotSerializer(page, many=True, context={"request": request}).data)

    @extend_schema(request=ExportRequestSerializer, responses={201: SnapshotSerializer, 202: SnapshotSerializer})
    def post(self, request: Request, project_id: int) -> Response:
        project = project_get_for_member(request.user, project_id)
        require_manager(request.user, project)
        if not isinstance(request.data, dict):
            return Response({"detail": "Send a JSON object of export parameters.", "errors": []}, status=400)
        params = dict(request.data)
        background = params.pop("background", None)
        if background not in (None, True, False):
            return validation_response(ValidationError({"background": ["must be true, false or null."]}))
        try:
            snapshot = snapshot_start(project=project, params=params, user=request.user, background=background)
        except ValidationError as exc:
            return validation_response(exc)
        code = status.HTTP_202_ACCEPTED if snapshot.status == SnapshotStatus.PENDING else status.HTTP_201_CREATED
        return Response(SnapshotSerializer(snapshot, context={"request": request}).data, status=code)


class ExportDetailApi(APIView):
    """A snapshot: status, counts, manifest, file hashes and download links."""

    @extend_schema(responses=SnapshotSerializer)
    def get(self, request: Request, snapshot_id: int) -> Response:
        snapshot = snapshot_get_for_member(request.user, snapshot_id)
        require_manager(request.user, snapshot.project)
        return Response(SnapshotSerializer(snapshot, context={"request": request}).data)


class ExportDownloadApi(APIView):
    """Stream one file of a snapshot; `?file=` picks it (default: the train split in the chosen format)."""

    @extend_schema(parameters=[OpenApiParameter("file", str, description="e.g. train.jsonl, test.parquet, hf.zip, manifest.json")], responses={(200, "application/octet-stream"): bytes})
    def get(self, request: Request, snapshot_id: int) -> FileResponse:
        snapshot = snapshot_get_for_member(request.user, snapshot_id)
        require_manager(request.user, snapshot.project)
        name = request.query_params.get("file") or snapshot_primary_file(snapshot)
        path = snapshot_download_path(snapshot, name)
        filename = f"{snapshot.project.slug}-{snapshot.pk}-{name.replace('/', '-')}"
        return FileResponse(open(path, "rb"), as_attachment=True, filename=filename)
