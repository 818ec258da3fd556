"""Export pages (namespace exports:)."""

from django.urls import path

from labeling.exports import views

app_name = "exports"

urlpatterns = [
    path("projects/<int:project_id>/exports/", views.export_list, name="export-list"),
    path("projects/<int:project_id>/exports/table/", views.snapshot_list_partial, name="snapshot-table"),
    path("exports/<int:snapshot_id>/", views.snapshot_detail, name="snapshot-detail"),
    path("exports/<int:snapshot_id>/download/<path:name>", views.snapshot_download, name="snapshot-download"),
]
