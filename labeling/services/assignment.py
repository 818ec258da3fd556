"""Leasing comparisons to annotators.

The next comparison for an annotator respects the project's overlap (rankings plus live leases
never exceed it), never repeats one they ranked or skipped, and treats expired leases as free.
On PostgreSQL candidate rows are locked with SKIP LOCKED so concurrent annotators fan out over
different comparisons; on SQLite the IMMEDIATE transaction mode serialises writers (settings).
"""

from __future__ import annotations

import random
import time
from datetime import datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, Exists, F, IntegerField, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from labeling.models import Assignment, AssignmentStatus, Comparison, Project, Ranking

MAX_RECHECKS = 50
BUSY_RETRIES = 20


def lease_expiry(project: Project, now: datetime | None = None) -> datetime:
    """Return when a lease taken now on this project runs out."""
    return (now or timezone.now()) + timedelta(minutes=project.lease_minutes)


def _live_leases(now: datetime) -> Subquery:
    """Count, per comparison, other annotators' unexpired and unsubmitted leases."""
    leases = (
        Assignment.objects.filter(comparison=OuterRef("pk"), status=AssignmentStatus.ACTIVE, expires_at__gt=now)
        .order_by()
        .values("comparison")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(leases, output_field=IntegerField()), Value(0))


def _current_lease(project: Project, annotator: AbstractBaseUser, now: datetime) -> Assignment | None:
    return (
        Assignment.objects.select_related("comparison")
        .filter(
            comparison__project=project,
            annotator=annotator,
            status=AssignmentStatus.ACTIVE,
            expires_at__gt=now,
            comparison__complete=False,
        )
        .order_by("created_at")
        .first()
    )


def _candidates(project: Project, annotator: AbstractBaseUser, now: datetime, exclude: list[int]) -> QuerySet[Comparison]:
    done_by_me = Assignment.objects.filter(
        comparison=OuterRef("pk"),
        annotator=annotator,
        status__in=[AssignmentStatus.SUBMITTED, AssignmentStatus.SKIPPED],
    )
    ranked_by_me = Ranking.objects.filter(comparison=OuterRef("pk"), annotator=annotator)
    candidates = (
        # Gold comparisons come through labeling.services.gold, at the project's share.
        Comparison.objects.filter(project=project, complete=False, gold_response__isnull=True)
        .exclude(pk__in=exclude)
        .filter(~Exists(done_by_me), ~Exists(ranked_by_me))
        .annotate(load=F("ranking_count") + _live_leases(now))
        .filter(load__lt=project.overlap)
        # Oldest first: with overlap > 1 the next annotator joins a started comparison, so
        # comparisons complete one after another instead of all being half-ranked.
        .order_by("id")
    )
    return candidates


def _lock_candidate(project: Project, annotator: AbstractBaseUser, now: datetime, exclude: list[int]) -> Comparison | None:
    candidates = _candidates(project, annotator, now, exclude)
    if connection.features.has_select_for_update_skip_locked:
        candidates = candidates.select_for_update(skip_locked=True, of=("self",))
    return candidates.first()


def _still_has_room(comparison: Comparison, project: Project, now: datetime) -> bool:
    """Re-count the load of a comparison just locked, in a new statement.

    PostgreSQL evaluates the candidate query on a snapshot taken when it started; a claim
    that committed between then and our lock is invisible to it. A new statement (READ
    COMMITTED) sees it, and nobody can add a lease now that we hold the row lock.
    """
    load = (
        Comparison.objects.filter(pk=comparison.pk)
        .annotate(load=F("ranking_count") + _live_leases(now))
        .values_list("load", flat=True)
        .first()
    )
    return load is not None and load < project.overlap


def _lock_comparison_with_room(project: Project, annotator: AbstractBaseUser, now: datetime) -> Comparison | None:
    if not connection.features.has_select_for_update_skip_locked:
        # SQLite: the IMMEDIATE transaction already holds the write lock, so the snapshot is current.
        return _lock_candidate(project, annotator, now, [])
    full: list[int] = []
    for _ in range(MAX_RECHECKS):
        comparison = _lock_candidate(project, annotator, now, full)
        if comparison is None:
            # SKIP LOCKED also skips rows that are merely busy (another claim or a submit holds
            # them for a moment). Saying "nothing left" then would send an annotator home early.
            if _candidates(project, annotator, now, full).exists():
                raise _Busy
            return None
        if _still_has_room(comparison, project, now):
            return comparison
        full.append(comparison.pk)
    return None


def _shuffled_response_ids(comparison: Comparison) -> list[int]:
    ids = list(comparison.responses.values_list("id", flat=True))
    random.SystemRandom().shuffle(ids)
    return ids


class _Busy(Exception):
    """Every comparison with room is locked by a concurrent transaction right now."""


def comparison_claim_next(*, project: Project, annotator: AbstractBaseUser) -> Assignment | None:
    """Lease the next comparison to the annotator (or renew their live lease); None when nothing is left."""
    for attempt in range(BUSY_RETRIES):
        try:
            return _claim_once(project, annotator)
        except _Busy:
            time.sleep(0.02 * (attempt + 1))  # the lock holders finish in milliseconds
    return None


@transaction.atomic
def _claim_once(project: Project, annotator: AbstractBaseUser) -> Assignment | None:
    now = timezone.now()
    current = _current_lease(project, annotator, now)
    if current is not None:
        current.expires_at = lease_expiry(project, now)
        current.save(update_fields=["expires_at", "updated_at"])
        return current
    comparison = _lock_comparison_with_room(project, annotator, now)
    if comparison is None:
        return None
    try:
        with transaction.atomic():
            assignment, _ = Assignment.objects.update_or_create(
                comparison=comparison,
                annotator=annotator,
                defaults={
                    "status": AssignmentStatus.ACTIVE,
                    "expires_at": lease_expiry(project, now),
                    "display_order": _shuffled_response_ids(comparison),
                },
            )
    except IntegrityError:
        return None  # a concurrent claim by the same annotator won; they get that one on retry
    return assignment


@transaction.atomic
def comparison_skip(*, comparison: Comparison, annotator: AbstractBaseUser) -> None:
    """Release the annotator's lease and never offer them this comparison again."""
    Assignment.objects.update_or_create(
        comparison=comparison,
        annotator=annotator,
        defaults={"status": AssignmentStatus.SKIPPED, "expires_at": timezone.now()},
    )
