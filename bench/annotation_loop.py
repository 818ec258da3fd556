"""Benchmark the annotation loop over HTTP: C annotators claim and submit against a real server.

    .venv/bin/python bench/annotation_loop.py                       # SQLite and PostgreSQL, C = 1, 8, 32
    .venv/bin/python bench/annotation_loop.py --databases sqlite --tasks 200 --concurrency 1,8

For each database it seeds a project of `--tasks` comparisons (K = 4, overlap 1), starts
gunicorn (gthread) on a loopback port with `bench.bare:application` (PrefLoop plus the bare
limit's two endpoints, same process), and at each C runs C annotators (threads, one keep-alive
connection each) that claim (POST …/comparisons/next/) and submit (POST …/ranking/?next=false)
until the pool is empty: against PrefLoop and against the bare limit, `--repeat` times each,
interleaved (after one unmeasured warm-up run at the highest C, so connection set-up is not in
the figures). It prints loops/s (median of the repeats), claim and submit p50/p95/p99 (over all
their requests), the server's CPU per loop (all gunicorn processes, from /proc), PostgreSQL's CPU
per loop (its server processes), how busy the machine's CPUs were, errors by status, tasks served
to two annotators, SQL statements per loop (one loop counted in-process, transaction control
included) and the ratio PrefLoop / bare (median of the interleaved pairs, and their range).
On a shared or virtual machine the figures move by tens of percent from run to run: compare
ratios, and repeat.
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
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from config.gunicorn import default_threads  # noqa: E402

PG_URL = "postgres://postgres@127.0.0.1:5432/prefloop_bench"
TICK = os.sysconf("SC_CLK_TCK")


def _env(database_url: str) -> dict[str, str]:
    """Environment for the server (and the seeding, run in a subprocess): production-like, plain HTTP."""
    env = dict(os.environ)
    env.update(
        DATABASE_URL=database_url, DEBUG="0", SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="127.0.0.1,localhost,testserver", SECURE_SSL_REDIRECT="0", SESSION_COOKIE_SECURE="0",
        CSRF_COOKIE_SECURE="0", SECURE_HSTS_SECONDS="0", LOG_LEVEL="WARNING", DJANGO_SETTINGS_MODULE="config.settings",
        PYTHONPATH=str(ROOT),
    )
    return env


def _ensure_postgres_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1].split("?")[0]
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def prepare(tasks: int, annotators: int) -> dict:
    """In a subprocess with the bench's environment: migrate, seed, reset, count one loop's SQL."""
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    project, users, tokens = _seed(tasks, annotators)
    _reset(project)  # a run that was cut short leaves the pool ranked
    statements = _count_statements(project)
    _reset(project)
    return {"project": project.pk, "users": users, "tokens": tokens, "statements": statements}


def _seed(tasks: int, annotators: int):  # type: ignore[no-untyped-def]
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    from labeling.models import Comparison, Membership, Project, Prompt, Response

    project, _ = Project.objects.get_or_create(slug=f"bench-loop-{tasks}", defaults={"name": f"Bench {tasks}", "k": 4, "overlap": 1})
    have = Comparison.objects.filter(project=project).count()
    prompts = Prompt.objects.bulk_create(
        [Prompt(project=project, messages=[{"role": "user", "content": f"Bench question {i}?"}],
                content_hash=hashlib.sha256(f"{tasks}:{i}".encode()).hexdigest()) for i in range(have, tasks)]
    )
    comparisons = Comparison.objects.bulk_create([Comparison(project=project, prompt=p) for p in prompts])
    Response.objects.bulk_create([Response(comparison=c, position=j, text=f"Answer {j} " * 20) for c in comparisons for j in range(4)])
    users, tokens = [], []
    for n in range(annotators):
        user, _ = get_user_model().objects.get_or_create(username=f"bench{n}")
        Membership.objects.get_or_create(project=project, user=user)
        users.append(user.pk)
        tokens.append(Token.objects.get_or_create(user=user)[0].key)
    return project, users, tokens


def _reset(project) -> None:  # type: ignore[no-untyped-def]
    from django.db import connection

    from labeling.models import Assignment, Comparison, Ranking

    if connection.vendor == "postgresql":
        # Statistics as a live database has them, where the loop's tables hold their history:
        # taken before the pool is emptied. Taken on the emptied tables (0 rows), they let the
        # planner pick any index for the claim's lease lookups, and it picked ones that scan every
        # lease (PostgreSQL's CPU per loop doubled at 600 tasks); on a just-seeded table (a few
        # rows) a claim walks every open comparison.
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    Ranking.objects.filter(comparison__project=project).delete()
    Assignment.objects.filter(comparison__project=project).delete()
    Comparison.objects.filter(project=project).update(ranking_count=0, complete=False)


def _count_statements(project) -> int:  # type: ignore[no-untyped-def]
    """SQL statements of one claim + one submit request, in-process (as the statement-budget test counts)."""
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
    with CaptureQueriesContext(connection) as queries:
        body = client.post(f"/api/projects/{project.pk}/comparisons/next/").json()
        order = [[r["id"]] for r in body["responses"]]
        status = client.post(f"/api/comparisons/{body['id']}/ranking/?next=false", {"order": order}, format="json").status_code
    assert status == 201, status
    return len(queries)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_server(env: dict[str, str], port: int, workers: int, threads: int | None) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.py", "bench.bare:application",
           "--bind", f"127.0.0.1:{port}", "--workers", str(workers), "--log-level", "warning",
           # No recycling: a worker restarted mid-run (the shipped max_requests) would put its
           # start-up into that run's figures.
           "--max-requests", "0"]
    if threads is not None:  # else the shipped default for the database (config/gunicorn.py)
        cmd += ["--threads", str(threads)]
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


def _process_cpu_s(counted) -> float:  # type: ignore[no-untyped-def]
    """CPU seconds (user + system) of the processes for which counted(pid, ppid, name) is true, from /proc.

    With their exited children's (a PostgreSQL backend whose connection closed), so what a
    process spent is not lost when it ends between two readings.
    """
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        name, rest = text.split("(", 1)[1].rsplit(")", 1)
        fields = rest.split()
        if counted(int(stat.parent.name), int(fields[1]), name):
            total += sum(int(x) for x in fields[11:15]) / TICK  # utime, stime, cutime, cstime
    return total


def _server_cpu_s(master: int) -> float:
    """CPU seconds of the gunicorn master and its workers."""
    return _process_cpu_s(lambda pid, ppid, name: master in (pid, ppid))


def _database_cpu_s() -> float:
    """CPU seconds of the PostgreSQL server's processes (0 for SQLite: it runs in the server)."""
    return _process_cpu_s(lambda pid, ppid, name: name.startswith("postgres"))


