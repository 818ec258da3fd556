"""Flags on single responses ("B is unsafe"), kept beside the ranking that carries them."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction

from labeling.models import Flag, Ranking, ResponseFlag
from labeling.services.ranking_input import RankingError


@transaction.atomic
def response_flags_set(*, ranking: Ranking, unsafe: Iterable[int]) -> list[int]:
    """Replace the ranking's per-response unsafe flags; return the flagged response ids.

    Call inside the same transaction as the ranking's submit, so both are stored or neither.
    Raises RankingError when an id is not a response of the ranking's comparison.
    """
    wanted = sorted(set(unsafe))
    known = set(ranking.comparison.responses.values_list("pk", flat=True))
    stray = [rid for rid in wanted if rid not in known]
    if stray:
        raise RankingError("flags", f"response {stray[0]} is not part of this comparison")
    ResponseFlag.objects.filter(ranking=ranking).delete()
    ResponseFlag.objects.bulk_create(ResponseFlag(ranking=ranking, response_id=rid, flag=Flag.UNSAFE) for rid in wanted)
    return wanted
