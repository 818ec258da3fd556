"""Storing rankings and deriving their pairwise preferences, in one transaction.

A ranking submitted after its lease expired is stored if the comparison still has room for it
(rankings plus other annotators' live leases below the overlap); otherwise it is refused with
RankingConflict, which the UI and API show (HTTP 409), so nothing is lost silently.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from labeling.hooks import ranking_hooks
from labeling.models import Assignment, AssignmentStatus, Comparison, Flag, Preference, Project, Ranking

MAX_NOTE_CHARS = 5000
MAX_TIME_SPENT_MS = 24 * 3600 * 1000
STRENGTHS = {1: "slightly better", 2: "clearly better", 3: "much better"}


class RankingError(ValueError):
    """The submitted ranking is malformed; `field` names what to fix."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class RankingConflict(Exception):
    """The ranking is well-formed but cannot be stored now (already ranked, comparison full)."""



@dataclass(frozen=True)
class RankingInput:
    order: list[list[int]]
    flags: list[str]
    note: str
    time_spent_ms: int
    idempotency_key: str
    strength: int | None


def preferences_from_order(order: list[list[int]], *, strength: int | None = None) -> list[tuple[int, int, float]]:
    """Expand tie groups (best first) into (chosen, rejected, margin) pairs; ties give no pair.

    Groups G1 > G2 > ... give a pair for every a in Gi, b in Gj with i < j and margin j - i, or the
    stated strength when one is given (pairwise mode).
    """
    pairs = []
    for i, better in enumerate(order):
        for j in range(i + 1, len(order)):
            margin = float(strength) if strength is not None else float(j - i)
            pairs.extend((a, b, margin) for a in better for b in order[j])
    return pairs


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_order_shape(order: Any) -> list[list[int]]:
    if not isinstance(order, list) or not order:
        raise RankingError("order", "must be a non-empty list of groups, best first, e.g. [[3], [1, 4], [2]]")
    groups = []
    for n, group in enumerate(order):
        if _is_int(group):
            group = [group]  # a flat list [3, 1, 2] is an order without ties
        if not isinstance(group, list) or not group or not all(_is_int(x) for x in group):
            raise RankingError("order", f"group {n + 1} must be a non-empty list of response ids (integers)")
        groups.append(list(group))
    return groups


def _check_order_ids(groups: list[list[int]], response_ids: list[int], comparison_id: int) -> None:
    seen: set[int] = set()
    valid = set(response_ids)
    for rid in (rid for group in groups for rid in group):
        if rid not in valid:
            raise RankingError("order", f"response {rid} is not part of comparison {comparison_id}")
        if rid in seen:
            raise RankingError("order", f"response {rid} appears more than once")
        seen.add(rid)
    missing = sorted(valid - seen)
    if missing:
        raise RankingError("order", f"every response must be ranked; missing: {', '.join(map(str, missing))}")


def _check_flags(flags: Any) -> list[str]:
    if flags in (None, ""):
        return []
    if not isinstance(flags, list) or not all(isinstance(f, str) for f in flags):
        raise RankingError("flags", "must be a list of strings")
    unknown = sorted(set(flags) - set(Flag.values))
    if unknown:
        raise RankingError("flags", f"unknown flag(s) {', '.join(unknown)}; allowed: {', '.join(Flag.values)}")
    return sorted(set(flags))


def _check_scalars(data: dict[str, Any], project: Project) -> tuple[str, int, str, int | None]:
    note = data.get("note") or ""
    if not isinstance(note, str) or len(note) > MAX_NOTE_CHARS:
        raise RankingError("note", f"must be text of at most {MAX_NOTE_CHARS} characters")
    spent = data.get("time_spent_ms") or 0
    if not _is_int(spent) or spent < 0:
        raise RankingError("time_spent_ms", "must be a non-negative integer (milliseconds)")
    key = data.get("idempotency_key") or ""
    if not isinstance(key, str) or len(key) > 100:
        raise RankingError("idempotency_key", "must be a string of at most 100 characters")
    strength = data.get("strength")
    if strength is not None:
        if project.k != 2:
            raise RankingError("strength", "only pairwise projects (K = 2) take a strength")
        if not _is_int(strength) or strength not in STRENGTHS:
            raise RankingError("strength", "must be 1 (slightly), 2 (clearly) or 3 (much better)")
    return note, min(spent, MAX_TIME_SPENT_MS), key, strength


