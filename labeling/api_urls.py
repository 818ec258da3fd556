"""Labeling API routes (a public contract: see README)."""

from django.urls import path

from labeling import api, api_imports, api_people

urlpatterns = [
    # The annotation loop first: every claim and submit resolves its URL, and patterns are tried in order.
    path("projects/<int:pk>/comparisons/next/", api.ComparisonNextApi.as_view(), name="api-comparison-next"),
    path("comparisons/<int:pk>/ranking/", api.ComparisonRankingApi.as_view(), name="api-comparison-ranking"),
    path("projects/", api.ProjectListApi.as_view(), name="api-project-list"),
    path("projects/<int:pk>/", api.ProjectDetailApi.as_view(), name="api-project-detail"),
    path("projects/<int:pk>/import/", api_imports.ProjectImportApi.as_view(), name="api-project-import"),
    path("projects/<int:pk>/import/preview/", api_imports.ProjectImportPreviewApi.as_view(), name="api-project-import-preview"),
    path("projects/<int:pk>/preferences/", api.PreferenceListApi.as_view(), name="api-preference-list"),
    path("projects/<int:pk>/members/", api_people.MemberListApi.as_view(), name="api-member-list"),
    path("projects/<int:pk>/members/<str:username>/", api_people.MemberDetailApi.as_view(), name="api-member-detail"),
    path("users/", api_people.UserListApi.as_view(), name="api-user-list"),
    path("comparisons/<int:pk>/skip/", api.ComparisonSkipApi.as_view(), name="api-comparison-skip"),
]
