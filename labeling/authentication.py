"""Token authentication in one precompiled query (the annotation loop authenticates every request).

DRF's TokenAuthentication builds `Token.objects.select_related("user").get(key=...)` per
request: ORM compilation is a large share of a claim's CPU (issue 13). Same contract and
messages, one raw statement whose row still passes through the model's field converters (rawrows.py;
a RawQuerySet costs nearly what the compiled query did).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token

from labeling import rawrows


@cache
def _sql() -> str:
    user = get_user_model()
    return (
        f"SELECT {rawrows.columns(user, 'u')} FROM {user._meta.db_table} u "
        f"JOIN {Token._meta.db_table} t ON t.user_id = u.id WHERE t.key = %s"
    )


class FastTokenAuthentication(TokenAuthentication):
    """`Authorization: Token <key>`, as DRF's, looked up with one raw query."""

    def authenticate_credentials(self, key: str) -> tuple[Any, str]:
        user = rawrows.one(get_user_model(), _sql(), [key])
        if user is None:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        if not user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        return user, key
