"""Labeling pages: thin views that validate, call one service, render (a partial for htmx)."""

from labeling.views.imports import project_import
from labeling.views.manager import project_dashboard, project_member_remove, project_members
from labeling.views.projects import project_detail, project_list, project_new
from labeling.views.ranking import comparison_rank, comparison_skip_view, ranking_create, ranking_undo

__all__ = [
    "comparison_rank",
    "comparison_skip_view",
    "project_dashboard",
    "project_detail",
    "project_import",
    "project_list",
    "project_member_remove",
    "project_members",
    "project_new",
    "ranking_create",
    "ranking_undo",
]
