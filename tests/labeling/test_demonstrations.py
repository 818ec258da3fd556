"""Demonstrations: written or edited while ranking, reviewed by a manager, exported for SFT and as the best answer."""

from __future__ import annotations

import json

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from labeling.exports.services import snapshot_create, snapshot_file
from labeling.models import Demonstration, DemonstrationStatus
from labeling.services.demonstrations import demonstration_review, demonstration_submit, demonstrations_import
from tests.factories import add_member, make_comparison, make_lease, make_prompt, make_user
from tests.labeling.test_export_snapshots import rank

HX = {"HX-Request": "true"}


@pytest.fixture
def shown(project, annotator):
    """A project taking demonstrations and a comparison leased to the annotator."""
    project.allow_demonstrations = True
    project.save(update_fields=["allow_demonstrations"])
    comparison = make_comparison(project, prompt=make_prompt(project, "Explain rain."), texts=["Water falls.", "No.", "Rain is wet.", "?"])
    make_lease(comparison, annotator)
    return comparison


def _rows(snapshot) -> list[dict]:
    return [json.loads(line) for line in snapshot_file(snapshot, "train").read_text().splitlines()]


def test_an_annotator_edits_a_shown_response_and_resubmitting_replaces_it_until_reviewed(shown, annotator, manager) -> None:
    first = shown.responses.order_by("position").first()
    demo = demonstration_submit(comparison=shown, annotator=annotator, text=" Water falls from clouds. ", edited_from=first.pk)
    again = demonstration_submit(comparison=shown, annotator=annotator, text="Rain is water falling from clouds.")
    assert again.pk == demo.pk and again.text == "Rain is water falling from clouds." and again.edited_from is None
    assert again.messages == shown.prompt.messages and again.status == DemonstrationStatus.PENDING
    demonstration_review(demonstration=again, reviewer=manager, action="accept", text="Rain is water that falls from clouds.")
    with pytest.raises(ValidationError, match="already accepted"):
        demonstration_submit(comparison=shown, annotator=annotator, text="Changed my mind.")
    assert Demonstration.objects.get().text == "Rain is water that falls from clouds."


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"text": "   "}, "it is empty"),
    ({"text": "ok", "edited_from": 999999}, "not part of this comparison"),
])
def test_bad_demonstrations_are_refused_with_a_reason(shown, annotator, kwargs, message) -> None:
    with pytest.raises(ValidationError, match=message):
        demonstration_submit(comparison=shown, annotator=annotator, **kwargs)


def test_a_project_without_the_option_takes_no_demonstrations(project, annotator) -> None:
    comparison = make_comparison(project)
    with pytest.raises(ValidationError, match="does not take written responses"):
        demonstration_submit(comparison=comparison, annotator=annotator, text="Better.")


def test_the_ranking_page_offers_the_editor_and_saves_a_response_by_htmx(client, shown, annotator) -> None:
    client.force_login(annotator)
    page = client.get(reverse("labeling:comparison-rank", args=[shown.project_id])).content.decode()
    assert 'data-testid="demonstrate"' in page and "Response A (edit it)" in page and 'data-text="Water falls."' in page
    url = reverse("labeling:comparison-demonstrate", args=[shown.project_id, shown.pk])
    reply = client.post(url, {"text": "<b>Rain</b> falls from clouds."}, headers=HX)
    assert reply.status_code == 200 and 'data-testid="demonstration-saved"' in reply.content.decode()
    assert Demonstration.objects.get().text == "<b>Rain</b> falls from clouds."
    assert client.post(url, {"text": ""}, headers=HX).status_code == 400


def test_only_annotators_shown_the_comparison_may_write_for_it(client, shown, project) -> None:
    other = make_user("other")
    add_member(project, other)
    client.force_login(other)
    url = reverse("labeling:comparison-demonstrate", args=[project.pk, shown.pk])
    assert client.post(url, {"text": "Sneaky."}).status_code == 404
    client.force_login(make_user("outsider"))
    assert client.post(url, {"text": "Sneaky."}).status_code == 404
    assert not Demonstration.objects.exists()


