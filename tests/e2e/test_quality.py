"""Gold comparisons in an annotator's queue, and their accuracy on the manager's dashboard."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from labeling.models import Ranking, Role
from labeling.services import prompts_import
from tests.factories import add_member, make_project, make_user

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_gold_comparisons_are_half_the_queue_and_their_accuracy_shows(page, live_server, login):
    project = make_project(k=2, gold_share=0.5, name="Gold queue")
    rows = [{"prompt": f"gold {i}", "responses": [f"right {i}", f"wrong {i}"], "gold": 0} for i in range(2)]
    rows += [{"prompt": f"plain {i}", "responses": [f"one {i}", f"two {i}"]} for i in range(4)]
    prompts_import(project=project, rows=rows)
    user, manager = make_user("goldie"), make_user("lead")
    add_member(project, user)
    add_member(project, manager, Role.MANAGER)

    login(page, user)
    page.goto(f"{live_server.url}/projects/{project.pk}/rank/")
    for n in range(4):
        a_text = page.locator(".pair-card[data-side=a] .response-body").inner_text()
        wrong_on_a = a_text.startswith("wrong")
        if n == 3:  # the second gold comparison gets it wrong on purpose
            page.keyboard.press("a" if wrong_on_a else "b")
        else:
            page.keyboard.press("b" if wrong_on_a else "a")
        page.keyboard.press("Enter")
        expect(page.locator("[data-testid=my-ranked]")).to_have_text(str(n + 1))
    ranked = Ranking.objects.filter(annotator=user).order_by("id").select_related("comparison")
    assert [r.comparison.is_gold for r in ranked] == [False, True, False, True]  # half the queue, spread out

    page.context.clear_cookies()
    login(page, manager)
    page.goto(f"{live_server.url}/projects/{project.pk}/dashboard/")
    row = page.locator("[data-testid=quality-table] tr[data-annotator=goldie]")
    expect(row.locator("[data-testid=gold]")).to_have_text("50% of 2")
