"""Issue 8's "must show" on a fresh project: train a reward model from Train now, then PPO, with no other click between.

Real parts: the browser, the live server, the Train now form, django-tasks' database worker loop
in a thread, the runner (which must hand the new, first reward model to PPO without anyone
pressing "Make current"). The job processes are fakes (tests/training/fake_job.py for reward,
fake_rl_job.py for PPO, which fails unless it is given a reward model directory), so no torch.
scripts/demo_walk.py walks the same pages on a real `make demo` with the real jobs.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from labeling.models import Role
from tests.e2e.test_generate_round import WorkerThread
from tests.factories import add_member, make_project, make_user
from tests.training.helpers import current_policy
from tests.training.loop_helpers import CHAIN_JOBS, rank_new_comparisons
from training.models import ModelKind, ProjectModels, Run

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def worker():
    thread = WorkerThread()
    thread.worker.max_tasks = None
    thread.start()
    yield thread
    thread.stop()


def _train_now(page, url: str, project, kind: str) -> int:
    """From the project page: Train now, the kind's tab, Start with the defaults; return the run id."""
    page.goto(f"{url}/projects/{project.pk}/")
    with page.expect_navigation():
        page.click("[data-testid=open-train]")
    page.click(f"[data-testid=kind-{kind}]")
    expect(page.locator(f"[data-testid=kind-{kind}]")).to_have_attribute("aria-current", "page")
    with page.expect_navigation():
        page.click("[data-testid=train-submit]")
    expect(page.locator("[data-testid=run-status]")).to_have_text("Succeeded", timeout=30_000)
    return int(page.url.rstrip("/").rsplit("/", 1)[1])


@pytest.mark.usefixtures("worker")
def test_reward_then_ppo_from_train_now_with_no_click_between(page, live_server, login, settings):
    settings.PREFLOOP_JOB_MODULES = {**CHAIN_JOBS, "ppo": "tests.training.fake_rl_job"}
    settings.PREFLOOP_RUNNER_POLL_S = 0.1
    project = make_project(k=2, name="Fresh demo")
    rank_new_comparisons(project, 6)
    policy = current_policy(project, "tiny-policy")
    manager = make_user("admin")
    add_member(project, manager, Role.MANAGER)
    login(page, manager)

    reward_id = _train_now(page, live_server.url, project, "reward")
    expect(page.locator("#run-live")).to_contain_text("the project's current reward (its first)")
    reward = ProjectModels.objects.get(project=project).reward
    assert reward is not None and reward.run_id == reward_id and reward.kind == ModelKind.REWARD

    ppo_id = _train_now(page, live_server.url, project, "ppo")
    ppo = Run.objects.get(pk=ppo_id)
    assert ppo.kind == "ppo" and ppo.inputs["reward_version_id"] == reward.pk
    result = ppo.outputs["result"]
    assert (result["reward_model"], result["started_from"]) == (reward.path, policy.path)
    assert 0 < result["prompts"] == ppo.inputs["prompt_count"] <= 6  # the held-out prompts of the newest snapshot are left out
    # The new policy is registered, not promoted; the page offers to promote it or to evaluate it first.
    registered = page.locator("[data-testid=run-registered]")  # the button sits in the notice (no <form> in a <p>)
    expect(registered.locator("[data-testid=run-make-current]")).to_be_visible()
    expect(registered.locator("[data-testid=run-evaluate]")).to_have_text("evaluate it against tiny-policy")
    assert ProjectModels.objects.get(project=project).policy == policy
