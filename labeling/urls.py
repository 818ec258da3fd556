"""Labeling pages (namespace labeling:)."""

from django.urls import path

from labeling import views

app_name = "labeling"

urlpatterns = [
    path("", views.project_list, name="project-list"),
]
