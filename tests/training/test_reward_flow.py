"""The reward model flow: the first one becomes current, later ones are offered "Make current", errors say the real state."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from labeling.models import Role
from tests.factories import add_member, make_project, make_user
from tests.training.helpers import complete_model_dir, current_policy
from tests.training.loop_helpers import CHAIN_JOBS, rank_new_comparisons
from training.models import MetricPoint, ModelKind, ProjectModels, Recipe, Run, RunKind, RunStatus, Schedule
from training.orchestration import run_execute
from training.services.registry import model_version_register
from training.services.schedules import ScheduleData, schedule_save
from training.services.triggers import TrainRequest, train_start

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fake_jobs(settings):
    settings.PREFLOOP_JOB_MODULES = CHAIN_JOBS
    settings.PREFLOOP_RUNNER_POLL_S = 0.05


@pytest.fixture
def ranked(db):
    project = make_project(k=2)
    rank_new_comparisons(project, 4)
    current_policy(project)
    manager = make_user()
    add_member(project, manager, Role.MANAGER)
    return project, manager


def _reward_run(project) -> Run:
    run = train_start(project=project, request=TrainRequest(kind=RunKind.REWARD))
    run_execute(run.pk)
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED, run.error
    return run


def _current_reward(project):
    return ProjectModels.objects.get(project=project).reward


def test_the_first_reward_model_becomes_current_and_ppo_can_start(ranked, client):
    project, manager = ranked
    run = _reward_run(project)
    assert _current_reward(project).pk == run.outputs["model_version_id"]
    client.force_login(manager)
    html = client.get(reverse("training:run-detail", args=[run.pk])).content.decode()
    assert "the project's current reward (its first)" in html and 'data-testid="run-make-current"' not in html
    ppo = train_start(project=project, request=TrainRequest(kind=RunKind.PPO))
    assert ppo.status == RunStatus.QUEUED


def test_a_later_reward_model_is_offered_make_current_to_managers_only(ranked, client):
    project, manager = ranked
    first = _reward_run(project)
    second = _reward_run(project)
    assert _current_reward(project).pk == first.outputs["model_version_id"]  # the current one stays
    url = reverse("training:run-detail", args=[second.pk])
    annotator = make_user()
    add_member(project, annotator, Role.ANNOTATOR)
    client.force_login(annotator)
    assert 'data-testid="run-make-current"' not in client.get(url).content.decode()
    assert client.post(reverse("training:model-promote", args=[second.outputs["model_version_id"]])).status_code == 403
    client.force_login(manager)
    assert 'data-testid="run-make-current"' in client.get(url).content.decode()
    client.post(reverse("training:model-promote", args=[second.outputs["model_version_id"]]))
    assert _current_reward(project).pk == second.outputs["model_version_id"]


def test_an_rl_run_without_a_current_reward_model_names_the_one_that_exists(ranked, settings):
    settings.PREFLOOP_JOB_MODULES = {**CHAIN_JOBS, "ppo": "training.jobs.ppo"}  # its config reads a reward model
    project, _ = ranked
    model_version_register(project=project, kind=ModelKind.REWARD, name="reward-2",
                           path=str(complete_model_dir("reward-2")))
    with pytest.raises(ValidationError) as info:
        train_start(project=project, request=TrainRequest(kind=RunKind.PPO))
    assert "reward-2 exists but is not current — make it current" in " ".join(info.value.messages)


def test_a_schedule_whose_chain_cannot_start_is_refused_when_saved(ranked, client):
    project, manager = ranked
    with pytest.raises(ValidationError) as info:
        schedule_save(project=project, data=ScheduleData(recipe=Recipe.DPO, every_n_preferences=10, auto_promote=True))
    assert "the dpo recipe's evaluate step needs the project's current reward model: none has been trained yet" in (
        info.value.message_dict["recipe"][0]
    )
    client.force_login(manager)
    response = client.post(reverse("training:schedule-list", args=[project.pk]),
                           {"recipe": "dpo", "enabled": "on", "every_n_preferences": "10", "min_win_rate": "0.5",
                            "config": "{}"})
    assert response.status_code == 400 and "cannot start" in response.content.decode()
    assert not Schedule.objects.exists()
    # A recipe that trains its reward model first can start, so it is saved.
    schedule_save(project=project, data=ScheduleData(recipe=Recipe.REWARD_PPO, every_n_preferences=10))
    assert Schedule.objects.count() == 1


def test_the_run_page_warns_about_pairs_the_job_dropped(ranked, client):
    project, manager = ranked
    message = "Dropped 78 of 262 train pairs: longer than max_length 256 tokens (the model's context window); they were not trained on."
    run = Run.objects.create(project=project, kind=RunKind.REWARD, status=RunStatus.SUCCEEDED,
                             outputs={"result": {"data_warnings": [{"action": "dropped", "count": 78, "message": message}],
                                                 "defaults": "auto: learning_rate 0.00082 (model of 0.15M parameters)"}})
    client.force_login(manager)
    html = client.get(reverse("training:run-detail", args=[run.pk])).content.decode()
    assert "Dropped 78 of 262 train pairs: longer than max_length 256 tokens (the model&#x27;s context window)" in html
    assert 'role="alert" data-testid="run-data-warning"' in html
    assert "auto: learning_rate 0.00082" in html


def test_the_run_page_shows_held_out_accuracy_before_after_and_data_warnings_apart_from_figures(ranked, client):
    """Seen on `make demo`: the two drop warnings (train 90, eval 6) read as "Dropped pairs 90 → 6" and "Reason …"."""
    project, manager = ranked
    message = "Dropped 90 of 336 train pairs: longer than max_length 256 tokens (the model's context window); they were not trained on."
    run = Run.objects.create(project=project, kind=RunKind.REWARD, status=RunStatus.RUNNING)
    for step, values in [
        (0, {"dropped_pairs": 90, "split": "train", "reason": message}),
        (0, {"dropped_pairs": 6, "split": "eval", "reason": "Dropped 6 of 24 eval pairs: longer than max_length."}),
        (0, {"eval_accuracy": 0.5, "eval_reward_margin": 0.0}),
        (10, {"loss": 0.7, "accuracy": 0.6}),
        (93, {"loss": 0.2, "accuracy": 1.0}),
    ]:
        MetricPoint.objects.create(run=run, step=step, values=values)
    client.force_login(manager)
    url = reverse("training:run-detail", args=[run.pk])
    page = client.get(url)
    html = page.content.decode()
    assert page.context["data_warnings"][0] == message  # while running: from the metrics
    assert html.count('data-testid="run-data-warning"') == 2
    names = [f.name for f in page.context["key_figures"]]
    assert "Dropped pairs" not in names and "Reason" not in html and "Split" not in html
    MetricPoint.objects.create(run=run, step=93, values={"eval_accuracy": 0.944, "eval_reward_margin": 2.18})
    run.status, run.outputs = RunStatus.SUCCEEDED, {"result": {"data_warnings": [{"message": message}]}}
    run.save()
    page = client.get(url)
    figures = {f.name: (f.before, f.after) for f in page.context["key_figures"]}
    assert list(figures)[0] == "held-out pair accuracy" and figures["held-out pair accuracy"] == ("0.5", "0.944")
    assert page.context["data_warnings"] == [message]  # finished: the result's list