@dataclass
class Tally:
    claim_ms: list[float] = field(default_factory=list)
    submit_ms: list[float] = field(default_factory=list)
    loops: int = 0
    errors: Counter = field(default_factory=Counter)
    served: Counter = field(default_factory=Counter)  # comparison id -> annotators it was given to
    lock: threading.Lock = field(default_factory=threading.Lock)


def _call(conn: http.client.HTTPConnection, headers: dict[str, str], path: str, body: dict | None = None) -> tuple[int, bytes, float]:
    data = json.dumps(body).encode() if body is not None else b""
    started = time.perf_counter()
    conn.request("POST", path, body=data, headers=headers | {"Content-Type": "application/json", "Content-Length": str(len(data))})
    response = conn.getresponse()
    payload = response.read()
    return response.status, payload, (time.perf_counter() - started) * 1000


def _annotate(port: int, paths: tuple[str, str], headers: dict[str, str], tally: Tally) -> None:
    claim_path, submit_path = paths
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    claims, submits, served, errors, loops = [], [], [], Counter(), 0
    try:
        while True:
            status, payload, ms = _call(conn, headers, claim_path)
            claims.append(ms)
            if status != 200:
                if status != 204:
                    errors[f"claim {status}"] += 1
                break
            item = json.loads(payload)
            served.append(item["id"])
            order = [[r["id"]] for r in item["responses"]]
            body = {"order": order, "idempotency_key": uuid.uuid4().hex}
            status, payload, ms = _call(conn, headers, submit_path.format(id=item["id"]), body)
            submits.append(ms)
            if status != 201:
                errors[f"submit {status}"] += 1
                break
            loops += 1
    finally:
        conn.close()
        with tally.lock:
            tally.claim_ms += claims
            tally.submit_ms += submits
            tally.loops += loops
            tally.errors += errors
            tally.served.update(set(served))


