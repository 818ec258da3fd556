"""Train now: the page (defaults, help, errors naming the field), the runs API, and the admin actions on Project."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse

from labeling.models import DatasetSnapshot, Role
from tests.factories import add_member, make_project, make_user
from tests.training.helpers import current_policy
from tests.training.loop_helpers import rank_new_comparisons
from training.models import ModelKind, Run, RunStatus
from training.runner.snapshot import snapshot_ensure
from training.services.triggers import training_snapshot_create

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast(settings):
    settings.PREFLOOP_JOB_MODULES = {}  # the real jobs' configs (nothing is executed here)


@pytest.fixture
def ranked(db):
    project = make_project(k=2)
    rank_new_comparisons(project, 6)
    manager = make_user()
    add_member(project, manager, Role.MANAGER)
    return project, manager


def _url(project, kind="dpo"):
    return reverse("training:train-now", args=[project.pk]) + f"?kind={kind}"


def _post(client, project, **fields):
    data = {
        "kind": "dpo",
        "data": "fresh",
        "exclude_flags": ["unsafe", "all_bad"],
        "min_agreement": "0",
        "aggregation": "all",
        "pairs": "all",
        "test_fraction": "0.2",
        "nproc": "1",
        "hp-beta": "0.1",
        **fields,
    }
    return client.post(reverse("training:train-now", args=[project.pk]), data)


def test_train_page_prefills_each_kinds_defaults_with_help(client, ranked):
    project, manager = ranked
    client.force_login(manager)
    html = client.get(_url(project)).content.decode()
    assert re.search(r'name="hp-beta"[^>]*value="0.1"', html)
    assert "KL strength: higher keeps the policy nearer the reference" in html  # the job's own field comment
    assert 'name="min_agreement"' in html and "A fresh snapshot with these filters" in html
    reward = client.get(_url(project, "reward")).content.decode()
    assert 'name="hp-center_rewards_coefficient"' in reward and 'name="hp-beta"' not in reward
    ppo = client.get(_url(project, "ppo")).content.decode()
    assert 'name="which"' in ppo and 'name="min_agreement"' not in ppo  # PPO reads prompts, not pairs


def test_htmx_kind_switch_returns_only_the_form(client, ranked):
    project, manager = ranked
    client.force_login(manager)
    html = client.get(_url(project, "reward"), HTTP_HX_REQUEST="true").content.decode()
    assert html.lstrip().startswith('<section class="panel narrow-panel" id="train-form"') and "<html" not in html


def test_invalid_hyperparameter_is_refused_naming_the_field_and_exports_nothing(client, ranked):
    project, manager = ranked
    client.force_login(manager)
    response = _post(client, project, **{"hp-beta": "-1"})
    assert response.status_code == 400
    html = response.content.decode()
    assert re.search(r'data-field="beta">Beta: must be', html)  # the label once, not "Beta: beta:"
    assert not Run.objects.exists() and not DatasetSnapshot.objects.exists()
    wrong_type = _post(client, project, **{"hp-max_steps": "many"})
    assert wrong_type.status_code == 400 and 'data-field="max_steps"' in wrong_type.content.decode()


def test_fresh_snapshot_with_filters_then_run_is_queued(client, ranked):
    project, manager = ranked
    client.force_login(manager)
    response = _post(client, project, min_agreement="0.5", test_fraction="0.3", **{"hp-beta": "0.2"})
    run = Run.objects.get(project=project)
    assert response.status_code == 302 and response["Location"] == reverse("training:run-detail", args=[run.pk])
    assert (run.kind, run.status, run.config["beta"], run.created_by) == ("dpo", RunStatus.QUEUED, 0.2, manager)
    assert run.snapshot.params["min_agreement"] == 0.5 and run.snapshot.params["test_fraction"] == 0.3
    # The request exported nothing: the snapshot waits, pending, for the run's worker.
    assert run.snapshot.status == "pending" and not any(Path(settings.EXPORTS_DIR).rglob("*.jsonl"))
    snapshot_ensure(run)  # what the worker does before starting the job
    run.snapshot.refresh_from_db()
    assert run.snapshot.status == "succeeded" and run.snapshot.row_count == 6


def test_existing_snapshot_and_chosen_base(client, ranked):
    project, manager = ranked
    snapshot = training_snapshot_create(project=project, params={})
    base = current_policy(project, "policy-v0")
    client.force_login(manager)
    response = _post(client, project, data="existing", snapshot=str(snapshot.pk), base=str(base.pk))
    assert response.status_code == 302
    run = Run.objects.get()
    assert run.snapshot == snapshot and run.inputs["model_version_id"] == base.pk
    assert DatasetSnapshot.objects.count() == 1
    again = _post(client, project, data="existing", snapshot=str(snapshot.pk))
    assert again.status_code == 400 and f"a dpo run is already active: #{run.pk}" in again.content.decode()


def test_existing_without_a_snapshot_names_the_field(client, ranked):
    project, manager = ranked
    client.force_login(manager)
    response = _post(client, project, data="existing")
    assert response.status_code == 400 and 'data-field="snapshot"' in response.content.decode()


def test_an_empty_export_is_a_form_error_not_a_500(client, db):
    project, manager = make_project(k=2), make_user()
    add_member(project, manager, Role.MANAGER)
    client.force_login(manager)
    response = _post(client, project)
    assert response.status_code == 400 and "Nothing to export" in response.content.decode()


def test_train_page_is_for_managers_of_the_project(client, ranked):
    project, _ = ranked
    annotator, outsider = make_user(), make_user()
    add_member(project, annotator)
    client.force_login(annotator)
    assert client.get(_url(project)).status_code == 403
    assert _post(client, project).status_code == 403
    client.force_login(outsider)
    assert client.get(_url(project)).status_code == 404
    assert not Run.objects.exists()


def test_project_page_offers_train_now_to_managers_only(client, ranked, settings):
    project, manager = ranked
    annotator = make_user()
    add_member(project, annotator)
    client.force_login(manager)
    page = client.get(reverse("labeling:project-detail", args=[project.pk])).content.decode()
    assert 'data-testid="open-train"' in page and 'data-testid="prefs-since-last-run">6<' in page
    client.force_login(annotator)
    assert (
        'data-testid="open-train"'
        not in client.get(reverse("labeling:project-detail", args=[project.pk])).content.decode()
    )


def _api(client, project, payload):
    return client.post(f"/api/projects/{project.pk}/runs/", payload, content_type="application/json")


def test_api_refuses_bad_hyperparameters_naming_the_field(client, ranked):
    project, manager = ranked
    client.force_login(manager)
    response = _api(client, project, {"kind": "dpo", "config": {"beta": -1}, "snapshot_params": {}})
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "config" and response.json()["errors"][0]["message"].startswith(
        "beta:"
    )
    bad_filter = _api(client, project, {"kind": "dpo", "snapshot_params": {"min_agreement": 7}})
    assert bad_filter.status_code == 400 and bad_filter.json()["errors"][0]["field"] == "min_agreement"
    assert not Run.objects.exists() and not DatasetSnapshot.objects.exists()


def test_api_trains_on_fresh_snapshot_params_or_a_snapshot_id(client, ranked):
    project, manager = ranked
    client.force_login(manager)
    response = _api(
        client, project, {"kind": "dpo", "config": {"beta": 0.3}, "snapshot_params": {"test_fraction": 0.25}}
    )
    assert response.status_code == 201
    run = Run.objects.get(pk=response.json()["id"])
    assert run.snapshot.params["test_fraction"] == 0.25 and run.config["beta"] == 0.3
    reward = _api(client, project, {"kind": "reward", "snapshot_id": run.snapshot_id})
    assert reward.status_code == 201 and reward.json()["snapshot"] == run.snapshot_id
    assert DatasetSnapshot.objects.count() == 1


def test_api_refuses_a_reward_model_as_base(client, ranked):
    project, manager = ranked
    reward = current_policy(project, "reward-v0", kind=ModelKind.REWARD)
    client.force_login(manager)
    response = _api(client, project, {"kind": "dpo", "base": reward.pk})
    assert response.status_code == 400 and response.json()["errors"][0]["field"] == "base"


def test_admin_actions_train_now_with_defaults(client, ranked):
    project, _ = ranked
    empty = make_project(k=2)
    admin_user = make_user(staff=True)
    client.force_login(admin_user)
    changelist = reverse("admin:labeling_project_changelist")
    response = client.post(
        changelist, {"action": "train_dpo_now", "_selected_action": [project.pk, empty.pk]}, follow=True
    )
    html = response.content.decode()
    run = Run.objects.get(kind="dpo")
    assert run.project == project and run.snapshot is not None and run.created_by == admin_user
    assert f"DPO run #{run.pk} queued" in html and "Nothing to export" in html  # the empty project says why
    client.post(changelist, {"action": "train_reward_now", "_selected_action": [project.pk]})
    assert Run.objects.filter(kind="reward", project=project).count() == 1


def test_hyperparameters_are_typed_fields_not_json(client, ranked):
    project, manager = ranked
    client.force_login(manager)
    html = client.get(_url(project)).content.decode()
    assert "Enter a valid JSON" not in html and ">JSON<" not in html
    assert re.search(r'name="hp-loss_type"[^>]*value="sigmoid"', html)  # a plain text box, the default typed in
    assert re.search(r'type="number"[^>]*name="hp-beta"|name="hp-beta"[^>]*type="number"', html)
    assert html.count(">Preference data<") == 1  # the fieldset's legend, not repeated by its field
    created = _post(client, project, **{"hp-loss_type": "sigmoid, ipo"})
    assert created.status_code == 302
    assert Run.objects.get().config["loss_type"] == ["sigmoid", "ipo"]


def test_a_bad_hyperparameter_names_its_field_once(client, ranked):
    project, manager = ranked
    client.force_login(manager)
    response = _post(client, project, **{"hp-beta": "0"})
    html = response.content.decode()
    assert response.status_code == 400
    error = re.search(r'data-field="beta">([^<]+)<', html).group(1)
    assert error.startswith("Beta: ") and "beta:" not in error.lower().removeprefix("beta: ")
    unknown = _post(client, project, **{"hp-loss_type": "sigmoid, nonsense"}).content.decode()
    assert re.search(r'data-field="loss_type">Loss type: unknown loss nonsense', unknown)


def test_train_now_offers_the_accelerate_configs_and_the_run_keeps_the_chosen_one(client, ranked):
    from training.services.distributed import BUNDLED_DIR

    project, manager = ranked
    client.force_login(manager)
    html = client.get(_url(project)).content.decode()
    assert 'name="accelerate_config"' in html and ">Worker default<" in html and 'value="fsdp"' in html
    assert _post(client, project, nproc="8", accelerate_config="zero3").status_code == 302
    run = Run.objects.get(project=project)
    assert (run.nproc, run.inputs["accelerate_config"]) == (8, str(BUNDLED_DIR / "zero3.yaml"))
    refused = _post(client, project, accelerate_config="../../etc/passwd")
    assert refused.status_code == 400 and Run.objects.count() == 1
