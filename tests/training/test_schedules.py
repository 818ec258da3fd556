"""Schedules: fire after N new preferences (not before), every T hours, exactly once under races."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from labeling.models import DatasetSnapshot, Role
from tests.factories import add_member, make_project, make_user
from tests.training.helpers import current_policy
from tests.training.loop_helpers import CHAIN_JOBS, mark_finished, rank_new_comparisons
from training.models import ModelKind, Recipe, Run, RunKind, RunStatus, Schedule
from training.runner.snapshot import snapshot_ensure
from training.selectors import schedule_status
from training.services.schedules import ScheduleData, schedule_fire, schedule_save, schedules_tick

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _chain_jobs(settings):
    settings.PREFLOOP_JOB_MODULES = CHAIN_JOBS


@pytest.fixture
def project2(db):
    """A project with a current reward model, so a dpo chain's evaluate step can start."""
    project = make_project(k=2)
    current_policy(project, "reward-v0", kind=ModelKind.REWARD)
    return project


def _schedule(project, **fields) -> Schedule:
    return schedule_save(project=project, data=ScheduleData(**{"recipe": Recipe.DPO, **fields}))


def test_fires_after_n_new_preferences_and_not_before(project2):
    schedule = _schedule(project2, every_n_preferences=3)
    rank_new_comparisons(project2, 2)
    assert schedules_tick() == []
    assert schedule_status(schedule).text == "in 1 preference"

    rank_new_comparisons(project2, 1)
    [run] = schedules_tick()
    assert (run.kind, run.status, run.schedule_id) == (RunKind.DPO, RunStatus.QUEUED, schedule.pk)
    assert run.snapshot.status == "pending"  # exported by the run's worker, not by the tick
    snapshot_ensure(run)
    run.snapshot.refresh_from_db()
    assert run.snapshot.train_rows + run.snapshot.test_rows == 3  # a fresh snapshot of everything so far
    assert run.chain_step.index == 0 and "3 new preferences" in run.chain_step.reason
    schedule.refresh_from_db()
    assert schedule.last_fired_at is not None
    assert schedules_tick() == []  # nothing new, and its chain is running
    assert schedule_status(schedule).text == f"waiting for dpo run #{run.pk} to finish"


def test_preferences_from_before_the_schedule_do_not_count(project2):
    rank_new_comparisons(project2, 5)
    schedule = _schedule(project2, every_n_preferences=3)
    assert schedules_tick() == []
    assert schedule_status(schedule).remaining_preferences == 3


def test_next_count_starts_after_the_last_firing(project2):
    _schedule(project2, every_n_preferences=2)
    rank_new_comparisons(project2, 2)
    [first] = schedules_tick()
    mark_finished(first)
    rank_new_comparisons(project2, 1)
    assert schedules_tick() == []
    rank_new_comparisons(project2, 1)
    [second] = schedules_tick()
    assert second.pk != first.pk and second.snapshot_id != first.snapshot_id


def test_every_t_hours_fires_when_due_and_only_with_something_new(project2):
    schedule = _schedule(project2, every_hours=2.0)
    rank_new_comparisons(project2, 1)
    now = timezone.now()
    assert schedules_tick(now=now + timedelta(hours=1)) == []
    assert schedule_status(schedule, now=now).text.startswith(("at ", "on "))
    [run] = schedules_tick(now=now + timedelta(hours=2, minutes=1))
    assert "2 h since the last run" in run.chain_step.reason
    mark_finished(run)

    # Two hours later with no new preference: nothing to learn from, so no run.
    assert schedules_tick(now=now + timedelta(hours=4, minutes=2)) == []
    schedule.refresh_from_db()
    assert schedule_status(schedule, now=now + timedelta(hours=4, minutes=2)).text == "once new preferences arrive"
    rank_new_comparisons(project2, 1)
    assert len(schedules_tick(now=now + timedelta(hours=4, minutes=3))) == 1


def test_disabled_schedule_never_fires(project2):
    schedule = _schedule(project2, every_n_preferences=1, enabled=False)
    rank_new_comparisons(project2, 3)
    assert schedules_tick() == []
    assert schedule_status(schedule).text == "disabled"


def test_two_ticks_in_a_row_make_one_run(project2):
    _schedule(project2, every_n_preferences=1)
    rank_new_comparisons(project2, 2)
    assert len(schedules_tick()) == 1
    assert schedules_tick() == []
    assert Run.objects.filter(project=project2).count() == 1
    assert DatasetSnapshot.objects.filter(project=project2).count() == 1


