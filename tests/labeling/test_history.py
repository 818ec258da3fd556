"""My rankings: the annotator's history, editing an earlier ranking, taking back a skip."""

from __future__ import annotations

from django.urls import reverse

from labeling.models import Assignment, AssignmentStatus, Ranking
from labeling.services import comparison_claim_next, comparison_skip, comparison_unskip, ranking_submit
from tests.factories import add_member, make_comparison, make_project, make_prompt, make_user


def _project_with(n: int, overlap: int = 1):
    project = make_project(k=2, overlap=overlap)
    comparisons = [make_comparison(project, prompt=make_prompt(project, f"Prompt {i}")) for i in range(n)]
    user = make_user()
    add_member(project, user)
    return project, comparisons, user


def _rank(project, user, best_first: bool = True) -> Ranking:
    lease = comparison_claim_next(project=project, annotator=user)
    ids = lease.display_order if best_first else lease.display_order[::-1]
    return ranking_submit(comparison=lease.comparison, annotator=user, data={"order": [[i] for i in ids]})[0]


def test_history_lists_rankings_and_skips_newest_first_with_edit_and_unskip(client, db):
    project, comparisons, user = _project_with(3)
    _rank(project, user)
    _rank(project, user)
    comparison_skip(comparison=comparisons[2], annotator=user)
    client.force_login(user)
    body = client.get(reverse("labeling:ranking-history", args=[project.pk])).content.decode()
    order = [body.index(f"Prompt {i}") for i in (2, 1, 0)]
    assert order == sorted(order)  # newest first
    assert body.count(">Edit</a>") == 2 and "Rank it after all" in body
    assert reverse("labeling:ranking-edit", args=[project.pk, comparisons[0].pk]) in body


def test_an_earlier_ranking_opens_for_editing_and_saves_in_place(client, db):
    project, comparisons, user = _project_with(3)
    first = _rank(project, user)
    _rank(project, user)
    client.force_login(user)
    page = client.get(reverse("labeling:ranking-edit", args=[project.pk, comparisons[0].pk]))
    body = page.content.decode()
    assert page.status_code == 200 and "Editing an earlier ranking" in body and f'data-comparison="{comparisons[0].pk}"' in body
    a, b = first.order[0][0], first.order[1][0]
    post = {"choice": "b" if first.display_order[0] == a else "a", "edit": "True", "idempotency_key": "edit-1"}
    response = client.post(reverse("labeling:ranking-submit", args=[project.pk, comparisons[0].pk]), post)
    assert response.status_code == 302
    first.refresh_from_db()
    assert first.order == [[b], [a]] and Ranking.objects.filter(annotator=user).count() == 2


def test_someone_elses_ranking_cannot_be_opened(client, db):
    project, comparisons, user = _project_with(1)
    _rank(project, user)
    other = make_user()
    add_member(project, other)
    client.force_login(other)
    assert client.get(reverse("labeling:ranking-edit", args=[project.pk, comparisons[0].pk])).status_code == 404


def test_unskip_gives_the_comparison_back_unless_others_filled_it(db):
    project, comparisons, user = _project_with(2)
    comparison_skip(comparison=comparisons[0], annotator=user)
    assert comparison_unskip(comparison=comparisons[0], annotator=user)
    assert Assignment.objects.get(comparison=comparisons[0], annotator=user).status == AssignmentStatus.ACTIVE
    assert comparison_claim_next(project=project, annotator=user).comparison_id == comparisons[0].pk

    comparison_skip(comparison=comparisons[1], annotator=user)
    other = make_user()
    add_member(project, other)
    _rank(project, other)  # overlap 1: the other annotator completes it
    assert not comparison_unskip(comparison=comparisons[1], annotator=user)
    assert Assignment.objects.get(comparison=comparisons[1], annotator=user).status == AssignmentStatus.SKIPPED


def test_skip_keeps_its_reason_and_history_shows_it(client, db):
    project, comparisons, user = _project_with(2)
    client.force_login(user)
    client.get(reverse("labeling:comparison-rank", args=[project.pk]))
    lease = Assignment.objects.get(annotator=user, status=AssignmentStatus.ACTIVE)
    url = reverse("labeling:comparison-skip", args=[project.pk, lease.comparison_id])
    assert client.post(url, {"skip_reason": "cannot_judge"}).status_code == 302
    assert Assignment.objects.get(pk=lease.pk).skip_reason == "cannot_judge"
    body = client.get(reverse("labeling:ranking-history", args=[project.pk])).content.decode()
    assert "skipped (i can&#x27;t judge this topic)" in body
    client.get(reverse("labeling:comparison-rank", args=[project.pk]))
    other = Assignment.objects.get(annotator=user, status=AssignmentStatus.ACTIVE)
    client.post(reverse("labeling:comparison-skip", args=[project.pk, other.comparison_id]), {"skip_reason": "<b>made up</b>"})
    assert Assignment.objects.get(pk=other.pk).skip_reason == ""  # unknown reasons are not stored


def test_flags_on_single_responses_are_stored_with_the_ranking_and_shown_to_managers(client, db):
    from labeling.models import ResponseFlag, Role

    project, comparisons, user = _project_with(1)
    client.force_login(user)
    client.get(reverse("labeling:comparison-rank", args=[project.pk]))
    lease = Assignment.objects.get(annotator=user, status=AssignmentStatus.ACTIVE)
    bad = lease.display_order[1]
    post = {"choice": "a", "idempotency_key": "k1", "unsafe_response": [str(bad), "999999", "junk"]}
    assert client.post(reverse("labeling:ranking-submit", args=[project.pk, lease.comparison_id]), post).status_code == 302
    assert list(ResponseFlag.objects.values_list("response_id", "ranking__annotator", "flag")) == [(bad, user.pk, "unsafe")]

    edit = client.get(reverse("labeling:ranking-edit", args=[project.pk, lease.comparison_id])).content.decode()
    assert f'name="unsafe_response" value="{bad}" checked' in edit
    client.post(reverse("labeling:ranking-submit", args=[project.pk, lease.comparison_id]), {"choice": "b", "edit": "True", "idempotency_key": "k2"})
    assert not ResponseFlag.objects.exists()  # unticked while editing: the flag goes

    client.post(reverse("labeling:ranking-edit", args=[project.pk, lease.comparison_id]))  # GET-only view
    client.post(reverse("labeling:ranking-submit", args=[project.pk, lease.comparison_id]),
                {"choice": "b", "edit": "True", "idempotency_key": "k3", "unsafe_response": [str(bad)]})
    manager = make_user()
    add_member(project, manager, Role.MANAGER)
    client.force_login(manager)
    detail = client.get(reverse("labeling:data-comparison", args=[project.pk, lease.comparison_id])).content.decode()
    assert f'data-testid="response-flagged">unsafe: {user.username}<' in detail
