"""The data browser in a real browser: filters narrow the list in place, a row opens the side-by-side view."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from labeling.models import Ranking, Role
from tests.factories import add_member, make_comparison, make_project, make_prompt, make_user

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_filters_narrow_the_list_and_a_row_shows_every_ranking_side_by_side(page, live_server, login):
    project = make_project(k=3, overlap=2, name="Browse")
    manager, ann, bob = make_user("lead"), make_user("ann"), make_user("bob")
    add_member(project, manager, Role.MANAGER)
    for user in (ann, bob):
        add_member(project, user)
    split = None
    for n in range(6):
        comparison = make_comparison(project, prompt=make_prompt(project, f"Question {n}", tags=["poem"] if n % 2 else []))
        ids = list(comparison.responses.values_list("pk", flat=True))
        Ranking.objects.create(comparison=comparison, annotator=ann, order=[[i] for i in ids])
        if n < 3:
            reverse = ids[::-1] if n == 0 else ids
            Ranking.objects.create(comparison=comparison, annotator=bob, order=[[i] for i in reverse], flags=["unsafe"] if n == 0 else [])
            split = comparison if n == 0 else split

    login(page, manager)
    page.goto(f"{live_server.url}/projects/{project.pk}/dashboard/")
    page.get_by_role("navigation", name="Manage project").get_by_role("link", name="Data").click()
    total = page.get_by_test_id("data-total")
    expect(total).to_have_text("6")
    page.select_option("select[name=annotator]", "bob")
    expect(total).to_have_text("3")
    page.select_option("select[name=tag]", "poem")
    expect(total).to_have_text("1")
    page.select_option("select[name=tag]", "")
    expect(total).to_have_text("3")
    page.select_option("select[name=agreement]", "low")
    expect(total).to_have_text("1")
    assert "annotator=bob" in page.url and "agreement=low" in page.url  # a filtered view can be shared
    page.select_option("select[name=agreement]", "")
    expect(total).to_have_text("3")
    page.select_option("select[name=flag]", "unsafe")
    expect(page.locator("[data-testid=data-table] tbody tr")).to_have_count(1)

    page.locator(f"tr[data-comparison='{split.pk}'] a").first.click()
    table = page.get_by_test_id("side-by-side")
    expect(table.locator("thead th")).to_have_text(["Response", "ann", "bob"])
    first = split.responses.order_by("position").first()
    expect(table.locator(f"tr[data-response='{first.pk}'] .rank-cell")).to_have_text(["1", "3"])