def test_a_manual_run_of_the_same_kind_makes_the_schedule_wait(project2):
    _schedule(project2, every_n_preferences=1)
    rank_new_comparisons(project2, 1)
    manual = Run.objects.create(project=project2, kind=RunKind.DPO)
    assert schedules_tick() == []
    mark_finished(manual, RunStatus.CANCELLED)
    assert len(schedules_tick()) == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_ticks_racing_on_postgresql_make_one_run_and_one_snapshot():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (DATABASE_URL)")
    project = make_project(k=2)
    current_policy(project, "reward-v0", kind=ModelKind.REWARD)  # the dpo chain's evaluate step needs one
    schedule = _schedule(project, every_n_preferences=2)
    rank_new_comparisons(project, 3)
    barrier = threading.Barrier(2)
    results: list = [None, None]

    def tick(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[i] = schedule_fire(schedule_id=schedule.pk)
        except Exception as exc:  # noqa: BLE001 - reported to the test
            results[i] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=tick, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    runs = [r for r in results if isinstance(r, Run)]
    assert len(runs) == 1 and results.count(None) == 1, results
    assert Run.objects.filter(project=project).count() == 1
    assert DatasetSnapshot.objects.filter(project=project).count() == 1


def test_a_submit_reads_no_schedule_and_the_next_tick_fires_it(project2):
    schedule = _schedule(project2, every_n_preferences=1)
    with CaptureQueriesContext(connection) as queries:
        rank_new_comparisons(project2, 1)
    assert [q["sql"] for q in queries.captured_queries if Schedule._meta.db_table in q["sql"]] == []
    [run] = schedules_tick()
    assert run.schedule_id == schedule.pk and "1 new preferences" in run.chain_step.reason


def test_a_firing_that_cannot_export_leaves_a_failed_run_saying_why(project2):
    schedule = _schedule(project2, every_n_preferences=5)
    run = schedule_fire(schedule_id=schedule.pk, force=True)
    assert run.status == RunStatus.FAILED and run.schedule_id == schedule.pk
    assert "Nothing to export" in run.error
    assert not Run.objects.filter(status__in=[RunStatus.QUEUED, RunStatus.RUNNING]).exists()


def test_bad_schedule_hyperparameters_are_refused_naming_kind_and_field(project2, settings):
    settings.PREFLOOP_JOB_MODULES = {}  # the real jobs' configs
    with pytest.raises(Exception) as info:
        _schedule(project2, every_n_preferences=3, config={"dpo": {"beta": -1.0}})
    assert "dpo.beta" in str(info.value)
    with pytest.raises(Exception) as info:
        _schedule(project2, every_n_preferences=3, config={"ppo": {}})
    assert "ppo: not a step of the dpo recipe" in str(info.value)
    assert not Schedule.objects.exists()


def _manager_client(client, project):
    user = make_user()
    add_member(project, user, Role.MANAGER)
    client.force_login(user)
    return user


def test_schedule_page_creates_edits_disables_and_shows_the_next_trigger(client, project2, settings):
    settings.PREFLOOP_JOB_MODULES = {}
    _manager_client(client, project2)
    url = reverse("training:schedule-list", args=[project2.pk])
    bad = client.post(
        url, {"recipe": "dpo", "min_win_rate": "0.5", "config": '{"dpo": {"beta": -1}}', "every_n_preferences": "4"}
    )
    assert bad.status_code == 400 and "dpo.beta" in bad.content.decode()
    none = client.post(url, {"recipe": "dpo", "min_win_rate": "0.5", "config": "{}"})
    assert none.status_code == 400 and "Set a number of new preferences" in none.content.decode()

    response = client.post(
        url,
        {
            "recipe": "dpo",
            "every_n_preferences": "4",
            "min_win_rate": "0.6",
            "auto_promote": "on",
            "enabled": "on",
            "config": '{"dpo": {"beta": 0.2}}',
        },
    )
    assert response.status_code == 302
    schedule = Schedule.objects.get(project=project2)
    assert (schedule.every_n_preferences, schedule.min_win_rate, schedule.auto_promote, schedule.config) == (
        4,
        0.6,
        True,
        {"dpo": {"beta": 0.2}},
    )
    rank_new_comparisons(project2, 1)
    page = client.get(reverse("labeling:project-detail", args=[project2.pk])).content.decode()
    assert 'data-testid="schedule-next">in 3 preferences<' in page
    assert 'data-testid="prefs-since-last-run">1<' in page

    edit = reverse("training:schedule-edit", args=[schedule.pk])
    assert 'value="4"' in client.get(edit).content.decode()
    client.post(
        edit, {"recipe": "dpo", "every_n_preferences": "2", "min_win_rate": "0.6", "enabled": "on", "config": "{}"}
    )
    schedule.refresh_from_db()
    assert schedule.every_n_preferences == 2

    toggled = client.post(reverse("training:schedule-toggle", args=[schedule.pk]), HTTP_HX_REQUEST="true")
    assert toggled.content.decode().lstrip().startswith('<section class="panel" id="schedule-table"')
    schedule.refresh_from_db()
    assert not schedule.enabled


def test_schedule_pages_are_for_managers_only(client, project2):
    schedule = _schedule(project2, every_n_preferences=3)
    annotator, outsider = make_user(), make_user()
    add_member(project2, annotator)
    client.force_login(annotator)
    assert client.get(reverse("training:schedule-list", args=[project2.pk])).status_code == 403
    assert client.post(reverse("training:schedule-fire", args=[schedule.pk])).status_code == 403
    client.force_login(outsider)
    assert client.get(reverse("training:schedule-edit", args=[schedule.pk])).status_code == 404
    assert client.post(reverse("training:schedule-toggle", args=[schedule.pk])).status_code == 404
    assert not Run.objects.exists()


def test_admin_refuses_a_schedule_with_bad_hyperparameters_naming_the_field(project):
    from training.admin import ScheduleAdminForm

    base = {"project": project.pk, "recipe": "dpo", "enabled": True, "every_n_preferences": 10,
            "min_win_rate": 0.5, "last_preference_id": 0}
    bad = ScheduleAdminForm(data={**base, "config": '{"dpo": {"no_such_knob": 1}}'})  # dpo is the fake job here
    assert not bad.is_valid()
    assert "no_such_knob" in str(bad.errors["config"])
    no_trigger = ScheduleAdminForm(data={**base, "every_n_preferences": "", "config": "{}"})
    assert not no_trigger.is_valid() and "every_n_preferences" in no_trigger.errors
    good = ScheduleAdminForm(data={**base, "config": '{"dpo": {"steps": 2}}'})
    assert good.is_valid(), good.errors
