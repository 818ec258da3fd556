"""Leasing comparisons to annotators.

The next comparison for an annotator respects the project's overlap (rankings plus live leases
never exceed it), never repeats one they ranked or skipped, and treats expired leases as free.
A claim is one SQL statement (lease_sql.py), which on SQLite also returns what to show;
PostgreSQL reads that after commit, with a check for a colliding claim. On PostgreSQL candidate
rows are locked with SKIP LOCKED so concurrent annotators fan out over different comparisons;
on SQLite the statement holds the write lock, which serialises writers.
"""

from __future__ import annotations

import random
import time
from datetime import datetime, timedelta
from functools import cache

from django.contrib.auth.models import AbstractBaseUser
from django.db import connection, transaction
from django.db.models import Count, Exists, F, IntegerField, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from labeling import rawrows
from labeling.models import Assignment, AssignmentStatus, Comparison, Project, Prompt, Ranking, Response
from labeling.services.lease_sql import claim_row, content_columns
from labeling.services.retry import retry_when_locked

BUSY_RETRIES = 30


def lease_expiry(project: Project, now: datetime | None = None) -> datetime:
    """Return when a lease taken now on this project runs out."""
    return (now or timezone.now()) + timedelta(minutes=project.lease_minutes)


def _live_leases(now: datetime) -> Coalesce:
    """Count, per comparison, the unexpired and unsubmitted leases."""
    return _live_leases_of(OuterRef("pk"), now)


def _live_leases_of(comparison: OuterRef, now: datetime) -> Coalesce:
    leases = (
        Assignment.objects.filter(comparison=comparison, status=AssignmentStatus.ACTIVE, expires_at__gt=now)
        .order_by()
        .values("comparison")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(leases, output_field=IntegerField()), Value(0))


def _candidates(project: Project, annotator: AbstractBaseUser, now: datetime) -> QuerySet[Comparison]:
    """The comparisons the annotator could be leased, ignoring row locks (the claim SQL's `pick`)."""
    done_by_me = Assignment.objects.filter(
        comparison=OuterRef("pk"),
        annotator=annotator,
        status__in=[AssignmentStatus.SUBMITTED, AssignmentStatus.SKIPPED],
    )
    ranked_by_me = Ranking.objects.filter(comparison=OuterRef("pk"), annotator=annotator)
    return (
        # Gold comparisons come through labeling.services.gold, at the project's share.
        Comparison.objects.filter(project=project, complete=False, gold_response__isnull=True)
        .filter(~Exists(done_by_me), ~Exists(ranked_by_me))
        .annotate(load=F("ranking_count") + _live_leases(now))
        .filter(load__lt=project.overlap)
    )


class _Busy(Exception):
    """Every comparison with room is locked by a concurrent claim or submit right now."""


class _Collided(_Busy):
    """A concurrent claim took the same comparison; this lease yielded (deleted), the other is committed."""


@retry_when_locked
def comparison_claim_next(*, project: Project, annotator: AbstractBaseUser) -> Assignment | None:
    """Lease the next comparison to the annotator (or renew their live lease); None when nothing is left.

    The returned lease carries its comparison with prompt and responses loaded (no further query
    to show it). Call after checking the annotator's membership of the project.
    """
    for attempt in range(BUSY_RETRIES):
        try:
            return _claim_once(project, annotator)
        except _Collided:
            # The lease we collided with is committed, so the next claim's snapshot sees it and picks
            # another comparison: no need to wait (a sleep here was most of a busy claim's p99).
            # Jitter only when it keeps happening, in case both sides yielded and meet again.
            if attempt:
                time.sleep(random.uniform(0, 0.002 * attempt))
        except _Busy:
            time.sleep(0.01 * (attempt + 1))  # the lock holders finish in milliseconds
    return None


