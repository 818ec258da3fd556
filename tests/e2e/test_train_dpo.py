"""A manager trains DPO from the project page, watches it finish with its chart, and promotes the new policy.

Real parts: the browser, the live server, django-tasks' database worker loop in a thread (as
`manage.py worker` runs it), the runner, and the real DPO job process on the tiny local policy,
trained on a snapshot of learnable preferences (every chosen answer starts with a marker).
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from labeling.models import Role
from labeling.services import ranking_submit
from tests.e2e.test_generate_round import _progress_values_until_done, worker_thread  # noqa: F401 - fixture
from tests.factories import add_member, make_comparison, make_lease, make_project, make_prompt, make_user
from training.models import ModelVersion, ProjectModels, Run, RunStatus
from training.services.registry import model_promote, model_version_register

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

MARKER = "Sure!"
PAIRS = 24


@pytest.fixture(scope="session")
def tiny_policy_dir(tmp_path_factory):
    """Build the tiny policy once (locally trained tokenizer + 2-layer GPT-2), offline.

    No SFT: DPO needs a model that loads and trains, not one that chats, and the SFT steps would
    double this test's time on a 2-core machine.
    """
    from training.jobs.tinymodel import build_tiny_policy

    root = tmp_path_factory.mktemp("e2e-tiny-policy")
    return build_tiny_policy(root / "policy", seed=0, sft_steps=0)


def _learnable_project(policy_dir):
    """A K=2 project whose rankings always prefer the answer that starts with MARKER."""
    from training.jobs.tinymodel import load_dialogues

    project = make_project(k=2, name="DPO demo")
    annotator = make_user("ann")
    add_member(project, annotator)
    dialogues = load_dialogues()
    for i in range(PAIRS):
        user, assistant = dialogues[i % len(dialogues)]["messages"]
        prompt = make_prompt(project, f"{user['content']} ({i})")
        other = dialogues[(i + 7) % len(dialogues)]["messages"][1]["content"]
        comparison = make_comparison(project, prompt=prompt, texts=[f"{MARKER} {assistant['content']}", other])
        best, worst = comparison.responses.order_by("position").values_list("pk", flat=True)
        make_lease(comparison, annotator)
        ranking_submit(comparison=comparison, annotator=annotator, data={"order": [[best], [worst]]})
    policy = model_version_register(project=project, kind="policy", name="tiny-policy", path=str(policy_dir))
    model_promote(version=policy)
    return project, policy


@pytest.mark.usefixtures("worker_thread")
def test_manager_trains_dpo_from_the_project_page_and_promotes_it(
    page, live_server, login, screenshot, settings, tiny_policy_dir
):
    settings.PREFLOOP_RUNNER_POLL_S = 0.2
    project, policy = _learnable_project(tiny_policy_dir)
    manager = make_user("mona")
    add_member(project, manager, Role.MANAGER)

    login(page, manager)
    page.goto(f"{live_server.url}/projects/{project.pk}/")
    expect(page.locator("[data-testid=prefs-since-last-run]")).to_have_text(str(PAIRS))
    with page.expect_navigation():
        page.click("[data-testid=open-train]")
    expect(page.locator("[data-testid=kind-dpo]")).to_have_attribute("aria-current", "page")
    expect(page.locator("input[name=hp-beta]")).to_have_value("0.1")  # pre-filled with the job's default
    page.check("input[name=data][value=fresh]")
    page.fill("input[name=test_fraction]", "0.25")
    for name, value in {
        "learning_rate": "0.0005",
        "max_steps": "6",
        "per_device_train_batch_size": "4",
        "max_length": "128",
        "logging_steps": "1",
    }.items():
        page.fill(f"input[name=hp-{name}]", value)
    with page.expect_navigation():
        page.click("[data-testid=train-submit]")
    run = Run.objects.get(project=project, kind="dpo")
    assert page.url.endswith(f"/training/runs/{run.pk}/")
    assert run.config["max_steps"] == 6  # its snapshot is exported by the worker, not by the click

    # The worker runs the real DPO job; the page polls until it is done and draws its metrics.
    seen = _progress_values_until_done(page, timeout_s=90)
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED, run.error
    run.snapshot.refresh_from_db()
    assert run.snapshot.row_count == PAIRS
    print(f"DPO run: {(run.finished_at - run.started_at).total_seconds():.1f} s in the worker")
    expect(page.locator("[data-testid=run-status]")).to_have_text("Succeeded")
    assert seen[-1] == 1.0
    expect(page.locator("figure.chart").first).to_be_visible()
    assert page.locator("figure.chart").count() >= 2  # loss and the job's own figures
    screenshot(page, "train-dpo-finished")

    # The new version appears under its parent and can be promoted: the current marker moves.
    new = ModelVersion.objects.get(run=run)
    assert new.parent == policy
    page.goto(f"{live_server.url}/training/projects/{project.pk}/models/")
    expect(page.locator(f"[data-testid='model-{policy.name}'] [data-testid=current-marker]").first).to_be_visible()
    expect(page.locator(f"[data-testid='model-{new.name}']")).to_be_visible()
    page.on("dialog", lambda dialog: dialog.accept())
    page.click(f"[data-testid='switch-{new.name}']")
    expect(page.locator("[data-testid=current-policy]")).to_have_text(new.name)
    marker_row = page.locator(".lineage-row.is-current")
    expect(marker_row).to_have_count(1)
    expect(marker_row.locator(".lineage-name")).to_have_text(new.name)
    assert ProjectModels.objects.get(project=project).policy == new
    screenshot(page, "train-dpo-promoted")
