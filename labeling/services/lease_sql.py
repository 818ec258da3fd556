"""The hot path of the annotation loop in SQL: one statement claims, one statement stores.

The ORM cannot say INSERT … SELECT … ON CONFLICT … RETURNING, nor a data-modifying WITH, and
each extra statement costs a round trip and Django's query compilation (the profile of issue
13: SQLCompiler 33% of the loop). The statements are built here once per vendor and cached;
assignment.py and ranking.py say when they are used and what guarantees surround them.
Table names come from the models; column names are the models' (Django's default db_column).
Gold comparisons are not claimed here (labeling.services.gold leases them at the project's share).
"""

from __future__ import annotations

import json
from datetime import datetime
from functools import cache
from typing import Any

from django.db import connection, transaction

from labeling import rawrows
from labeling.models import Assignment, AssignmentStatus, Comparison, Preference, Prompt, Ranking, Response

A = Assignment._meta.db_table
C = Comparison._meta.db_table
Q = Prompt._meta.db_table
R = Response._meta.db_table
K = Ranking._meta.db_table
P = Preference._meta.db_table


def _postgres() -> bool:
    return connection.vendor == "postgresql"


@cache
def _claim_sql(postgres: bool) -> str:
    active, submitted, skipped = (_status(s) for s in (AssignmentStatus.ACTIVE, AssignmentStatus.SUBMITTED, AssignmentStatus.SKIPPED))
    names = ("me", "project", "overlap", "now", "until")
    if postgres:
        # The arguments come from a materialized CTE, so the plan cannot depend on their values:
        # PostgreSQL then keeps one generic plan for the prepared statement instead of planning it
        # again on every claim (0.8 ms of its CPU; with the values inline it judged each custom
        # plan cheaper). The statuses stay literals: index conditions of the plan use them.
        args = (
            "args AS MATERIALIZED (SELECT %(me)s::integer AS me, %(project)s::bigint AS project, "
            "%(overlap)s::integer AS overlap, %(now)s::timestamptz AS now, %(until)s::timestamptz AS until), "
        )
        me, project, overlap, now, until = (f"(SELECT {name} FROM args)" for name in names)
        # Shuffled response ids for the display order: PostgreSQL aggregates in order; SQLite
        # (3.40 has no ORDER BY inside aggregates) aggregates an ordered subquery.
        shuffled = f"(SELECT COALESCE(jsonb_agg(r.id ORDER BY random()), '[]'::jsonb) FROM {R} r WHERE r.comparison_id = chosen.cid)"
        lock = "FOR UPDATE OF c SKIP LOCKED"
        # What the claim shows is read after commit, in the statement that checks for a colliding
        # claim (assignment._claim_once).
        content = ""
    else:
        args = ""
        me, project, overlap, now, until = (f"%({name})s" for name in names)
        shuffled = f"(SELECT json_group_array(id) FROM (SELECT r.id FROM {R} r WHERE r.comparison_id = chosen.cid ORDER BY random()))"
        lock = ""
        # The statement also returns what the claim shows (content_columns, each a subquery on the
        # lease's comparison): a claim is one statement here.
        content = "".join(
            f", (SELECT {column} FROM {C} c JOIN {Q} p ON p.id = c.prompt_id WHERE c.id = {A}.comparison_id)"
            for column in content_columns("sqlite", active=active, now=now)
        )
    # In the conflict branch `excluded.created_at` is this claim's now.
    return f"""
WITH {args}mine AS (
    SELECT a.comparison_id AS cid FROM {A} a JOIN {C} c ON c.id = a.comparison_id
    WHERE a.annotator_id = {me} AND c.project_id = {project} AND a.status = {active}
      AND a.expires_at > {now} AND NOT c.complete
    ORDER BY a.created_at, a.id LIMIT 1
), pick AS (
    SELECT c.id AS cid FROM {C} c
    WHERE c.project_id = {project} AND NOT c.complete AND c.gold_response_id IS NULL AND NOT EXISTS (SELECT 1 FROM mine)
      AND NOT EXISTS (SELECT 1 FROM {A} d WHERE d.comparison_id = c.id AND d.annotator_id = {me}
                      AND d.status IN ({submitted}, {skipped}))
      AND NOT EXISTS (SELECT 1 FROM {K} k WHERE k.comparison_id = c.id AND k.annotator_id = {me})
      AND c.ranking_count + (SELECT COUNT(*) FROM {A} l WHERE l.comparison_id = c.id
                             AND l.status = {active} AND l.expires_at > {now}) < {overlap}
    ORDER BY c.id LIMIT 1 {lock}
), chosen AS (SELECT cid FROM mine UNION ALL SELECT cid FROM pick)
INSERT INTO {A} (comparison_id, annotator_id, status, display_order, expires_at, created_at, updated_at)
SELECT chosen.cid, {me}, {active}, {shuffled}, {until}, {now}, {now} FROM chosen WHERE true
ON CONFLICT (comparison_id, annotator_id) DO UPDATE SET
    status = excluded.status, expires_at = excluded.expires_at, updated_at = excluded.updated_at,
    display_order = CASE WHEN {A}.status = {active} AND {A}.expires_at > excluded.created_at
                         THEN {A}.display_order ELSE excluded.display_order END,
    created_at = CASE WHEN {A}.status = {active} AND {A}.expires_at > excluded.created_at
                      THEN {A}.created_at ELSE excluded.created_at END
RETURNING id, comparison_id, display_order, created_at{content}
"""


