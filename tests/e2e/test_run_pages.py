"""Run pages and the train form in a real browser: readable figures, a clean log, re-run, typed hyperparameters."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from labeling.models import Role
from tests.factories import add_member, make_project, make_user
from tests.training.loop_helpers import rank_new_comparisons
from training.models import MetricPoint, Run, RunKind, RunStatus

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

LOG = "\x1b[32mINFO\x1b[0m training\r\n 40%|████      | 4/10 [00:01<00:01, 4.0it/s]\r100%|██████████| 10/10 [00:02<00:00, 4.1it/s]\nsaved model"


@pytest.fixture
def manager_project(settings):
    settings.PREFLOOP_JOB_MODULES = {}
    project = make_project(k=2, name="Runs")
    manager = make_user("lead")
    add_member(project, manager, Role.MANAGER)
    return project, manager


def test_finished_run_reads_well_and_a_cancelled_one_runs_again(page, live_server, login, manager_project):
    project, manager = manager_project
    start = timezone.now() - timedelta(minutes=5)
    done = Run.objects.create(project=project, kind=RunKind.REWARD, status=RunStatus.SUCCEEDED, progress=1, log_tail=LOG,
                              started_at=start, finished_at=start + timedelta(seconds=75), config={"center_rewards_coefficient": None})
    for step, (loss, acc) in enumerate([(0.69, 0.5), (0.55, 0.7), (0.41, 0.9)], start=1):
        MetricPoint.objects.create(run=done, step=step, values={"loss": loss, "accuracy": acc, "learning_rate": 1.21e-07})
    login(page, manager)
    page.goto(f"{live_server.url}/training/runs/{done.pk}/")
    figures = page.get_by_test_id("key-figures")
    expect(figures).to_contain_text("Loss")
    expect(figures).to_contain_text("0.69 → 0.41")
    expect(figures).to_contain_text("0.5 → 0.9")
    expect(page.get_by_test_id("latest-figures")).to_contain_text("1.21e-07")
    expect(page.get_by_test_id("run-timing")).to_have_text("Took 1 min 15 s")
    expect(page.get_by_test_id("run-log")).to_have_text("INFO training\nsaved model")
    assert page.locator(".chart").count() == 2  # loss and accuracy; the flat learning rate gets none
    assert "None" not in page.inner_text("main") and "0.0000" not in page.inner_text("main")

    rank_new_comparisons(project, 2)
    from labeling.exports.services import snapshot_create

    snapshot = snapshot_create(project=project, params={"test_fraction": 0}, user=manager)
    cancelled = Run.objects.create(project=project, kind=RunKind.DPO, status=RunStatus.CANCELLED, snapshot=snapshot, config={"beta": 0.3})
    page.goto(f"{live_server.url}/training/runs/{cancelled.pk}/")
    expect(page.get_by_test_id("run-cancelled")).to_contain_text("current models are unchanged")
    expect(page.locator(".alert-error")).to_have_count(0)
    page.get_by_test_id("run-rerun").click()
    expect(page.locator(".messages")).to_contain_text(f"with the settings of run #{cancelled.pk}")
    expect(page.get_by_test_id("run-status")).to_have_text("Queued")


def test_train_form_takes_typed_values_and_names_a_bad_one_once(page, live_server, login, manager_project):
    project, manager = manager_project
    rank_new_comparisons(project, 4)
    login(page, manager)
    page.goto(f"{live_server.url}/training/projects/{project.pk}/train/?kind=dpo")
    form = page.get_by_test_id("train-form")
    expect(form.locator("input[name=hp-loss_type]")).to_have_value("sigmoid")
    assert form.locator("input[name=hp-beta]").get_attribute("type") == "number"
    form.locator("input[name=hp-beta]").fill("0")
    page.get_by_test_id("train-submit").click()
    error = page.locator("[data-field=beta]")
    expect(error).to_contain_text("Beta: must be")
    assert "beta:" not in error.inner_text().lower().split("beta: ", 1)[1]
    page.get_by_test_id("train-form").locator("input[name=hp-beta]").fill("0.2")
    page.get_by_test_id("train-form").locator("input[name=hp-loss_type]").fill("sigmoid, ipo")
    page.get_by_test_id("train-submit").click()
    expect(page.get_by_test_id("run-status")).to_have_text("Queued")
    assert Run.objects.get(kind=RunKind.DPO).config["loss_type"] == ["sigmoid", "ipo"]
