"""People API: a project's members (add, invite, remove) and, for staff, user accounts.

A scripted setup of many annotators is one POST per person:
`POST /api/projects/{id}/members/ {"username": "ann", "invite": true}` answers the invite link.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from labeling.access import project_get_for_member, require_manager
from labeling.models import Role
from labeling.serializers import ErrorSerializer
from labeling.services import ProjectError, invite_path, membership_add, membership_remove, user_invite

ERROR = OpenApiResponse(ErrorSerializer, description="Refused; `errors` names the field.")
NOT_FOUND = OpenApiResponse(ErrorSerializer, description="No such project or member, or not a member of the project.")
FORBIDDEN = OpenApiResponse(ErrorSerializer, description="Managers (or staff) only.")


class MemberSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    role = serializers.ChoiceField(choices=Role.choices, default=Role.ANNOTATOR)
    invite = serializers.BooleanField(default=False, write_only=True, help_text="Create the user and answer an invite link.")
    email = serializers.EmailField(required=False, allow_blank=True, write_only=True)
    invited = serializers.BooleanField(read_only=True, help_text="Has not set a password yet.")
    invite_url = serializers.CharField(read_only=True, allow_null=True, help_text="Set while the user has no password.")


class UserSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    username = serializers.CharField(max_length=150)
    email = serializers.EmailField(required=False, allow_blank=True)
    password = serializers.CharField(required=False, write_only=True, help_text="Empty: answer an invite link instead.")
    is_staff = serializers.BooleanField(read_only=True)
    invite_url = serializers.CharField(read_only=True, allow_null=True, help_text="Set when created without a password.")


def _refused(exc: ProjectError, code: int = status.HTTP_400_BAD_REQUEST) -> Response:
    return Response({"detail": str(exc), "errors": [{"field": exc.field, "message": exc.message}]}, status=code)


def _member_row(request: Request, membership: Any) -> dict[str, Any]:
    invited = not membership.user.has_usable_password()
    link = request.build_absolute_uri(invite_path(membership.user)) if invited else None
    return {"username": membership.user.username, "role": membership.role, "invited": invited, "invite_url": link}


class MemberListApi(APIView):
    @extend_schema(responses={200: MemberSerializer(many=True), 403: FORBIDDEN, 404: NOT_FOUND}, summary="A project's members (managers)")
    def get(self, request: Request, pk: int) -> Response:
        project = project_get_for_member(request.user, pk)
        require_manager(request.user, project)
        memberships = project.memberships.select_related("user").order_by("user__username")
        return Response([_member_row(request, m) for m in memberships])

    @extend_schema(request=MemberSerializer, responses={201: MemberSerializer, 400: ERROR, 403: FORBIDDEN, 404: NOT_FOUND}, summary="Add a member, or create and invite one")
    def post(self, request: Request, pk: int) -> Response:
        project = project_get_for_member(request.user, pk)
        require_manager(request.user, project)
        data = MemberSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        try:
            if v["invite"]:
                membership = user_invite(project=project, username=v["username"], email=v.get("email", ""), role=v["role"]).membership
            else:
                membership = membership_add(project=project, username=v["username"], role=v["role"])
        except ProjectError as exc:
            return _refused(exc)
        return Response(_member_row(request, membership), status=status.HTTP_201_CREATED)


class MemberDetailApi(APIView):
    @extend_schema(responses={204: None, 400: ERROR, 403: FORBIDDEN, 404: NOT_FOUND}, summary="Remove a member (the last manager stays)")
    def delete(self, request: Request, pk: int, username: str) -> Response:
        project = project_get_for_member(request.user, pk)
        require_manager(request.user, project)
        try:
            membership_remove(project=project, username=username)
        except ProjectError as exc:
            return _refused(exc, status.HTTP_404_NOT_FOUND if "not a member" in exc.message else status.HTTP_400_BAD_REQUEST)
        return Response(status=status.HTTP_204_NO_CONTENT)


def _require_staff(request: Request) -> None:
    if not request.user.is_staff:
        raise PermissionDenied("Only staff can list or create user accounts.")


class UserListApi(APIView):
    @extend_schema(responses={200: UserSerializer(many=True), 403: FORBIDDEN}, summary="User accounts (staff)")
    def get(self, request: Request) -> Response:
        _require_staff(request)
        users = get_user_model().objects.filter(is_active=True).order_by("username")
        return Response([UserSerializer(u).data | {"invite_url": None} for u in users])

    @extend_schema(request=UserSerializer, responses={201: UserSerializer, 400: ERROR, 403: FORBIDDEN}, summary="Create a user (staff)")
    def post(self, request: Request) -> Response:
        _require_staff(request)
        data = UserSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        User = get_user_model()
        if User.objects.filter(username__iexact=v["username"]).exists():
            return _refused(ProjectError("username", f"{v['username']!r} is taken"))
        candidate = User(username=v["username"], email=v.get("email", ""))
        if v.get("password"):
            try:
                validate_password(v["password"], candidate)
            except ValidationError as exc:
                return _refused(ProjectError("password", " ".join(exc.messages)))
        with transaction.atomic():
            user = User.objects.create_user(username=v["username"], email=v.get("email", ""), password=v.get("password") or None)
        body = dict(UserSerializer(user).data)
        body["invite_url"] = None if v.get("password") else request.build_absolute_uri(invite_path(user))
        return Response(body, status=status.HTTP_201_CREATED)
