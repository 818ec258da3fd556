"""Import an N-row Parquet file into a fresh SQLite project and print time and memory.

    .venv/bin/python bench/import_parquet.py --rows 1000000

Prints rows/s, the peak RSS of the process, and the RSS after each tenth of the rows: flat
memory means the RSS stops growing once the first batches are in (rows stream in batches of
1,000; only a 16-character digest per distinct external id is kept, for the duplicate-id check).
Runs in a temporary data directory (removed at the end); nothing of yours is touched.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path


def write_parquet(path: Path, rows: int, *, ids: bool) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([("id", pa.string()), ("question", pa.string()), ("answer", pa.string()), ("tags", pa.list_(pa.string()))])
    with pq.ParquetWriter(path, schema, compression="zstd") as writer:
        for start in range(0, rows, 100_000):
            n = range(start, min(rows, start + 100_000))
            writer.write_table(pa.table({
                "id": [f"q{i}" if ids else None for i in n],
                "question": [f"Question {i}: what is {i} plus {i % 97}? Explain the steps briefly." for i in n],
                "answer": [str(i + i % 97) for i in n],
                "tags": [["maths", f"bucket-{i % 10}"] for i in n],
            }, schema=schema), row_group_size=10_000)


def rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--no-ids", action="store_true", help="rows without an external id")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="prefloop-bench-import-"))
    os.environ.update({"PREFLOOP_DATA_DIR": str(work), "DEBUG": "1", "DJANGO_SETTINGS_MODULE": "config.settings"})
    os.environ.pop("DATABASE_URL", None)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    settings.DEBUG = False  # DEBUG keeps every SQL statement in memory (connection.queries); production runs without

    from labeling.models import Project, Prompt
    from labeling.services import prompts_import
    from labeling.services.import_sources import parquet_source

    call_command("migrate", verbosity=0)
    project = Project.objects.create(name="bench", slug="bench", k=4)
    path = work / "prompts.parquet"
    write_parquet(path, args.rows, ids=not args.no_ids)
    print(f"{args.rows:,} rows, {path.stat().st_size / 2**20:.1f} MB Parquet; RSS before import {rss_mb():.0f} MB")
    marks: list[tuple[int, float]] = []
    step = max(args.rows // 10, 1)

    def progress(done: int, total: int | None) -> None:
        if done >= step * (len(marks) + 1) or done == total:
            marks.append((done, rss_mb()))

    started = time.monotonic()
    try:
        result = prompts_import(project=project, source=parquet_source(path), progress=progress)
        seconds = time.monotonic() - started
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        assert Prompt.objects.filter(project=project).count() == result.created_prompts == args.rows
        print(f"imported {result.rows:,} rows in {seconds:.1f} s ({result.rows / seconds:,.0f} rows/s); peak RSS {peak:.0f} MB")
        print("RSS by rows done: " + ", ".join(f"{done // 1000}k {mb:.0f} MB" for done, mb in marks))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
