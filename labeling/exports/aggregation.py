"""Turn one comparison's rankings into training pairs: all, majority or Bradley-Terry.

Pure functions over one comparison at a time (no database), so the exporter can stream
comparisons and keep memory flat, and tests can check known answers by hand.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from itertools import combinations

# One virtual tie per pair (half a win each way): keeps Bradley-Terry scores finite when one
# response wins every vote, which is the common case with a single ranking per comparison.
BT_PRIOR_WINS = 0.5
BT_MAX_ITERATIONS = 500
BT_TOLERANCE = 1e-10
SCORE_DECIMALS = 6


@dataclass(frozen=True)
class RankingRow:
    """One ranking as the exporter needs it."""

    id: int
    annotator_id: int
    order: tuple[tuple[int, ...], ...]
    created_at: datetime


@dataclass(frozen=True)
class PreferenceRow:
    """One stored preference pair."""

    id: int
    ranking_id: int
    chosen_id: int
    rejected_id: int
    margin: float


@dataclass(frozen=True)
class Pair:
    """One exported training pair and the rankings it came from."""

    chosen_id: int
    rejected_id: int
    margin: float
    ranking_ids: tuple[int, ...]
    annotator_ids: tuple[int, ...]
    created_at: datetime


def order_groups(order: Iterable) -> tuple[tuple[int, ...], ...]:
    """Normalise a stored order to tie groups of ints (a bare id counts as its own group)."""
    groups = []
    for group in order or ():
        items = group if isinstance(group, list | tuple) else [group]
        groups.append(tuple(int(x) for x in items))
    return tuple(g for g in groups if g)


def _rank_of(order: tuple[tuple[int, ...], ...]) -> dict[int, int]:
    return {rid: index for index, group in enumerate(order) for rid in group}


def _selected(order: tuple[tuple[int, ...], ...], chosen: int, rejected: int, pairs: str) -> bool:
    """Return whether the pair survives the pair selection under this order."""
    if pairs == "all":
        return True
    if chosen not in order[0]:
        return False
    return pairs == "best_vs_rest" or rejected in order[-1]


def votes(rankings: list[RankingRow]) -> Counter[tuple[int, int]]:
    """Count, for each ordered response pair (a, b), the rankings that put a above b."""
    counts: Counter[tuple[int, int]] = Counter()
    for ranking in rankings:
        rank = _rank_of(ranking.order)
        for a, b in combinations(rank, 2):
            if rank[a] < rank[b]:
                counts[(a, b)] += 1
            elif rank[b] < rank[a]:
                counts[(b, a)] += 1
    return counts


def aggregate_all(
    rankings: list[RankingRow], prefs: list[PreferenceRow], *, pairs: str, min_agreement: float, dropped: Counter
) -> list[Pair]:
    """Keep every annotator's stored pairs, filtered by pair selection and agreement."""
    by_id = {r.id: r for r in rankings}
    tally = votes(rankings)
    out = []
    for pref in prefs:
        ranking = by_id.get(pref.ranking_id)
        if ranking is None:
            continue
        if not _selected(ranking.order, pref.chosen_id, pref.rejected_id, pairs):
            dropped["pair_selection"] += 1
            continue
        if tally[(pref.chosen_id, pref.rejected_id)] / len(rankings) < min_agreement:
            dropped["below_min_agreement"] += 1
            continue
        out.append(Pair(pref.chosen_id, pref.rejected_id, pref.margin, (ranking.id,), (ranking.annotator_id,), ranking.created_at))
    return out


def _groups_by_score(scores: dict[int, float]) -> tuple[tuple[int, ...], ...]:
    """Return tie groups, best first, of responses with equal (rounded) scores."""
    levels = sorted({round(s, SCORE_DECIMALS) for s in scores.values()}, reverse=True)
    return tuple(tuple(sorted(r for r, s in scores.items() if round(s, SCORE_DECIMALS) == level)) for level in levels)


def majority_order(rankings: list[RankingRow]) -> tuple[tuple[int, ...], ...]:
    """Order responses by Copeland score: majority wins minus majority losses."""
    tally = votes(rankings)
    responses = sorted({rid for r in rankings for g in r.order for rid in g})
    score = dict.fromkeys(responses, 0.0)
    for a, b in combinations(responses, 2):
        diff = (tally[(a, b)] > tally[(b, a)]) - (tally[(b, a)] > tally[(a, b)])
        score[a] += diff
        score[b] -= diff
    return _groups_by_score(score)


def _supporters(rankings: list[RankingRow], a: int, b: int) -> list[RankingRow]:
    result = []
    for ranking in rankings:
        rank = _rank_of(ranking.order)
        if a in rank and b in rank and rank[a] < rank[b]:
            result.append(ranking)
    return result


