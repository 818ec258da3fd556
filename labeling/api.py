"""Labeling API: thin views that check membership, call one service, and answer JSON.

Errors share one shape: {"detail": "...", "errors": [{"field", "message"} (+ "line" for imports)]}.
Another project's ids answer 404 (no leak of what exists); manager actions answer 403 to annotators.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import ParseError, PermissionDenied
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from labeling import serializers as s
from labeling.access import (
    member_project_for_token,
    project_get_for_member,
    project_or_404,
    projects_for_user,
    require_manager,
)
from labeling.inputs import CheckedJSONParser
from labeling.models import Assignment, Comparison, Membership, Preference, Project
from labeling.selectors import lease_for_member, member_lease_for_token
from labeling.services import (
    ProjectError,
    RankingConflict,
    RankingError,
    comparison_skip,
    project_create,
    queue_claim_next,
    ranking_submit,
)

ERROR = OpenApiResponse(s.ErrorSerializer, description="Refused; `errors` names the field (and line).")
NOT_FOUND = OpenApiResponse(s.ErrorSerializer, description="No such object, or not a member of its project.")


def _error(field: str, message: str, code: int = status.HTTP_400_BAD_REQUEST, **extra: Any) -> Response:
    return Response({"detail": f"{field}: {message}", "errors": [{"field": field, "message": message}], **extra}, status=code)


def _comparison_for_member(request: Request, pk: int) -> Comparison:
    """Return the comparison if the user belongs to its project; 404 otherwise."""
    return get_object_or_404(
        Comparison.objects.select_related("project", "prompt"), pk=pk, project__in=projects_for_user(request.user)
    )


class ProjectListApi(APIView):
    @extend_schema(responses=s.ProjectSerializer(many=True), summary="Projects you belong to (staff: all)")
    def get(self, request: Request) -> Response:
        projects = projects_for_user(request.user).order_by("name")
        roles = dict(Membership.objects.filter(user=request.user).values_list("project_id", "role"))
        return Response(s.ProjectSerializer(projects, many=True, context={"request": request, "roles": roles}).data)

    @extend_schema(
        request=s.ProjectCreateSerializer,
        responses={201: s.ProjectSerializer, 400: ERROR, 403: ERROR},
        summary="Create a project (staff only); you become its manager",
    )
    def post(self, request: Request) -> Response:
        if not request.user.is_staff:
            raise PermissionDenied("Only staff can create projects.")
        form = s.ProjectCreateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        try:
            project = project_create(**form.validated_data, user=request.user)
        except ProjectError as exc:
            return _error(exc.field, exc.message)
        context = {"request": request, "roles": {project.pk: "manager"}}
        return Response(s.ProjectSerializer(project, context=context).data, status=status.HTTP_201_CREATED)


class ProjectDetailApi(APIView):
    @extend_schema(responses={200: s.ProjectSerializer, 404: NOT_FOUND}, summary="One project")
    def get(self, request: Request, pk: int) -> Response:
        project = project_get_for_member(request.user, pk)
        roles = dict(Membership.objects.filter(user=request.user, project=project).values_list("project_id", "role"))
        return Response(s.ProjectSerializer(project, context={"request": request, "roles": roles}).data)


class JSONAlways(DefaultContentNegotiation):
    """Answer with the view's one renderer whatever Accept says (no Accept parsing on every request)."""

    def select_renderer(self, request: Request, renderers: list[BaseRenderer], format_suffix: str | None = None) -> tuple[BaseRenderer, str]:
        return renderers[0], renderers[0].media_type


class AnnotationLoopApi(APIView):
    """The annotation loop's endpoints, run on every claim and submit: JSON only (no browsable page).

    A token-authenticated call finds its user and what the view checks access with in one query
    (`token_access`, which FastTokenAuthentication calls); a browser's call comes with its session,
    and the handler loads the same through the usual membership check.
    """

    renderer_classes = [JSONRenderer]
    content_negotiation_class = JSONAlways
    token_loaded = False  # set by a subclass's token_access: what it checks access with is loaded


class ComparisonNextApi(AnnotationLoopApi):
    member_project: Project | None = None

    def token_access(self, key: str) -> AbstractBaseUser | None:
        user, self.member_project = member_project_for_token(key, self.kwargs["pk"])
        self.token_loaded = True
        return user

    @extend_schema(
        request=None,
        responses={200: s.ClaimedComparisonSerializer, 204: OpenApiResponse(description="Nothing left for you."), 404: NOT_FOUND},
        summary="Lease the next comparison to rank (or renew your current lease)",
    )
    def post(self, request: Request, pk: int) -> Response:
        project = project_or_404(self.member_project) if self.token_loaded else project_get_for_member(request.user, pk)
        assignment = queue_claim_next(project=project, annotator=request.user)
        if assignment is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(s.claimed_payload(assignment))


