"""The bare limit for bench/annotation_loop.py: PrefLoop's WSGI app plus two minimal endpoints.

    gunicorn bench.bare:application     (what the benchmark starts)

`POST /bare/claim/<project>/` and `POST /bare/submit/<comparison>/` run only the essential SQL
of a claim and a submit, in the same server process against the same database, with no
framework: no authentication (the annotator's user id comes in `X-User`), no validation, no
serialiser. A claim leases the oldest open comparison nobody holds (overlap 1; SKIP LOCKED on
PostgreSQL) and reads its responses with the comparison's lease count, yielding when a concurrent
claim took it too (so it serves no task twice, as PrefLoop must not); a submit stores the ranking with its pairs, counts it and
closes the lease. Every other path goes to PrefLoop unchanged.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.db import close_old_connections, connection, transaction  # noqa: E402

django_app = get_wsgi_application()

CLAIM = """
INSERT INTO labeling_assignment (comparison_id, annotator_id, status, display_order, expires_at, created_at, updated_at)
SELECT c.id, %(me)s, 'active', '[]', %(until)s, %(now)s, %(now)s FROM labeling_comparison c
WHERE c.project_id = %(project)s AND NOT c.complete
  AND NOT EXISTS (SELECT 1 FROM labeling_assignment a WHERE a.comparison_id = c.id)
ORDER BY c.id LIMIT 1 {lock}
RETURNING comparison_id
"""
# The responses, and the comparison's leases counted after the claim committed: on PostgreSQL a
# concurrent claim that committed while ours ran is invisible to our snapshot, so both may take
# the same comparison; the later count sees both and ours yields (as PrefLoop's claim does).
RESPONSES = """SELECT id, text, (SELECT COUNT(*) FROM labeling_assignment a WHERE a.comparison_id = %(c)s)
FROM labeling_response WHERE comparison_id = %(c)s ORDER BY position"""
YIELD = "DELETE FROM labeling_assignment WHERE comparison_id = %s AND annotator_id = %s"
RANKING = """
INSERT INTO labeling_ranking (comparison_id, annotator_id, "order", display_order, flags, note, time_spent_ms,
                              idempotency_key, created_at, updated_at)
VALUES (%(c)s, %(me)s, %(order)s, '[]', '[]', '', 0, '', %(now)s, %(now)s) RETURNING id
"""
PAIRS = """INSERT INTO labeling_preference (ranking_id, comparison_id, annotator_id, chosen_id, rejected_id, margin, created_at)
VALUES {values}"""
CLOSE = [
    "UPDATE labeling_comparison SET ranking_count = ranking_count + 1, complete = true WHERE id = %(c)s",
    "UPDATE labeling_assignment SET status = 'submitted' WHERE comparison_id = %(c)s AND annotator_id = %(me)s",
]


def _now() -> Any:
    return connection.ops.adapt_datetimefield_value(datetime.now(UTC))


def _claim(project: int, me: int) -> dict[str, Any] | None:
    lock = "FOR UPDATE OF c SKIP LOCKED" if connection.vendor == "postgresql" else ""
    while True:
        now = datetime.now(UTC)
        params = {"me": me, "project": project, "now": _now(), "until": connection.ops.adapt_datetimefield_value(now + timedelta(minutes=30))}
        with connection.cursor() as cursor:
            cursor.execute(CLAIM.format(lock=lock), params)
            row = cursor.fetchone()
            if row is None:
                return None
            cursor.execute(RESPONSES, {"c": row[0]})
            rows = cursor.fetchall()
            if rows and rows[0][2] > 1:  # collided with a concurrent claim: yield and claim again
                cursor.execute(YIELD, [row[0], me])
                continue
        responses = [{"id": rid, "text": text} for rid, text, _ in rows]
        random.shuffle(responses)
        return {"id": row[0], "responses": responses}


def _submit(comparison: int, me: int, order: list[list[int]]) -> int:
    flat = [group[0] for group in order]
    pairs = [(a, b, float(j - i)) for i, a in enumerate(flat) for j, b in enumerate(flat) if i < j]
    now = _now()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(RANKING, {"c": comparison, "me": me, "order": json.dumps(order), "now": now})
        ranking = cursor.fetchone()[0]
        values = ", ".join(["(%s, %s, %s, %s, %s, %s, %s)"] * len(pairs))
        cursor.execute(PAIRS.format(values=values), [x for a, b, m in pairs for x in (ranking, comparison, me, a, b, m, now)])
        for sql in CLOSE:
            cursor.execute(sql, {"c": comparison, "me": me})
    return ranking


def _answer(start_response: Callable[..., Any], status: str, body: Any = None) -> Iterable[bytes]:
    payload = json.dumps(body).encode() if body is not None else b""
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))])
    return [payload]


def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    path = environ.get("PATH_INFO", "")
    if not path.startswith("/bare/"):
        return django_app(environ, start_response)
    close_old_connections()  # what Django does around a request: reuse the thread's connection
    me = int(environ.get("HTTP_X_USER", "0"))
    _, _, action, target, _ = path.split("/", 4)
    if action == "claim":
        item = _claim(int(target), me)
        return _answer(start_response, "200 OK", item) if item else _answer(start_response, "204 No Content")
    length = int(environ.get("CONTENT_LENGTH") or 0)
    order = json.loads(environ["wsgi.input"].read(length))["order"]
    return _answer(start_response, "201 Created", {"id": _submit(int(target), me, order)})