def _pair_from(rankings: list[RankingRow], a: int, b: int, margin: float) -> Pair:
    return Pair(
        a, b, margin,
        tuple(sorted(r.id for r in rankings)),
        tuple(sorted({r.annotator_id for r in rankings})),
        max(r.created_at for r in rankings),
    )


def aggregate_majority(
    rankings: list[RankingRow], prefs: list[PreferenceRow], *, pairs: str, min_agreement: float, dropped: Counter
) -> list[Pair]:
    """Keep, per response pair, the direction most rankings chose; margin = mean stored margin."""
    tally = votes(rankings)
    order = majority_order(rankings)
    responses = [rid for group in order for rid in group]
    margins: dict[tuple[int, int], list[float]] = {}
    for pref in prefs:
        margins.setdefault((pref.chosen_id, pref.rejected_id), []).append(pref.margin)
    out = []
    for a, b in combinations(responses, 2):
        if tally[(a, b)] == tally[(b, a)]:
            dropped["no_majority"] += 1
            continue
        if tally[(b, a)] > tally[(a, b)]:
            a, b = b, a
        if not _selected(order, a, b, pairs):
            dropped["pair_selection"] += 1
            continue
        if tally[(a, b)] / len(rankings) < min_agreement:
            dropped["below_min_agreement"] += 1
            continue
        stored = margins.get((a, b)) or [1.0]
        out.append(_pair_from(_supporters(rankings, a, b), a, b, round(sum(stored) / len(stored), SCORE_DECIMALS)))
    return out


def bradley_terry_scores(rankings: list[RankingRow]) -> dict[int, float]:
    """Fit log-strengths by the MM algorithm (Hunter 2004); ties count half a win each way."""
    responses = sorted({rid for r in rankings for g in r.order for rid in g})
    wins: Counter[tuple[int, int]] = Counter()
    for ranking in rankings:
        rank = _rank_of(ranking.order)
        for a, b in combinations(sorted(rank), 2):
            if rank[a] == rank[b]:
                wins[(a, b)] += 0.5
                wins[(b, a)] += 0.5
            else:
                wins[(a, b) if rank[a] < rank[b] else (b, a)] += 1
    for a, b in combinations(responses, 2):
        wins[(a, b)] += BT_PRIOR_WINS
        wins[(b, a)] += BT_PRIOR_WINS
    strength = dict.fromkeys(responses, 1.0)
    for _ in range(BT_MAX_ITERATIONS):
        updated = {}
        for i in responses:
            total_wins = sum(wins[(i, j)] for j in responses if j != i)
            denom = sum((wins[(i, j)] + wins[(j, i)]) / (strength[i] + strength[j]) for j in responses if j != i)
            updated[i] = total_wins / denom if denom else 1.0
        # Fix the scale (geometric mean 1) so scores are comparable and the fit is unique.
        log_mean = sum(math.log(v) for v in updated.values()) / len(updated)
        updated = {i: v / math.exp(log_mean) for i, v in updated.items()}
        change = max(abs(updated[i] - strength[i]) for i in responses)
        strength = updated
        if change < BT_TOLERANCE:
            break
    return {i: round(math.log(v), SCORE_DECIMALS) for i, v in strength.items()}


def aggregate_bradley_terry(
    rankings: list[RankingRow], prefs: list[PreferenceRow], *, pairs: str, min_agreement: float, dropped: Counter
) -> list[Pair]:
    """Rank responses by Bradley-Terry score; margin = score difference."""
    scores = bradley_terry_scores(rankings)
    order = _groups_by_score(scores)
    tally = votes(rankings)
    out = []
    for a, b in combinations([rid for group in order for rid in group], 2):
        if scores[a] == scores[b]:
            dropped["equal_scores"] += 1
            continue
        if not _selected(order, a, b, pairs):
            dropped["pair_selection"] += 1
            continue
        if tally[(a, b)] / len(rankings) < min_agreement:
            dropped["below_min_agreement"] += 1
            continue
        out.append(_pair_from(rankings, a, b, round(scores[a] - scores[b], SCORE_DECIMALS)))
    return out


AGGREGATORS = {"all": aggregate_all, "majority": aggregate_majority, "bradley_terry": aggregate_bradley_terry}


def aggregate(
    method: str, rankings: list[RankingRow], prefs: list[PreferenceRow], *, pairs: str, min_agreement: float, dropped: Counter
) -> list[Pair]:
    """Return the comparison's training pairs under the chosen method (empty without rankings)."""
    if not rankings:
        return []
    return AGGREGATORS[method](rankings, prefs, pairs=pairs, min_agreement=min_agreement, dropped=dropped)


def best_response(method: str, rankings: list[RankingRow]) -> int | None:
    """Return the single top response under the method, or None when the top is tied or empty."""
    if not rankings:
        return None
    order = _groups_by_score(bradley_terry_scores(rankings)) if method == "bradley_terry" else majority_order(rankings)
    return order[0][0] if order and len(order[0]) == 1 else None
