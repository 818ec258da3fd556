"""Scale-out on PostgreSQL: two `manage.py worker` processes share one database and its queue.

Every queued run executes exactly once (the ledger the fake job writes), runs of different
projects train in parallel on the two workers, and when one worker is killed mid-run the other
notices (the dead worker's run is failed with the reason, its job process killed) and drains
the rest of the queue: nothing is lost and nothing is left running.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection  # noqa: F401 - read by the skipif condition below

from tests.factories import make_project
from tests.processes import live_database_url
from tests.training.helpers import current_policy, fake_jobs  # noqa: F401 - fixture
from training.models import Run, RunStatus
from training.services.runs import run_create

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif("connection.vendor != 'postgresql'", reason="needs PostgreSQL (DATABASE_URL)"),
    pytest.mark.usefixtures("fake_jobs"),
]

ROOT = Path(__file__).resolve().parents[2]
TERMINAL = {RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED}


def _start_worker(ledger: Path) -> subprocess.Popen:
    env = {
        **os.environ, "DJANGO_SETTINGS_MODULE": "tests.training.worker_settings", "DATABASE_URL": live_database_url(),
        "PREFLOOP_DATA_DIR": str(settings.DATA_DIR), "PREFLOOP_TEST_LEDGER": str(ledger), "DEBUG": "1",
        "PYTHONPATH": str(ROOT), "LOG_LEVEL": "WARNING",
    }
    command = [sys.executable, "manage.py", "worker", "--no-startup-delay", "--interval", "0.2", "--tick-interval", "1"]
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _wait_for(condition, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


@pytest.mark.django_db(transaction=True)
def test_two_workers_run_a_dozen_queued_runs_once_each_and_survive_one_being_killed(tmp_path):
    ledger = tmp_path / "ledger.txt"
    ledger.touch()
    projects = [make_project() for _ in range(6)]
    for project in projects:
        current_policy(project)
    runs = [
        run_create(project=project, kind=kind, config={"steps": 5, "step_s": 0.1})
        for kind in ("dpo", "reward")
        for project in projects  # queue order alternates projects: neighbours are different projects
    ]
    workers = [_start_worker(ledger), _start_worker(ledger)]
    victim, survivor = workers
    host = socket.gethostname()
    try:
        names = {f"{host}:{victim.pid}", f"{host}:{survivor.pid}"}
        training = Run.objects.filter(status=RunStatus.RUNNING, pid__isnull=False)  # job process spawned
        both_running = lambda: set(training.values_list("worker", flat=True)) == names  # noqa: E731
        _wait_for(both_running, 60, "both workers to be running a job")
        running = list(training)
        killed_run = next(r for r in running if r.worker == f"{host}:{victim.pid}")
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=10)
        ids = [r.pk for r in runs]
        _wait_for(lambda: Run.objects.filter(pk__in=ids, status__in=TERMINAL).count() == len(ids), 120, "the queue to drain")
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGINT)
        for worker in workers:
            try:
                worker.wait(timeout=15)
            except subprocess.TimeoutExpired:
                worker.kill()

    finished = list(Run.objects.filter(pk__in=ids))
    executions = Counter(int(line.split()[0]) for line in ledger.read_text().splitlines())
    # Every run executed exactly once; the killed one at most once (its job may be killed by the
    # survivor before it got as far as writing its line).
    assert {pk: executions[pk] for pk in ids if pk != killed_run.pk} == {pk: 1 for pk in ids if pk != killed_run.pk}
    assert executions[killed_run.pk] <= 1 and set(executions) <= set(ids)
    by_status = Counter(r.status for r in finished)
    assert by_status == {RunStatus.SUCCEEDED: len(ids) - 1, RunStatus.FAILED: 1}
    killed_run.refresh_from_db()
    assert killed_run.status == RunStatus.FAILED and "gone" in killed_run.error  # noticed by the survivor
    assert {r.worker for r in finished} <= names
    assert len({r.project_id for r in running}) == 2  # two projects were training at the same moment
