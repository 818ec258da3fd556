"""Issue 9's defects in a real browser: faithful text, the exports page, the conflict message, error pages."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from labeling.models import Ranking, Role
from tests.factories import add_member, make_comparison, make_project, make_prompt, make_user

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

HAIKU = "An old silent pond\nA frog jumps into the pond\nSplash! Silence again."
LETTER = "Dear Ana,\nthe parcel left today.\nThanks,\nSam"
LONG = "\n\n".join(f"Paragraph {i}: a long answer goes on and on." for i in range(40))


def _card(page, text: str):
    return page.locator("#rank-stage .rank-card", has_text=text.splitlines()[0])


def test_poems_and_letters_keep_their_lines_raw_text_toggles_and_long_answers_expand(page, live_server, login):
    project = make_project(k=3, name="Poems")
    make_comparison(project, prompt=make_prompt(project, "Write a haiku.\nThen sign a letter."), texts=[HAIKU, LETTER, LONG])
    user = make_user("poet")
    add_member(project, user)
    login(page, user)
    page.goto(f"{live_server.url}/projects/{project.pk}/rank/")

    haiku = _card(page, HAIKU)
    assert haiku.locator(".response-body").inner_text().splitlines() == HAIKU.splitlines()
    assert _card(page, LETTER).locator(".response-body").inner_text().splitlines()[-2:] == ["Thanks,", "Sam"]
    assert page.locator(".chat-bubble").inner_text().splitlines() == ["Write a haiku.", "Then sign a letter."]

    # Raw text: the exact characters, in place of the rendering, and back.
    expect(haiku.locator("[data-testid=raw-text]")).to_be_hidden()
    haiku.get_by_text("Raw text").click()
    expect(haiku.locator("[data-testid=raw-text]")).to_have_text(HAIKU)
    expect(haiku.locator(".response-body")).to_be_hidden()
    haiku.get_by_text("Raw text").click()
    expect(haiku.locator(".response-body")).to_be_visible()

    # A long answer is clipped with "Show all", which expands it in place; short ones offer none.
    long_card = _card(page, LONG)
    expect(haiku.locator("[data-expand]")).to_be_hidden()
    clipped = long_card.locator("[data-clip]").bounding_box()["height"]
    long_card.get_by_role("button", name="Show all").click()
    expect(long_card.get_by_role("button", name="Show less")).to_be_visible()
    assert long_card.locator("[data-clip]").bounding_box()["height"] > 3 * clipped
    assert "Paragraph 39" in long_card.locator("[data-clip]").inner_text()

    # The keys still rank: focus the first card and submit.
    page.locator("#rank-stage .rank-card").first.focus()
    page.keyboard.press("Enter")
    expect(page.locator("[data-testid=my-ranked]")).to_have_text("1")


def test_already_ranked_message_shows_beside_the_submit_bar_in_view(context, page, live_server, login):
    project = make_project(k=4, name="Two tabs")
    make_comparison(project, texts=[LONG, LONG + " (b)", LONG + " (c)", LONG + " (d)"])
    make_comparison(project)
    user = make_user("twotabs")
    add_member(project, user)
    login(page, user)
    url = f"{live_server.url}/projects/{project.pk}/rank/"
    page.goto(url)
    second = context.new_page()
    second.goto(url)
    same = "#rank-stage form[data-rank-form]"
    assert page.get_attribute(same, "data-comparison") == second.get_attribute(same, "data-comparison")

    page.keyboard.press("Enter")  # the first tab ranks it
    expect(page.locator("[data-testid=my-ranked]")).to_have_text("1")
    second.bring_to_front()
    second.keyboard.press("Enter")  # the second tab tries again
    alert = second.locator("[data-testid=rank-error]")
    expect(alert).to_contain_text("already ranked this comparison")
    expect(alert).to_be_in_viewport()
    box, height = alert.bounding_box(), second.viewport_size["height"]
    assert 0 <= box["y"] and box["y"] + box["height"] <= height
    assert second.evaluate("document.activeElement.id") == "rank-feedback"
    ranking = Ranking.objects.get(annotator=user)
    assert f"ranking {ranking.pk}" not in alert.inner_text()
    expect(alert.get_by_role("link", name="Go to the next comparison")).to_be_visible()
    second.close()


def test_manager_reaches_exports_from_the_dashboard_and_it_fits_a_phone(page, live_server, login):
    project = make_project(name="Exports reach")
    manager = make_user("boss")
    add_member(project, manager, Role.MANAGER)
    comparison = make_comparison(project)
    ids = list(comparison.responses.values_list("pk", flat=True))
    Ranking.objects.create(comparison=comparison, annotator=manager, order=[[i] for i in ids], flags=["all_bad"])
    login(page, manager)
    page.goto(f"{live_server.url}/projects/{project.pk}/dashboard/")
    expect(page.locator(".dashboard")).to_contain_text("All bad")
    page.get_by_role("navigation", name="Manage project").get_by_role("link", name="Exports").click()
    expect(page.get_by_role("heading", name="Exports")).to_be_visible()
    expect(page.locator("select[name=aggregation] option:checked")).to_have_text("All")
    assert "Bradley–Terry scores" in page.locator("select[name=aggregation]").inner_text()
    assert "Hugging Face datasets folder (zipped)" in page.locator("select[name=format]").inner_text()
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390


def test_unknown_pages_show_the_apps_own_404(page, live_server, login):
    user = make_user("lost")
    login(page, user)
    response = page.goto(f"{live_server.url}/projects/999999/")
    assert response.status == 404
    expect(page.get_by_test_id("error-page")).to_contain_text("Back to your projects")
    assert "URLconf" not in page.content()
