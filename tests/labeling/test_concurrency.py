"""Annotators racing each other: leases, overlap, double submits and rollback.

Real threads with their own database connections (transaction=True, so each thread sees the
others' commits). The PostgreSQL tests need DATABASE_URL; the rest run on SQLite as well.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any
from unittest import mock

import pytest
from django.db import DatabaseError, connection, connections

from labeling.models import Assignment, AssignmentStatus, Comparison, Preference, Ranking
from labeling.services import RankingConflict, RankingError, comparison_claim_next, ranking_submit
from labeling.services import ranking as ranking_module
from tests.factories import add_member, make_comparison, make_lease, make_project, make_user


def run_threads(target: Callable[[int], Any], n: int) -> list[Any]:
    """Run target(i) in n threads started together; return results (or the exceptions raised)."""
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n

    def work(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[i] = target(i)
        except Exception as exc:  # noqa: BLE001 - reported to the test as a value
            results[i] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    return results


def setup(*, comparisons: int, annotators: int, overlap: int, k: int = 2):
    project = make_project(k=k, overlap=overlap)
    users = [make_user() for _ in range(annotators)]
    for user in users:
        add_member(project, user)
    items = [make_comparison(project) for _ in range(comparisons)]
    return project, users, items


def rank_loop(project, user, limit: int = 50) -> int:
    """Claim and submit until nothing is left; return how many rankings were stored."""
    stored = 0
    for _ in range(limit):
        assignment = comparison_claim_next(project=project, annotator=user)
        if assignment is None:
            return stored
        order = [[rid] for rid in assignment.display_order]
        ranking_submit(comparison=assignment.comparison, annotator=user, data={"order": order})
        stored += 1
    return stored


def assert_no_errors(results: list[Any]) -> None:
    errors = [r for r in results if isinstance(r, Exception)]
    assert not errors, f"{len(errors)} thread(s) failed, first: {errors[0]!r}"


@pytest.mark.django_db(transaction=True)
@pytest.mark.postgres
@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="needs PostgreSQL (DATABASE_URL)")
@pytest.mark.parametrize("attempt", range(3))
def test_twenty_threads_claiming_with_overlap_one_get_twenty_distinct_comparisons(attempt):
    project, users, _items = setup(comparisons=25, annotators=20, overlap=1)
    results = run_threads(lambda i: comparison_claim_next(project=project, annotator=users[i]), 20)
    assert_no_errors(results)
    claimed = [a.comparison_id for a in results]
    assert len(set(claimed)) == 20
    assert Assignment.objects.filter(status=AssignmentStatus.ACTIVE).count() == 20


@pytest.mark.django_db(transaction=True)
@pytest.mark.postgres
@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="needs PostgreSQL (DATABASE_URL)")
def test_annotators_racing_through_a_project_never_exceed_the_overlap():
    project, users, items = setup(comparisons=15, annotators=8, overlap=3)
    results = run_threads(lambda i: rank_loop(project, users[i]), 8)
    assert_no_errors(results)
    per_comparison = Counter(Ranking.objects.values_list("comparison_id", flat=True))
    assert max(per_comparison.values()) <= 3
    assert sum(results) == Ranking.objects.count() == 15 * 3  # and nothing was left unranked
    assert Comparison.objects.filter(complete=True).count() == 15


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("same_key", [True, False], ids=["same-key", "different-keys"])
def test_concurrent_double_submit_stores_one_ranking(same_key):
    project, users, (item,) = setup(comparisons=1, annotators=1, overlap=1, k=3)
    user = users[0]
    assignment = comparison_claim_next(project=project, annotator=user)
    order = [[rid] for rid in assignment.display_order]

    def submit(i: int):
        key = "k" if same_key else f"k{i}"
        return ranking_submit(comparison=item, annotator=user, data={"order": order, "idempotency_key": key})

    results = run_threads(submit, 6)
    unexpected = [r for r in results if isinstance(r, Exception) and not isinstance(r, RankingConflict)]
    assert not unexpected, unexpected
    created = [r for r in results if isinstance(r, tuple) and r[1]]
    assert len(created) == 1
    assert Ranking.objects.count() == 1 and Preference.objects.count() == 3
    assert Comparison.objects.get().ranking_count == 1
    if same_key:  # a retry with the same key is answered with the stored ranking, not an error
        assert all(isinstance(r, tuple) and r[0].pk == created[0][0].pk for r in results)


def _fail_on_second_preference() -> None:
    """Install a trigger that aborts the insert of a ranking's second preference, as a full disk would."""
    if connection.vendor == "postgresql":
        statements = [
            """CREATE FUNCTION prefloop_test_fail() RETURNS trigger AS $$ BEGIN
                 IF EXISTS (SELECT 1 FROM labeling_preference WHERE ranking_id = NEW.ranking_id) THEN
                   RAISE EXCEPTION 'disk full'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql""",
            """CREATE TRIGGER prefloop_test_fail BEFORE INSERT ON labeling_preference
                 FOR EACH ROW EXECUTE FUNCTION prefloop_test_fail()""",
        ]
    else:
        statements = [
            """CREATE TRIGGER prefloop_test_fail BEFORE INSERT ON labeling_preference
                 WHEN EXISTS (SELECT 1 FROM labeling_preference WHERE ranking_id = NEW.ranking_id)
                 BEGIN SELECT RAISE(ABORT, 'disk full'); END""",
        ]
    with connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(sql)


