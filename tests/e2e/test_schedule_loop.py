"""A manager saves a schedule; annotators rank past its threshold; the loop promotes a new policy and generates with it.

Real parts: the browser, the live server, django-tasks' database worker loop and the worker's
ticker in threads (as `manage.py worker` runs them), the runner and the chain dpo → evaluate → promote →
generate; the job processes are the fast fakes (tests/training/fake_*.py), so no torch.
"""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import expect

from labeling.models import Comparison, Ranking, Role
from tests.e2e.test_generate_round import WorkerThread
from tests.factories import add_member, make_comparison, make_project, make_user
from tests.training.helpers import current_policy
from tests.training.loop_helpers import CHAIN_JOBS
from training.models import ModelKind, ProjectModels, Run, Schedule
from training.worker import Ticker

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def chain_worker():
    """A worker that keeps taking tasks (each step of the chain), and its ticker, which fires the due schedule."""
    thread = WorkerThread()
    thread.worker.max_tasks = None
    thread.start()
    ticker = Ticker(0.5)
    ticker.start()
    yield thread
    ticker.stop()
    ticker.join(timeout=15)
    thread.stop()


def _rank_one(page, live_server, project, done: int) -> None:
    page.goto(f"{live_server.url}/projects/{project.pk}/rank/")
    expect(page.locator("#rank-stage")).to_contain_text("Answer 0 to")
    page.click("[data-submit]")
    expect(page.locator("[data-testid=my-ranked]")).to_have_text(str(done))


@pytest.mark.usefixtures("chain_worker")
def test_a_saved_schedule_promotes_a_new_policy_whose_round_is_tagged_with_it(page, live_server, login, settings):
    settings.PREFLOOP_JOB_MODULES = CHAIN_JOBS
    settings.PREFLOOP_RUNNER_POLL_S = 0.1
    project = make_project(k=3, name="Scheduled loop")
    for _ in range(3):
        make_comparison(project)
    policy = current_policy(project, "tiny-policy")
    current_policy(project, "reward-v0", kind=ModelKind.REWARD)
    manager, annotator = make_user("mona"), make_user("ari")
    add_member(project, manager, Role.MANAGER)
    add_member(project, annotator)

    # The manager saves a schedule with the form's defaults plus its loop switches.
    login(page, manager)
    page.goto(f"{live_server.url}/training/projects/{project.pk}/schedules/")
    form = page.locator("[data-testid=schedule-form]")
    form.locator("input[name=every_n_preferences]").fill("2")
    form.locator("input[name=auto_promote]").check()
    form.locator("input[name=generate_next]").check()
    with page.expect_navigation():
        form.locator("[data-testid=schedule-save]").click()
    expect(page.locator("[data-testid=schedule-row]")).to_have_count(1)
    assert Schedule.objects.get(project=project).recipe == "dpo"

    # The annotator ranks two comparisons: two new preferences, the threshold.
    page.context.clear_cookies()
    login(page, annotator)
    for done in (1, 2):
        _rank_one(page, live_server, project, done)

    # The worker runs the chain; the project page then shows a new current policy.
    deadline = time.monotonic() + 90
    while ProjectModels.objects.get(project=project).policy_id == policy.pk or not Comparison.objects.filter(
        project=project, source="generate"
    ).exists():
        assert time.monotonic() < deadline, (
            "the schedule's chain did not promote and generate in 90 s: "
            f"{Ranking.objects.filter(comparison__project=project).count()} rankings, runs "
            f"{list(Run.objects.filter(project=project).values_list('kind', 'status', 'error'))}"
        )
        time.sleep(0.5)
    new = ProjectModels.objects.get(project=project).policy
    page.context.clear_cookies()
    login(page, manager)
    page.goto(f"{live_server.url}/projects/{project.pk}/")
    expect(page.locator("[data-testid=loop-policy]")).to_have_text(new.name)
    assert new.parent == policy
    generated = Comparison.objects.filter(project=project, source="generate")
    assert set(generated.values_list("policy_version", flat=True)) == {new.name}
    # Only prompts without an open comparison got one: the one imported comparison left unranked is not doubled.
    assert generated.count() == 2
