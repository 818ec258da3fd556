"""comparison_claim_next and comparison_skip: who gets which comparison, and for how long."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from labeling.models import Assignment, AssignmentStatus
from labeling.services import comparison_claim_next, comparison_skip, ranking_submit
from tests.factories import add_member, make_comparison, make_project, make_user

pytestmark = pytest.mark.django_db


def members(project, n: int):
    users = [make_user() for _ in range(n)]
    for user in users:
        add_member(project, user)
    return users


def rank(assignment, user) -> None:
    order = [[rid] for rid in assignment.display_order]
    ranking_submit(comparison=assignment.comparison, annotator=user, data={"order": order})


def test_claim_leases_the_oldest_open_comparison_with_a_shuffled_display_order():
    project = make_project(k=4, lease_minutes=10)
    (user,) = members(project, 1)
    first, _ = make_comparison(project), make_comparison(project)
    assignment = comparison_claim_next(project=project, annotator=user)
    assert assignment.comparison_id == first.pk and assignment.status == AssignmentStatus.ACTIVE
    assert sorted(assignment.display_order) == sorted(first.responses.values_list("id", flat=True))
    assert timedelta(minutes=9) < assignment.expires_at - timezone.now() <= timedelta(minutes=10)


def test_claiming_again_renews_the_same_lease_instead_of_taking_another():
    project = make_project()
    (user,) = members(project, 1)
    make_comparison(project), make_comparison(project)
    first = comparison_claim_next(project=project, annotator=user)
    again = comparison_claim_next(project=project, annotator=user)
    assert again.pk == first.pk and again.expires_at >= first.expires_at
    assert Assignment.objects.count() == 1


def test_overlap_one_gives_two_annotators_different_comparisons_and_then_none():
    project = make_project(overlap=1)
    a, b, c = members(project, 3)
    make_comparison(project), make_comparison(project)
    assert comparison_claim_next(project=project, annotator=a).comparison_id != comparison_claim_next(
        project=project, annotator=b
    ).comparison_id
    assert comparison_claim_next(project=project, annotator=c) is None


def test_overlap_two_lets_a_second_annotator_join_the_started_comparison():
    project = make_project(overlap=2)
    a, b, c = members(project, 3)
    first, second = make_comparison(project), make_comparison(project)
    assert comparison_claim_next(project=project, annotator=a).comparison_id == first.pk
    assert comparison_claim_next(project=project, annotator=b).comparison_id == first.pk
    assert comparison_claim_next(project=project, annotator=c).comparison_id == second.pk


def test_an_annotator_never_gets_a_comparison_they_ranked_or_skipped():
    project = make_project(overlap=3)
    (user,) = members(project, 1)
    ranked, skipped = make_comparison(project), make_comparison(project)
    rank(comparison_claim_next(project=project, annotator=user), user)
    skipped_lease = comparison_claim_next(project=project, annotator=user)
    assert skipped_lease.comparison_id == skipped.pk
    comparison_skip(comparison=skipped, annotator=user)
    assert comparison_claim_next(project=project, annotator=user) is None
    assert ranked.rankings.count() == 1


def test_skipping_returns_the_comparison_to_the_pool_for_others():
    project = make_project(overlap=1)
    a, b = members(project, 2)
    only = make_comparison(project)
    comparison_claim_next(project=project, annotator=a)
    assert comparison_claim_next(project=project, annotator=b) is None
    comparison_skip(comparison=only, annotator=a)
    assert comparison_claim_next(project=project, annotator=b).comparison_id == only.pk


def test_expired_leases_return_to_the_pool():
    project = make_project(overlap=1)
    a, b = members(project, 2)
    only = make_comparison(project)
    comparison_claim_next(project=project, annotator=a)
    Assignment.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert comparison_claim_next(project=project, annotator=b).comparison_id == only.pk


def test_complete_comparisons_and_other_projects_are_never_offered():
    project, other = make_project(overlap=1), make_project(overlap=1)
    a, b = members(project, 2)
    make_comparison(project), make_comparison(other)
    rank(comparison_claim_next(project=project, annotator=a), a)
    assert comparison_claim_next(project=project, annotator=b) is None
