"""What annotators and managers read: line breaks kept, raw text, exports reachable and labelled, errors in words."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from labeling.models import Assignment, AssignmentStatus, Ranking, Role
from labeling.rendering import render_markdown
from tests.factories import add_member, make_comparison, make_project, make_prompt, make_user

HX = {"HX-Request": "true"}
HAIKU = "An old silent pond\nA frog jumps into the pond\nSplash! Silence again."


def test_single_newlines_become_line_breaks():
    assert str(render_markdown(HAIKU)).count("<br") == 2
    assert "Thanks,<br" in str(render_markdown("Thanks,\nSam"))
    assert "<ul>" in str(render_markdown("- a\n- b"))  # lists stay lists
    assert "<br" not in str(render_markdown("```\nx = 1\ny = 2\n```"))  # code keeps its own newlines


@pytest.fixture
def ranker(db, client):
    project = make_project(k=2)
    prompt = make_prompt(project, "Write a haiku,\nthen sign it.")
    comparison = make_comparison(project, prompt=prompt, texts=[HAIKU, "Thanks,\nSam <b>bold</b>"])
    user = make_user("ranker")
    add_member(project, user)
    client.force_login(user)
    return project, comparison, user


def test_rank_page_keeps_line_breaks_and_shows_each_raw_text(client, ranker):
    project, _, _ = ranker
    body = client.get(reverse("labeling:comparison-rank", args=[project.pk])).content.decode()
    assert "Write a haiku,<br" in body  # the prompt too
    assert "An old silent pond<br" in body
    raws = re.findall(r'<pre class="response-raw" data-testid="raw-text">(.*?)</pre>', body, re.S)
    assert sorted(raws) == sorted([HAIKU, "Thanks,\nSam &lt;b&gt;bold&lt;/b&gt;"])  # exact, escaped


def test_second_tab_submit_says_already_ranked_in_words_without_ids(client, ranker):
    project, comparison, user = ranker
    client.get(reverse("labeling:comparison-rank", args=[project.pk]))
    shown = Assignment.objects.get(annotator=user, status=AssignmentStatus.ACTIVE).display_order
    url = reverse("labeling:ranking-submit", args=[project.pk, comparison.pk])
    data = {"choice": "a", "idempotency_key": "tab-1"}
    assert client.post(url, data, headers=HX).status_code == 200
    ranking = Ranking.objects.get(annotator=user)
    refused = client.post(url, data | {"idempotency_key": "tab-2"}, headers=HX)
    body = refused.content.decode()
    assert refused.status_code == 409 and "already ranked this comparison" in body
    assert f"ranking {ranking.pk}" not in body and str(ranking.pk) not in re.sub(r"<[^>]+>", "", body)
    assert refused.headers["HX-Retarget"] == "#rank-feedback" and shown


def test_manager_pages_link_to_exports_with_readable_options(client, project, manager):
    client.force_login(manager)
    for name in ("labeling:project-dashboard", "labeling:project-members", "labeling:project-import", "labeling:project-detail"):
        body = client.get(reverse(name, args=[project.pk])).content.decode()
        assert reverse("exports:export-list", args=[project.pk]) in body, name
    page = client.get(reverse("exports:export-list", args=[project.pk])).content.decode()
    assert ">Bradley–Terry scores<" in page and ">Hugging Face datasets folder (zipped)<" in page
    assert ">bradley terry<" not in page and ">save to disk<" not in page
    assert 'class="tabs"' in page and 'aria-current="page">Exports<' in page


def test_dashboard_names_the_all_bad_flag_in_words(client, project, manager):
    comparison = make_comparison(project)
    other = make_user("rater")
    add_member(project, other, Role.ANNOTATOR)
    ids = list(comparison.responses.values_list("pk", flat=True))
    Ranking.objects.create(comparison=comparison, annotator=other, order=[[i] for i in ids], flags=["all_bad"])
    client.force_login(manager)
    body = client.get(reverse("labeling:project-dashboard", args=[project.pk])).content.decode()
    assert "<strong>1</strong> All bad" in body and "allbad" not in body


def test_missing_page_is_a_friendly_404(client, manager):
    client.force_login(manager)
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    assert "Back to your projects" in response.content.decode() and "URLconf" not in response.content.decode()
