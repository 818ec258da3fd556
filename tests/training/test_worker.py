"""The worker: recovers runs orphaned by a dead worker, executes queued runs once, ticks hooks."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone
from django_tasks.base import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from tests.training.helpers import current_policy, fake_jobs  # noqa: F401 - fixture
from training import worker as training_worker
from training.models import Run, RunStatus
from training.services.runs import runs_fail_orphaned
from training.services.schedules import schedules_tick
from training.tasks import RUN_TASK_PATH, runs_requeue_lost

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fake_jobs")]

HOST = socket.gethostname()


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _running(project, *, worker: str, heartbeat_age_s: float = 0, pid: int | None = None, kind: str = "dpo") -> Run:
    return Run.objects.create(
        project=project, kind=kind, status=RunStatus.RUNNING, worker=worker, pid=pid,
        heartbeat_at=timezone.now() - timedelta(seconds=heartbeat_age_s), started_at=timezone.now(),
    )


def test_a_run_whose_worker_process_died_is_failed_with_the_reason(project):
    run = _running(project, worker=f"{HOST}:{_dead_pid()}")
    assert runs_fail_orphaned() == [run]
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    assert "process not alive" in run.error and run.worker in run.error


def test_a_run_with_a_stale_heartbeat_from_another_host_is_failed(project, settings):
    run = _running(project, worker="elsewhere:123", heartbeat_age_s=settings.PREFLOOP_STALE_AFTER_S + 5)
    runs_fail_orphaned()
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED and "stopped sending heartbeats" in run.error


def test_a_live_run_is_left_alone(project):
    alive = _running(project, worker=f"{HOST}:{os.getppid()}")  # our parent: alive, fresh heartbeat
    remote = _running(project, worker="elsewhere:123", heartbeat_age_s=1, kind="reward")
    assert runs_fail_orphaned() == []
    assert set(Run.objects.filter(pk__in=[alive.pk, remote.pk]).values_list("status", flat=True)) == {RunStatus.RUNNING}


def test_the_orphaned_job_process_is_killed_too(project):
    run = _running(project, worker=f"{HOST}:{_dead_pid()}")
    job = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)"],
        env={**os.environ, "PREFLOOP_RUN_ID": str(run.pk)}, start_new_session=True,
    )
    Run.objects.filter(pk=run.pk).update(pid=job.pid)
    runs_fail_orphaned()
    assert job.wait(timeout=5) == -9


def test_a_reused_pid_of_an_unrelated_process_is_not_killed(project):
    run = _running(project, worker=f"{HOST}:{_dead_pid()}")
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    try:
        Run.objects.filter(pk=run.pk).update(pid=stranger.pid)
        runs_fail_orphaned()
        assert stranger.poll() is None
    finally:
        stranger.kill()
        stranger.wait()


@pytest.mark.django_db(transaction=True)  # the worker loop manages its own connections and transactions
def test_worker_command_recovers_orphans_then_runs_the_queue(project):
    from training.services.runs import run_create

    current_policy(project)
    orphan = _running(project, worker=f"{HOST}:{_dead_pid()}", kind="reward")
    queued = run_create(project=project, kind="dpo", config={"steps": 2})  # enqueued on commit (autocommit)

    call_command("worker", batch=True, startup_delay=False, verbosity=0)

    orphan.refresh_from_db()
    queued.refresh_from_db()
    assert orphan.status == RunStatus.FAILED
    assert queued.status == RunStatus.SUCCEEDED and queued.progress == 1.0
    assert queued.worker == f"{HOST}:{os.getpid()}"


def test_tick_calls_every_hook_even_after_one_fails(monkeypatch):
    calls = []
    monkeypatch.setattr(training_worker, "TICK_HOOKS", [broken_hook, noting_hook])
    monkeypatch.setattr(sys.modules[__name__], "CALLS", calls, raising=False)
    training_worker.tick()
    assert calls == ["broken", "noted"]


CALLS: list[str] = []


def broken_hook() -> None:
    sys.modules[__name__].CALLS.append("broken")
    raise RuntimeError("boom")


def noting_hook() -> None:
    sys.modules[__name__].CALLS.append("noted")


def test_the_default_hooks_recover_orphans_then_fire_schedules():
    assert training_worker.TICK_HOOKS == [runs_fail_orphaned, runs_requeue_lost, schedules_tick]


def _task_of(run: Run) -> DBTaskResult:
    return DBTaskResult.objects.get(task_path=RUN_TASK_PATH, args_kwargs__args=[run.pk])


def _queued(project) -> Run:  # type: ignore[no-untyped-def]
    from training.services.runs import run_create

    current_policy(project)
    return run_create(project=project, kind="dpo", config={"steps": 2})  # its task is enqueued on commit


@pytest.mark.django_db(transaction=True)  # commits, as in production: the worker then sees what a dead one left
def test_a_run_whose_task_a_dead_worker_took_off_the_queue_is_queued_again_and_runs_once(project, settings):
    run = _queued(project)
    taken = _task_of(run)
    taken.claim("worker-that-died")  # it took the task, then died before starting the run
    DBTaskResult.objects.filter(pk=taken.pk).update(started_at=timezone.now() - timedelta(seconds=settings.PREFLOOP_STALE_AFTER_S + 5))

    call_command("worker", batch=True, startup_delay=False, verbosity=0)

    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED and run.progress == 1.0
    tasks = DBTaskResult.objects.filter(task_path=RUN_TASK_PATH).order_by("enqueued_at")
    assert [t.status for t in tasks] == [TaskResultStatus.FAILED, TaskResultStatus.SUCCESSFUL]  # the dropped one, the rerun
    assert tasks[1].return_value == RunStatus.SUCCEEDED


@pytest.mark.django_db(transaction=True)
def test_a_run_a_live_worker_just_took_is_not_queued_twice(project):
    run = _queued(project)
    _task_of(run).claim("busy-worker")  # a moment ago: it is about to start the run
    assert runs_requeue_lost() == []
    assert DBTaskResult.objects.filter(task_path=RUN_TASK_PATH).count() == 1
