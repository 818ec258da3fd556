"""Annotator quality: agreement, position bias, speed, click-through and gold accuracy.

Pure functions over plain ranking rows (no database), so each metric has a known-answer test;
`labeling.selectors.project_quality` loads the rows. Definitions (also on the dashboard):

- Krippendorff's alpha (ordinal) over the project: a unit is one response of one comparison,
  its values are the ranks the annotators gave it (tied responses share their average rank).
  1 = perfect agreement, 0 = what chance gives, below 0 = systematic disagreement.
  Krippendorff, "Computing Krippendorff's Alpha-Reliability" (2011), coincidence-matrix form.
- Agreement with the others, per annotator: on comparisons that others ranked too, for every
  response pair the annotator ordered, each other annotator who ordered it too casts a vote;
  the share of those votes that match the annotator's order (ties on either side left out).
  With one other annotator it is their pairwise agreement; with many, agreement with the crowd.
- Position bias, per annotator: how often the response shown first ends up in the best group,
  against what random display order gives (best-group size / K). A large positive gap means
  "picks whatever is on top".
- Speed: the annotator's median time per ranking against the project's median; fast outliers
  are below SPEED_OUTLIER_RATIO of it.
- Click-through: a ranking submitted exactly in the order shown (no card moved). By chance that
  happens 1 in K! times; a high share means the annotator is not reading.
- Gold accuracy: on comparisons imported with a known best response, the share of the
  annotator's rankings that put that response in their best group.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import combinations

Order = Sequence[Sequence[int]]  # tie groups of response ids, best first

# A median under a third of the project's is far outside normal reading speed (the spread of
# annotator medians on honest work is about 2x either way); it is worth a manager's look.
SPEED_OUTLIER_RATIO = 1 / 3
# With K >= 3 chance gives at most 1/6 of rankings in display order; a third is well above it.
CLICK_THROUGH_ALERT = 1 / 3
MIN_RANKINGS_FOR_ALERTS = 5  # below this, shares say little about a person


@dataclass(frozen=True)
class RankingRow:
    comparison_id: int
    annotator: str
    order: Order
    display_order: Sequence[int]
    time_spent_ms: int = 0
    gold_response_id: int | None = None


@dataclass(frozen=True)
class AnnotatorQuality:
    annotator: str
    rankings: int
    agreement: float | None  # share of the other annotators' pair votes that match this annotator's
    agreement_pairs: int  # votes compared
    first_shown_best: float | None  # share of rankings whose best group holds the first-shown response
    first_shown_expected: float | None  # the same share under random display order
    median_ms: float | None
    click_through: float | None
    gold_accuracy: float | None
    gold_rankings: int
    too_fast: bool

    @property
    def position_bias(self) -> float | None:
        if self.first_shown_best is None or self.first_shown_expected is None:
            return None
        return self.first_shown_best - self.first_shown_expected

    @property
    def alerts(self) -> list[str]:
        """Say what looks wrong about this annotator, in words for the dashboard."""
        found = []
        if self.too_fast:
            found.append("very fast")
        if self.rankings >= MIN_RANKINGS_FOR_ALERTS and (self.click_through or 0) >= CLICK_THROUGH_ALERT:
            found.append("submits the order shown")
        if self.rankings >= MIN_RANKINGS_FOR_ALERTS and (self.position_bias or 0) >= 0.3:
            found.append("favours the first card")
        return found


@dataclass(frozen=True)
class QualityReport:
    alpha: float | None
    alpha_units: int  # responses ranked by two or more annotators
    annotators: list[AnnotatorQuality]


def average_ranks(order: Order) -> dict[int, float]:
    """Give each response its 1-based place; tied responses share the average of their places."""
    ranks: dict[int, float] = {}
    place = 1
    for group in order:
        shared = place + (len(group) - 1) / 2
        ranks.update((rid, shared) for rid in group)
        place += len(group)
    return ranks


def _delta(metric: str, c: float, k: float, marginals: dict[float, int], values: list[float]) -> float:
    if metric == "nominal":
        return 0.0 if c == k else 1.0
    if metric == "interval":
        return (c - k) ** 2
    lo, hi = (c, k) if c <= k else (k, c)  # ordinal: ranks of the values between c and k
    between = sum(marginals[v] for v in values if lo <= v <= hi)
    return (between - (marginals[c] + marginals[k]) / 2) ** 2


def krippendorff_alpha(units: Iterable[Sequence[float]], metric: str = "ordinal") -> float | None:
    """Return Krippendorff's alpha for units of coder values (None when nothing is pairable)."""
    coincidences: Counter[tuple[float, float]] = Counter()
    for unit in units:
        m = len(unit)
        if m < 2:
            continue  # a value nobody else coded carries no information about agreement
        for i, j in ((i, j) for i in range(m) for j in range(m) if i != j):
            coincidences[(unit[i], unit[j])] += 1 / (m - 1)
    marginals: Counter[float] = Counter()
    for (c, _), weight in coincidences.items():
        marginals[c] += weight
    n = sum(marginals.values())
    if n <= 1:
        return None
    values = sorted(marginals)
    observed = sum(w * _delta(metric, c, k, marginals, values) for (c, k), w in coincidences.items())
    expected = sum(
        marginals[c] * marginals[k] * _delta(metric, c, k, marginals, values) for c in values for k in values
    )
    if expected == 0:
        return 1.0 if observed == 0 else None  # everyone gave one value: agreement, no variation
    return 1 - (n - 1) * observed / expected


