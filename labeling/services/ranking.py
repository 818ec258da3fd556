"""Storing rankings and deriving their pairwise preferences, in one transaction.

A ranking needs the annotator's own lease on the comparison. On a live lease it is stored in
one statement (PostgreSQL) or one short transaction (SQLite), both raw SQL in lease_sql.py,
that marks the lease submitted, counts the ranking and inserts it with its pairs. A ranking
submitted after its lease expired is stored if the comparison still has room for it (rankings
plus other annotators' live leases below the overlap): the late-lease rule. Otherwise, and for a comparison never leased to the
annotator or one they skipped, it is refused with RankingConflict, which the UI and API show
(HTTP 409) with the reason, so nothing is lost silently.
"""

from __future__ import annotations

from contextlib import nullcontext
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, connection, transaction
from django.db.models import Case, F, Value, When
from django.utils import timezone

from labeling.models import Assignment, AssignmentStatus, Comparison, Preference, Project, Ranking
from labeling.services.lease_sql import store_ranking_row, store_ranking_rows_sqlite
from labeling.services.ranking_input import (
    MAX_NOTE_CHARS,
    MAX_TIME_SPENT_MS,
    STRENGTHS,
    RankingConflict,
    RankingError,
    RankingInput,
    preferences_from_order,
    ranking_validate,
)
from labeling.services.retry import retry_when_locked

__all__ = [
    "MAX_NOTE_CHARS", "MAX_TIME_SPENT_MS", "STRENGTHS", "RankingConflict", "RankingError", "RankingInput",
    "preferences_from_order", "ranking_reopen_last", "ranking_submit", "ranking_validate",
]

# The one-statement path takes a lease as live only with this much time left, so a lease cannot
# expire (and be claimed by someone else) while the statement runs; closer to expiry, a submit
# takes the locked path below, which checks the room under the comparison's row lock.
LIVE_MARGIN = timedelta(seconds=10)

NOT_LEASED = (
    "This comparison is not leased to you (it was given to another annotator, or never to you), "
    "so this ranking was not stored. Continue with the comparison the server gives you next."
)
SKIPPED = "You skipped this comparison, so this ranking was not stored. Continue with the next comparison."
EXPIRED_FULL = (
    "Your lease on this comparison expired and other annotators have since completed it, "
    "so this ranking was not stored. Nothing else changed; continue with the next comparison."
)


def _room_for_late_ranking(comparison: Comparison, annotator: AbstractBaseUser, now) -> bool:  # type: ignore[no-untyped-def]
    others_live = (
        Assignment.objects.filter(comparison=comparison, status=AssignmentStatus.ACTIVE, expires_at__gt=now)
        .exclude(annotator=annotator)
        .count()
    )
    return comparison.ranking_count + others_live < comparison.project.overlap


def _write_preferences(ranking: Ranking, pairs: list[tuple[int, int, float]] | None = None) -> None:
    if pairs is None:
        pairs = preferences_from_order(ranking.order, strength=ranking.strength)
    Preference.objects.bulk_create(
        [
            Preference(
                ranking=ranking,
                comparison_id=ranking.comparison_id,
                annotator_id=ranking.annotator_id,
                chosen_id=chosen,
                rejected_id=rejected,
                margin=margin,
            )
            for chosen, rejected, margin in pairs
        ]
    )


def _replace(ranking: Ranking, clean: RankingInput) -> Ranking:
    ranking.order, ranking.flags, ranking.note = clean.order, clean.flags, clean.note
    ranking.strength = clean.strength
    # Capped: repeated edits must not overflow the integer column (a DataError, i.e. a 500).
    ranking.time_spent_ms = min(ranking.time_spent_ms + clean.time_spent_ms, MAX_TIME_SPENT_MS)
    if clean.idempotency_key:
        ranking.idempotency_key = clean.idempotency_key
    ranking.save()
    ranking.preferences.all().delete()
    _write_preferences(ranking)
    return ranking


def _create(comparison: Comparison, annotator: AbstractBaseUser, clean: RankingInput) -> Ranking:
    now = timezone.now()
    lease = Assignment.objects.filter(comparison=comparison, annotator=annotator).first()
    if lease is None:
        raise RankingConflict(NOT_LEASED)
    if lease.status == AssignmentStatus.SKIPPED:
        raise RankingConflict(SKIPPED)
    has_live_lease = lease.status == AssignmentStatus.ACTIVE and lease.expires_at > now
    if not has_live_lease and not _room_for_late_ranking(comparison, annotator, now):
        raise RankingConflict(EXPIRED_FULL)
    ranking = Ranking.objects.create(
        comparison=comparison,
        annotator=annotator,
        order=clean.order,
        display_order=lease.display_order,
        strength=clean.strength,
        flags=clean.flags,
        note=clean.note,
        time_spent_ms=clean.time_spent_ms,
        idempotency_key=clean.idempotency_key,
    )
    _write_preferences(ranking)
    Assignment.objects.filter(pk=lease.pk).update(status=AssignmentStatus.SUBMITTED, expires_at=now, updated_at=now)
    _count_ranking(comparison.pk, comparison.project.overlap)
    return ranking


