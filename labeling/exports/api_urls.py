"""Export API routes."""

urlpatterns: list = []