def content_columns(vendor: str, *, active: str, now: str) -> list[str]:
    """What a claim shows, as expressions over its comparison `c` joined to its prompt `p`.

    The comparison's and the prompt's columns (rawrows order), the comparison's load (rankings +
    live leases, given the SQL of the active status and of now) and its responses as one JSON
    array of [id, position, text, model_name, generation_params], by position: one row, so the
    comparison's and the prompt's columns are read and converted once, not once per response.
    """
    if vendor == "postgresql":
        responses = (
            "(SELECT json_agg(json_build_array(r.id, r.position, r.text, r.model_name, r.generation_params) "
            f"ORDER BY r.position) FROM {R} r WHERE r.comparison_id = c.id)"
        )
    else:  # SQLite 3.40 has no ORDER BY inside aggregates: aggregate an ordered subquery
        responses = (
            "(SELECT json_group_array(json_array(s.id, s.position, s.text, s.model_name, json(s.generation_params))) "
            f"FROM (SELECT * FROM {R} r WHERE r.comparison_id = c.id ORDER BY r.position) s)"
        )
    load = f"c.ranking_count + (SELECT COUNT(*) FROM {A} l WHERE l.comparison_id = c.id AND l.status = {active} AND l.expires_at > {now})"
    return [*rawrows.column_list(Comparison, "c"), *rawrows.column_list(Prompt, "p"), load, responses]


def _status(value: str) -> str:
    """A status as an SQL literal (a code constant, never input)."""
    if not value.isidentifier():
        raise ValueError(f"unexpected status {value!r}")
    return f"'{value}'"


def _db_datetime(value: datetime) -> Any:
    return connection.ops.adapt_datetimefield_value(value)


def claim_row(
    *, project_id: int, overlap: int, annotator_id: int, now: datetime, until: datetime
) -> tuple[int, int, list[int], bool, tuple[Any, ...] | None] | None:
    """Run the claim statement; return (assignment id, comparison id, display order, fresh, content) or None.

    `fresh` is False when the statement renewed the annotator's live lease (its created_at kept).
    `content` is the content_columns row on SQLite, None on PostgreSQL (read it after commit).
    """
    params = {
        "me": annotator_id, "project": project_id, "overlap": overlap,
        "now": _db_datetime(now), "until": _db_datetime(until),
    }
    with connection.cursor() as cursor:
        cursor.execute(_claim_sql(_postgres()), params)
        row = cursor.fetchone()
    if row is None:
        return None
    pk, comparison_id, display_order, created_at, *content = row
    return pk, comparison_id, rawrows.json_list(display_order), created_at == params["now"], tuple(content) or None


@cache
def _store_sql(pairs: int) -> str:
    """PostgreSQL: mark the lease submitted, count the ranking, insert it and its pairs, at once.

    Every later part reads the lease part's result, so a lease that is no longer live (expired,
    submitted concurrently) makes the whole statement write nothing and return no row.
    """
    values = ", ".join(f"(%(c{n})s::bigint, %(r{n})s::bigint, %(m{n})s::double precision)" for n in range(pairs))
    prefs = (
        f""", prefs AS (
    INSERT INTO {P} (ranking_id, comparison_id, annotator_id, chosen_id, rejected_id, margin, created_at)
    SELECT rk.id, %(comparison)s, %(me)s, v.chosen, v.rejected, v.margin, %(now)s
    FROM rk CROSS JOIN (VALUES {values}) AS v (chosen, rejected, margin)
)"""
        if pairs
        else ""
    )
    order = connection.ops.quote_name("order")
    return f"""
WITH lease AS (
    UPDATE {A} SET status = %(submitted)s, expires_at = %(now)s, updated_at = %(now)s
    WHERE id = %(lease)s AND status = %(active)s AND expires_at > %(live_after)s
    RETURNING display_order
), counted AS (
    UPDATE {C} SET ranking_count = ranking_count + 1, complete = (ranking_count + 1 >= %(overlap)s)
    WHERE id = %(comparison)s AND EXISTS (SELECT 1 FROM lease)
), rk AS (
    INSERT INTO {K} (comparison_id, annotator_id, {order}, display_order, strength, flags, note, time_spent_ms,
                     idempotency_key, created_at, updated_at)
    SELECT %(comparison)s, %(me)s, %(order)s::jsonb, lease.display_order, %(strength)s, %(flags)s::jsonb, %(note)s,
           %(spent)s, %(key)s, %(now)s, %(now)s FROM lease
    RETURNING id
){prefs}
SELECT id FROM rk
"""


