"""An invite in a real browser: the manager creates it, the invitee sets a password and ranks."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from labeling.models import Ranking, Role
from tests.factories import add_member, make_comparison, make_project, make_user

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_invite_from_creation_to_first_ranking(browser, page, live_server, login):
    project = make_project(k=3, name="Invited")
    make_comparison(project)
    manager = make_user("lead")
    add_member(project, manager, Role.MANAGER)
    login(page, manager)
    page.goto(f"{live_server.url}/projects/{project.pk}/dashboard/")
    page.get_by_role("navigation", name="Manage project").get_by_role("link", name="Members").click()
    page.fill("input[name=invite-username]", "newcomer")
    page.get_by_role("button", name="Create and invite").click()
    link = page.get_by_test_id("invite-link")
    expect(link).to_be_visible()
    url = link.input_value()
    expect(page.locator("tr[data-member=newcomer]")).to_contain_text("invited")

    fresh = browser.new_context(viewport={"width": 390, "height": 844})
    try:
        invitee = fresh.new_page()
        invitee.goto(url)
        expect(invitee.get_by_role("heading", name="Welcome, newcomer")).to_be_visible()
        invitee.fill("input[name=new_password1]", "a-long-pass-phrase")
        invitee.fill("input[name=new_password2]", "a-long-pass-phrase")
        invitee.get_by_role("button", name="Set password and continue").click()
        expect(invitee.locator(".messages")).to_contain_text("Welcome, newcomer")
        invitee.get_by_test_id("start-ranking").click()
        # Ready once rank.js has placed the cards (DOMContentLoaded): a click before that is a form
        # without JavaScript, whose empty rank selects the browser refuses to submit.
        expect(invitee.locator("[data-rank-select]").first).to_have_value("1")
        invitee.get_by_role("button", name="Submit ranking").click()
        expect(invitee.get_by_test_id("my-ranked")).to_have_text("1")
    finally:
        fresh.close()
    assert Ranking.objects.filter(annotator__username="newcomer").count() == 1
    page.reload()
    expect(page.locator("tr[data-member=newcomer]")).not_to_contain_text("invited")
