"""Following the loop through the API: metric history, what a generate run made, prompt selections; the run page's lead figure."""

from __future__ import annotations

import pytest
from django.urls import reverse

from labeling.models import Comparison
from tests.factories import add_member, api_client_for, make_project, make_prompt, make_user
from tests.training.helpers import current_policy, fake_jobs  # noqa: F401 - fixture
from tests.training.loop_helpers import rank_new_comparisons
from training.models import MetricPoint, ModelKind, Run, RunKind, RunStatus
from training.orchestration import run_execute
from training.selectors import held_out_prompt_ids
from training.services.generation import generation_round_start
from training.services.triggers import training_snapshot_create

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fake_jobs")]


@pytest.fixture
def api(manager):
    return api_client_for(manager)


def test_metric_history_is_listed_oldest_first_paginated_and_filtered(project, api):
    run = Run.objects.create(project=project, kind=RunKind.DPO, status=RunStatus.SUCCEEDED)
    for step in range(5):
        MetricPoint.objects.create(run=run, step=step, values={"loss": 1.0 - step / 10, **({"eval_reward_accuracy": step / 4} if step % 2 == 0 else {})})
    page = api.get(f"/api/runs/{run.pk}/metrics/?limit=2").json()
    assert page["count"] == 5 and [p["step"] for p in page["results"]] == [0, 1]
    assert page["results"][1]["values"] == {"loss": 0.9} and page["next"]
    only = api.get(f"/api/runs/{run.pk}/metrics/?name=eval_reward_accuracy").json()
    assert [(p["step"], p["values"]) for p in only["results"]] == [
        (0, {"eval_reward_accuracy": 0.0}), (2, {"eval_reward_accuracy": 0.5}), (4, {"eval_reward_accuracy": 1.0})
    ]
    other = Run.objects.create(project=make_project(), kind=RunKind.DPO)
    assert api.get(f"/api/runs/{other.pk}/metrics/").status_code == 404


def test_a_generate_run_lists_its_comparisons_and_a_lease_names_their_policy(project, manager, api):
    policy = current_policy(project, "policy-v3")
    for _ in range(3):
        make_prompt(project)
    run = generation_round_start(project=project, user=manager, which="all")
    assert run_execute(run.pk) == RunStatus.SUCCEEDED
    ids = api.get(f"/api/runs/{run.pk}/").json()["outputs"]["generated"]["comparison_ids"]
    assert sorted(ids) == sorted(Comparison.objects.filter(source="generate").values_list("pk", flat=True))
    assert len(ids) == 3
    annotator = make_user()
    add_member(project, annotator)
    leased = api_client_for(annotator).post(f"/api/projects/{project.pk}/comparisons/next/").json()
    assert leased["id"] in ids and leased["policy_version"] == policy.name


def test_unknown_prompt_selection_keys_are_refused_naming_the_key(project, api):
    response = api.post(f"/api/projects/{project.pk}/runs/", {"kind": "ppo", "prompts": {"exclude_ids": [1]}}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == [{"field": "prompts.exclude_ids", "message": "unknown key; use which, tag, exclude_snapshot_test"}]
    generate = api.post(f"/api/projects/{project.pk}/runs/", {"kind": "generate", "prompts": {"exclude_snapshot_test": True}}, format="json")
    assert generate.status_code == 400 and "not generate" in generate.json()["detail"]


def _held_out_project(project, settings):
    settings.PREFLOOP_JOB_MODULES = {}  # the real jobs' system fields: ppo reads prompts and a reward model
    current_policy(project, "policy-v0")
    current_policy(project, "reward-v0", kind=ModelKind.REWARD)
    rank_new_comparisons(project, 8)
    snapshot = training_snapshot_create(project=project, params={"test_fraction": 0.5, "seed": 1})
    held_out = held_out_prompt_ids(snapshot)
    assert 0 < len(held_out) < 8
    return snapshot, held_out


def test_ppo_leaves_out_the_held_out_prompts_unless_asked(project, api, settings):
    snapshot, held_out = _held_out_project(project, settings)
    url = f"/api/projects/{project.pk}/runs/"
    default = api.post(url, {"kind": "ppo"}, format="json").json()
    assert sorted(default["inputs"]["prompts"]["exclude_ids"]) == sorted(held_out)
    assert default["inputs"]["prompts"]["held_out_snapshot_id"] == snapshot.pk
    api.post(f"/api/runs/{default['id']}/cancel/")
    asked = api.post(url, {"kind": "ppo", "prompts": {"exclude_snapshot_test": False}}, format="json").json()
    assert "exclude_ids" not in asked["inputs"]["prompts"]
    evaluate = api.post(url, {"kind": "evaluate"}, format="json").json()
    assert "exclude_ids" not in evaluate["inputs"]["prompts"]  # evaluation may use every prompt


def test_a_dpo_run_page_leads_with_implicit_reward_accuracy(client, project, manager):
    run = Run.objects.create(project=project, kind=RunKind.DPO, status=RunStatus.SUCCEEDED)
    MetricPoint.objects.create(run=run, step=0, values={"loss": 0.69, "eval_preference_accuracy": 0.32, "eval_reward_accuracy": 0.5})
    MetricPoint.objects.create(run=run, step=6, values={"loss": 0.41, "eval_preference_accuracy": 0.31, "eval_reward_accuracy": 0.81})
    client.force_login(manager)
    html = client.get(reverse("training:run-detail", args=[run.pk])).content.decode()
    figures = html[html.index('data-testid="key-figures"'):]
    assert figures.index("held-out implicit-reward accuracy") < figures.index("Loss" if "Loss" in figures else "loss")
    first = figures[: figures.index("</div>")]
    assert "held-out implicit-reward accuracy" in first and "0.5" in first and "0.81" in first


def test_a_staff_only_kind_is_refused_to_a_project_manager(project, api):
    response = api.post(f"/api/projects/{project.pk}/runs/", {"kind": "bootstrap"}, format="json")
    assert response.status_code == 403 and "started by staff" in response.json()["detail"]
    assert not Run.objects.exists()
