"""Who may open which page: 404 for other projects, 403 for manager pages, login for strangers."""

from __future__ import annotations

import pytest
from django.urls import reverse

from labeling.models import Membership, Project, Ranking, Role
from tests.factories import add_member, make_comparison, make_project, make_user


@pytest.fixture
def two_projects(db, client):
    """Project A (the user annotates it) and project B (someone else's), each with a comparison."""
    a, b = make_project(name="Alpha"), make_project(name="Beta")
    comp_a, comp_b = make_comparison(a), make_comparison(b)
    user = make_user("alice")
    add_member(a, user, Role.ANNOTATOR)
    add_member(b, make_user("bob"), Role.MANAGER)
    client.force_login(user)
    return a, b, comp_a, comp_b, user


def _pages(project: Project, comparison_id: int) -> list[tuple[str, str, dict]]:
    """Every labeling page of a project as (method, url, data)."""
    pid = project.pk
    return [
        ("get", reverse("labeling:project-detail", args=[pid]), {}),
        ("get", reverse("labeling:comparison-rank", args=[pid]), {}),
        ("get", reverse("labeling:ranking-undo", args=[pid]), {}),
        ("post", reverse("labeling:ranking-submit", args=[pid, comparison_id]), {"rank_1": "1"}),
        ("post", reverse("labeling:comparison-skip", args=[pid, comparison_id]), {}),
        *_manager_pages(project),
    ]


def _manager_pages(project: Project) -> list[tuple[str, str, dict]]:
    pid = project.pk
    return [
        ("get", reverse("labeling:project-dashboard", args=[pid]), {}),
        ("get", reverse("labeling:project-members", args=[pid]), {}),
        ("post", reverse("labeling:project-members", args=[pid]), {"username": "alice", "role": "manager"}),
        ("post", reverse("labeling:project-member-remove", args=[pid]), {"username": "bob"}),
        ("get", reverse("labeling:project-import", args=[pid]), {}),
        ("post", reverse("labeling:project-import", args=[pid]), {}),
    ]


def test_member_of_a_gets_404_on_every_page_of_b(client, two_projects):
    a, b, comp_a, comp_b, user = two_projects
    for method, url, data in _pages(b, comp_b.pk):
        for headers in ({}, {"HX-Request": "true"}):
            response = getattr(client, method)(url, data, headers=headers)
            assert response.status_code == 404, (method, url, headers)
    assert not Ranking.objects.exists() and Membership.objects.filter(project=b).count() == 1


def test_comparison_of_b_under_project_a_is_404(client, two_projects):
    a, b, comp_a, comp_b, user = two_projects
    for name in ("labeling:ranking-submit", "labeling:comparison-skip"):
        assert client.post(reverse(name, args=[a.pk, comp_b.pk]), {}).status_code == 404


def test_annotator_gets_403_on_manager_pages_of_own_project(client, two_projects):
    a, b, comp_a, comp_b, user = two_projects
    for method, url, data in _manager_pages(a):
        response = getattr(client, method)(url, data)
        assert response.status_code == 403, (method, url)
        assert "Only managers" in response.content.decode()
    assert Membership.objects.get(project=a, user=user).role == Role.ANNOTATOR


def test_annotator_can_open_own_project_pages(client, two_projects):
    a, b, comp_a, comp_b, user = two_projects
    for name in ("labeling:project-detail", "labeling:comparison-rank", "labeling:ranking-undo"):
        assert client.get(reverse(name, args=[a.pk])).status_code == 200
    listing = client.get(reverse("labeling:project-list")).content.decode()
    assert "Alpha" in listing and "Beta" not in listing
    detail = client.get(reverse("labeling:project-detail", args=[a.pk])).content.decode()
    assert reverse("labeling:project-dashboard", args=[a.pk]) not in detail  # no manager links


def test_anonymous_user_is_sent_to_login(client, two_projects):
    a, *_ = two_projects
    client.logout()
    for name in ("labeling:project-list",):
        assert client.get(reverse(name))["Location"].startswith("/login/")
    response = client.get(reverse("labeling:comparison-rank", args=[a.pk]))
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_only_staff_may_create_projects(client, two_projects):
    url = reverse("labeling:project-new")
    assert client.get(url).status_code == 403
    assert client.post(url, {"name": "Mine", "k": "3", "overlap": "1", "lease_minutes": "30"}).status_code == 403
    assert not Project.objects.filter(name="Mine").exists()
