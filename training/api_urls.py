"""Training API routes (a public contract: see README)."""

from django.urls import path

from training import api

urlpatterns = [
    path("models/", api.ModelListApi.as_view(), name="api-model-list"),
    path("models/<int:pk>/", api.ModelDetailApi.as_view(), name="api-model-detail"),
    path("models/<int:pk>/promote/", api.ModelPromoteApi.as_view(), name="api-model-promote"),
    path("models/<int:pk>/rollback/", api.ModelRollbackApi.as_view(), name="api-model-rollback"),
    path("projects/<int:pk>/runs/", api.ProjectRunListApi.as_view(), name="api-project-runs"),
    path("runs/<int:pk>/", api.RunDetailApi.as_view(), name="api-run-detail"),
    path("runs/<int:pk>/metrics/", api.RunMetricsApi.as_view(), name="api-run-metrics"),
    path("runs/<int:pk>/cancel/", api.RunCancelApi.as_view(), name="api-run-cancel"),
    path("runs/<int:pk>/resume/", api.RunResumeApi.as_view(), name="api-run-resume"),
]
