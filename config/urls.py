"""Top-level URLs: pages, the API, its schema and docs, admin, login."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from accounts import api as accounts_api
from accounts import views as accounts_views
from labeling import views_auth

urlpatterns = [
    path("admin/", admin.site.urls),
    path("login/", accounts_views.LoginView.as_view(), name="login"),
    path("logout/", views_auth.logout_view, name="logout"),
    path("api/auth/token/", accounts_api.TokenCreateApi.as_view(), name="api-token-create"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # Split view: the UI script is a separate file, so the CSP (no inline scripts) lets it run.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/", include("labeling.api_urls")),
    path("api/", include("labeling.exports.api_urls")),
    path("api/", include("training.api_urls")),
    path("training/", include("training.urls")),
    path("", include("labeling.exports.urls")),
    path("", include("labeling.urls")),
]

handler400 = "labeling.views_auth.bad_request"
handler403 = "labeling.views_auth.permission_denied"
handler404 = "labeling.views_auth.page_not_found"
handler500 = "labeling.views_auth.server_error"