def _machine_busy() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs since boot, from /proc/stat (idle and iowait count as not busy)."""
    values = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(values) - values[3] - values[4], sum(values)


def _run(port: int, master: int, workers: list[tuple[tuple[str, str], dict[str, str]]]) -> dict:
    tally = Tally()
    machine_before = _machine_busy()
    cpu_before, db_before, started = _server_cpu_s(master), _database_cpu_s(), time.perf_counter()
    threads = [threading.Thread(target=_annotate, args=(port, paths, headers, tally)) for paths, headers in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    cpu, db_cpu = _server_cpu_s(master) - cpu_before, _database_cpu_s() - db_before
    busy, total = (after - before for after, before in zip(_machine_busy(), machine_before, strict=True))
    return {
        "machine_busy": busy / max(total, 1),
        "loops_s": tally.loops / elapsed, "loops": tally.loops, "claim_ms": tally.claim_ms, "submit_ms": tally.submit_ms, "cpu_ms": 1000 * cpu / max(tally.loops, 1),
        "db_cpu_ms": 1000 * db_cpu / max(tally.loops, 1),
        "errors": dict(tally.errors), "twice": sum(1 for n in tally.served.values() if n > 1),
    }


def _merge(results: list[dict]) -> dict:
    """One row for repeated runs: medians of the rates, latency quantiles over all requests, errors summed."""
    errors: Counter = Counter()
    for r in results:
        errors.update(r["errors"])
    median = {key: statistics.median(r[key] for r in results) for key in ("loops_s", "cpu_ms", "db_cpu_ms", "machine_busy")}
    claims = [ms for r in results for ms in r["claim_ms"]]
    submits = [ms for r in results for ms in r["submit_ms"]]
    return median | {
        "claim": _quantiles(claims), "submit": _quantiles(submits), "errors": dict(errors),
        "twice": sum(r["twice"] for r in results), "loops": sum(r["loops"] for r in results),
    }


def _quantiles(values: list[float]) -> tuple[float, float, float]:
    if len(values) < 2:
        return (values[0],) * 3 if values else (float("nan"),) * 3
    q = statistics.quantiles(values, n=100, method="inclusive")
    return q[49], q[94], q[98]


def _prepare_in_subprocess(env: dict[str, str], tasks: int, annotators: int) -> dict:
    code = f"import json, bench.annotation_loop as b; print('PREPARED' + json.dumps(b.prepare({tasks}, {annotators})))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True).stdout
    return json.loads(out.split("PREPARED", 1)[1])


def _reset_in_subprocess(env: dict[str, str], project: int) -> None:
    code = ("import django; django.setup(); from labeling.models import Project; "
            f"import bench.annotation_loop as b; b._reset(Project.objects.get(pk={project}))")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True)


def bench_database(url: str, args: argparse.Namespace, levels: list[int]) -> list[tuple]:
    env = _env(url)
    info = _prepare_in_subprocess(env, args.tasks, max(levels))
    port = _free_port()
    server = _start_server(env, port, args.workers, args.threads)
    rows = []
    try:
        # Unmeasured warm-up at the highest C: every server thread opens its database connection
        # (persistent, tens of ms each) here, not inside the first measured run (PrefLoop's).
        _reset_in_subprocess(env, info["project"])
        paths = (f"/api/projects/{info['project']}/comparisons/next/", "/api/comparisons/{id}/ranking/?next=false")
        _run(port, server.pid, [(paths, {"Authorization": f"Token {t}"}) for t in info["tokens"][: max(levels)]])
        for level in levels:
            runs: dict[str, list[dict]] = {"prefloop": [], "bare": []}
            for _ in range(args.repeat):  # interleaved, so a slow spell of the machine hits both alike
                for mode in ("prefloop", "bare"):
                    _reset_in_subprocess(env, info["project"])
                    if mode == "prefloop":
                        paths = (f"/api/projects/{info['project']}/comparisons/next/", "/api/comparisons/{id}/ranking/?next=false")
                        workers = [(paths, {"Authorization": f"Token {t}"}) for t in info["tokens"][:level]]
                    else:
                        paths = (f"/bare/claim/{info['project']}/", "/bare/submit/{id}/")
                        workers = [(paths, {"X-User": str(u)}) for u in info["users"][:level]]
                    runs[mode].append(_run(port, server.pid, workers))
            ratios = [p["loops_s"] / b["loops_s"] for p, b in zip(runs["prefloop"], runs["bare"], strict=True)]
            rows.append((level, "prefloop", _merge(runs["prefloop"]) | {"ratios": ratios}))
            rows.append((level, "bare", _merge(runs["bare"])))
    finally:
        server.terminate()
        server.wait(timeout=30)
    _reset_in_subprocess(env, info["project"])
    return [("statements", info["statements"])] + rows


def _print(vendor: str, url: str, args: argparse.Namespace, rows: list[tuple]) -> None:
    statements = rows[0][1]
    threads = args.threads or default_threads(url)
    print(f"\n{vendor} ({threads} threads per process): SQL statements per claim + submit (in-process, transaction control included): {statements}")
    print(f"{'C':>3} {'server':8} {'loops/s':>8} {'claim p50/p95/p99 ms':>22} {'submit p50/p95/p99 ms':>22} "
          f"{'CPU ms/loop':>11} {'DB CPU':>6} {'errors':>8} {'twice':>5} {'busy':>5} ratio (range)")
    for level, mode, r in rows[1:]:
        ratio = ""
        if mode == "prefloop":
            low, high = min(r["ratios"]), max(r["ratios"])
            ratio = f"{statistics.median(r['ratios']):.2f}" + (f" ({low:.2f}–{high:.2f})" if len(r["ratios"]) > 1 else "")
        claim = "/".join(f"{x:.0f}" for x in r["claim"])
        submit = "/".join(f"{x:.0f}" for x in r["submit"])
        errors = ",".join(f"{k}×{v}" for k, v in r["errors"].items()) or "0"
        print(f"{level:>3} {mode:8} {r['loops_s']:8.1f} {claim:>22} {submit:>22} {r['cpu_ms']:11.1f} {r['db_cpu_ms']:6.1f} {errors:>8} {r['twice']:>5} {r['machine_busy']:5.0%} {ratio}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--databases", default="sqlite,postgres", help="sqlite and/or postgres, comma-separated")
    parser.add_argument("--postgres-url", default=PG_URL)
    parser.add_argument("--sqlite-path", default=str(ROOT / "var" / "bench" / "annotation_loop.sqlite3"))
    parser.add_argument("--tasks", type=int, default=300, help="Comparisons in the pool; every run ranks them all.")
    parser.add_argument("--concurrency", default="1,8,32", help="Simulated annotators, comma-separated.")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn processes")
    parser.add_argument("--threads", type=int, help="threads per gunicorn process (default: the shipped setting, 8 on PostgreSQL, 4 on SQLite)")
    parser.add_argument("--repeat", type=int, default=3, help="Runs of each (C, server), interleaved; medians are printed.")
    args = parser.parse_args()
    levels = [int(c) for c in args.concurrency.split(",")]
    print(f"{args.tasks} tasks (K = 4, overlap 1) per run; gunicorn {args.workers} processes; "
          f"{os.cpu_count()} CPUs shared with the client threads (and whatever else runs on the machine)")
    for name in args.databases.split(","):
        if name == "sqlite":
            Path(args.sqlite_path).parent.mkdir(parents=True, exist_ok=True)
            url = f"sqlite:///{args.sqlite_path}"
        else:
            _ensure_postgres_database(args.postgres_url)
            url = args.postgres_url
        _print(name, url, args, bench_database(url, args, levels))


if __name__ == "__main__":
    main()
