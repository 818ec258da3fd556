"""Stream an export's input one comparison at a time, in constant memory.

Four queries ordered by comparison id (comparisons, responses, rankings, preferences) are read
side by side with server-side cursors and merged, like a sort-merge join: only one
comparison's rows are held at once, whatever the project's size.
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from labeling.exports.aggregation import PreferenceRow, RankingRow, order_groups
from labeling.exports.filters import (
    Scope,
    comparisons_in_scope,
    preferences_in_scope,
    rankings_filtered,
    responses_in_scope,
)
from labeling.models import Prompt

CHUNK_SIZE = 5000


@dataclass
class ComparisonData:
    """One comparison with everything the exporter needs to turn it into rows."""

    id: int
    prompt_id: int
    prompt_hash: str
    messages: list
    tags: list
    policy_version: str
    responses: dict[int, str]
    rankings: list[tuple]  # (id, annotator_id, order, flags, created_at)
    prefs: list[PreferenceRow]

    def kept_rankings(self, exclude_flags: tuple[str, ...]) -> tuple[list[RankingRow], int]:
        """Return rankings without excluded flags, and how many were dropped for flags."""
        kept, excluded = [], frozenset(exclude_flags)
        for rid, annotator_id, order, flags, created_at in self.rankings:
            if flags and not excluded.isdisjoint(flags):
                continue
            kept.append(RankingRow(rid, annotator_id, order_groups(order), created_at))
        return kept, len(self.rankings) - len(kept)


class _MergeCursor:
    """Walk one comparison-ordered row stream, handing out the rows of one comparison at a time."""

    def __init__(self, rows: Iterator[tuple]) -> None:
        # groupby cuts the stream at each new comparison id in C, not row by row in Python.
        self._groups = itertools.groupby(rows, key=operator.itemgetter(0))
        self._head = next(self._groups, None)

    def take(self, comparison_id: int) -> list[tuple]:
        """Return the rows of this comparison, skipping any of earlier comparisons."""
        head = self._head
        while head is not None and head[0] < comparison_id:
            head = next(self._groups, None)
        if head is None or head[0] != comparison_id:
            self._head = head
            return []
        rows = list(head[1])  # before the next group: groupby shares one underlying iterator
        self._head = next(self._groups, None)
        return rows


def _cursor(qs: Any, *fields: str) -> _MergeCursor:
    return _MergeCursor(qs.values_list(*fields).iterator(chunk_size=CHUNK_SIZE))


def comparison_stream(scope: Scope) -> Iterator[ComparisonData]:
    """Yield each in-scope comparison with its responses, rankings and stored preferences."""
    comparisons = comparisons_in_scope(scope).order_by("id").values_list(
        "id", "prompt_id", "prompt__content_hash", "prompt__messages", "prompt__tags", "policy_version"
    )
    responses = _cursor(responses_in_scope(scope).order_by("comparison_id", "position"), "comparison_id", "id", "text")
    rankings = _cursor(
        rankings_filtered(scope).order_by("comparison_id", "id"),
        "comparison_id", "id", "annotator_id", "order", "flags", "created_at",
    )
    prefs = _cursor(
        preferences_in_scope(scope).order_by("comparison_id", "ranking_id", "id"),
        "comparison_id", "id", "ranking_id", "chosen_id", "rejected_id", "margin",
    )
    for cid, prompt_id, prompt_hash, messages, tags, policy in comparisons.iterator(chunk_size=CHUNK_SIZE):
        yield ComparisonData(
            id=cid,
            prompt_id=prompt_id,
            prompt_hash=prompt_hash,
            messages=messages,
            tags=tags,
            policy_version=policy,
            responses={row[1]: row[2] for row in responses.take(cid)},
            rankings=[row[1:] for row in rankings.take(cid)],
            prefs=[PreferenceRow(*row[1:]) for row in prefs.take(cid)],
        )


def prompt_stream(scope: Scope) -> Iterator[tuple[int, str, list, list, str]]:
    """Yield (id, content_hash, messages, tags, reference) for every prompt of the project."""
    qs = Prompt.objects.filter(project=scope.project).order_by("id")
    yield from qs.values_list("id", "content_hash", "messages", "tags", "reference").iterator(chunk_size=CHUNK_SIZE)
