"""Ranking in a real browser: drag-and-drop, keyboard only, undo, pairwise keys, and no JavaScript."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from labeling.models import Preference, Ranking
from tests.factories import add_member, make_comparison, make_project, make_prompt, make_user

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

INSTRUCTIONS = "Rank from **best** to worst.\n\n- Prefer correct, concise answers\n- Flag anything unsafe"
ANSWERS = [
    "Use slicing:\n\n```python\nitems = [1, 2, 3]\nprint(items[::-1])  # [3, 2, 1]\n```",
    "Call `items.reverse()`; it reverses in place and returns `None`.",
    "Use `reversed(items)`, which gives an iterator.\n\n" + "\n\n".join(f"Detail {i}: more words." for i in range(15)),
    "I don't know. <script>alert(1)</script>",
]
STAGE_FORM = "#rank-stage form[data-rank-form]"


def _card_ids(page) -> list[int]:
    return page.eval_on_selector_all(
        "#rank-stage [data-rank-list] > .rank-card", "cards => cards.map(c => Number(c.dataset.responseId))"
    )


def _comparison_id(page) -> int:
    return int(page.get_attribute(STAGE_FORM, "data-comparison"))


def _bar(page, response_id: int):
    return page.locator(f".rank-card[data-response-id='{response_id}'] .card-bar")


def _drag_above(page, source_id: int, target_id: int) -> None:
    """Drag a card by its bar with the mouse and drop it just above another card."""
    _bar(page, source_id).evaluate("bar => bar.scrollIntoView({block: 'center'})")  # clear of the sticky action bar
    src = _bar(page, source_id).bounding_box()
    page.mouse.move(src["x"] + 40, src["y"] + src["height"] / 2)
    page.mouse.down()
    page.mouse.move(src["x"] + 40, src["y"] + src["height"] / 2 - 5)
    dst = _bar(page, target_id).bounding_box()  # cards collapse while dragging: measure now
    assert dst["y"] > 0, "the drop target should be on screen once the cards are collapsed"
    page.mouse.move(dst["x"] + 40, dst["y"] + 2, steps=12)
    page.mouse.move(dst["x"] + 40, dst["y"] - 4, steps=3)
    page.mouse.up()


def _ranking_project(name: str = "Helpful answers"):
    project = make_project(k=4, name=name, instructions=INSTRUCTIONS)
    for n in range(3):
        prompt = make_prompt(project, f"How do I reverse a list in Python? (variant {n})")
        make_comparison(project, prompt=prompt, texts=[f"{a}\n\n(v{n})" for a in ANSWERS])
    user = make_user("ann")
    add_member(project, user)
    return project, user


def test_rank_by_drag_then_by_keyboard_then_undo(page, live_server, login, screenshot):
    project, user = _ranking_project()
    login(page, user)
    page.goto(f"{live_server.url}/projects/{project.pk}/rank/")
    expect(page.locator("[data-testid=my-ranked]")).to_have_text("0")
    screenshot(page, "rank-page")

    # 1. Drag and drop: the last card shown goes to the top.
    first, shown = _comparison_id(page), _card_ids(page)
    _drag_above(page, shown[3], shown[0])
    assert _card_ids(page) == [shown[3], shown[0], shown[1], shown[2]]
    expect(page.locator(f".rank-card[data-response-id='{shown[3]}'] [data-rank-badge]")).to_have_text("1")
    page.click("[data-submit]")
    expect(page.locator("[data-testid=my-ranked]")).to_have_text("1")
    assert _comparison_id(page) != first
    ranking = Ranking.objects.get(comparison_id=first, annotator=user)
    assert ranking.order == [[shown[3]], [shown[0]], [shown[1]], [shown[2]]]
    assert ranking.display_order == shown  # the order this annotator saw is recorded
    assert ranking.time_spent_ms > 0
    assert Preference.objects.filter(ranking=ranking).count() == 6

    # 2. Keyboard only (focus starts on the top card).
    second, (a, b, c, d) = _comparison_id(page), _card_ids(page)
    for key in ["ArrowDown", "1", "ArrowDown", "ArrowDown", "t", "ArrowDown", "Shift+ArrowUp", "f"]:
        page.keyboard.press(key)
    assert _card_ids(page) == [b, d, a, c]
    page.keyboard.press("Enter")
    expect(page.locator("[data-testid=my-ranked]")).to_have_text("2")
    expect(page.locator("[data-testid=project-rankings]")).to_have_text("2")
    ranking = Ranking.objects.get(comparison_id=second, annotator=user)
    assert ranking.order == [[b], [d], [a, c]]
    assert ranking.flags == ["unsafe"]
    pairs = set(Preference.objects.filter(ranking=ranking).values_list("chosen_id", "rejected_id", "margin"))
    assert pairs == {(b, d, 1.0), (b, a, 2.0), (b, c, 2.0), (d, a, 1.0), (d, c, 1.0)}

    # 3. Undo last: the keyboard ranking comes back as it was stored; move the top card last.
    page.keyboard.press("u")
    expect(page.locator(".badge-warn")).to_contain_text("editing")
    assert _comparison_id(page) == second and _card_ids(page) == [b, d, a, c]
    page.keyboard.press("4")
    page.keyboard.press("Enter")
    expect(page.locator(".notice")).to_contain_text("Ranking updated")
    ranking.refresh_from_db()
    assert ranking.order == [[d], [a, c], [b]]
    assert Ranking.objects.filter(annotator=user).count() == 2


def test_pairwise_keys_store_choice_and_strength(page, live_server, login):
    project = make_project(k=2, name="Pairwise")
    comparisons = [make_comparison(project, texts=["Short answer.", "A longer, better answer."]) for _ in range(2)]
    user = make_user("pat")
    add_member(project, user)
    login(page, user)
    page.goto(f"{live_server.url}/projects/{project.pk}/rank/")
    first = _comparison_id(page)
    shown = page.eval_on_selector_all(".pair-card", "cards => cards.map(c => c.dataset.side)")
    assert shown == ["a", "b"]
    for key in ["b", "3", "Enter"]:
        page.keyboard.press(key)
    expect(page.locator("[data-testid=my-ranked]")).to_have_text("1")
    ranking = Ranking.objects.get(comparison_id=first, annotator=user)
    a_id, b_id = ranking.display_order
    assert ranking.order == [[b_id], [a_id]] and ranking.strength == 3
    assert list(Preference.objects.filter(ranking=ranking).values_list("chosen_id", "rejected_id", "margin")) == [
        (b_id, a_id, 3.0)
    ]
    assert {c.pk for c in comparisons} == {first, _comparison_id(page)}


def test_plain_form_ranks_without_javascript(browser, live_server, login):
    project, user = _ranking_project("No JS")
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    try:
        login(page, user)
        page.goto(f"{live_server.url}/projects/{project.pk}/rank/")
        first, shown = _comparison_id(page), _card_ids(page)
        for response_id, rank in zip(shown, ["2", "1", "1", "3"], strict=True):  # same rank = tie
            page.select_option(f"select[name=rank_{response_id}]", rank)
        with page.expect_navigation():
            page.click("[data-submit]")
        assert _comparison_id(page) != first
        assert "Saved" in page.inner_text(".messages")
        ranking = Ranking.objects.get(comparison_id=first, annotator=user)
        assert ranking.order == [[shown[1], shown[2]], [shown[0]], [shown[3]]]
    finally:
        context.close()


def test_touch_drag_reorders_cards(browser, live_server, login):
    project, user = _ranking_project("Touch")
    context = browser.new_context(viewport={"width": 412, "height": 915}, has_touch=True, is_mobile=True)
    page = context.new_page()
    try:
        login(page, user)
        page.goto(f"{live_server.url}/projects/{project.pk}/rank/")
        shown = _card_ids(page)
        _bar(page, shown[1]).evaluate("bar => bar.scrollIntoView({block: 'center'})")
        src = _bar(page, shown[1]).bounding_box()
        cdp = context.new_cdp_session(page)
        x, y = src["x"] + 30, src["y"] + src["height"] / 2

        def touch(kind: str, y_pos: float) -> None:
            points = [] if kind == "touchEnd" else [{"x": x, "y": y_pos}]
            cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": points})

        touch("touchStart", y)
        touch("touchMove", y - 5)
        top = _bar(page, shown[0]).bounding_box()["y"]  # measured after the cards collapse
        for step in range(1, 11):
            touch("touchMove", y + (top - 4 - y) * step / 10)
        touch("touchEnd", top - 4)
        assert _card_ids(page) == [shown[1], shown[0], shown[2], shown[3]]
    finally:
        context.close()
