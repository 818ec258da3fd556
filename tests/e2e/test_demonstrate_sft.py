"""An annotator edits a response while ranking; a manager accepts it; an sft run on the snapshot succeeds and is promoted.

Real parts: the browser, the live server, the database worker loop in a thread, the runner and
the real SFT job process on the tiny local policy.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from playwright.sync_api import expect

from labeling.models import Demonstration, DemonstrationStatus, Role
from labeling.services import ranking_submit
from tests.e2e.test_generate_round import _progress_values_until_done, worker_thread  # noqa: F401 - fixture
from tests.e2e.test_train_dpo import tiny_policy_dir  # noqa: F401 - fixture
from tests.factories import add_member, make_comparison, make_lease, make_project, make_prompt, make_user
from training.models import ModelVersion, ProjectModels, Run, RunStatus
from training.services.registry import model_promote, model_version_register

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

EDITED = "Tea: boil water, pour it on the leaves, wait three minutes."


def _project(policy_dir):
    """A K=2 project taking demonstrations: six ranked comparisons and one left for the annotator."""
    project = make_project(k=2, name="SFT demo")
    project.allow_demonstrations = True
    project.save(update_fields=["allow_demonstrations"])
    ranker = make_user("ranker")
    add_member(project, ranker)
    for i in range(6):
        comparison = make_comparison(project, prompt=make_prompt(project, f"Say something kind ({i})."),
                                     texts=[f"You are doing well ({i}).", "No."])
        best, worst = comparison.responses.order_by("position").values_list("pk", flat=True)
        make_lease(comparison, ranker)
        ranking_submit(comparison=comparison, annotator=ranker, data={"order": [[best], [worst]]})
    make_comparison(project, prompt=make_prompt(project, "How do I make tea?"), texts=["Boil water and add tea.", "Tea is a drink."])
    policy = model_version_register(project=project, kind="policy", name="tiny-policy", path=str(policy_dir))
    model_promote(version=policy)
    return project, policy


def _write_demonstration(page, live_server, project) -> None:
    page.goto(f"{live_server.url}/projects/{project.pk}/rank/")
    expect(page.locator("[data-testid=demonstrate]")).to_be_visible()
    page.locator("body").press("w")  # the keyboard opens the editor and focuses it
    text = page.locator("[data-demonstrate-text]")
    expect(text).to_be_focused()
    page.select_option("[data-demonstrate-source]", label="Response A (edit it)")
    expect(text).not_to_have_value("")  # the shown response was copied in to be edited
    text.fill(EDITED)
    page.click("[data-testid=demonstration-submit]")
    expect(page.locator("[data-testid=demonstration-saved]")).to_be_visible()


@pytest.mark.usefixtures("worker_thread")
def test_an_edited_response_is_accepted_and_an_sft_run_on_it_is_promoted(page, live_server, login, settings, tiny_policy_dir):  # noqa: F811
    settings.PREFLOOP_RUNNER_POLL_S = 0.2
    project, policy = _project(tiny_policy_dir)
    annotator, manager = make_user("ann"), make_user("mona")
    add_member(project, annotator)
    add_member(project, manager, Role.MANAGER)

    login(page, annotator)
    _write_demonstration(page, live_server, project)
    demo = Demonstration.objects.get()
    assert demo.text == EDITED and demo.edited_from is not None and demo.status == DemonstrationStatus.PENDING

    page.context.clear_cookies()
    login(page, manager)
    page.goto(f"{live_server.url}/projects/{project.pk}/demonstrations/")
    page.click(f"[data-demonstration='{demo.pk}'] [data-testid=demonstration-accept]")  # htmx swaps the queue
    expect(page.locator("[data-testid=demonstrations-empty]")).to_be_visible()

    page.goto(f"{live_server.url}/training/projects/{project.pk}/train/?kind=sft")
    expect(page.locator("[data-testid=kind-sft]")).to_have_attribute("aria-current", "page")
    page.check("input[name=data][value=fresh]")
    page.fill("input[name=test_fraction]", "0")
    for name, value in {"max_steps": "4", "per_device_train_batch_size": "4", "max_length": "96", "logging_steps": "1"}.items():
        page.fill(f"input[name=hp-{name}]", value)
    with page.expect_navigation():
        page.click("[data-testid=train-submit]")
    run = Run.objects.get(project=project, kind="sft")
    _progress_values_until_done(page, timeout_s=120)
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED, run.error
    rows = [json.loads(line) for line in (Path(run.snapshot.path) / "train.jsonl").read_text().splitlines()]
    assert EDITED in [row["messages"][-1]["content"] for row in rows] and len(rows) == 7

    new = ModelVersion.objects.get(run=run)
    page.goto(f"{live_server.url}/training/projects/{project.pk}/models/")
    page.on("dialog", lambda dialog: dialog.accept())
    page.click(f"[data-testid='switch-{new.name}']")
    expect(page.locator("[data-testid=current-policy]")).to_have_text(new.name)
    assert ProjectModels.objects.get(project=project).policy == new and new.parent == policy