def ranking_alpha(rows: Iterable[RankingRow]) -> tuple[float | None, int]:
    """Return (ordinal alpha over every response's ranks, units with two or more ranks)."""
    ranks: dict[tuple[int, int], list[float]] = defaultdict(list)
    for row in rows:
        for rid, rank in average_ranks(row.order).items():
            ranks[(row.comparison_id, rid)].append(rank)
    units = [values for values in ranks.values() if len(values) >= 2]
    return krippendorff_alpha(units, "ordinal"), len(units)


def _pair_votes(order: Order) -> dict[tuple[int, int], int]:
    """Return +1 / -1 for each (low id, high id) pair the ranking orders strictly (ties left out)."""
    ranks = average_ranks(order)
    votes = {}
    for a, b in combinations(sorted(ranks), 2):
        if ranks[a] != ranks[b]:
            votes[(a, b)] = 1 if ranks[a] < ranks[b] else -1
    return votes


def consensus_agreement(rows: Iterable[RankingRow]) -> dict[str, tuple[float, int]]:
    """Return annotator -> (other annotators' pair votes matching theirs, other votes compared).

    For every response pair the annotator ordered strictly, each other annotator who also
    ordered it strictly casts one vote; the annotator's agreement is the share of those votes
    that go their way (ties on either side are left out).
    """
    by_comparison: dict[int, list[RankingRow]] = defaultdict(list)
    for row in rows:
        by_comparison[row.comparison_id].append(row)
    tally: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for group in by_comparison.values():
        votes = [(row.annotator, _pair_votes(row.order)) for row in group]
        for n, (annotator, pairs) in enumerate(votes):
            counts = tally[annotator]
            for m, (_, others) in enumerate(votes):
                if m == n:
                    continue
                for pair in pairs.keys() & others.keys():
                    counts[1] += 1
                    counts[0] += pairs[pair] == others[pair]
    return {name: (agree, total) for name, (agree, total) in tally.items()}


def first_shown_best(row: RankingRow) -> tuple[bool, float] | None:
    """Return (first-shown response is in the best group, that chance under random order)."""
    if not row.order or not row.display_order:
        return None
    best = row.order[0]
    return row.display_order[0] in best, len(best) / len(row.display_order)


def is_click_through(row: RankingRow) -> bool:
    """Tell whether the ranking is exactly the order shown, one response per place."""
    return bool(row.display_order) and [list(g) for g in row.order] == [[rid] for rid in row.display_order]


def gold_hit(row: RankingRow) -> bool | None:
    """Tell whether a gold comparison's known best response is in the best group (None: not gold)."""
    if row.gold_response_id is None or not row.order:
        return None
    return row.gold_response_id in row.order[0]


def _share(flags: list[bool]) -> float | None:
    return sum(flags) / len(flags) if flags else None


def _annotator_quality(name: str, rows: list[RankingRow], agreement: tuple[int, int], project_median: float | None) -> AnnotatorQuality:
    positions = [p for p in map(first_shown_best, rows) if p is not None]
    gold = [hit for hit in map(gold_hit, rows) if hit is not None]
    median = statistics.median(r.time_spent_ms for r in rows) if rows else None
    too_fast = bool(
        project_median and median is not None and len(rows) >= MIN_RANKINGS_FOR_ALERTS
        and median < SPEED_OUTLIER_RATIO * project_median
    )
    agree, pairs = agreement
    return AnnotatorQuality(
        annotator=name,
        rankings=len(rows),
        agreement=agree / pairs if pairs else None,
        agreement_pairs=pairs,
        first_shown_best=_share([hit for hit, _ in positions]),
        first_shown_expected=statistics.fmean(chance for _, chance in positions) if positions else None,
        median_ms=median,
        click_through=_share([is_click_through(r) for r in rows if r.display_order]),
        gold_accuracy=_share(gold),
        gold_rankings=len(gold),
        too_fast=too_fast,
    )


def quality_report(rows: Sequence[RankingRow]) -> QualityReport:
    """Compute every metric of the module docstring over a project's rankings."""
    alpha, units = ranking_alpha(rows)
    agreement = consensus_agreement(rows)
    times = [r.time_spent_ms for r in rows if r.time_spent_ms > 0]
    project_median = statistics.median(times) if times else None
    by_annotator: dict[str, list[RankingRow]] = defaultdict(list)
    for row in rows:
        by_annotator[row.annotator].append(row)
    annotators = [
        _annotator_quality(name, mine, agreement.get(name, (0, 0)), project_median)
        for name, mine in sorted(by_annotator.items())
    ]
    return QualityReport(alpha=None if alpha is None or math.isnan(alpha) else alpha, alpha_units=units, annotators=annotators)


def comparison_agreement(orders: Sequence[Order]) -> float | None:
    """Return how far one comparison's rankings agree: over every two rankings, the share of
    response pairs both order strictly that they order the same way (None below two rankings)."""
    votes = [_pair_votes(order) for order in orders]
    same = compared = 0
    for a, b in combinations(votes, 2):
        for pair in a.keys() & b.keys():
            compared += 1
            same += a[pair] == b[pair]
    return same / compared if compared else None
