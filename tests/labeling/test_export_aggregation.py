"""Known answers for aggregation (all / majority / Bradley-Terry) and pair selection, by hand."""

from __future__ import annotations

import math
from collections import Counter
from datetime import UTC, datetime

import pytest

from labeling.exports.aggregation import (
    PreferenceRow,
    RankingRow,
    aggregate,
    best_response,
    bradley_terry_scores,
    majority_order,
    order_groups,
)
from labeling.exports.split import split_of

T0 = datetime(2025, 1, 1, tzinfo=UTC)
_pref_ids = iter(range(1, 10_000))


def ranking(rid: int, order: list, annotator: int | None = None) -> tuple[RankingRow, list[PreferenceRow]]:
    """Build a ranking and its stored pairs the way the labeling side does (margin = group gap)."""
    groups = order_groups(order)
    prefs = [
        PreferenceRow(next(_pref_ids), rid, a, b, float(j - i))
        for i, better in enumerate(groups)
        for j in range(i + 1, len(groups))
        for a in better
        for b in groups[j]
    ]
    return RankingRow(rid, annotator or rid, groups, T0.replace(day=rid)), prefs


def run(method: str, rankings: list, pairs: str = "all", min_agreement: float = 0.0) -> tuple[dict, Counter]:
    rows = [r for r, _ in rankings]
    prefs = [p for _, ps in rankings for p in ps]
    dropped: Counter = Counter()
    result = aggregate(method, rows, prefs, pairs=pairs, min_agreement=min_agreement, dropped=dropped)
    return {(p.chosen_id, p.rejected_id): p for p in result}, dropped


# One ranking with a tie in the middle: 1 > {2, 3} > 4.
TIED = [ranking(1, [[1], [2, 3], [4]])]


def test_all_keeps_every_pair_across_tie_groups_and_none_inside_a_tie():
    pairs, _ = run("all", TIED)
    assert {k: p.margin for k, p in pairs.items()} == {(1, 2): 1.0, (1, 3): 1.0, (1, 4): 2.0, (2, 4): 1.0, (3, 4): 1.0}


def test_best_vs_rest_keeps_only_pairs_won_by_the_top_group():
    pairs, dropped = run("all", TIED, pairs="best_vs_rest")
    assert set(pairs) == {(1, 2), (1, 3), (1, 4)}
    assert dropped["pair_selection"] == 2


def test_best_vs_worst_keeps_only_top_against_bottom():
    pairs, dropped = run("all", TIED, pairs="best_vs_worst")
    assert set(pairs) == {(1, 4)}
    assert dropped["pair_selection"] == 4


def test_best_vs_worst_pairs_every_member_of_tied_top_and_bottom_groups():
    pairs, _ = run("all", [ranking(1, [[1, 2], [3], [4, 5]])], pairs="best_vs_worst")
    assert set(pairs) == {(1, 4), (1, 5), (2, 4), (2, 5)}


# Three annotators disagree: 1 beats 2 two to one, 1 beats 3 three to none, 2 beats 3 two to one.
DISAGREE = [ranking(1, [[1], [2], [3]]), ranking(2, [[1], [3], [2]]), ranking(3, [[2], [1], [3]])]


def test_majority_keeps_majority_direction_with_mean_margin_and_its_supporters():
    pairs, _ = run("majority", DISAGREE)
    assert set(pairs) == {(1, 2), (1, 3), (2, 3)}
    assert pairs[(1, 2)].margin == 1.5  # gaps 1 (ranking 1) and 2 (ranking 2)
    assert pairs[(1, 3)].margin == round(4 / 3, 6)  # gaps 2, 1, 1
    assert pairs[(1, 2)].ranking_ids == (1, 2)
    assert pairs[(1, 3)].ranking_ids == (1, 2, 3)
    assert pairs[(2, 3)].ranking_ids == (1, 3)


def test_majority_min_agreement_drops_two_to_one_pairs():
    pairs, dropped = run("majority", DISAGREE, min_agreement=0.7)
    assert set(pairs) == {(1, 3)}
    assert dropped["below_min_agreement"] == 2


def test_majority_orders_by_copeland_for_pair_selection():
    assert majority_order([r for r, _ in DISAGREE]) == ((1,), (2,), (3,))
    assert set(run("majority", DISAGREE, pairs="best_vs_worst")[0]) == {(1, 3)}
    assert set(run("majority", DISAGREE, pairs="best_vs_rest")[0]) == {(1, 2), (1, 3)}


def test_all_keeps_disagreement_visible_while_majority_drops_an_even_split():
    split = [ranking(1, [[1], [2]]), ranking(2, [[2], [1]])]
    assert set(run("all", split)[0]) == {(1, 2), (2, 1)}
    pairs, dropped = run("majority", split)
    assert pairs == {} and dropped["no_majority"] == 1
    assert run("all", split, min_agreement=0.6)[0] == {}


def test_all_min_agreement_keeps_each_annotators_copy_of_well_supported_pairs():
    dropped: Counter = Counter()
    result = aggregate(
        "all", [r for r, _ in DISAGREE], [p for _, ps in DISAGREE for p in ps], pairs="all", min_agreement=0.7, dropped=dropped
    )
    assert sorted((p.chosen_id, p.rejected_id, p.ranking_ids) for p in result) == [(1, 3, (1,)), (1, 3, (2,)), (1, 3, (3,))]
    assert dropped["below_min_agreement"] == 6  # 1>2 twice, 2>1, 2>3 twice, 3>2


def test_bradley_terry_three_to_one_gives_log_odds_with_half_win_prior():
    rankings = [ranking(i, [[1], [2]]) for i in (1, 2, 3)] + [ranking(4, [[2], [1]])]
    pairs, _ = run("bradley_terry", rankings)
    assert set(pairs) == {(1, 2)}
    # Two items: p1/p2 = wins1/wins2 = (3 + 0.5) / (1 + 0.5).
    assert pairs[(1, 2)].margin == pytest.approx(math.log(3.5 / 1.5), abs=1e-6)
    assert pairs[(1, 2)].ranking_ids == (1, 2, 3, 4)


def test_bradley_terry_counts_ties_half_and_emits_no_pair_between_equal_scores():
    pairs, dropped = run("bradley_terry", [ranking(1, [[1], [2, 3]])])
    # By symmetry p2 = p3 = q; the ML equation for 1 (3 wins in 4 games) gives p1 = 3q.
    assert set(pairs) == {(1, 2), (1, 3)}
    assert pairs[(1, 2)].margin == pytest.approx(math.log(3), abs=1e-6)
    assert dropped["equal_scores"] == 1


def test_bradley_terry_scores_follow_the_votes():
    scores = bradley_terry_scores([r for r, _ in DISAGREE])
    assert scores[1] > scores[2] > scores[3]
    assert sum(scores.values()) == pytest.approx(0, abs=1e-5)  # centred


def test_best_response_is_none_when_the_top_is_tied():
    assert best_response("majority", [r for r, _ in DISAGREE]) == 1
    assert best_response("all", [ranking(1, [[1, 2], [3]])[0]]) is None


def test_split_is_stable_and_seeded():
    hashes = [f"{i:064x}" for i in range(400)]
    first = [split_of(h, seed=7, test_fraction=0.2) for h in hashes]
    assert first == [split_of(h, seed=7, test_fraction=0.2) for h in hashes]
    assert 40 <= first.count("test") <= 120
    assert first != [split_of(h, seed=8, test_fraction=0.2) for h in hashes]
    assert {split_of(h, seed=7, test_fraction=0.0) for h in hashes} == {"train"}
