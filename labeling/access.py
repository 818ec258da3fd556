"""Who may see and change what: project membership and roles."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404

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
    """Return the project if the user belongs to it; 404 otherwise, so ids of others' projects leak nothing."""
    try:
        return projects_for_user(user).get(pk=int(project_id))
    except (Project.DoesNotExist, ValueError, TypeError) as exc:
        raise Http404("No such project.") from exc


def is_manager(user: User, project: Project) -> bool:
    return project_role(user, project) == Role.MANAGER


def require_manager(user: User, project: Project) -> None:
    """Raise PermissionDenied unless the user manages the project (call after a membership check)."""
    if not is_manager(user, project):
        raise PermissionDenied("Only managers of this project can do that.")
