"""Labeling pages (namespace labeling:)."""

from django.urls import path

from labeling import views

app_name = "labeling"

urlpatterns = [
    path("", views.project_list, name="project-list"),
    path("projects/new/", views.project_new, name="project-new"),
    path("projects/<int:project_id>/", views.project_detail, name="project-detail"),
    path("projects/<int:project_id>/rank/", views.comparison_rank, name="comparison-rank"),
    path("projects/<int:project_id>/rank/undo/", views.ranking_undo, name="ranking-undo"),
    path("projects/<int:project_id>/mine/", views.ranking_history, name="ranking-history"),
    path("projects/<int:project_id>/mine/<int:comparison_id>/edit/", views.ranking_edit, name="ranking-edit"),
    path(
        "projects/<int:project_id>/comparisons/<int:comparison_id>/unskip/",
        views.comparison_unskip_view,
        name="comparison-unskip",
    ),
    path(
        "projects/<int:project_id>/comparisons/<int:comparison_id>/ranking/",
        views.ranking_create,
        name="ranking-submit",
    ),
    path(
        "projects/<int:project_id>/comparisons/<int:comparison_id>/skip/",
        views.comparison_skip_view,
        name="comparison-skip",
    ),
    path("projects/<int:project_id>/dashboard/", views.project_dashboard, name="project-dashboard"),
    path("projects/<int:project_id>/demonstrations/", views.demonstration_queue, name="demonstration-queue"),
    path("projects/<int:project_id>/rank/<int:comparison_id>/demonstrate/", views.demonstration_submit_view,
         name="comparison-demonstrate"),
    path("projects/<int:project_id>/members/", views.project_members, name="project-members"),
    path("projects/<int:project_id>/members/remove/", views.project_member_remove, name="project-member-remove"),
    path("projects/<int:project_id>/members/invite/", views.project_invite, name="project-invite"),
    path("invite/<str:uidb64>/<str:token>/", views.invite_accept, name="invite-accept"),
    path("projects/<int:project_id>/import/", views.project_import, name="project-import"),
    path("projects/<int:project_id>/import/<str:token>/", views.project_import_progress, name="project-import-progress"),
    path("projects/<int:project_id>/data/", views.data_browse, name="data-browse"),
    path("projects/<int:project_id>/data/<int:comparison_id>/", views.data_comparison, name="data-comparison"),
]
