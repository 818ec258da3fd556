"""Token authentication in one precompiled query (the annotation loop authenticates every request).

DRF's TokenAuthentication builds `Token.objects.select_related("user").get(key=...)` per
request: ORM compilation is a large share of a claim's CPU (issue 13). Same contract and
messages, one raw statement whose row still passes through the model's field converters (rawrows.py;
a RawQuerySet costs nearly what the compiled query did).

The annotation loop's views go one step further (`token_access`): the query that finds the
token's user also loads what the view checks access with (the project the user is a
member of, or their lease), so a claim or a submit spends one statement on both.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection, models
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token
from rest_framework.request import Request

from labeling import rawrows


@cache
def _sql() -> str:
    user = get_user_model()
    return (
        f"SELECT {rawrows.columns(user, 'u')} FROM {user._meta.db_table} u "
        f"JOIN {Token._meta.db_table} t ON t.user_id = u.id WHERE t.key = %(key)s"
    )


def _checked(user: Any) -> Any:
    if user is None:
        raise exceptions.AuthenticationFailed(_("Invalid token."))
    if not user.is_active:
        raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
    return user


def token_user_with(
    key: str, *, columns: str, join: str, params: dict[str, Any], models_: tuple[type[models.Model], ...]
) -> tuple[Any, list[models.Model | None]]:
    """The token's user (None: no such token) and, from the same row, what `join` finds for them.

    `join` is a LEFT JOIN on the token's user `u` selecting `columns` (one model's columns after
    another, as `models_` lists them); each model's instance is None where the join found no row.
    """
    user_model = get_user_model()
    sql = _with_sql(connection.vendor, columns, join)
    with connection.cursor() as cursor:
        cursor.execute(sql, params | {"key": key})
        row = cursor.fetchone()
    if row is None:
        return None, [None] * len(models_)
    [user, *found], _rest = rawrows.split(row, user_model, *models_)
    return user, [instance if instance.pk is not None else None for instance in found]


@cache
def _with_sql(vendor: str, columns: str, join: str) -> str:
    user = get_user_model()
    return (
        f"SELECT {rawrows.columns(user, 'u')}, {columns} FROM {Token._meta.db_table} t "
        f"JOIN {user._meta.db_table} u ON u.id = t.user_id {join} WHERE t.key = %(key)s"
    )


class FastTokenAuthentication(TokenAuthentication):
    """`Authorization: Token <key>`, as DRF's, looked up with one raw query.

    A view with a `token_access(key)` method (the annotation loop's, labeling.api.AnnotationLoopApi)
    makes that query itself: it returns the token's user, or None for an unknown token, and keeps
    what else the same row loaded (the project, or the lease) for its handler.
    """

    def authenticate(self, request: Request) -> tuple[Any, str] | None:
        self.view = request.parser_context.get("view")
        return super().authenticate(request)

    def authenticate_credentials(self, key: str) -> tuple[Any, str]:
        token_access = getattr(self.view, "token_access", None)
        user = token_access(key) if token_access is not None else rawrows.one(get_user_model(), _sql(), {"key": key})
        return _checked(user), key
