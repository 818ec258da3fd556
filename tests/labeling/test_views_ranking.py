"""The ranking page: full page vs htmx partial, plain-form and htmx submits, errors, skip, undo."""

from __future__ import annotations

import pytest
from django.urls import reverse

from labeling.models import Assignment, AssignmentStatus, Flag, Preference, Ranking
from tests.factories import add_member, make_comparison, make_project, make_user

HX = {"HX-Request": "true"}


@pytest.fixture
def setup(db, client):
    """A K=3 project with three comparisons and a logged-in annotator."""
    project = make_project(k=3, allow_ties=True, instructions="Prefer **short** answers.")
    comparisons = [make_comparison(project, texts=[f"c{n} r{i}" for i in range(3)]) for n in range(3)]
    user = make_user("ranker")
    add_member(project, user)
    client.force_login(user)
    return project, comparisons, user


def rank_url(project):
    return reverse("labeling:comparison-rank", args=[project.pk])


def submit_url(project, comparison_id):
    return reverse("labeling:ranking-submit", args=[project.pk, comparison_id])


def lease_of(user) -> Assignment:
    return Assignment.objects.get(annotator=user, status=AssignmentStatus.ACTIVE)


def ranks_post(display_order, ranks, **extra) -> dict:
    """Build the plain form's POST: rank_<id> per response shown, plus extra fields."""
    data = {f"rank_{rid}": str(rank) for rid, rank in zip(display_order, ranks, strict=True)}
    return data | extra


def test_rank_page_full_has_layout_and_htmx_gets_only_the_stage(client, setup):
    project, _, user = setup
    full = client.get(rank_url(project))
    assert full.status_code == 200
    page = full.content.decode()
    assert "<html" in page and "Prefer <strong>short</strong> answers." in page and 'id="rank-stage"' in page
    partial = client.get(rank_url(project), headers=HX).content.decode()
    assert "<html" not in partial and "Instructions" not in partial
    assert partial.lstrip().startswith('<section id="rank-stage"')
    # Both show the responses in the lease's display order, and the lease is reused, not re-drawn.
    order = lease_of(user).display_order
    for html in (page, partial):
        positions = [html.index(f'data-response-id="{rid}"') for rid in order]
        assert positions == sorted(positions)


def test_plain_post_stores_ranking_and_redirects_to_next(client, setup):
    project, _, user = setup
    client.get(rank_url(project))
    lease = lease_of(user)
    shown = lease.display_order
    response = client.post(submit_url(project, lease.comparison_id), ranks_post(shown, [2, 1, 3], time_spent_ms="4200"))
    assert response.status_code == 302 and response["Location"] == rank_url(project)
    ranking = Ranking.objects.get(annotator=user)
    assert ranking.order == [[shown[1]], [shown[0]], [shown[2]]]
    assert ranking.display_order == shown and ranking.time_spent_ms == 4200
    assert Preference.objects.filter(ranking=ranking).count() == 3
    next_page = client.get(rank_url(project)).content.decode()
    assert f'data-comparison="{lease.comparison_id}"' not in next_page


