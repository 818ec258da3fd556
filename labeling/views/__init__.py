"""Labeling pages: thin views that validate, call one service, render (a partial for htmx)."""

from labeling.views.data import data_browse, data_comparison
from labeling.views.demonstrations import demonstration_queue, demonstration_submit_view
from labeling.views.imports import project_import, project_import_progress
from labeling.views.manager import project_dashboard, project_member_remove, project_members
from labeling.views.people import invite_accept, project_invite
from labeling.views.projects import project_detail, project_list, project_new
from labeling.views.ranking import (
    comparison_rank,
    comparison_skip_view,
    comparison_unskip_view,
    ranking_create,
    ranking_edit,
    ranking_history,
    ranking_undo,
)

__all__ = [
    "comparison_rank",
    "comparison_skip_view",
    "data_browse",
    "data_comparison",
    "demonstration_queue",
    "demonstration_submit_view",
    "project_dashboard",
    "invite_accept",
    "project_invite",
    "project_detail",
    "project_import",
    "project_import_progress",
    "project_list",
    "project_member_remove",
    "project_members",
    "project_new",
    "comparison_unskip_view",
    "ranking_create",
    "ranking_edit",
    "ranking_history",
    "ranking_undo",
]
