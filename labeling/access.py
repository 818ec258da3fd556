"""Who may see and change what: project membership and roles."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404

from labeling import rawrows
from labeling.authentication import token_user_with
from labeling.models import Membership, Project, Role

User = AbstractBaseUser | AnonymousUser


def projects_for_user(user: User) -> QuerySet[Project]:
    """Return the projects a user may see (staff see all)."""
    if not user.is_authenticated:
        return Project.objects.none()
    if user.is_staff:
        return Project.objects.all()
    return Project.objects.filter(memberships__user=user).distinct()


def project_role(user: User, project: Project) -> str | None:
    """Return the user's role in the project (staff count as managers), or None."""
    if not user.is_authenticated:
        return None
    if user.is_staff:
        return Role.MANAGER
    return Membership.objects.filter(project=project, user=user).values_list("role", flat=True).first()


def project_get_for_member(user: User, project_id: int | str) -> Project:
    """Return the project if the user belongs to it; 404 otherwise, so ids of others' projects leak nothing.

    One raw query (rawrows.py), as `projects_for_user(user).get(pk=...)` would answer: every claim
    of the annotation loop starts here, and the ORM's compilation cost more than the query.
    """
    try:
        pk = int(project_id)
    except (ValueError, TypeError) as exc:
        raise Http404("No such project.") from exc
    project = None
    if user.is_authenticated:
        sql, params = _member_project_sql(staff=user.is_staff), {"project": pk, "user": user.pk}
        project = rawrows.one(Project, sql, params)
    return project_or_404(project)


def project_or_404(project: Project | None) -> Project:
    """The project a membership check found, or 404 (no such project, or not the user's: the same answer)."""
    if project is None:
        raise Http404("No such project.")
    return project


def member_project_for_token(key: str, project_id: int) -> tuple[User | None, Project | None]:
    """Token authentication and project_get_for_member in one query (the claim's first statement).

    Returns the token's user (None: no such token) and the project if that user may see it (None:
    no such project, or not theirs; the caller answers 404 as project_get_for_member does).
    """
    user, (project,) = token_user_with(
        key, columns=rawrows.columns(Project, "p"), join=_TOKEN_PROJECT_JOIN, params={"project": project_id}, models_=(Project,)
    )
    return user, project


_TOKEN_PROJECT_JOIN = (
    f"LEFT JOIN {Project._meta.db_table} p ON p.id = %(project)s AND (u.is_staff OR EXISTS "
    f"(SELECT 1 FROM {Membership._meta.db_table} m WHERE m.project_id = p.id AND m.user_id = u.id))"
)


def _member_project_sql(*, staff: bool) -> str:
    sql = f"SELECT {rawrows.columns(Project, 'p')} FROM {Project._meta.db_table} p WHERE p.id = %(project)s"
    if staff:
        return sql
    return sql + f" AND EXISTS (SELECT 1 FROM {Membership._meta.db_table} m WHERE m.project_id = p.id AND m.user_id = %(user)s)"


def is_manager(user: User, project: Project) -> bool:
    return project_role(user, project) == Role.MANAGER


def require_manager(user: User, project: Project) -> None:
    """Raise PermissionDenied unless the user manages the project (call after a membership check)."""
    if not is_manager(user, project):
        raise PermissionDenied("Only managers of this project can do that.")