def test_htmx_post_swaps_in_next_comparison_with_progress(client, setup):
    project, _, user = setup
    client.get(rank_url(project))
    lease = lease_of(user)
    response = client.post(
        submit_url(project, lease.comparison_id), ranks_post(lease.display_order, [1, 1, 2]), headers=HX
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" not in html and "Saved" in html
    assert 'data-testid="my-ranked">1<' in html and "2 left" in html
    assert f'data-comparison="{lease.comparison_id}"' not in html and "data-comparison=" in html
    assert Ranking.objects.get(annotator=user).order == [lease.display_order[:2], [lease.display_order[2]]]


def test_tie_when_not_allowed_is_400_with_message_and_nothing_stored(client, db):
    project = make_project(k=3, allow_ties=False)
    make_comparison(project)
    user = make_user()
    add_member(project, user)
    client.force_login(user)
    client.get(rank_url(project))
    lease = lease_of(user)
    data = ranks_post(lease.display_order, [1, 1, 2])
    page = client.post(submit_url(project, lease.comparison_id), data)
    assert page.status_code == 400 and "ties are not allowed" in page.content.decode()
    assert "<html" in page.content.decode()  # without htmx: the whole page, the choices kept
    fragment = client.post(submit_url(project, lease.comparison_id), data, headers=HX)
    assert fragment.status_code == 400
    assert fragment["HX-Retarget"] == "#rank-feedback" and fragment["HX-Reswap"] == "innerHTML"
    assert "Ranking: ties are not allowed" in fragment.content.decode()
    assert 'id="rank-stage"' not in fragment.content.decode()
    assert not Ranking.objects.exists() and not Preference.objects.exists()


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d, shown: d.pop(f"rank_{shown[0]}"), "Give response A a rank"),
        (lambda d, shown: d.update({f"rank_{shown[1]}": "abc"}), "Rank of B"),
        (lambda d, shown: d.update({f"rank_{shown[1]}": "7"}), "Rank of B"),
        (lambda d, shown: d.update({"note": "x" * 5001}), "Note"),
        (lambda d, shown: d.update({"flags": "sparkly"}), "Flags"),
        (lambda d, shown: d.update({"time_spent_ms": "-5"}), "Time spent"),
    ],
)
def test_bad_input_is_400_naming_the_field(client, setup, mutate, message):
    project, _, user = setup
    client.get(rank_url(project))
    lease = lease_of(user)
    data = ranks_post(lease.display_order, [1, 2, 3])
    mutate(data, lease.display_order)
    response = client.post(submit_url(project, lease.comparison_id), data, headers=HX)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Ranking.objects.exists()


def test_rank_for_a_foreign_response_id_is_ignored_and_missing_rank_reported(client, setup):
    project, comparisons, user = setup
    client.get(rank_url(project))
    lease = lease_of(user)
    other = next(c for c in comparisons if c.pk != lease.comparison_id)
    data = ranks_post(lease.display_order[:2], [1, 2]) | {f"rank_{other.responses.first().pk}": "3"}
    response = client.post(submit_url(project, lease.comparison_id), data)
    assert response.status_code == 400 and "Give response C a rank" in response.content.decode()
    assert not Ranking.objects.exists()


def test_second_submit_with_new_key_is_409_but_same_key_is_idempotent(client, setup):
    project, _, user = setup
    client.get(rank_url(project))
    lease = lease_of(user)
    url = submit_url(project, lease.comparison_id)
    data = ranks_post(lease.display_order, [1, 2, 3], idempotency_key="k-1")
    assert client.post(url, data, headers=HX).status_code == 200
    assert client.post(url, data, headers=HX).status_code == 200  # a double click: same key, same ranking
    conflict = client.post(url, data | {"idempotency_key": "k-2"}, headers=HX)
    assert conflict.status_code == 409
    assert "already ranked this comparison" in conflict.content.decode()
    assert "Go to the next comparison" in conflict.content.decode()
    assert Ranking.objects.filter(annotator=user).count() == 1


def test_skip_moves_on_and_never_offers_it_again(client, setup):
    project, comparisons, user = setup
    client.get(rank_url(project))
    skipped = lease_of(user).comparison_id
    response = client.post(reverse("labeling:comparison-skip", args=[project.pk, skipped]), headers=HX)
    assert response.status_code == 200 and "Skipped" in response.content.decode()
    seen = {skipped}
    for _ in range(len(comparisons) - 1):
        lease = lease_of(user)
        seen.add(lease.comparison_id)
        client.post(submit_url(project, lease.comparison_id), ranks_post(lease.display_order, [1, 2, 3]))
        client.get(rank_url(project))
    assert seen == {c.pk for c in comparisons}
    done = client.get(rank_url(project)).content.decode()
    assert "All caught up" in done and "data-comparison=" not in done
    assert not Ranking.objects.filter(comparison_id=skipped).exists()


