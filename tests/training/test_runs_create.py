"""Creating runs: configs validated per kind with the field named, one active run per project and kind."""

from __future__ import annotations

import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, connections

from tests.training.helpers import current_policy, fake_jobs  # noqa: F401 - fixture
from training.models import Run, RunStatus
from training.services.runs import ActiveRunExists, run_cancel, run_create

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fake_jobs")]


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"learnin_rate": 0.1}, "learnin_rate"),  # unknown key (a typo)
        ({"steps": "ten"}, "steps"),  # wrong type
        ({"steps": 2.5}, "steps"),  # float for an int
        ({"learning_rate": 5.0}, "learning_rate"),  # out of range (the job's own validate())
        ({"mode": "sideways"}, "mode"),
        ({"output_dir": "/etc"}, "output_dir"),  # a system field is not the user's to set
    ],
)
def test_bad_config_is_refused_naming_the_field(project, config, field):
    with pytest.raises(ValidationError) as info:
        run_create(project=project, kind="dpo", config=config)
    message = " ".join(info.value.message_dict["config"])
    assert message.startswith(f"{field}:"), message
    assert not Run.objects.exists()


def test_config_is_stored_with_defaults_filled_in(project):
    run = run_create(project=project, kind="dpo", config={"steps": 7})
    assert run.config == {"mode": "ok", "steps": 7, "step_s": 0.02, "learning_rate": 1e-3}


def test_unknown_kind_is_refused(project):
    with pytest.raises(ValidationError) as info:
        run_create(project=project, kind="telepathy", config={})
    assert "kind" in info.value.message_dict


def test_second_active_run_of_a_kind_is_refused_with_the_first_ones_id(project):
    first = run_create(project=project, kind="dpo", config={})
    with pytest.raises(ActiveRunExists) as info:
        run_create(project=project, kind="dpo", config={})
    assert info.value.message_dict["kind"] == [f"a dpo run is already active: #{first.pk}"]
    # Another kind, or the same kind once the first has ended, is fine.
    run_create(project=project, kind="generate", config={})
    run_cancel(run=first)
    assert run_create(project=project, kind="dpo", config={}).pk != first.pk


def test_creating_a_run_enqueues_its_task_after_commit(project, django_capture_on_commit_callbacks):
    from django_tasks_db.models import DBTaskResult

    with django_capture_on_commit_callbacks(execute=True):
        run = run_create(project=project, kind="dpo", config={})
    task = DBTaskResult.objects.get()
    assert task.task_path == "training.tasks.run_execute_task"
    assert task.args_kwargs["args"] == [run.pk]


def test_cancelling_a_queued_run_ends_it_at_once(project):
    run = run_cancel(run=run_create(project=project, kind="dpo", config={}))
    assert run.status == RunStatus.CANCELLED


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_creates_make_one_run_on_postgresql(project):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (DATABASE_URL)")
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def click() -> None:
        try:
            barrier.wait()
            run_create(project=project, kind="dpo", config={})
            outcomes.append("created")
        except ActiveRunExists as exc:
            outcomes.append(exc.messages[0])
        finally:
            connections.close_all()

    threads = [threading.Thread(target=click) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    run = Run.objects.get(project=project, kind="dpo")
    assert sorted(outcomes) == sorted(["created", f"a dpo run is already active: #{run.pk}"])
