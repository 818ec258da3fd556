"""Small builders for test data (plain functions; no factory library)."""

from __future__ import annotations

import hashlib
import itertools
import json

from django.contrib.auth import get_user_model

from labeling.models import Comparison, Membership, Project, Prompt, Response, Role

_seq = itertools.count(1)
PASSWORD = "correct-horse-battery-staple"


def make_user(username: str | None = None, *, staff: bool = False):
    User = get_user_model()
    username = username or f"user{next(_seq)}"
    return User.objects.create_user(username=username, password=PASSWORD, is_staff=staff, is_superuser=staff)


def make_project(*, k: int = 4, overlap: int = 1, allow_ties: bool = True, name: str | None = None, **fields) -> Project:
    n = next(_seq)
    return Project.objects.create(name=name or f"Project {n}", slug=f"project-{n}", k=k, overlap=overlap, allow_ties=allow_ties, **fields)


def add_member(project: Project, user, role: str = Role.ANNOTATOR) -> Membership:
    return Membership.objects.create(project=project, user=user, role=role)


def make_prompt(project: Project, text: str | None = None, **fields) -> Prompt:
    text = text or f"Question number {next(_seq)}?"
    messages = [{"role": "user", "content": text}]
    digest = hashlib.sha256(json.dumps(messages, sort_keys=True).encode()).hexdigest()
    return Prompt.objects.create(project=project, messages=messages, content_hash=digest, **fields)


def make_comparison(project: Project, *, texts: list[str] | None = None, prompt: Prompt | None = None, policy_version: str = "") -> Comparison:
    prompt = prompt or make_prompt(project)
    texts = texts or [f"Answer {i} to {prompt.pk}" for i in range(project.k)]
    comparison = Comparison.objects.create(project=project, prompt=prompt, policy_version=policy_version)
    Response.objects.bulk_create(
        [Response(comparison=comparison, position=i, text=t, model_name="test") for i, t in enumerate(texts)]
    )
    return comparison


def make_lease(comparison: Comparison, user, *, minutes: int = 30, display_order: list[int] | None = None):
    """Lease a comparison to a user directly, as a claim would (a ranking needs its annotator's lease).

    The display order defaults to the responses by position; pass [] for a lease that recorded none.
    """
    from datetime import timedelta

    from django.utils import timezone

    from labeling.models import Assignment

    if display_order is None:
        display_order = list(comparison.responses.order_by("position").values_list("id", flat=True))
    return Assignment.objects.update_or_create(
        comparison=comparison,
        annotator=user,
        defaults={"status": "active", "display_order": display_order, "expires_at": timezone.now() + timedelta(minutes=minutes)},
    )[0]


def api_client_for(user):
    """An API client that authenticates like a script would: with a token header."""
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client
