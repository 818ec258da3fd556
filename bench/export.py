"""Benchmark preference exports: rows/s, peak memory at two sizes, and the ratio to a bare baseline.

    DEBUG=1 .venv/bin/python bench/export.py                 # 1,000,000 rows (and 100,000) on SQLite
    DEBUG=1 .venv/bin/python bench/export.py --rows 200000
    DEBUG=1 .venv/bin/python bench/export.py --rows 100000 --repeat 3   # best of 3: steadier on a busy machine
    DEBUG=1 .venv/bin/python bench/export.py --database-url postgres://postgres@127.0.0.1:5432/prefloop_bench

Data goes into its own database (var/bench/export.sqlite3 by default) and is reused when it
is already there. Each measurement runs in a fresh process, so its peak RSS (VmHWM) minus
its RSS at the start is the memory that export needed. CPU seconds (all the process's threads)
move less than wall seconds when others share the machine; both ratios are printed. The baseline reads the same rows with
one SQL query and writes `json.dumps` lines: the least any exporter must do.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAIRS_PER_RANKING = 6  # K = 4, one strict order
BATCH = 2000  # comparisons per insert transaction


def _rss_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _django(database_url: str) -> None:
    os.environ.setdefault("DEBUG", "1")
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("PREFLOOP_DATA_DIR", str(ROOT / "var" / "bench" / "data"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def _insert(cursor, table: str, columns: list[str], rows: list[tuple]) -> None:
    from django.db import connection

    names = ", ".join(connection.ops.quote_name(c) for c in columns)
    marks = ", ".join(["%s"] * len(columns))
    cursor.executemany(f"INSERT INTO {connection.ops.quote_name(table)} ({names}) VALUES ({marks})", rows)


def _next_id(cursor, table: str) -> int:
    cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}")
    return cursor.fetchone()[0] + 1


def _generate(slug: str, rows: int) -> None:
    """Insert a project with rows/6 ranked comparisons (K=4) and `rows` preferences, in bulk."""
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction
    from django.utils import timezone

    from labeling.models import Membership, Project

    project = Project.objects.create(name=slug, slug=slug, k=4)
    users = []
    for n in range(20):
        user, _ = get_user_model().objects.get_or_create(username=f"bench-annotator-{n}")
        Membership.objects.get_or_create(project=project, user=user)
        users.append(user.pk)
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    rng = random.Random(0)
    filler = "lorem ipsum dolor sit amet consectetur " * 6
    comparisons = -(-rows // PAIRS_PER_RANKING)
    started = time.monotonic()
    for first in range(0, comparisons, BATCH):
        with transaction.atomic(), connection.cursor() as cur:
            ids = {t: _next_id(cur, f"labeling_{t}") for t in ("prompt", "comparison", "response", "ranking", "preference")}
            prompts, comps, responses, rankings, prefs = [], [], [], [], []
            for n in range(first, min(first + BATCH, comparisons)):
                i = n - first
                pid, cid, rid = ids["prompt"] + i, ids["comparison"] + i, ids["ranking"] + i
                messages = json.dumps([{"role": "user", "content": f"{slug} question {n}: {filler[: 60 + n % 60]}"}])
                prompts.append((pid, project.pk, messages, f"{slug}-{n:064d}"[-64:], "", json.dumps([f"t{n % 5}"]), "", now))
                comps.append((cid, project.pk, pid, f"policy-{n % 3}", "generate", 1, True, now))
                resp_ids = [ids["response"] + 4 * i + p for p in range(4)]
                responses += [(r, cid, p, f"answer {p} to {n}: {filler[: 120 + (n * 7 + p) % 80]}", "bench", "{}") for p, r in enumerate(resp_ids)]
                order = resp_ids[:]
                rng.shuffle(order)
                annotator = users[n % len(users)]
                rankings.append((rid, cid, annotator, json.dumps([[r] for r in order]), "[]", "[]", "", 0, "", now, now))
                pairs = [(a, b, float(j - k)) for k, a in enumerate(order) for j, b in enumerate(order) if j > k]
                for a, b, margin in pairs:
                    prefs.append((ids["preference"] + len(prefs), rid, cid, annotator, a, b, margin, now))
            _insert(cur, "labeling_prompt", ["id", "project_id", "messages", "content_hash", "external_id", "tags", "reference", "created_at"], prompts)
            _insert(cur, "labeling_comparison", ["id", "project_id", "prompt_id", "policy_version", "source", "ranking_count", "complete", "created_at"], comps)
            _insert(cur, "labeling_response", ["id", "comparison_id", "position", "text", "model_name", "generation_params"], responses)
            _insert(cur, "labeling_ranking", ["id", "comparison_id", "annotator_id", "order", "display_order", "flags", "note", "time_spent_ms", "idempotency_key", "created_at", "updated_at"], rankings)
            _insert(cur, "labeling_preference", ["id", "ranking_id", "comparison_id", "annotator_id", "chosen_id", "rejected_id", "margin", "created_at"], prefs)
        done = min(first + BATCH, comparisons) * PAIRS_PER_RANKING
        print(f"\r  generating {slug}: {done:,} rows ({done / (time.monotonic() - started):,.0f}/s)", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            for table in ("prompt", "comparison", "response", "ranking", "preference"):
                cur.execute(f"SELECT setval(pg_get_serial_sequence('labeling_{table}', 'id'), (SELECT MAX(id) FROM labeling_{table}))")
                cur.execute(f"ANALYZE labeling_{table}")


def _ensure(slug: str, rows: int) -> None:
    from labeling.models import Preference, Project

    project = Project.objects.filter(slug=slug).first()
    if project and Preference.objects.filter(comparison__project=project).count() >= rows:
        return
    if project:
        project.delete()
    _generate(slug, rows)


BASELINE_SQL = """
SELECT p.messages, c.text, r.text, pr.margin
FROM labeling_preference pr
JOIN labeling_comparison cm ON cm.id = pr.comparison_id
JOIN labeling_prompt p ON p.id = cm.prompt_id
JOIN labeling_response c ON c.id = pr.chosen_id
JOIN labeling_response r ON r.id = pr.rejected_id
WHERE cm.project_id = %s
ORDER BY pr.comparison_id, pr.id
"""


def _baseline(project, out: Path) -> int:
    """Read the rows with one SQL query and write json.dumps lines (the bare minimum)."""
    from django.db import connection

    connection.ensure_connection()
    raw = connection.connection
    # A server-side cursor on PostgreSQL, so the baseline streams too.
    cursor = raw.cursor(name="bench_baseline") if connection.vendor == "postgresql" else raw.cursor()
    sql = BASELINE_SQL if connection.vendor == "postgresql" else BASELINE_SQL.replace("%s", "?")
    cursor.execute(sql, (project.pk,))
    count = 0
    with open(out, "w", encoding="utf-8") as handle:
        while batch := cursor.fetchmany(5000):
            for messages, chosen, rejected, margin in batch:
                prompt = json.loads(messages) if isinstance(messages, str) else messages
                row = {"prompt": prompt, "chosen": [{"role": "assistant", "content": chosen}], "rejected": [{"role": "assistant", "content": rejected}], "margin": margin}
                handle.write(json.dumps(row) + "\n")
                count += 1
    cursor.close()
    return count


def measure(method: str, slug: str) -> dict:
    """Run one measurement in this (fresh) process; return rows, seconds and memory."""
    import pyarrow.parquet  # noqa: F401  (imports are not the export's memory)

    from labeling.exports import build  # noqa: F401
    from labeling.exports.services import snapshot_create
    from labeling.models import Project

    project = Project.objects.get(slug=slug)
    out = ROOT / "var" / "bench" / f"baseline-{slug}.jsonl"
    start_rss = _rss_kb("VmRSS")
    started, cpu_started = time.perf_counter(), time.process_time()
    if method == "baseline":
        rows = _baseline(project, out)
    else:
        snapshot = snapshot_create(project=project, params={"format": method, "name": f"bench-{method}"})
        rows = snapshot.row_count
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    # Leave no gigabytes behind: the figures are what we keep.
    if method == "baseline":
        out.unlink()
    else:
        shutil.rmtree(snapshot.path)
        snapshot.delete()
    return {"method": method, "rows": rows, "seconds": seconds, "cpu": cpu, "peak_delta_mb": (_rss_kb("VmHWM") - start_rss) / 1024, "peak_rss_mb": _rss_kb("VmHWM") / 1024}


def _child(method: str, slug: str, database_url: str) -> dict:
    command = [sys.executable, __file__, "--database-url", database_url, "--measure", method, "--project", slug]
    done = subprocess.run(command, check=True, capture_output=True, text=True, cwd=ROOT)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="preference rows of the large run")
    parser.add_argument("--small", type=int, default=0, help="rows of the small run (default rows/10)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per method and size, interleaved; figures from the fastest")
    parser.add_argument("--database-url", default=f"sqlite:///{ROOT / 'var' / 'bench' / 'export.sqlite3'}")
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    parser.add_argument("--project", help=argparse.SUPPRESS)
    args = parser.parse_args()
    (ROOT / "var" / "bench").mkdir(parents=True, exist_ok=True)
    _django(args.database_url)
    if args.measure:
        print(json.dumps(measure(args.measure, args.project)))
        return
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    sizes = [args.small or args.rows // 10, args.rows]
    engine = args.database_url.split(":", 1)[0]
    best = f"; best of {args.repeat} interleaved runs, peak memory the highest" if args.repeat > 1 else ""
    print(f"export benchmark on {engine}, {os.cpu_count()} CPUs; each figure from a fresh process{best}")
    print(f"{'rows':>10} {'method':>9} {'seconds':>8} {'rows/s':>9} {'vs base':>8} {'peak Δ MB':>10} {'peak RSS MB':>12} {'CPU s':>7} {'CPU vs base':>12}")
    methods = ("baseline", "jsonl", "parquet")
    for size in sizes:
        slug = f"bench-{size}"
        _ensure(slug, size)
        # Interleaved, so a burst of load from elsewhere on a shared machine hits every method alike.
        runs = [[_child(method, slug, args.database_url) for method in methods] for _ in range(max(1, args.repeat))]
        base = base_cpu = None
        for method, results in zip(methods, zip(*runs, strict=True), strict=True):
            r, cpu = min(results, key=lambda x: x["seconds"]), min(x["cpu"] for x in results)
            peak_delta, peak_rss = max(x["peak_delta_mb"] for x in results), max(x["peak_rss_mb"] for x in results)
            base, base_cpu = base or r["seconds"], base_cpu or cpu
            print(
                f"{r['rows']:>10,} {method:>9} {r['seconds']:>8.1f} {r['rows'] / r['seconds']:>9,.0f} {r['seconds'] / base:>7.2f}x"
                f" {peak_delta:>10.1f} {peak_rss:>12.1f} {cpu:>7.1f} {cpu / base_cpu:>11.2f}x",
                flush=True,
            )


if __name__ == "__main__":
    main()
