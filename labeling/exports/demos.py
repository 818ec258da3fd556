"""Accepted demonstrations in exports: SFT rows of their own, and the best answer in preference pairs.

In a preference snapshot an accepted demonstration joins its author's ranking as the best
answer: it is preferred to every response that ranking ordered, with margin = 1 + the rank gap
(above the top group: 1; above the second group: 2; ...), under a negative response id (-id of
the demonstration) so it never collides with a real response. Without a ranking by its author it
goes into SFT snapshots only. Imported dialogues (no comparison) are SFT rows only.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from labeling.exports.aggregation import order_groups
from labeling.exports.cleaning import text_key
from labeling.models import Demonstration, DemonstrationStatus


@dataclass(frozen=True)
class DemoRow:
    id: int
    comparison_id: int | None
    prompt_id: int | None
    prompt_hash: str
    messages: list
    tags: list
    text: str
    author_id: int | None
    created_at: datetime

    @property
    def response_id(self) -> int:
        """The id the demonstration carries in pairs: negative, so it never meets a real response's."""
        return -self.id


def accepted_demonstrations(project: Any) -> Iterator[DemoRow]:
    """Yield the project's accepted demonstrations, oldest first."""
    qs = (Demonstration.objects.filter(project=project, status=DemonstrationStatus.ACCEPTED).order_by("id")
          .values_list("id", "comparison_id", "comparison__prompt_id", "comparison__prompt__content_hash",
                       "messages", "comparison__prompt__tags", "text", "author_id", "reviewed_at"))
    for pk, cid, pid, digest, messages, tags, text, author, reviewed in qs.iterator(chunk_size=2000):
        key = digest or text_key(str(messages))  # an imported dialogue splits by its own conversation
        yield DemoRow(pk, cid, pid, key, messages or [], tags or [], text, author, reviewed)


def by_comparison(project: Any) -> dict[int, list[DemoRow]]:
    """Accepted demonstrations grouped by comparison (small: one per annotator and comparison at most)."""
    out: dict[int, list[DemoRow]] = {}
    for demo in accepted_demonstrations(project):
        if demo.comparison_id is not None:
            out.setdefault(demo.comparison_id, []).append(demo)
    return out


def author_ranking(rankings: list[tuple], author_id: int | None) -> tuple | None:
    """The (id, annotator, order, flags, created_at) ranking the author gave, if any."""
    return next((r for r in rankings if r[1] == author_id), None) if author_id is not None else None


def demonstration_pairs(demo: DemoRow, ranking: tuple, responses: dict[int, str]) -> list[tuple[int, int, float]]:
    """(chosen, rejected, margin) pairs that put the demonstration above every response of the ranking."""
    pairs = []
    for gap, group in enumerate(order_groups(ranking[2]), start=1):
        pairs.extend((demo.response_id, rid, float(gap)) for rid in group if rid in responses)
    return pairs


def _kept(demo: DemoRow, scope: Any, allowed: list[tuple[str, set[int]]]) -> bool:
    from labeling.exports.filters import tags_match

    if not tags_match(demo.tags, scope.params.tags):
        return False
    return demo.prompt_id is None or all(demo.prompt_id in ids for _, ids in allowed)


def write_sft_demonstrations(writer: Any, scope: Any, allowed: list[tuple[str, set[int]]]) -> int:
    """Write one SFT row per accepted demonstration that passes the filters; return how many."""
    from labeling.exports.formats import DictRows, clean_messages
    from labeling.exports.split import split_of

    params, written = scope.params, 0
    for demo in accepted_demonstrations(scope.project):
        if not _kept(demo, scope, allowed):
            writer.result.dropped_pairs["demonstration_filtered"] += 1
            continue
        messages = writer.cleaner.prompt(clean_messages(demo.messages)) if writer.cleaner.params.enabled else clean_messages(demo.messages)
        text = writer.cleaner.answer(demo.text) if messages is not None else None
        if messages is None or text is None or writer.cleaner.duplicate_row(demo.prompt_hash, text):
            continue
        row = {
            "annotator": writer.pseudonyms((demo.author_id,)) if demo.author_id else "",
            "comparison_id": demo.comparison_id, "created_at": writer.timestamp(demo.created_at),
            "policy_version": "", "prompt_id": demo.prompt_id, "ranking_ids": [],
            "messages": [*messages, {"content": text, "role": "assistant"}], "response_id": demo.response_id,
        }
        writer.write(split_of(demo.prompt_hash, seed=params.seed, test_fraction=params.test_fraction), DictRows([row]))
        written += 1
    return written


def kto_labels(order: Any, flags: Any, responses: dict[int, str]) -> list[tuple[int, bool]]:
    """(response id, desirable) from one ranking: the top group desirable, the bottom group undesirable.

    A ranking flagged all_bad makes every response undesirable; middle groups say nothing on
    their own and are left out; a ranking with a single group (all tied) says nothing either.
    """
    groups = [[rid for rid in group if rid in responses] for group in order_groups(order)]
    groups = [g for g in groups if g]
    if "all_bad" in (flags or ()):
        return [(rid, False) for group in groups for rid in group]
    if len(groups) < 2:
        return []
    return [(rid, True) for rid in groups[0]] + [(rid, False) for rid in groups[-1]]
