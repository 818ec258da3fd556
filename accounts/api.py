"""API token creation: username and password in, the user's token out, behind the sign-in limit."""

from __future__ import annotations

from django.contrib.auth import authenticate
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.authtoken.models import Token
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.services import login_attempt_reserve, login_attempt_succeeded
from labeling.serializers import ErrorSerializer


class TokenRequestSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=4096, trim_whitespace=False)


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField()


class TokenCreateApi(APIView):
    authentication_classes: list = []  # credentials come in the body; no session, so no CSRF
    permission_classes = [AllowAny]

    @extend_schema(
        request=TokenRequestSerializer,
        responses={
            200: TokenSerializer,
            400: OpenApiResponse(ErrorSerializer, description="Wrong username or password, or a missing field."),
            429: OpenApiResponse(ErrorSerializer, description="Too many failed attempts; Retry-After says how long."),
        },
        summary="Get your API token (send it as `Authorization: Token <key>`)",
    )
    def post(self, request: Request) -> Response:
        form = TokenRequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        username, password = form.validated_data["username"], form.validated_data["password"]
        lockout = login_attempt_reserve(request=request._request, username=username)
        if lockout is not None:
            return Response({"detail": lockout.message}, status=status.HTTP_429_TOO_MANY_REQUESTS,
                            headers={"Retry-After": str(lockout.retry_after_s)})
        user = authenticate(request._request, username=username, password=password)
        if user is None or not user.is_active:
            return Response({"detail": "Wrong username or password.", "errors": [{"field": "password", "message": "wrong username or password"}]}, status=400)
        login_attempt_succeeded(request=request._request, username=username)
        token, _ = Token.objects.get_or_create(user=user)
        return Response({"token": token.key})
