"""Manager pages: dashboard figures, members, prompt import; the staff project form; the project list."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from labeling.models import Comparison, Membership, Project, Prompt, Role
from labeling.services import ranking_submit
from tests.factories import add_member, make_comparison, make_lease, make_project, make_user

HX = {"HX-Request": "true"}


@pytest.fixture
def managed(db, client):
    project = make_project(k=3, overlap=2, name="Managed")
    boss = make_user("boss")
    add_member(project, boss, Role.MANAGER)
    client.force_login(boss)
    return project, boss


def _rank(comparison, user, *, spent: int, flags=None):
    ids = list(comparison.responses.values_list("id", flat=True))
    make_lease(comparison, user, display_order=[])  # no display order recorded
    ranking_submit(
        comparison=comparison,
        annotator=user,
        data={"order": [[i] for i in ids], "time_spent_ms": spent, "flags": flags or []},
    )


def test_dashboard_shows_counts_and_per_annotator_medians(client, managed):
    project, _ = managed
    c1, c2, _c3 = (make_comparison(project) for _ in range(3))
    ann, bob = make_user("ann"), make_user("bob")
    for user in (ann, bob):
        add_member(project, user)
    _rank(c1, ann, spent=1000)
    _rank(c2, ann, spent=3000)
    _rank(c2, bob, spent=9000)
    _rank(c1, bob, spent=5000, flags=["unsafe"])
    stats = client.get(reverse("labeling:project-dashboard", args=[project.pk]), headers=HX)
    html = stats.content.decode()
    assert stats.status_code == 200 and "<html" not in html
    assert 'data-testid="stat-comparisons">3<' in html
    assert 'data-testid="stat-complete">2<' in html  # overlap 2: c1 and c2 are complete
    assert 'data-testid="stat-rankings">4<' in html and "of 6 wanted" in html
    assert 'data-testid="stat-preferences">12<' in html  # 4 rankings × 3 pairs (K = 3, no ties)
    assert '<td>ann</td><td class="num">2</td><td class="num">2.0 s</td>' in html
    assert '<td>bob</td><td class="num">2</td><td class="num">7.0 s</td>' in html
    assert "<strong>1</strong> Unsafe" in html
    assert "No rankings with a recorded display order yet." in html  # leases that recorded no display order
    full = client.get(reverse("labeling:project-dashboard", args=[project.pk])).content.decode()
    assert "<html" in full and 'aria-current="page">Dashboard' in full


def test_dashboard_measures_position_bias_from_display_orders(client, managed):
    project, _ = managed
    ann = make_user("ann")
    add_member(project, ann)
    for n in range(4):
        comparison = make_comparison(project)
        ids = list(comparison.responses.values_list("id", flat=True))
        shown = ids if n < 3 else ids[::-1]  # the first response is shown first three times out of four
        _rank(comparison, ann, spent=100)
        comparison.rankings.update(display_order=shown)
    html = client.get(reverse("labeling:project-dashboard", args=[project.pk])).content.decode()
    assert "based on 4 rankings" in html
    assert 'data-testid="top-at-1">75%<' in html and 'data-testid="top-at-3">25%<' in html
    assert 'data-testid="top-at-2">0%<' in html


def test_add_member_by_username_then_change_role(client, managed):
    project, _ = managed
    make_user("newbie")
    url = reverse("labeling:project-members", args=[project.pk])
    response = client.post(url, {"username": "newbie", "role": "annotator"})
    assert response.status_code == 302
    assert Membership.objects.get(project=project, user__username="newbie").role == Role.ANNOTATOR
    partial = client.post(url, {"username": "newbie", "role": "manager"}, headers=HX)
    assert partial.status_code == 200 and "newbie is now a manager." in partial.content.decode()
    assert "<html" not in partial.content.decode()
    assert Membership.objects.get(project=project, user__username="newbie").role == Role.MANAGER


def test_add_unknown_user_is_400_naming_the_username(client, managed):
    project, _ = managed
    response = client.post(
        reverse("labeling:project-members", args=[project.pk]), {"username": "ghost", "role": "annotator"}
    )
    assert response.status_code == 400
    assert "Username: no active user is called &#x27;ghost&#x27;" in response.content.decode()
    assert Membership.objects.filter(project=project).count() == 1


def test_remove_member_but_never_the_last_manager(client, managed):
    project, boss = managed
    add_member(project, make_user("temp"))
    url = reverse("labeling:project-member-remove", args=[project.pk])
    client.post(url, {"username": "temp"})
    assert not Membership.objects.filter(project=project, user__username="temp").exists()
    page = client.post(url, {"username": "boss"}, follow=True).content.decode()
    assert "at least one manager" in page
    assert Membership.objects.filter(project=project, user=boss).exists()


def _upload(rows: list[dict], name: str = "prompts.jsonl") -> SimpleUploadedFile:
    body = "\n".join(json.dumps(r) for r in rows).encode()
    return SimpleUploadedFile(name, body, content_type="application/jsonl")


def test_import_shows_summary_and_a_second_import_adds_nothing(client, managed):
    project, _ = managed
    rows = [{"prompt": "Explain DNS."}, {"id": "q2", "prompt": "Explain TCP.", "responses": ["a", "b", "c"]}]
    url = reverse("labeling:project-import", args=[project.pk])
    first = client.post(url, {"file": _upload(rows)}, headers=HX)
    html = first.content.decode()
    assert first.status_code == 200 and "<html" not in html
    assert "<strong>2</strong> new prompts" in html and "<strong>1</strong> new comparison" in html
    assert (
        Prompt.objects.filter(project=project).count() == 2 and Comparison.objects.filter(project=project).count() == 1
    )
    again = client.post(url, {"file": _upload(rows)}).content.decode()
    assert "<strong>0</strong> new prompts, 2 already present" in again
    assert Prompt.objects.filter(project=project).count() == 2


def test_import_with_bad_rows_lists_errors_by_line_and_imports_nothing(client, managed):
    project, _ = managed
    body = b'{"prompt": "fine"}\n{"prompt": "broken"\n{"nope": 1}\n'
    upload = SimpleUploadedFile("bad.jsonl", body)
    response = client.post(reverse("labeling:project-import", args=[project.pk]), {"file": upload})
    html = response.content.decode()
    assert response.status_code == 400
    assert "Nothing was imported from bad.jsonl" in html
    assert '<td class="num">2</td>' in html and '<td class="num">3</td>' in html
    assert not Prompt.objects.filter(project=project).exists()


def test_import_without_a_file_is_400(client, managed):
    project, _ = managed
    response = client.post(reverse("labeling:project-import", args=[project.pk]), {})
    assert response.status_code == 400 and "This field is required" in response.content.decode()


def test_staff_creates_a_project_and_becomes_its_manager(client, db):
    admin = make_user("root", staff=True)
    client.force_login(admin)
    url = reverse("labeling:project-new")
    bad = client.post(url, {"name": "", "k": "12", "overlap": "1", "lease_minutes": "30"})
    assert (
        bad.status_code == 400
        and "Responses per comparison (K): Ensure this value is less than or equal to 9" in bad.content.decode()
    )
    response = client.post(
        url, {"name": "Code review", "k": "3", "overlap": "2", "lease_minutes": "20", "allow_ties": "on"}
    )
    project = Project.objects.get(name="Code review")
    assert response.status_code == 302 and response["Location"] == reverse("labeling:project-detail", args=[project.pk])
    assert (project.k, project.overlap, project.allow_ties) == (3, 2, True)
    assert Membership.objects.get(project=project, user=admin).role == Role.MANAGER


def test_project_list_shows_progress_per_project(client, managed):
    project, boss = managed
    make_comparison(project)
    done = make_comparison(project)
    other = make_user("other")
    add_member(project, other)
    _rank(done, boss, spent=10)
    _rank(done, other, spent=10)
    html = client.get(reverse("labeling:project-list")).content.decode()
    assert "1/2 comparisons done · you ranked 1" in html
