"""An annotator's own history: take back a skip."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from labeling.models import Assignment, AssignmentStatus, Comparison
from labeling.services.assignment import lease_expiry


@transaction.atomic
def comparison_unskip(*, comparison: Comparison, annotator: AbstractBaseUser) -> bool:
    """Turn the annotator's skip of a comparison back into a live lease; False when it has no room left.

    Room as for any lease: rankings plus other annotators' live leases below the overlap (gold
    comparisons always have room). Releases the annotator's other live lease in the project, so
    the unskipped comparison is the one the ranking page shows next.
    """
    locked = Comparison.objects.select_for_update(of=("self",)).select_related("project").get(pk=comparison.pk)
    skip = Assignment.objects.filter(comparison=locked, annotator=annotator, status=AssignmentStatus.SKIPPED).first()
    if skip is None:
        return False
    now = timezone.now()
    others = (
        Assignment.objects.filter(comparison=locked, status=AssignmentStatus.ACTIVE, expires_at__gt=now)
        .exclude(annotator=annotator)
        .count()
    )
    if not locked.is_gold and (locked.complete or locked.ranking_count + others >= locked.project.overlap):
        return False
    Assignment.objects.filter(
        comparison__project=locked.project, annotator=annotator, status=AssignmentStatus.ACTIVE, expires_at__gt=now
    ).update(expires_at=now)
    skip.status = AssignmentStatus.ACTIVE
    skip.expires_at = lease_expiry(locked.project, now)
    skip.save(update_fields=["status", "expires_at", "updated_at"])
    return True