def _wants_next(request: Request) -> bool:
    return request.query_params.get("next", "true").strip().lower() not in {"0", "false", "no", "off"}


class ComparisonRankingApi(AnnotationLoopApi):
    parser_classes = [CheckedJSONParser]  # bodies over DATA_UPLOAD_MAX_MEMORY_SIZE get a 413 (api_errors)
    member_lease: Assignment | None = None

    def token_access(self, key: str) -> AbstractBaseUser | None:
        user, self.member_lease = member_lease_for_token(key, self.kwargs["pk"])
        self.token_loaded = True
        return user

    @extend_schema(
        request=s.RankingRequestSerializer,
        parameters=[
            OpenApiParameter(
                "next", OpenApiTypes.BOOL, default=True,
                description="Also lease and return your next comparison (`next`); false leaves that to POST …/comparisons/next/.",
            )
        ],
        responses={
            201: s.RankingStoredSerializer,
            200: OpenApiResponse(s.RankingStoredSerializer, description="Same idempotency key again: the stored ranking's id."),
            400: ERROR,
            404: NOT_FOUND,
            409: OpenApiResponse(
                s.ErrorSerializer,
                description="Not stored, and `detail` says why: not leased to you, you skipped it, you already ranked it, "
                "or your lease expired and the comparison filled up.",
            ),
            413: ERROR,
        },
        summary="Submit your ranking of a comparison you lease; its pairwise preferences are stored with it",
    )
    def post(self, request: Request, pk: int) -> Response:
        lease = self.member_lease if self.token_loaded else lease_for_member(user=request.user, comparison_id=pk)
        comparison = lease.comparison if lease is not None else _comparison_for_member(request, pk)
        if not isinstance(request.data, dict):
            return _error("body", 'must be a JSON object such as {"order": [[12], [10, 13], [11]]}')
        try:
            ranking, created = ranking_submit(comparison=comparison, annotator=request.user, data=request.data, lease=lease)
        except RankingError as exc:
            return _error(exc.field, exc.message)
        except RankingConflict as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        following = queue_claim_next(project=comparison.project, annotator=request.user) if _wants_next(request) else None
        body = {
            "id": ranking.pk,
            "comparison": comparison.pk,
            "created": created,
            "next": s.claimed_payload(following) if following is not None else None,
        }
        return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class ComparisonSkipApi(APIView):
    @extend_schema(request=None, responses={204: None, 404: NOT_FOUND}, summary="Skip a comparison; it is not offered to you again")
    def post(self, request: Request, pk: int) -> Response:
        comparison = _comparison_for_member(request, pk)
        comparison_skip(comparison=comparison, annotator=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


def _since_filter(queryset: QuerySet[Preference], since: str) -> QuerySet[Preference]:
    since = since.strip()
    if since.isdigit():
        return queryset.filter(pk__gt=int(since))
    try:
        moment = parse_datetime(since)
    except ValueError:
        moment = None
    if moment is None:
        raise ParseError(
            {"detail": "since: must be a preference id or an ISO 8601 datetime, e.g. 2025-01-31T12:00:00Z.",
             "errors": [{"field": "since", "message": "must be a preference id or an ISO 8601 datetime"}]}
        )
    if timezone.is_naive(moment):
        moment = moment.replace(tzinfo=UTC)
    return queryset.filter(created_at__gt=moment)


class PreferenceListApi(generics.ListAPIView):
    serializer_class = s.PreferenceSerializer

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "since", OpenApiTypes.STR, description="Only newer ones: a preference id (exclusive) or an ISO 8601 datetime."
            )
        ],
        responses={200: s.PreferenceSerializer(many=True), 400: ERROR, 403: ERROR, 404: NOT_FOUND},
        summary="Pairwise preferences of a project, oldest first; managers only",
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> QuerySet[Preference]:
        project = self._project()
        queryset = (
            Preference.objects.filter(comparison__project=project)
            .select_related("annotator", "chosen", "rejected", "ranking", "comparison__prompt")
            .order_by("id")
        )
        since = self.request.query_params.get("since")
        return _since_filter(queryset, since) if since is not None else queryset

    def _project(self) -> Project:
        project = project_get_for_member(self.request.user, self.kwargs["pk"])
        require_manager(self.request.user, project)
        return project
