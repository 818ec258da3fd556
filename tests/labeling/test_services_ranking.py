"""ranking_submit and preferences_from_order: rankings become pairwise preferences, atomically."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from labeling.models import Assignment, AssignmentStatus, Comparison, Preference, Ranking
from labeling.services import (
    RankingConflict,
    RankingError,
    comparison_claim_next,
    preferences_from_order,
    ranking_reopen_last,
    ranking_submit,
)
from tests.factories import add_member, make_comparison, make_project, make_user

pytestmark = pytest.mark.django_db


def ids(comparison: Comparison) -> list[int]:
    return list(comparison.responses.order_by("position").values_list("id", flat=True))


def claimed(project, user, *, new: bool = True):
    """Lease a comparison to the user (a fresh one unless new=False) and return it with its response ids."""
    if new:
        make_comparison(project)
    assignment = comparison_claim_next(project=project, annotator=user)
    return assignment.comparison, ids(assignment.comparison)


def pairs(ranking: Ranking) -> set[tuple[int, int, float]]:
    return set(ranking.preferences.values_list("chosen_id", "rejected_id", "margin"))


def test_preferences_from_order_gives_every_cross_group_pair_with_rank_gap_margin():
    assert sorted(preferences_from_order([[3], [1, 4], [2]])) == [
        (1, 2, 1.0), (3, 1, 1.0), (3, 2, 2.0), (3, 4, 1.0), (4, 2, 1.0)
    ]
    assert preferences_from_order([[1, 2, 3]]) == []
    assert preferences_from_order([[1], [2]], strength=3) == [(1, 2, 3.0)]


def test_strict_order_stores_ranking_with_all_pairs_and_completes_comparison(project, annotator):
    comparison, (a, b, c, d) = claimed(project, annotator)
    ranking, created = ranking_submit(comparison=comparison, annotator=annotator, data={"order": [[c], [a], [d], [b]]})
    assert created
    assert len(pairs(ranking)) == 6
    assert (c, b, 3.0) in pairs(ranking) and (a, d, 1.0) in pairs(ranking)
    comparison.refresh_from_db()
    assert (comparison.ranking_count, comparison.complete) == (1, True)
    assert Assignment.objects.get(comparison=comparison).status == AssignmentStatus.SUBMITTED
    assert sorted(ranking.display_order) == sorted([a, b, c, d])  # what was shown is recorded


def test_ties_give_no_pair_between_tied_responses(project, annotator):
    comparison, (a, b, c, d) = claimed(project, annotator)
    ranking, _ = ranking_submit(comparison=comparison, annotator=annotator, data={"order": [[a, b], [c, d]]})
    assert pairs(ranking) == {(a, c, 1.0), (a, d, 1.0), (b, c, 1.0), (b, d, 1.0)}


def test_flat_list_is_an_order_without_ties(project, annotator):
    comparison, (a, b, c, d) = claimed(project, annotator)
    ranking, _ = ranking_submit(comparison=comparison, annotator=annotator, data={"order": [d, c, b, a]})
    assert ranking.order == [[d], [c], [b], [a]] and len(pairs(ranking)) == 6


@pytest.mark.parametrize(
    ("order", "message"),
    [
        (lambda a, b, c, d, x: [[a], [b], [c]], "missing: "),
        (lambda a, b, c, d, x: [[a], [b], [c], [d], [a]], "more than once"),
        (lambda a, b, c, d, x: [[a], [b], [c], [x]], "not part of comparison"),
        (lambda a, b, c, d, x: [], "non-empty"),
        (lambda a, b, c, d, x: "a > b", "non-empty list"),
        (lambda a, b, c, d, x: [["1"], [b], [c], [d]], "integers"),
        (lambda a, b, c, d, x: [[True], [b], [c], [d]], "integers"),
        (lambda a, b, c, d, x: [[a, [b]], [c], [d]], "integers"),
        (lambda a, b, c, d, x: None, "non-empty"),
    ],
    ids=["missing", "duplicate", "foreign", "empty", "string", "string-id", "bool-id", "nested", "none"],
)
def test_malformed_order_is_refused_naming_the_field_and_writes_nothing(project, annotator, order, message):
    comparison, (a, b, c, d) = claimed(project, annotator)
    foreign = ids(make_comparison(project))[0]
    with pytest.raises(RankingError) as exc:
        ranking_submit(comparison=comparison, annotator=annotator, data={"order": order(a, b, c, d, foreign)})
    assert exc.value.field == "order" and message in exc.value.message
    assert Ranking.objects.count() == 0 and Preference.objects.count() == 0
    assert Comparison.objects.get(pk=comparison.pk).ranking_count == 0


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"flags": "unsafe"}, "flags"),
        ({"flags": ["rude"]}, "flags"),
        ({"note": 5}, "note"),
        ({"note": "x" * 5001}, "note"),
        ({"time_spent_ms": -1}, "time_spent_ms"),
        ({"time_spent_ms": "12"}, "time_spent_ms"),
        ({"idempotency_key": "k" * 101}, "idempotency_key"),
        ({"idempotency_key": 12}, "idempotency_key"),
        ({"strength": 2}, "strength"),  # only K = 2 projects take a strength
    ],
)
def test_bad_scalars_are_refused_naming_the_field(project, annotator, extra, field):
    comparison, order = claimed(project, annotator)
    with pytest.raises(RankingError) as exc:
        ranking_submit(comparison=comparison, annotator=annotator, data={"order": order, **extra})
    assert exc.value.field == field
    assert Ranking.objects.count() == 0


def test_ties_are_refused_when_the_project_does_not_allow_them_unless_all_bad():
    project = make_project(allow_ties=False)
    user = make_user()
    add_member(project, user)
    comparison, (a, b, c, d) = claimed(project, user)
    with pytest.raises(RankingError, match="ties are not allowed"):
        ranking_submit(comparison=comparison, annotator=user, data={"order": [[a, b], [c], [d]]})
    ranking, _ = ranking_submit(comparison=comparison, annotator=user, data={"order": [[a, b, c, d]], "flags": ["all_bad"]})
    assert ranking.flags == ["all_bad"] and pairs(ranking) == set()


def test_pairwise_strength_becomes_the_margin_and_a_tie_drops_it():
    project = make_project(k=2, overlap=2)
    first, second = make_user(), make_user()
    add_member(project, first), add_member(project, second)
    comparison, (a, b) = claimed(project, first)
    ranking, _ = ranking_submit(comparison=comparison, annotator=first, data={"order": [[b], [a]], "strength": 3})
    assert pairs(ranking) == {(b, a, 3.0)}
    comparison, (a, b) = claimed(project, second, new=False)
    tie, _ = ranking_submit(comparison=comparison, annotator=second, data={"order": [[a, b]], "strength": 2})
    assert tie.strength is None and pairs(tie) == set()
    third = make_comparison(project)
    with pytest.raises(RankingError, match="1 \\(slightly\\)"):
        ranking_submit(comparison=third, annotator=first, data={"order": ids(third), "strength": 4})


def test_same_idempotency_key_returns_the_stored_ranking(project, annotator):
    comparison, order = claimed(project, annotator)
    data = {"order": [[i] for i in order], "idempotency_key": "abc"}
    first, created = ranking_submit(comparison=comparison, annotator=annotator, data=data)
    again, created_again = ranking_submit(comparison=comparison, annotator=annotator, data=data)
    assert (created, created_again, again.pk) == (True, False, first.pk)
    assert Ranking.objects.count() == 1 and Preference.objects.count() == 6
    other = make_comparison(project)
    with pytest.raises(RankingError) as exc:
        ranking_submit(comparison=other, annotator=annotator, data={"order": ids(other), "idempotency_key": "abc"})
    assert exc.value.field == "idempotency_key"


def test_second_submit_without_replace_is_a_conflict_and_replace_rewrites_pairs(project, annotator):
    comparison, (a, b, c, d) = claimed(project, annotator)
    ranking_submit(comparison=comparison, annotator=annotator, data={"order": [a, b, c, d], "time_spent_ms": 1000})
    with pytest.raises(RankingConflict, match="already ranked"):
        ranking_submit(comparison=comparison, annotator=annotator, data={"order": [d, c, b, a]})
    edited, created = ranking_submit(
        comparison=comparison, annotator=annotator, data={"order": [[d], [c, b, a]], "time_spent_ms": 500}, replace=True
    )
    assert not created and edited.order == [[d], [c, b, a]] and edited.time_spent_ms == 1500
    assert pairs(edited) == {(d, c, 1.0), (d, b, 1.0), (d, a, 1.0)}
    assert Comparison.objects.get(pk=comparison.pk).ranking_count == 1  # editing does not count twice
    assert ranking_reopen_last(project=project, annotator=annotator).pk == edited.pk


def test_late_ranking_is_stored_while_the_comparison_has_room(project, annotator):
    comparison, order = claimed(project, annotator)
    Assignment.objects.update(expires_at=timezone.now() - timedelta(minutes=1))
    ranking, created = ranking_submit(comparison=comparison, annotator=annotator, data={"order": order})
    assert created and Comparison.objects.get(pk=comparison.pk).complete


def test_late_ranking_after_someone_else_took_the_lease_is_a_conflict(project, annotator):
    comparison, order = claimed(project, annotator)
    Assignment.objects.update(expires_at=timezone.now() - timedelta(minutes=1))
    rival = make_user()
    add_member(project, rival)
    assert comparison_claim_next(project=project, annotator=rival).comparison_id == comparison.pk  # the pool took it back
    with pytest.raises(RankingConflict, match="lease on this comparison expired"):
        ranking_submit(comparison=comparison, annotator=annotator, data={"order": order})
    assert Ranking.objects.count() == 0


def test_comparison_completes_only_after_overlap_rankings():
    project = make_project(k=2, overlap=2)
    users = [make_user(), make_user()]
    for user in users:
        add_member(project, user)
    make_comparison(project)
    for n, user in enumerate(users, start=1):
        comparison, order = claimed(project, user, new=False)
        ranking_submit(comparison=comparison, annotator=user, data={"order": order})
        comparison.refresh_from_db()
        assert (comparison.ranking_count, comparison.complete) == (n, n == 2)
