"""Labeling API routes (a public contract: see README)."""

from django.urls import path

urlpatterns: list = []
