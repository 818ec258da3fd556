"""gunicorn settings for `make serve` / `make demo` (scripts/serve.sh) and production.

Threads, not just processes: a request mostly waits on the database, and a thread costs far
less memory than a process (each process imports Django, DRF and the app: ~80 MB). One
process per core keeps every core busy with Python; WEB_CONCURRENCY and GUNICORN_THREADS
override the sizing. On SQLite more processes only queue on its one write lock, and fewer
threads do better: a thread that holds the write lock between the statements of a submit
waits for the GIL behind the others, and every writer waits with it (bench/annotation_loop.py at
32 annotators, two servers side by side, interleaved runs: 238–275 loops/s with 4 threads against
225–227 with 8, and a lower p95). On PostgreSQL the same comparison went either way (147 against
173, then 192 against 174), so 8 stay: against a database on another machine a thread waits longer.
"""

from __future__ import annotations

import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", f"127.0.0.1:{os.environ.get('PORT', '8000')}")
worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY", max(2, multiprocessing.cpu_count())))


def default_threads(database_url: str) -> int:
    """Threads per process unless GUNICORN_THREADS says otherwise: 8 on PostgreSQL, 4 on SQLite."""
    return 8 if database_url.startswith(("postgres://", "postgresql://")) else 4


threads = int(os.environ.get("GUNICORN_THREADS") or default_threads(os.environ.get("DATABASE_URL", "")))
keepalive = 30  # annotators keep one connection open between claim and submit
timeout = 120  # uploads and exports may take a while; a hung worker is still restarted
graceful_timeout = 30
max_requests = 5000  # recycle processes now and then (memory), staggered by the jitter
max_requests_jitter = 500
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
reload = os.environ.get("GUNICORN_RELOAD", "") == "1"
