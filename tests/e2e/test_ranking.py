"""Ranking in a real browser: drag-and-drop, keyboard only, htmx swap, stored orders."""

from __future__ import annotations

import pytest

from tests.factories import add_member, make_project, make_user

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_annotator_logs_in_and_sees_their_project(page, live_server, login):
    project = make_project(name="Helpful answers")
    user = make_user("ann")
    add_member(project, user)
    login(page, user)
    assert "Helpful answers" in page.content()
