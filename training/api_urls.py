"""Training API routes."""

urlpatterns: list = []
