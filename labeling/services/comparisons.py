"""Create comparisons with their responses: the one write path for imports and generation rounds."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction

from labeling.inputs import safe_text, safe_value
from labeling.models import Comparison, Project, Response

BATCH = 500  # rows per INSERT: stays under SQLite's limit on query parameters


@dataclass(frozen=True)
class NewResponse:
    text: str
    model_name: str = ""
    generation_params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class NewComparison:
    """One comparison to create: a prompt of the project and its responses in display position order."""

    prompt_id: int
    responses: Sequence[NewResponse]
    gold_position: int | None = None  # the known best response (a gold comparison), by position


@transaction.atomic
def comparisons_create(
    *, project: Project, items: Sequence[NewComparison], source: str, policy_version: str = ""
) -> list[Comparison]:
    """Create the comparisons and their responses in bulk; return the comparisons in the order given.

    The caller has checked that each prompt belongs to the project and that each item has the
    project's K responses. Names longer than their columns are cut to fit.
    """
    comparisons = Comparison.objects.bulk_create(
        [
            Comparison(project=project, prompt_id=item.prompt_id, policy_version=policy_version[:200], source=source)
            for item in items
        ],
        batch_size=BATCH,
    )
    responses = Response.objects.bulk_create(
        [
            Response(
                # Model text is untrusted: a NUL would fail the insert on PostgreSQL (imports refuse it earlier).
                comparison=comparison, position=position, text=safe_text(response.text),
                model_name=safe_text(response.model_name[:300]), generation_params=safe_value(response.generation_params),
            )
            for comparison, item in zip(comparisons, items, strict=True)
            for position, response in enumerate(item.responses)
        ],
        batch_size=BATCH,
    )
    if _mark_gold(comparisons, items, responses):
        # The flag lets every claim skip the gold queue's queries in projects without gold.
        Project.objects.filter(pk=project.pk, has_gold=False).update(has_gold=True)
        project.has_gold = True
    return comparisons


def _mark_gold(comparisons: list[Comparison], items: Sequence[NewComparison], responses: list[Response]) -> int:
    """Point each gold comparison at its known best response; return how many there were."""
    by_slot = {(r.comparison_id, r.position): r.pk for r in responses}
    gold = []
    for comparison, item in zip(comparisons, items, strict=True):
        if item.gold_position is not None:
            comparison.gold_response_id = by_slot[(comparison.pk, item.gold_position)]
            gold.append(comparison)
    Comparison.objects.bulk_update(gold, ["gold_response"], batch_size=BATCH)
    return len(gold)
