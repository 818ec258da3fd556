"""Known answers for every quality metric (labeling.quality), and the dashboard showing them."""

from __future__ import annotations

import pytest
from django.urls import reverse

from labeling.models import Ranking
from labeling.quality import (
    RankingRow,
    average_ranks,
    consensus_agreement,
    krippendorff_alpha,
    quality_report,
    ranking_alpha,
)
from tests.factories import add_member, make_comparison, make_project, make_user

# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C: 4 coders, 12
# units, missing values left out. Published: nominal 0.743, ordinal 0.815, interval 0.849.
_ = None
KRIPPENDORFF_2011 = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, _, _, _],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, _, 3],
    [_, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, _],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, _],
]


def _units(matrix):
    return [[row[u] for row in matrix if row[u] is not None] for u in range(len(matrix[0]))]


@pytest.mark.parametrize(("metric", "published"), [("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849)])
def test_krippendorff_alpha_matches_the_published_example(metric, published):
    assert round(krippendorff_alpha(_units(KRIPPENDORFF_2011), metric), 3) == published


def test_alpha_is_one_for_identical_rankings_and_negative_for_reversed_ones():
    same = [RankingRow(1, name, [[10], [11], [12]], [10, 11, 12]) for name in ("ann", "bob")]
    assert ranking_alpha(same) == (1.0, 3)
    reversed_ = [RankingRow(1, "ann", [[10], [11], [12]], []), RankingRow(1, "bob", [[12], [11], [10]], [])]
    alpha, units = ranking_alpha(reversed_)
    assert units == 3 and alpha < 0
    assert ranking_alpha([RankingRow(1, "ann", [[10], [11]], [])]) == (None, 0)  # nobody to agree with


def test_tied_responses_share_their_average_rank():
    assert average_ranks([[7], [8, 9, 10], [11]]) == {7: 1.0, 8: 3.0, 9: 3.0, 10: 3.0, 11: 5.0}


def test_agreement_is_the_share_of_other_annotators_pair_votes_that_match():
    rows = [
        RankingRow(1, "ann", [[1], [2], [3]], []),  # 1>2, 1>3, 2>3
        RankingRow(1, "bob", [[1], [2], [3]], []),
        RankingRow(1, "cat", [[3], [2], [1]], []),  # every pair the other way
    ]
    result = consensus_agreement(rows)
    assert result["ann"] == (3, 6) and result["bob"] == (3, 6)  # bob agrees on 3 pairs, cat on none
    assert result["cat"] == (0, 6)
    rows.append(RankingRow(1, "dan", [[1], [2, 3]], []))  # ties 2 and 3: that pair is left out for dan
    result = consensus_agreement(rows)
    assert result["dan"] == (4, 6)  # 1>2 and 1>3 with ann and bob (4 votes), against cat (2 votes)
    assert result["ann"] == (5, 8) and result["cat"] == (0, 8)


def test_position_bias_click_through_and_gold_per_annotator():
    rows = []
    for c in range(6):
        shown = [c * 10 + 1, c * 10 + 2, c * 10 + 3]
        rows.append(RankingRow(c, "lazy", [[shown[0]], [shown[1]], [shown[2]]], shown, 800, gold_response_id=shown[2]))
        rows.append(RankingRow(c, "care", [[shown[2]], [shown[0], shown[1]]], shown, 9000, gold_response_id=shown[2]))
    report = quality_report(rows)
    lazy, care = sorted(report.annotators, key=lambda a: a.annotator)[1], sorted(report.annotators, key=lambda a: a.annotator)[0]
    assert lazy.annotator == "lazy" and care.annotator == "care"
    assert lazy.first_shown_best == 1.0 and lazy.first_shown_expected == pytest.approx(1 / 3)
    assert lazy.position_bias == pytest.approx(2 / 3) and care.first_shown_best == 0.0
    assert lazy.click_through == 1.0 and care.click_through == 0.0
    assert lazy.gold_accuracy == 0.0 and care.gold_accuracy == 1.0 and care.gold_rankings == 6
    assert lazy.median_ms == 800 and lazy.too_fast and not care.too_fast  # project median 4900 ms
    assert lazy.alerts == ["very fast", "submits the order shown", "favours the first card"] and care.alerts == []


def test_dashboard_shows_alpha_and_each_annotators_agreement(client, db):
    project = make_project(k=3, overlap=3)
    manager = make_user("lead")
    add_member(project, manager, "manager")
    people = [make_user(n) for n in ("ann", "bob", "cat")]
    for user in people:
        add_member(project, user)
    for _ in range(2):
        comparison = make_comparison(project)
        a, b, c = comparison.responses.values_list("pk", flat=True)
        for user, order in zip(people, [[[a], [b], [c]], [[a], [b], [c]], [[c], [b], [a]]], strict=True):
            Ranking.objects.create(comparison=comparison, annotator=user, order=order, display_order=[a, b, c])
    client.force_login(manager)
    body = client.get(reverse("labeling:project-dashboard", args=[project.pk])).content.decode()
    assert 'data-testid="alpha">-0.' in body  # two agree, one reverses every pair: below chance
    assert '<tr data-annotator="cat">' in body
    cat_row = body.split('<tr data-annotator="cat">')[1].split("</tr>")[0]
    assert "0%" in cat_row and "of 12 pairs" in cat_row  # 3 pairs x 2 others x 2 comparisons, none agreeing