def test_undo_reopens_last_ranking_prefilled_and_edit_replaces_it(client, setup):
    project, _, user = setup
    client.get(rank_url(project))
    lease = lease_of(user)
    shown = lease.display_order
    client.post(submit_url(project, lease.comparison_id), ranks_post(shown, [3, 1, 2], time_spent_ms="1000"))
    undo = client.get(reverse("labeling:ranking-undo", args=[project.pk]), headers=HX).content.decode()
    assert "editing your last ranking" in undo and f'data-comparison="{lease.comparison_id}"' in undo
    assert f'<select name="rank_{shown[0]}" required data-rank-select>' in undo
    assert '<option value="3" selected>' in undo  # the stored rank of the first card shown
    assert 'name="edit" value="True"' in undo
    response = client.post(
        submit_url(project, lease.comparison_id), ranks_post(shown, [1, 2, 2], edit="True", time_spent_ms="500")
    )
    assert response.status_code == 302
    ranking = Ranking.objects.get(annotator=user)
    assert ranking.order == [[shown[0]], [shown[1], shown[2]]] and ranking.time_spent_ms == 1500
    assert Preference.objects.filter(ranking=ranking).count() == 2


def test_undo_with_nothing_ranked_says_so(client, setup):
    project, _, _ = setup
    html = client.get(reverse("labeling:ranking-undo", args=[project.pk])).content.decode()
    assert "Nothing to undo yet" in html


def test_without_javascript_time_spent_comes_from_render_time(client, setup):
    project, _, user = setup
    client.get(rank_url(project))
    lease = lease_of(user)
    import time

    rendered_at = int(time.time() * 1000) - 3000
    client.post(
        submit_url(project, lease.comparison_id),
        ranks_post(lease.display_order, [1, 2, 3], rendered_at=str(rendered_at)),
    )
    assert 3000 <= Ranking.objects.get(annotator=user).time_spent_ms < 60_000


@pytest.fixture
def pair(db, client):
    project = make_project(k=2, allow_ties=False)
    make_comparison(project, texts=["first", "second"])
    user = make_user("pairer")
    add_member(project, user)
    client.force_login(user)
    client.get(rank_url(project))
    return project, lease_of(user), user


def test_pairwise_choice_and_strength_become_order_and_margin(client, pair):
    project, lease, user = pair
    page = client.get(rank_url(project)).content.decode()
    assert "B is better" in page and "Much better" in page and ">Tie<" not in page  # no ties in this project
    client.post(submit_url(project, lease.comparison_id), {"choice": "b", "strength": "3"})
    ranking = Ranking.objects.get(annotator=user)
    a, b = lease.display_order
    assert ranking.order == [[b], [a]] and ranking.strength == 3
    assert list(Preference.objects.values_list("chosen_id", "rejected_id", "margin")) == [(b, a, 3.0)]


def test_pairwise_both_bad_is_flagged_tie_even_without_ties(client, pair):
    project, lease, user = pair
    response = client.post(submit_url(project, lease.comparison_id), {"choice": "both_bad", "strength": "3"})
    assert response.status_code == 302
    ranking = Ranking.objects.get(annotator=user)
    assert ranking.flags == [Flag.ALL_BAD] and len(ranking.order) == 1 and ranking.strength is None
    assert not Preference.objects.exists()


def test_pairwise_without_choice_is_400(client, pair):
    project, lease, _ = pair
    response = client.post(submit_url(project, lease.comparison_id), {"strength": "2"}, headers=HX)
    assert response.status_code == 400 and "Which is better?" in response.content.decode()


def test_late_submit_after_lease_expired_and_comparison_taken_is_409_not_lost_silently(client, db):
    project = make_project(k=3, overlap=1)
    comparison = make_comparison(project)
    slow, fast = make_user("slow"), make_user("fast")
    for user in (slow, fast):
        add_member(project, user)
    client.force_login(slow)
    client.get(rank_url(project))
    lease = lease_of(slow)
    Assignment.objects.filter(pk=lease.pk).update(expires_at=lease.created_at)  # the lease ran out
    client.force_login(fast)
    client.get(rank_url(project))
    fast_lease = lease_of(fast)
    assert fast_lease.comparison_id == comparison.pk  # the expired lease went back to the pool
    client.post(submit_url(project, comparison.pk), ranks_post(fast_lease.display_order, [1, 2, 3]))
    client.force_login(slow)
    response = client.post(submit_url(project, comparison.pk), ranks_post(lease.display_order, [3, 2, 1]), headers=HX)
    assert response.status_code == 409
    assert "lease on this comparison expired" in response.content.decode()
    assert list(Ranking.objects.values_list("annotator__username", flat=True)) == ["fast"]
