"""Gold comparisons in each annotator's queue: a known best response, to measure accuracy.

Gold comparisons are shown to every annotator (overlap does not limit them) at about the
project's `gold_share` of their rankings: the n-th ranking is gold when that keeps the
annotator's gold count at or below share × n. `queue_claim_next` (the ranking page and the
API) asks here first and falls back to the ordinary lease (`comparison_claim_next`).
"""

from __future__ import annotations

import random

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from labeling.models import Assignment, AssignmentStatus, Comparison, Project, Ranking
from labeling.services.assignment import comparison_claim_next, lease_expiry


def _gold_due(project: Project, annotator: AbstractBaseUser) -> bool:
    mine = Ranking.objects.filter(comparison__project=project, annotator=annotator)
    ranked = mine.count()
    gold = mine.filter(comparison__gold_response__isnull=False).count()
    return gold + 1 <= project.gold_share * (ranked + 1) + 1e-9


def _open_gold(project: Project, annotator: AbstractBaseUser) -> Comparison | None:
    seen = Assignment.objects.filter(comparison=OuterRef("pk"), annotator=annotator).exclude(status=AssignmentStatus.ACTIVE)
    ranked = Ranking.objects.filter(comparison=OuterRef("pk"), annotator=annotator)
    return (
        Comparison.objects.filter(project=project, gold_response__isnull=False)
        .filter(~Exists(seen), ~Exists(ranked))
        .order_by("id")
        .first()
    )


def gold_claim_next(*, project: Project, annotator: AbstractBaseUser) -> Assignment | None:
    """Lease (or renew) a gold comparison when one is due for the annotator; else None.

    None also when the annotator holds a live lease on an ordinary comparison: the ordinary
    claim renews that one, so an annotator never holds two.
    """
    if not project.has_gold:
        return None  # no gold comparison exists, so none can be leased: no query, no transaction
    return _gold_claim(project, annotator)


@transaction.atomic
def _gold_claim(project: Project, annotator: AbstractBaseUser) -> Assignment | None:
    now = timezone.now()
    live = (
        Assignment.objects.filter(
            comparison__project=project, annotator=annotator, status=AssignmentStatus.ACTIVE, expires_at__gt=now
        )
        .select_related("comparison")
        .order_by("created_at")
        .first()
    )
    if live is not None and not live.comparison.is_gold:
        return None
    if live is not None:
        live.expires_at = lease_expiry(project, now)
        live.save(update_fields=["expires_at", "updated_at"])
        return live
    if project.gold_share <= 0 or not _gold_due(project, annotator):
        return None
    comparison = _open_gold(project, annotator)
    if comparison is None:
        return None
    order = list(comparison.responses.values_list("id", flat=True))
    random.SystemRandom().shuffle(order)
    try:
        with transaction.atomic():
            lease, _ = Assignment.objects.update_or_create(
                comparison=comparison,
                annotator=annotator,
                defaults={"status": AssignmentStatus.ACTIVE, "expires_at": lease_expiry(project, now), "display_order": order},
            )
    except IntegrityError:
        return None  # the same annotator's other tab claimed it a moment ago; the next load finds it
    return lease


def queue_claim_next(*, project: Project, annotator: AbstractBaseUser) -> Assignment | None:
    """Lease the annotator's next comparison: a gold one when due, else the ordinary claim."""
    return gold_claim_next(project=project, annotator=annotator) or comparison_claim_next(project=project, annotator=annotator)
