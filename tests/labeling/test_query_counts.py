"""The annotation loop's SQL budget: a claim plus a submit over the API, counted statement by statement.

Counted as Django sends them (CaptureQueriesContext), transaction control (BEGIN, COMMIT,
SAVEPOINT) included, with after-commit callbacks running as in production (transaction=True).
The budget must not grow with the number of comparisons or responses.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from labeling.models import Comparison, Preference, Ranking
from tests.factories import add_member, api_client_for, make_comparison, make_project, make_user

# PostgreSQL: token with membership + claim statement + content (read after commit, with the
# collision check); token with lease + store statement. SQLite: the claim statement returns the
# content itself, but SQLite cannot put several writes in one statement, so its store is one
# IMMEDIATE transaction of four (BEGIN and COMMIT are two more).
BUDGET = {"postgresql": 5, "sqlite": 9}


def loop(api, project) -> tuple[int, int]:
    """Claim and rank one comparison; return the statements of each request."""
    with CaptureQueriesContext(connection) as claim_queries:
        body = api.post(f"/api/projects/{project.pk}/comparisons/next/").json()
    order = [[r["id"]] for r in body["responses"]]
    with CaptureQueriesContext(connection) as submit_queries:
        stored = api.post(f"/api/comparisons/{body['id']}/ranking/?next=false", {"order": order}, format="json")
    assert stored.status_code == 201, stored.content
    return len(claim_queries), len(submit_queries)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("k", [2, 9])
def test_claim_and_submit_stay_within_the_statement_budget_at_any_size(k, django_assert_max_num_queries):
    project = make_project(k=k, allow_ties=True)
    user = make_user()
    add_member(project, user)
    api = api_client_for(user)
    for _ in range(3):
        make_comparison(project)
    small = loop(api, project)
    for _ in range(40):
        make_comparison(project)
    with django_assert_max_num_queries(BUDGET[connection.vendor]):
        large = loop(api, project)
    assert large == small  # constant in the number of comparisons
    assert Ranking.objects.count() == 2 and Preference.objects.count() == 2 * k * (k - 1) // 2
    assert Comparison.objects.filter(complete=True).count() == 2


@pytest.mark.django_db(transaction=True)
def test_a_chained_submit_leases_the_next_comparison_within_the_same_budget(django_assert_max_num_queries):
    project = make_project(k=4)
    user = make_user()
    add_member(project, user)
    api = api_client_for(user)
    for _ in range(3):
        make_comparison(project)
    body = api.post(f"/api/projects/{project.pk}/comparisons/next/").json()
    with django_assert_max_num_queries(BUDGET[connection.vendor]):
        stored = api.post(f"/api/comparisons/{body['id']}/ranking/", {"order": [[r["id"]] for r in body["responses"]]}, format="json")
    assert stored.status_code == 201 and stored.json()["next"]["id"] != body["id"]
