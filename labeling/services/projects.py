"""Creating projects and managing who belongs to them."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils.text import slugify

from labeling.models import Membership, Project, Role

MAX_OVERLAP = 50
MAX_LEASE_MINUTES = 7 * 24 * 60


class ProjectError(ValueError):
    """A project or membership change was refused; `field` names what to fix."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def _check_int(field: str, value: object, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ProjectError(field, f"must be a whole number from {low} to {high}")
    return value


def _unique_slug(name: str, slug: str | None) -> str:
    if slug:
        if slugify(slug) != slug or len(slug) > 80:
            raise ProjectError("slug", "use lowercase letters, digits and hyphens (at most 80)")
        if Project.objects.filter(slug=slug).exists():
            raise ProjectError("slug", f"a project with slug {slug!r} already exists")
        return slug
    base = (slugify(name) or "project")[:70]
    candidate, n = base, 2
    while Project.objects.filter(slug=candidate).exists():
        candidate, n = f"{base}-{n}", n + 1
    return candidate


@transaction.atomic
def project_create(
    *,
    name: str,
    k: int = 4,
    overlap: int = 1,
    allow_ties: bool = True,
    lease_minutes: int = 30,
    instructions: str = "",
    base_model: str = "",
    allow_demonstrations: bool = False,
    slug: str | None = None,
    user: AbstractBaseUser | None = None,
) -> Project:
    """Create a project; the creating user becomes its manager."""
    name = (name or "").strip() if isinstance(name, str) else ""
    if not name or len(name) > 200:
        raise ProjectError("name", "is required (at most 200 characters)")
    project = Project.objects.create(
        name=name,
        slug=_unique_slug(name, slug),
        k=_check_int("k", k, 2, 9),
        overlap=_check_int("overlap", overlap, 1, MAX_OVERLAP),
        allow_ties=bool(allow_ties),
        lease_minutes=_check_int("lease_minutes", lease_minutes, 1, MAX_LEASE_MINUTES),
        instructions=instructions or "",
        base_model=(base_model or "").strip(),
        allow_demonstrations=bool(allow_demonstrations),
        created_by=user if user is not None and user.is_authenticated else None,
    )
    if user is not None and user.is_authenticated:
        Membership.objects.create(project=project, user=user, role=Role.MANAGER)
    return project


@transaction.atomic
def membership_add(*, project: Project, username: str, role: str = Role.ANNOTATOR) -> Membership:
    """Add a user to the project with a role, or change the role of a member."""
    if role not in Role.values:
        raise ProjectError("role", f"must be one of {', '.join(Role.values)}")
    username = (username or "").strip()
    user = get_user_model().objects.filter(username=username, is_active=True).first()
    if user is None:
        raise ProjectError("username", f"no active user is called {username!r}")
    membership = Membership.objects.select_for_update().filter(project=project, user=user).first()
    if membership is None:
        return Membership.objects.create(project=project, user=user, role=role)
    if membership.role == role:
        raise ProjectError("username", f"{username} is already a {role} of this project")
    membership.role = role
    membership.save(update_fields=["role"])
    return membership


@transaction.atomic
def membership_remove(*, project: Project, username: str) -> None:
    """Remove a user from the project, keeping at least one manager."""
    membership = Membership.objects.select_for_update().filter(project=project, user__username=username).first()
    if membership is None:
        raise ProjectError("username", f"{username!r} is not a member of this project")
    if membership.role == Role.MANAGER and not project.memberships.filter(role=Role.MANAGER).exclude(pk=membership.pk).exists():
        raise ProjectError("username", "a project needs at least one manager; add another manager first")
    membership.delete()
