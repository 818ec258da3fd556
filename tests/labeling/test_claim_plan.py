"""A claim's cost does not grow with the annotator's history (PostgreSQL's generic plan, read with EXPLAIN ANALYZE)."""

from __future__ import annotations

import json
from datetime import timedelta

import psycopg
import psycopg.sql
import pytest
from django.db import connection
from django.utils import timezone

from labeling.models import Assignment, AssignmentStatus
from labeling.services import lease_sql
from tests.factories import add_member, make_comparison, make_project, make_user

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif("connection.vendor != 'postgresql'", reason="needs PostgreSQL (DATABASE_URL)"),
    pytest.mark.django_db,
]


def _assignment_rows_read(plan: dict) -> int:
    """Rows the plan read from labeling_assignment (returned plus filtered out), over all loops."""
    read = 0
    if plan.get("Relation Name") == Assignment._meta.db_table:
        loops = plan.get("Actual Loops", 1)
        read += (plan.get("Actual Rows", 0) + plan.get("Rows Removed by Filter", 0)) * loops
    return read + sum(_assignment_rows_read(child) for child in plan.get("Plans", []))


def _mine(plan: dict) -> dict | None:
    """The plan of the claim's first part, which looks for the annotator's own live lease."""
    if plan.get("Subplan Name") == "CTE mine":
        return plan
    return next((found for child in plan.get("Plans", []) if (found := _mine(child)) is not None), None)


def test_a_claim_looks_up_the_annotators_live_lease_without_reading_their_history():
    project = make_project(k=2, overlap=30)
    team = [make_user() for _ in range(25)]
    for member in team:
        add_member(project, member)
    user = team[0]
    comparisons = [make_comparison(project, texts=["a", "b"]) for _ in range(150)]
    past = timezone.now() - timedelta(hours=1)
    Assignment.objects.bulk_create([  # the team ranked 149 comparisons each before: a long history
        Assignment(comparison=c, annotator=member, status=AssignmentStatus.SUBMITTED, display_order=[], expires_at=past)
        for member in team for c in comparisons[:-1]
    ])
    now = timezone.now()
    params = {
        "me": user.pk, "project": project.pk, "overlap": 1, "now": now, "until": now + timedelta(minutes=30),
    }
    sql, values = lease_sql._claim_sql(True), []
    for n, (name, value) in enumerate(params.items(), 1):  # as a prepared statement: $1 … $5
        sql, values = sql.replace(f"%({name})s", f"${n}"), [*values, value]
    literals = ", ".join(psycopg.sql.quote(v) for v in values)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")  # as autovacuum keeps them on a live database
        cursor.execute(f"PREPARE claim AS {sql}")
        cursor.execute("SET LOCAL plan_cache_mode = force_generic_plan")  # the plan a connection keeps (lease_sql.py)
        cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE claim({literals})")
        plan = cursor.fetchone()[0]
        cursor.execute("DEALLOCATE claim")
    plan = (json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"]
    mine = _mine(plan)
    assert mine is not None
    assert _assignment_rows_read(mine) <= 2, json.dumps(mine, indent=1)


def test_the_claim_is_planned_once_per_connection_not_on_every_claim():
    from labeling.services import comparison_claim_next

    project = make_project(k=2)
    team = [make_user() for _ in range(14)]
    for member in team:
        add_member(project, member)
    for _ in range(14):
        make_comparison(project, texts=["a", "b"])
    for member in team:  # psycopg prepares a statement on its 5th run; PostgreSQL then plans it 5 times more, at most
        assert comparison_claim_next(project=project, annotator=member) is not None
    with connection.cursor() as cursor:
        cursor.execute("SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement LIKE %s", ["%WITH args AS%"])
        generic, custom = cursor.fetchone()
    assert generic >= 3 and custom <= 5
