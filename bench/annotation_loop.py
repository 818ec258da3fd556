"""Benchmark the annotation loop over HTTP: C annotators claim and submit against a real server.

    DEBUG=1 .venv/bin/python bench/annotation_loop.py                      # SQLite, var/bench/
    DEBUG=1 .venv/bin/python bench/annotation_loop.py --database-url postgres://postgres@127.0.0.1:5432/prefloop_bench
    ... --sizes 1000 --concurrency 1,8 --seconds 5                          # a quick look

For each project size (comparisons, K = 4, overlap 1) it seeds the data with bulk inserts (kept
and reused next time), starts gunicorn (threads) on a loopback port against the same database,
and runs C = 1, 8, 32 simulated annotators (threads, one keep-alive HTTP connection each) that
claim (POST .../comparisons/next/) and submit (POST .../ranking/) in a loop for a bounded time.
It prints loops/s and p50/p95/p99 latency per call, and the SQL queries one claim + submit
makes at each size (counted in-process with CaptureQueriesContext): these must not grow with N.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BATCH = 5000


def _env(database_url: str) -> dict[str, str]:
    """Environment for this process and the server: production-like settings on plain HTTP."""
    env = dict(os.environ)
    env.update(
        DATABASE_URL=database_url,
        DEBUG="0",
        SECRET_KEY=env.get("BENCH_SECRET_KEY") or secrets.token_urlsafe(50),
        ALLOWED_HOSTS="127.0.0.1,localhost,testserver",
        SECURE_SSL_REDIRECT="0",
        SESSION_COOKIE_SECURE="0",
        CSRF_COOKIE_SECURE="0",
        SECURE_HSTS_SECONDS="0",
        LOG_LEVEL="WARNING",
        DJANGO_SETTINGS_MODULE="config.settings",
    )
    return env


def _ensure_postgres_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1].split("?")[0]
    admin_url = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def _setup_django(env: dict[str, str]) -> None:
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def _seed(size: int, annotators: int):  # type: ignore[no-untyped-def]
    """Create (or reuse) a project with `size` comparisons of 4 responses, and annotators with tokens."""
    from django.contrib.auth import get_user_model
    from django.db import transaction
    from rest_framework.authtoken.models import Token

    from labeling.models import Comparison, Membership, Project, Prompt, Response

    project, _ = Project.objects.get_or_create(slug=f"bench-loop-{size}", defaults={"name": f"Bench {size}", "k": 4, "overlap": 1})
    have = Comparison.objects.filter(project=project).count()
    started = time.perf_counter()
    for start in range(have, size, BATCH):
        n = min(BATCH, size - start)
        with transaction.atomic():
            prompts = Prompt.objects.bulk_create(
                [
                    Prompt(project=project, messages=[{"role": "user", "content": f"Bench question {i}?"}],
                           content_hash=hashlib.sha256(f"{size}:{i}".encode()).hexdigest())
                    for i in range(start, start + n)
                ]
            )
            comparisons = Comparison.objects.bulk_create([Comparison(project=project, prompt=p) for p in prompts])
            Response.objects.bulk_create(
                [Response(comparison=c, position=j, text=f"Answer {j} " * 20) for c in comparisons for j in range(4)]
            )
    if size > have:
        print(f"  seeded {size - have} comparisons in {time.perf_counter() - started:.1f} s")
    User = get_user_model()
    tokens = []
    for n in range(annotators):
        user, _ = User.objects.get_or_create(username=f"bench{n}")
        Membership.objects.get_or_create(project=project, user=user)
        tokens.append(Token.objects.get_or_create(user=user)[0].key)
    return project, tokens


def _reset(project) -> None:  # type: ignore[no-untyped-def]
    """Forget earlier runs' work so every run starts from an untouched pool."""
    from labeling.models import Assignment, Comparison, Ranking

    Ranking.objects.filter(comparison__project=project).delete()
    Assignment.objects.filter(comparison__project=project).delete()
    Comparison.objects.filter(project=project, ranking_count__gt=0).update(ranking_count=0, complete=False)