def ranking_validate(*, comparison: Comparison, data: dict[str, Any]) -> RankingInput:
    """Check a submitted ranking against its comparison; raise RankingError naming the field."""
    project = comparison.project
    groups = _check_order_shape(data.get("order"))
    _check_order_ids(groups, list(comparison.responses.values_list("id", flat=True)), comparison.pk)
    flags = _check_flags(data.get("flags"))
    has_tie = any(len(g) > 1 for g in groups)
    # "All bad" / "both bad" ranks everything equal; that is a flag, not a tie preference.
    if has_tie and not project.allow_ties and Flag.ALL_BAD not in flags:
        raise RankingError("order", "ties are not allowed in this project")
    note, spent, key, strength = _check_scalars(data, project)
    if strength is not None and len(groups) == 1:
        strength = None  # a tie has no strength
    return RankingInput(groups, flags, note, spent, key, strength)


def _room_for_late_ranking(comparison: Comparison, annotator: AbstractBaseUser, now) -> bool:  # type: ignore[no-untyped-def]
    others_live = (
        Assignment.objects.filter(comparison=comparison, status=AssignmentStatus.ACTIVE, expires_at__gt=now)
        .exclude(annotator=annotator)
        .count()
    )
    return comparison.ranking_count + others_live < comparison.project.overlap


def _write_preferences(ranking: Ranking) -> None:
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
    has_live_lease = lease is not None and lease.status == AssignmentStatus.ACTIVE and lease.expires_at > now
    if not has_live_lease and not _room_for_late_ranking(comparison, annotator, now):
        raise RankingConflict(
            "Your lease on this comparison expired and other annotators have since completed it, "
            "so this ranking was not stored. Nothing else changed; continue with the next comparison."
        )
    ranking = Ranking.objects.create(
        comparison=comparison,
        annotator=annotator,
        order=clean.order,
        display_order=lease.display_order if lease else [],
        strength=clean.strength,
        flags=clean.flags,
        note=clean.note,
        time_spent_ms=clean.time_spent_ms,
        idempotency_key=clean.idempotency_key,
    )
    _write_preferences(ranking)
    Assignment.objects.update_or_create(
        comparison=comparison,
        annotator=annotator,
        defaults={"status": AssignmentStatus.SUBMITTED, "expires_at": now},
    )
    overlap = comparison.project.overlap
    Comparison.objects.filter(pk=comparison.pk).update(ranking_count=F("ranking_count") + 1)
    Comparison.objects.filter(pk=comparison.pk, ranking_count__gte=overlap).update(complete=True)
    return ranking


def _run_hooks(ranking_id: int, project_id: int) -> None:
    for hook in ranking_hooks():
        hook(ranking_id=ranking_id, project_id=project_id)


def ranking_submit(
    *,
    comparison: Comparison,
    annotator: AbstractBaseUser,
    data: dict[str, Any],
    replace: bool = False,
) -> tuple[Ranking, bool]:
    """Store the annotator's ranking and its preferences atomically; return (ranking, created).

    `data` holds order, flags, note, time_spent_ms, idempotency_key, strength. The same
    idempotency key again returns the stored ranking with created=False. `replace=True` edits
    an existing ranking (undo). Raises RankingError (bad input) or RankingConflict (cannot store).
    Call after checking the annotator's membership of the comparison's project.
    """
    clean = ranking_validate(comparison=comparison, data=data)
    try:
        with transaction.atomic():
            # The row lock serialises submits for one comparison: the overlap check and the
            # ranking_count update cannot interleave.
            # of=("self",): lock only the comparison, not the joined project row, which would
            # serialise every submit in the project.
            locked = Comparison.objects.select_for_update(of=("self",)).select_related("project").get(pk=comparison.pk)
            ranking, created = _submit_locked(locked, annotator, clean, replace)
            if created or replace:
                # robust: a failing hook is logged; it must not turn a stored ranking into an error.
                transaction.on_commit(lambda: _run_hooks(ranking.pk, locked.project_id), robust=True)
            return ranking, created
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
