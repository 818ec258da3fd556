"""Django admin for the labeling side; derived rows (preferences, snapshots) are read-only."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from labeling.models import (
    Assignment,
    Comparison,
    DatasetSnapshot,
    Membership,
    Preference,
    Project,
    Prompt,
    Ranking,
    Response,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Show rows without add, change or delete: they are derived or immutable."""

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


class ResponseInline(admin.StackedInline):
    model = Response
    extra = 0
    fields = ["position", "text", "model_name", "generation_params"]


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "k", "overlap", "allow_ties", "lease_minutes", "created_at"]
    list_filter = ["allow_ties", "k"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline]
    raw_id_fields = ["created_by"]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "project", "role", "created_at"]
    list_filter = ["role", "project"]
    search_fields = ["user__username", "project__name"]
    autocomplete_fields = ["user", "project"]


@admin.register(Prompt)
class PromptAdmin(admin.ModelAdmin):
    list_display = ["__str__", "project", "external_id", "short_text", "created_at"]
    list_filter = ["project"]
    search_fields = ["external_id", "content_hash", "messages"]
    readonly_fields = ["content_hash", "created_at"]
    list_select_related = ["project"]

    @admin.display(description="Last user turn")
    def short_text(self, prompt: Prompt) -> str:
        text = prompt.last_user_text
        return text if len(text) <= 80 else text[:77] + "…"


@admin.register(Comparison)
class ComparisonAdmin(admin.ModelAdmin):
    list_display = ["__str__", "project", "prompt", "source", "policy_version", "ranking_count", "complete", "created_at"]
    list_filter = ["project", "complete", "source", "policy_version"]
    search_fields = ["=id", "prompt__external_id", "policy_version"]
    readonly_fields = ["ranking_count", "created_at"]
    raw_id_fields = ["prompt"]
    list_select_related = ["project", "prompt"]
    inlines = [ResponseInline]


@admin.register(Response)
class ResponseAdmin(admin.ModelAdmin):
    list_display = ["__str__", "comparison", "position", "model_name"]
    list_filter = ["comparison__project", "model_name"]
    search_fields = ["=id", "text", "model_name"]
    raw_id_fields = ["comparison"]


@admin.register(Assignment)
class AssignmentAdmin(admin.ModelAdmin):
    list_display = ["__str__", "comparison", "annotator", "status", "expires_at", "updated_at"]
    list_filter = ["status", "comparison__project"]
    search_fields = ["annotator__username", "=comparison__id"]
    raw_id_fields = ["comparison", "annotator"]
    list_select_related = ["comparison", "annotator"]


@admin.register(Ranking)
class RankingAdmin(admin.ModelAdmin):
    list_display = ["__str__", "comparison", "annotator", "strength", "time_spent_ms", "created_at"]
    list_filter = ["comparison__project", "annotator"]
    search_fields = ["annotator__username", "=comparison__id", "note", "idempotency_key"]
    # Preferences are derived from the order; edit rankings through the app so both stay in step.
    readonly_fields = ["comparison", "annotator", "order", "display_order", "strength", "idempotency_key", "created_at", "updated_at"]
    list_select_related = ["comparison", "annotator"]


@admin.register(Preference)
class PreferenceAdmin(ReadOnlyAdmin):
    list_display = ["__str__", "comparison", "annotator", "chosen", "rejected", "margin", "created_at"]
    list_filter = ["comparison__project", "margin"]
    search_fields = ["annotator__username", "=comparison__id", "=ranking__id"]
    list_select_related = ["comparison", "annotator"]


@admin.register(DatasetSnapshot)
class DatasetSnapshotAdmin(ReadOnlyAdmin):
    list_display = ["name", "project", "kind", "status", "row_count", "train_rows", "test_rows", "created_at"]
    list_filter = ["project", "kind", "status"]
    search_fields = ["name", "sha256"]
