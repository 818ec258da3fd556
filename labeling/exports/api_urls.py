"""Export API routes (under /api/)."""

from django.urls import path

from labeling.exports import api

urlpatterns = [
    path("projects/<int:project_id>/exports/", api.ProjectExportListApi.as_view(), name="project-exports-api"),
    path("exports/<int:snapshot_id>/", api.ExportDetailApi.as_view(), name="export-detail-api"),
    path("exports/<int:snapshot_id>/download/", api.ExportDownloadApi.as_view(), name="export-download-api"),
]