def _claim_once(project: Project, annotator: AbstractBaseUser) -> Assignment | None:
    """One claim statement (oldest comparison with room, oldest-first, mine first), and its content.

    The statement runs alone (autocommit): it is atomic by itself. On SQLite it holds the write
    lock from its first read, so what it counts is current, and it returns the content too. On
    PostgreSQL it locks the chosen comparison (SKIP LOCKED, so concurrent annotators fan out), but counts on the snapshot taken
    when it started: a claim that committed in between is invisible to it. So a fresh lease is
    checked after commit, in the statement that loads the content: if the comparison now holds
    more than `overlap` rankings + live leases, this lease yields (is deleted) and we claim
    again. Whichever of two colliding leases checks later sees both, so no kept lease is ever
    over the overlap (both may yield; the next claim picks the comparison up again).
    """
    now = timezone.now()
    row = claim_row(
        project_id=project.pk, overlap=project.overlap, annotator_id=annotator.pk, now=now, until=lease_expiry(project, now)
    )
    if row is None:
        if connection.features.has_select_for_update_skip_locked and _candidates(project, annotator, now).exists():
            # SKIP LOCKED also skips rows that are merely busy: "nothing left" would send an annotator home early.
            raise _Busy
        return None
    pk, comparison_id, display_order, fresh, content = row
    comparison, load = _comparison_with_load(content if content is not None else _content_row(comparison_id, now))
    if fresh and load > project.overlap:
        with connection.cursor() as cursor:  # raw: at 32 annotators one claim in five collides
            cursor.execute(f"DELETE FROM {Assignment._meta.db_table} WHERE id = %s", [pk])
        raise _Collided
    lease = Assignment(
        id=pk, comparison=comparison, annotator=annotator, status=AssignmentStatus.ACTIVE,
        display_order=display_order, expires_at=lease_expiry(project, now),
    )
    lease._state.adding, lease._state.db = False, connection.alias
    return lease


def _content_row(comparison_id: int, now: datetime) -> tuple:  # type: ignore[type-arg]
    """Read what a claim shows (lease_sql.content_columns) for one comparison; raw, it runs on every claim."""
    with connection.cursor() as cursor:
        params = {"active": AssignmentStatus.ACTIVE, "now": connection.ops.adapt_datetimefield_value(now), "comparison": comparison_id}
        cursor.execute(_content_sql(connection.vendor), params)
        return cursor.fetchone()


@cache
def _content_sql(vendor: str) -> str:
    columns = ", ".join(content_columns(vendor, active="%(active)s", now="%(now)s"))
    return (
        f"SELECT {columns} FROM {Comparison._meta.db_table} c JOIN {Prompt._meta.db_table} p ON p.id = c.prompt_id "
        "WHERE c.id = %(comparison)s"
    )


def _comparison_with_load(row: tuple) -> tuple[Comparison, int]:  # type: ignore[type-arg]
    """Build a comparison with its prompt and responses from a content row, and return it with its load."""
    (comparison, prompt), (load, responses_json) = rawrows.split(row, Comparison, Prompt)
    rawrows.attach(comparison, "prompt", prompt)
    responses = [_response(comparison, values) for values in rawrows.json_list(responses_json)]
    cached = comparison.responses.all()
    cached._result_cache, cached._prefetch_done = responses, True
    comparison._prefetched_objects_cache = {"responses": cached}
    return comparison, load


def _response(comparison: Comparison, values: list) -> Response:  # type: ignore[type-arg]
    """Build a saved Response from its JSON array (values already decoded: no column converters to run)."""
    pk, position, text, model_name, generation_params = values
    # saved() takes every concrete field's value (the check below keeps this list complete).
    response = rawrows.saved(
        Response, _RESPONSE_ATTNAMES, [pk, comparison.pk, position, text, model_name, generation_params], connection.alias
    )
    rawrows.attach(response, "comparison", comparison)
    return response


_RESPONSE_ATTNAMES = [f.attname for f in Response._meta.concrete_fields]
assert _RESPONSE_ATTNAMES == ["id", "comparison_id", "position", "text", "model_name", "generation_params"], _RESPONSE_ATTNAMES


@retry_when_locked
@transaction.atomic
def comparison_skip(*, comparison: Comparison, annotator: AbstractBaseUser, reason: str = "") -> None:
    """Release the annotator's lease and never offer them this comparison again (reason: a SkipReason or "")."""
    Assignment.objects.update_or_create(
        comparison=comparison,
        annotator=annotator,
        defaults={"status": AssignmentStatus.SKIPPED, "expires_at": timezone.now(), "skip_reason": reason},
    )
