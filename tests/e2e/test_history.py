"""My rankings in a real browser: edit an earlier ranking, take back a skip; instructions and touch hints."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from labeling.models import Ranking, ResponseFlag
from tests.factories import add_member, make_comparison, make_project, make_prompt, make_user

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _project(name: str):
    project = make_project(k=3, name=name, instructions="Rank the **best** first.")
    comparisons = [make_comparison(project, prompt=make_prompt(project, f"Question {i}")) for i in range(4)]
    user = make_user()
    add_member(project, user)
    return project, comparisons, user


def test_edit_an_earlier_ranking_and_take_back_a_skip(page, live_server, login):
    project, comparisons, user = _project("History")
    login(page, user)
    page.goto(f"{live_server.url}/projects/{project.pk}/rank/")
    flagged = int(page.locator("#rank-stage .rank-card").nth(1).get_attribute("data-response-id"))
    page.locator(f".rank-card[data-response-id='{flagged}'] .card-flag").click()  # "this one is unsafe"
    page.locator("#rank-stage .rank-card").first.focus()
    for n in range(2):
        page.keyboard.press("Enter")  # as shown
        expect(page.get_by_test_id("my-ranked")).to_have_text(str(n + 1))
    assert list(ResponseFlag.objects.values_list("response_id", flat=True)) == [flagged]
    skipped = int(page.get_attribute("#rank-stage form[data-rank-form]", "data-comparison"))
    page.select_option("select[data-skip-reason]", "broken")
    page.locator("#rank-stage .rank-card").first.focus()
    page.keyboard.press("s")
    expect(page.locator(".notice")).to_contain_text("Skipped")

    page.get_by_role("link", name="My rankings").click()
    expect(page.locator(f".history-item[data-comparison='{skipped}']")).to_contain_text("prompt or responses are broken")
    first = Ranking.objects.filter(annotator=user).order_by("id").first()
    item = page.locator(f".history-item[data-comparison='{first.comparison_id}']")
    item.get_by_role("link", name="Edit").click()
    expect(page.locator(".notice")).to_contain_text("Editing an earlier ranking")
    stage = page.locator("#rank-stage form[data-rank-form]")
    assert int(stage.get_attribute("data-comparison")) == first.comparison_id
    page.locator("#rank-stage .rank-card").last.focus()
    page.keyboard.press("1")  # the worst goes to the top
    page.keyboard.press("Enter")
    expect(page.locator(".notice")).to_contain_text("Ranking updated")
    edited = Ranking.objects.get(pk=first.pk)
    assert edited.order[0] == first.order[-1] and Ranking.objects.filter(annotator=user).count() == 2

    page.goto(f"{live_server.url}/projects/{project.pk}/mine/")
    page.locator(f".history-item[data-comparison='{skipped}']").get_by_role("button", name="Rank it after all").click()
    expect(page.locator(".messages")).to_contain_text("Skip taken back")
    assert int(page.get_attribute("#rank-stage form[data-rank-form]", "data-comparison")) == skipped


def test_instructions_stay_collapsed_and_touch_screens_show_no_key_hints(browser, page, live_server, login):
    project, _, user = _project("Prefs")
    login(page, user)
    page.goto(f"{live_server.url}/projects/{project.pk}/rank/")
    page.locator(".instructions > summary").click()
    page.reload()
    expect(page.locator(".instructions")).not_to_have_attribute("open", "")
    expect(page.locator("[data-submit] kbd")).to_be_visible()  # a desktop keeps its hints

    phone = browser.new_context(viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True)
    try:
        touch = phone.new_page()
        login(touch, user)
        touch.goto(f"{live_server.url}/projects/{project.pk}/rank/")
        expect(touch.locator("[data-submit]")).to_be_visible()
        expect(touch.locator("[data-submit] kbd")).to_be_hidden()
        assert touch.evaluate("document.documentElement.scrollWidth") <= 390
    finally:
        phone.close()