def _count_queries(project) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """Count SQL queries of one claim request and one submit request, in-process."""
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    from labeling.models import Membership

    user, _ = get_user_model().objects.get_or_create(username="bench-counter")
    Membership.objects.get_or_create(project=project, user=user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    with CaptureQueriesContext(connection) as claim_queries:
        body = client.post(f"/api/projects/{project.pk}/comparisons/next/").json()
    order = [[r["id"]] for r in body["responses"]]
    with CaptureQueriesContext(connection) as submit_queries:
        status = client.post(f"/api/comparisons/{body['id']}/ranking/", {"order": order}, format="json").status_code
    assert status == 201, status
    return len(claim_queries), len(submit_queries)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_server(env: dict[str, str], port: int, workers: int, threads: int) -> subprocess.Popen:
    cmd = [
        sys.executable, "-m", "gunicorn", "config.wsgi:application", "--bind", f"127.0.0.1:{port}",
        "--workers", str(workers), "--threads", str(threads), "--worker-class", "gthread",
        "--keep-alive", "30", "--log-level", "warning",
    ]
    server = subprocess.Popen(cmd, cwd=ROOT, env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/login/")
            if conn.getresponse().status == 200:
                return server
        except OSError:
            time.sleep(0.3)
    server.terminate()
    raise RuntimeError("the server did not start within 60 s")


@dataclass
class Tally:
    claim_ms: list[float] = field(default_factory=list)
    submit_ms: list[float] = field(default_factory=list)
    loops: int = 0
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _call(conn: http.client.HTTPConnection, token: str, path: str, body: dict | None = None) -> tuple[int, bytes, float]:
    data = json.dumps(body).encode() if body is not None else b""
    headers = {"Authorization": f"Token {token}", "Content-Type": "application/json", "Content-Length": str(len(data))}
    started = time.perf_counter()
    conn.request("POST", path, body=data, headers=headers)
    response = conn.getresponse()
    payload = response.read()
    return response.status, payload, (time.perf_counter() - started) * 1000


def _annotate(port: int, project_id: int, token: str, stop_at: float, max_loops: int, tally: Tally) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    claims, submits, loops = [], [], 0
    try:
        while loops < max_loops and time.monotonic() < stop_at:
            status, payload, ms = _call(conn, token, f"/api/projects/{project_id}/comparisons/next/")
            claims.append(ms)
            if status != 200:
                if status != 204:
                    tally.errors.append(f"claim {status}: {payload[:200]!r}")
                break
            item = json.loads(payload)
            order = [[r["id"]] for r in item["responses"]]
            status, payload, ms = _call(conn, token, f"/api/comparisons/{item['id']}/ranking/", {"order": order, "idempotency_key": uuid.uuid4().hex})
            submits.append(ms)
            if status != 201:
                tally.errors.append(f"submit {status}: {payload[:200]!r}")
                break
            loops += 1
    finally:
        conn.close()
        with tally.lock:
            tally.claim_ms += claims
            tally.submit_ms += submits
            tally.loops += loops


def _percentiles(values: list[float]) -> str:
    if len(values) < 2:
        return "n/a"
    q = statistics.quantiles(values, n=100, method="inclusive")
    return f"p50 {q[49]:6.1f}  p95 {q[94]:6.1f}  p99 {q[98]:6.1f} ms"


def _run(port: int, project_id: int, tokens: list[str], seconds: float, max_loops: int) -> None:
    tally = Tally()
    started = time.perf_counter()
    stop_at = time.monotonic() + seconds
    threads = [
        threading.Thread(target=_annotate, args=(port, project_id, token, stop_at, max_loops, tally)) for token in tokens
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    print(f"  C={len(tokens):<3} loops {tally.loops:5d} in {elapsed:5.1f} s = {tally.loops / elapsed:7.1f} loops/s")
    print(f"         claim   {_percentiles(tally.claim_ms)}")
    print(f"         submit  {_percentiles(tally.submit_ms)}")
    if tally.errors:
        print(f"         ERRORS {len(tally.errors)}: {tally.errors[0]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=f"sqlite:///{ROOT / 'var' / 'bench' / 'annotation_loop.sqlite3'}")
    parser.add_argument("--sizes", default="1000,100000", help="Comparisons per project, comma-separated.")
    parser.add_argument("--concurrency", default="1,8,32", help="Simulated annotators, comma-separated.")
    parser.add_argument("--seconds", type=float, default=10.0, help="Time limit per run.")
    parser.add_argument("--loops", type=int, default=500, help="Loop limit per annotator per run.")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    levels = [int(c) for c in args.concurrency.split(",")]

    if args.database_url.startswith("sqlite:///"):
        Path(args.database_url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    else:
        _ensure_postgres_database(args.database_url)
    env = _env(args.database_url)
    _setup_django(env)
    from django.db import connection

    print(f"database: {connection.vendor} ({args.database_url}); server: gunicorn {args.workers} workers × {args.threads} threads")
    counts = {}
    for size in sizes:
        print(f"N = {size} comparisons")
        project, tokens = _seed(size, max(levels))
        _reset(project)
        counts[size] = _count_queries(project)
        connection.close()  # the server needs the database now; SQLite especially
        port = _free_port()
        server = _start_server(env, port, args.workers, args.threads)
        try:
            for level in levels:
                _reset(project)
                connection.close()
                _run(port, project.pk, tokens[:level], args.seconds, args.loops)
        finally:
            server.terminate()
            server.wait(timeout=30)
    print("SQL queries per claim + submit (one request each, in-process):")
    for size, (claim, submit) in counts.items():
        print(f"  N = {size:>7}: claim {claim} + submit {submit} = {claim + submit}")
    totals = {c + s for c, s in counts.values()}
    print("  equal at every size: " + ("yes" if len(totals) == 1 else "NO"))


if __name__ == "__main__":
    main()