def _count_ranking(comparison_id: int, overlap: int) -> None:
    """Add one ranking to the comparison's count, completing it at the overlap (one UPDATE)."""
    complete = Case(When(ranking_count__gte=overlap - 1, then=Value(True)), default=F("complete"))
    Comparison.objects.filter(pk=comparison_id).update(ranking_count=F("ranking_count") + 1, complete=complete)


@retry_when_locked
def ranking_submit(
    *,
    comparison: Comparison,
    annotator: AbstractBaseUser,
    data: dict[str, Any],
    replace: bool = False,
    lease: Assignment | None = None,
) -> tuple[Ranking, bool]:
    """Store the annotator's ranking and its preferences atomically; return (ranking, created).

    `data` holds order, flags, note, time_spent_ms, idempotency_key, strength. The same
    idempotency key again returns the stored ranking with created=False. `replace=True` edits
    an existing ranking (undo). `lease`: the annotator's assignment on this comparison when the
    caller has loaded it (saves a query). Raises RankingError (bad input) or RankingConflict
    (cannot store). Call after checking the annotator's membership of the comparison's project.
    """
    if not replace and lease is None:
        lease = Assignment.objects.filter(comparison=comparison, annotator=annotator).first()
    clean = ranking_validate(comparison=comparison, data=data, response_ids=lease.display_order if lease else None)
    now = timezone.now()
    if not replace and lease is not None and lease.status == AssignmentStatus.ACTIVE and lease.expires_at > now + LIVE_MARGIN:
        ranking = _store_on_live_lease(comparison, annotator, lease, clean, now)
        if ranking is not None:
            return ranking, True
    return _submit_under_lock(comparison, annotator, clean, replace)


def _store_on_live_lease(
    comparison: Comparison, annotator: AbstractBaseUser, lease: Assignment, clean: RankingInput, now: datetime
) -> Ranking | None:
    """Store the ranking if the lease is still live when written; None sends the caller down the locked path.

    None also when a unique constraint fires (the idempotency key was used, or a concurrent
    submit won): the locked path then finds what is stored and answers accordingly.
    """
    fields = {
        "order": clean.order, "flags": clean.flags, "note": clean.note, "strength": clean.strength,
        "time_spent_ms": clean.time_spent_ms, "idempotency_key": clean.idempotency_key,
    }
    pairs = preferences_from_order(clean.order, strength=clean.strength)
    overlap = comparison.project.overlap
    args = {
        "lease_id": lease.pk, "comparison_id": comparison.pk, "overlap": overlap, "annotator_id": annotator.pk,
        "now": now, "live_after": now + LIVE_MARGIN, "fields": fields, "pairs": pairs,
    }
    try:
        if connection.vendor == "postgresql":
            # Alone (autocommit) the statement is atomic by itself; inside a caller's transaction a
            # savepoint keeps a failed statement from aborting that transaction.
            with transaction.atomic() if connection.in_atomic_block else nullcontext():
                pk = store_ranking_row(**args)
        else:
            pk = store_ranking_rows_sqlite(**args)
    except IntegrityError:
        return None
    if pk is None:
        return None
    ranking = Ranking(
        id=pk, comparison=comparison, annotator=annotator, display_order=lease.display_order,
        created_at=now, updated_at=now, **fields,
    )
    ranking._state.adding, ranking._state.db = False, connection.alias
    return ranking


def _submit_under_lock(
    comparison: Comparison, annotator: AbstractBaseUser, clean: RankingInput, replace: bool
) -> tuple[Ranking, bool]:
    """The general path: lock the comparison, then check key, existing ranking and lease."""
    try:
        with transaction.atomic():
            # The row lock serialises submits for one comparison: the overlap check and the
            # ranking_count update cannot interleave.
            # of=("self",): lock only the comparison, not the joined project row, which would
            # serialise every submit in the project.
            locked = Comparison.objects.select_for_update(of=("self",)).select_related("project").get(pk=comparison.pk)
            return _submit_locked(locked, annotator, clean, replace)
    except IntegrityError:
        # A concurrent submit of the same ranking won the race (unique constraints are the last guard).
        existing = Ranking.objects.filter(comparison=comparison, annotator=annotator).first()
        if existing is None:
            if clean.idempotency_key:  # the same key sent for another comparison at the same moment
                raise RankingError("idempotency_key", "was already used for another comparison") from None
            raise
        return existing, False


def _submit_locked(comparison: Comparison, annotator: AbstractBaseUser, clean: RankingInput, replace: bool) -> tuple[Ranking, bool]:
    if clean.idempotency_key:
        same_key = Ranking.objects.filter(annotator=annotator, idempotency_key=clean.idempotency_key).first()
        if same_key is not None:
            if same_key.comparison_id != comparison.pk:
                raise RankingError("idempotency_key", "was already used for another comparison")
            return same_key, False
    existing = Ranking.objects.filter(comparison=comparison, annotator=annotator).first()
    if existing is not None:
        if not replace:
            raise RankingConflict(f"You already ranked this comparison (ranking {existing.pk}); use undo to edit it.")
        return _replace(existing, clean), False
    return _create(comparison, annotator, clean), True


def ranking_reopen_last(*, project: Project, annotator: AbstractBaseUser) -> Ranking | None:
    """Return the annotator's most recent ranking in the project, to be edited (undo last)."""
    return (
        Ranking.objects.select_related("comparison")
        .filter(comparison__project=project, annotator=annotator)
        .order_by("-updated_at", "-id")
        .first()
    )
