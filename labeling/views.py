"""Labeling pages: thin views that validate, call one service, render."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from labeling.access import projects_for_user


@login_required
def project_list(request: HttpRequest) -> HttpResponse:
    projects = projects_for_user(request.user).order_by("name")
    return render(request, "labeling/project_list.html", {"projects": projects})
