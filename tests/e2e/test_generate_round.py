"""A manager generates the next round and watches it finish; an annotator ranks what it made.

Real parts: the browser, the live server, django-tasks' database worker loop (in a thread, as
`manage.py worker` runs it) and the job subprocess it spawns (a fake generate job, so no torch).
"""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection
from django_tasks_db.management.commands.db_worker import Worker
from playwright.sync_api import expect

from labeling.models import Comparison, Ranking, Role
from tests.factories import add_member, make_project, make_prompt, make_user
from tests.training.helpers import current_policy, fake_jobs  # noqa: F401 - fixture
from training.models import Run, RunStatus

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fake_jobs")]


class WorkerThread(threading.Thread):
    """django-tasks' DB worker loop in a thread (signals stay with the main thread)."""

    def __init__(self) -> None:
        super().__init__(name="e2e-worker", daemon=True)
        self.worker = Worker(
            queue_names=["default"], interval=0.2, batch=False, backend_name="default", startup_delay=False,
            max_tasks=1, worker_id="e2e-worker", excluded_queue_names=[],
        )

    def run(self) -> None:
        try:
            self.worker.run()
        finally:
            connection.close()

    def stop(self) -> None:
        self.worker.running = False
        self.join(timeout=15)


@pytest.fixture
def worker_thread():
    thread = WorkerThread()
    thread.start()
    yield thread
    thread.stop()


def _progress_values_until_done(page, timeout_s: float = 60) -> list[float]:
    """Read the run page's progress bar as htmx refreshes it, until the run has finished."""
    seen: list[float] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        live = page.locator("#run-live")
        seen.append(float(page.get_attribute("[data-testid=run-progress]", "value")))
        if live.get_attribute("data-status") in ("succeeded", "failed", "cancelled"):
            return seen
        page.wait_for_timeout(250)
    raise AssertionError(f"run did not finish in {timeout_s}s; progress seen: {seen}")


def test_manager_generates_a_round_and_an_annotator_ranks_it(page, live_server, login, screenshot, settings, worker_thread):
    project = make_project(k=3, name="Loop demo")
    for topic in ("tea", "rain", "salt", "maps"):
        make_prompt(project, f"Tell me about {topic}.")
    policy = current_policy(project, "tiny-policy")
    manager, annotator = make_user("mona"), make_user("ari")
    add_member(project, manager, Role.MANAGER)
    add_member(project, annotator)

    # The manager opens the project page and starts "Generate next round" from the loop panel.
    login(page, manager)
    page.goto(f"{live_server.url}/projects/{project.pk}/")
    expect(page.locator("[data-testid=loop-policy]")).to_have_text("tiny-policy")
    page.click("[data-testid=open-generate]")
    page.check("#project-loop input[name=which][value=all]")
    page.click("#project-loop .config-fields summary")
    page.fill("#project-loop input[name=step_s]", "1.0")  # the fake job pauses per prompt: time to watch
    with page.expect_navigation():
        page.click("#project-loop [data-testid=generate-submit]")
    run = Run.objects.get(project=project, kind="generate")
    assert page.url.endswith(f"/training/runs/{run.pk}/")

    # The progress bar moves while the worker runs the job, with no reload, and reaches the end.
    seen = _progress_values_until_done(page)
    expect(page.locator("[data-testid=run-status]")).to_have_text("Succeeded")
    expect(page.locator("[data-testid=run-percent]")).to_have_text("100%")
    assert seen[-1] == 1.0
    assert any(0 < value < 1 for value in seen), f"never saw the bar part-way: {seen}"
    expect(page.locator("[data-testid=run-generated]")).to_contain_text("4 new comparisons from tiny-policy")
    expect(page.locator('figure.chart[data-metric="responses_per_s"]')).to_be_visible()
    screenshot(page, "generate-round-finished")
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED
    generated = Comparison.objects.filter(project=project, source="generate", policy_version=policy.name)
    assert generated.count() == 4

    # An annotator logs in and ranks one of the generated comparisons.
    page.context.clear_cookies()
    login(page, annotator)
    page.goto(f"{live_server.url}/projects/{project.pk}/rank/")
    expect(page.locator("#rank-stage")).to_contain_text("Answer 0 to <Tell me about")
    page.click("[data-submit]")
    expect(page.locator("[data-testid=my-ranked]")).to_have_text("1")
    ranking = Ranking.objects.get(annotator=annotator)
    assert ranking.comparison in generated
    assert sum(len(group) for group in ranking.order) == 3
