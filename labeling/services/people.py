"""Managers bring people in: create a user with an invite link that sets their password.

The link carries Django's password-reset token for the new user (no table needed): it works
until the password is set, or PASSWORD_RESET_TIMEOUT passes (3 days by default), whichever
comes first, because the token hashes the password field.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from labeling.models import Membership, Project, Role
from labeling.services.projects import ProjectError

USERNAME_MAX = 150


@dataclass(frozen=True)
class Invite:
    user: AbstractBaseUser
    membership: Membership
    path: str  # site-relative URL of the page that sets the password


def invite_path(user: AbstractBaseUser) -> str:
    """Return the set-your-password link for a user who has none yet."""
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    return reverse("labeling:invite-accept", args=[uid, default_token_generator.make_token(user)])


def _check_new_user(username: str, email: str) -> tuple[str, str]:
    username, email = (username or "").strip(), (email or "").strip()
    field = get_user_model()._meta.get_field("username")
    try:
        field.run_validators(username)
    except ValidationError as exc:
        raise ProjectError("username", " ".join(exc.messages)) from None
    if not username or len(username) > USERNAME_MAX:
        raise ProjectError("username", f"is required (at most {USERNAME_MAX} characters)")
    if get_user_model().objects.filter(username__iexact=username).exists():
        raise ProjectError("username", f"{username!r} is taken; add an existing user by username instead")
    if email:
        try:
            validate_email(email)
        except ValidationError:
            raise ProjectError("email", "is not a valid e-mail address") from None
    return username, email


@transaction.atomic
def user_invite(*, project: Project, username: str, email: str = "", role: str = Role.ANNOTATOR) -> Invite:
    """Create a user without a password, make them a member, and return their invite link."""
    if role not in Role.values:
        raise ProjectError("role", f"must be one of {', '.join(Role.values)}")
    username, email = _check_new_user(username, email)
    user = get_user_model().objects.create_user(username=username, email=email, password=None)
    membership = Membership.objects.create(project=project, user=user, role=role)
    return Invite(user=user, membership=membership, path=invite_path(user))