def test_managers_review_the_queue_and_annotators_cannot(client, shown, annotator, manager) -> None:
    demo = demonstration_submit(comparison=shown, annotator=annotator, text="Rain falls <script>x</script>.")
    queue = reverse("labeling:demonstration-queue", args=[shown.project_id])
    client.force_login(annotator)
    assert client.get(queue).status_code == 403
    client.force_login(manager)
    page = client.get(queue).content.decode()
    assert f'data-demonstration="{demo.pk}"' in page and "<script>x</script>" not in page
    reply = client.post(queue, {"demonstration": demo.pk, "action": "accept", "text": "Rain falls from clouds."})
    assert reply.status_code == 302
    demo.refresh_from_db()
    assert demo.status == DemonstrationStatus.ACCEPTED and demo.reviewed_by == manager and demo.text == "Rain falls from clouds."
    assert 'data-testid="demonstrations-empty"' in client.get(queue).content.decode()


def test_accepted_demonstrations_are_sft_rows_and_the_best_answer_of_their_authors_ranking(shown, annotator, manager, project) -> None:
    rank(shown, annotator, [[0], [2], [1, 3]])
    demo = demonstration_submit(comparison=shown, annotator=annotator, text="Rain is water falling from clouds.")
    demonstration_review(demonstration=demo, reviewer=manager, action="accept")
    rejected = make_user("rejected-author")
    add_member(project, rejected)
    make_lease(shown, rejected)
    demonstration_review(demonstration=demonstration_submit(comparison=shown, annotator=rejected, text="Bad answer."),
                         reviewer=manager, action="reject")
    demonstrations_import(project=project, dialogues=[[{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}],
                                                      [{"role": "user", "content": "No answer"}]])
    imported = Demonstration.objects.get(comparison=None)
    demonstration_review(demonstration=imported, reviewer=manager, action="accept")

    sft = snapshot_create(project=project, params={"kind": "sft", "test_fraction": 0})
    answers = sorted(row["messages"][-1]["content"] for row in _rows(sft))
    assert answers == ["Hello!", "Rain is water falling from clouds.", "Water falls."]  # demos + consensus best
    assert sft.manifest["inputs"]["demonstrations"] == 2
    only = snapshot_create(project=project, params={"kind": "sft", "test_fraction": 0, "sft_source": "demonstrations"})
    assert len(_rows(only)) == 2

    prefs = snapshot_create(project=project, params={"test_fraction": 0})
    demo_pairs = {(row["rejected"][0]["content"], row["margin"]) for row in _rows(prefs)
                  if row["chosen"][0]["content"] == "Rain is water falling from clouds."}
    assert demo_pairs == {("Water falls.", 1.0), ("Rain is wet.", 2.0), ("No.", 3.0), ("?", 3.0)}
    assert len(_rows(prefs)) == 5 + 4  # the ranking's own 5 pairs, plus 4 with the demonstration on top
    assert prefs.manifest["inputs"]["demonstrations"] == 1
    assert not any("Bad answer." in json.dumps(r) for r in _rows(prefs) + _rows(sft))


def test_the_project_form_sets_the_option(client, db) -> None:
    user = make_user("creator", staff=True)
    client.force_login(user)
    reply = client.post(reverse("labeling:project-new"), {"name": "Demos", "k": 2, "overlap": 1, "lease_minutes": 30,
                                                          "allow_demonstrations": "on", "allow_ties": "on"})
    assert reply.status_code == 302
    from labeling.models import Project

    assert Project.objects.get(name="Demos").allow_demonstrations


def test_imported_dialogues_ending_with_an_answer_become_pending_demonstrations_once(project) -> None:
    from labeling.services import prompts_import

    rows = [{"messages": [{"role": "user", "content": "Hi there"}, {"role": "assistant", "content": "Hello! How can I help?"}]},
            {"messages": [{"role": "user", "content": "Only a question"}]}]
    prompts_import(project=project, rows=rows)
    demo = Demonstration.objects.get()
    assert demo.comparison is None and demo.status == DemonstrationStatus.PENDING
    assert demo.messages == [{"role": "user", "content": "Hi there"}] and demo.text == "Hello! How can I help?"
    prompts_import(project=project, rows=rows)
    assert Demonstration.objects.count() == 1