def store_ranking_row(*, lease_id: int, comparison_id: int, overlap: int, annotator_id: int, now: datetime,
                      live_after: datetime, fields: dict[str, Any], pairs: list[tuple[int, int, float]]) -> int | None:
    """PostgreSQL only: store a ranking on a live lease in one statement; return its id, or None if the lease is gone."""
    params: dict[str, Any] = {
        "lease": lease_id, "comparison": comparison_id, "overlap": overlap, "me": annotator_id,
        "now": now, "live_after": live_after,
        "active": AssignmentStatus.ACTIVE, "submitted": AssignmentStatus.SUBMITTED,
        "order": json.dumps(fields["order"]), "flags": json.dumps(fields["flags"]), "strength": fields["strength"],
        "note": fields["note"], "spent": fields["time_spent_ms"], "key": fields["idempotency_key"],
    }
    for n, (chosen, rejected, margin) in enumerate(pairs):
        params |= {f"c{n}": chosen, f"r{n}": rejected, f"m{n}": margin}
    with connection.cursor() as cursor:
        cursor.execute(_store_sql(len(pairs)), params)
        row = cursor.fetchone()
    return row[0] if row else None


@cache
def _sqlite_store_sql() -> tuple[str, str, str, str]:
    order = connection.ops.quote_name("order")
    return (
        f"UPDATE {A} SET status = %(submitted)s, expires_at = %(now)s, updated_at = %(now)s "
        "WHERE id = %(lease)s AND status = %(active)s AND expires_at > %(live_after)s RETURNING display_order",
        f"INSERT INTO {K} (comparison_id, annotator_id, {order}, display_order, strength, flags, note, time_spent_ms, "
        "idempotency_key, created_at, updated_at) VALUES (%(comparison)s, %(me)s, %(order)s, %(display)s, %(strength)s, "
        "%(flags)s, %(note)s, %(spent)s, %(key)s, %(now)s, %(now)s) RETURNING id",
        f"INSERT INTO {P} (ranking_id, comparison_id, annotator_id, chosen_id, rejected_id, margin, created_at) VALUES ",
        f"UPDATE {C} SET ranking_count = ranking_count + 1, "
        "complete = CASE WHEN ranking_count + 1 >= %(overlap)s THEN 1 ELSE complete END WHERE id = %(comparison)s",
    )


def store_ranking_rows_sqlite(*, lease_id: int, comparison_id: int, overlap: int, annotator_id: int, now: datetime,
                              live_after: datetime, fields: dict[str, Any], pairs: list[tuple[int, int, float]]) -> int | None:
    """SQLite: the writes of the PostgreSQL statement, in one IMMEDIATE transaction of four statements.

    Raw for the same reason (no ORM compilation on every submit); the lease update comes first,
    so a lease that is no longer live writes nothing and returns None.
    """
    lease_sql, ranking_sql, pairs_sql, count_sql = _sqlite_store_sql()
    stamp = _db_datetime(now)
    params: dict[str, Any] = {
        "lease": lease_id, "comparison": comparison_id, "overlap": overlap, "me": annotator_id,
        "now": stamp, "live_after": _db_datetime(live_after),
        "active": AssignmentStatus.ACTIVE, "submitted": AssignmentStatus.SUBMITTED,
        "order": json.dumps(fields["order"]), "flags": json.dumps(fields["flags"]), "strength": fields["strength"],
        "note": fields["note"], "spent": fields["time_spent_ms"], "key": fields["idempotency_key"],
    }
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(lease_sql, params)
        lease = cursor.fetchone()
        if lease is None:
            return None
        cursor.execute(ranking_sql, params | {"display": lease[0]})
        ranking_id = cursor.fetchone()[0]
        if pairs:
            values = ", ".join(["(%s, %s, %s, %s, %s, %s, %s)"] * len(pairs))
            rows = [x for chosen, rejected, margin in pairs for x in (ranking_id, comparison_id, annotator_id, chosen, rejected, margin, stamp)]
            cursor.execute(pairs_sql + values, rows)
        cursor.execute(count_sql, params)
    return ranking_id