def _drop_failure_trigger() -> None:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("DROP TRIGGER IF EXISTS prefloop_test_fail ON labeling_preference")
            cursor.execute("DROP FUNCTION IF EXISTS prefloop_test_fail()")
        else:
            cursor.execute("DROP TRIGGER IF EXISTS prefloop_test_fail")


@pytest.mark.django_db(transaction=True)
def test_failure_after_the_first_preference_insert_leaves_no_rows():
    project, users, (item,) = setup(comparisons=1, annotators=1, overlap=1, k=3)
    user = users[0]
    assignment = comparison_claim_next(project=project, annotator=user)
    _fail_on_second_preference()
    try:
        with pytest.raises(DatabaseError, match="disk full"):
            ranking_submit(comparison=item, annotator=user, data={"order": [[r] for r in assignment.display_order]})
    finally:
        _drop_failure_trigger()
    assert Preference.objects.count() == 0 and Ranking.objects.count() == 0
    assert Comparison.objects.get().ranking_count == 0
    assert Assignment.objects.get().status == AssignmentStatus.ACTIVE
    # And the same ranking goes through once the fault is gone: nothing was left half-written.
    ranking, created = ranking_submit(comparison=item, annotator=user, data={"order": [[r] for r in assignment.display_order]})
    assert created and ranking.preferences.count() == 3


@pytest.mark.django_db(transaction=True)
def test_concurrent_annotators_get_no_database_errors():
    """On SQLite this is the "database is locked" check; on PostgreSQL a deadlock check."""
    project, users, _items = setup(comparisons=12, annotators=6, overlap=2)
    results = run_threads(lambda i: rank_loop(project, users[i]), 6)
    assert_no_errors(results)
    assert Ranking.objects.count() == 24
    assert max(Counter(Ranking.objects.values_list("comparison_id", flat=True)).values()) == 2
    assert connection.vendor in {"sqlite", "postgresql"}


@pytest.mark.django_db(transaction=True)
@pytest.mark.postgres
@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="needs PostgreSQL (DATABASE_URL)")
def test_one_idempotency_key_sent_for_two_comparisons_at_once_is_refused_not_a_crash():
    project, users, items = setup(comparisons=2, annotators=1, overlap=1)
    user = users[0]
    for item in items:
        make_lease(item, user)
    both_checked = threading.Barrier(2)
    real_create = ranking_module._create

    def create_after_both_checked(*args, **kwargs):
        both_checked.wait(timeout=10)  # both submits have looked for the key and found none
        return real_create(*args, **kwargs)

    def submit(i: int):
        order = [[rid] for rid in items[i].responses.values_list("id", flat=True)]
        return ranking_submit(comparison=items[i], annotator=user, data={"order": order, "idempotency_key": "same"})

    with mock.patch.object(ranking_module, "_create", create_after_both_checked):
        results = run_threads(submit, 2)
    assert sum(isinstance(r, tuple) for r in results) == 1, results
    refused = [r for r in results if isinstance(r, Exception)]
    assert len(refused) == 1 and isinstance(refused[0], RankingError), refused
    assert refused[0].field == "idempotency_key"
    assert Ranking.objects.count() == 1
