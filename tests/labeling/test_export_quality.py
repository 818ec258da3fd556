"""Exports leave out annotators below an agreement or gold-accuracy threshold (the dashboard's figures)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError

from labeling.exports.filters import annotator_pseudonym
from labeling.exports.services import snapshot_create
from labeling.models import Preference, Ranking
from labeling.selectors import project_quality
from labeling.services import preferences_from_order
from tests.factories import add_member, make_comparison, make_project, make_user


@pytest.fixture
def crowd(db):
    """Three annotators on four comparisons: ann and bob agree, cat reverses them; one gold comparison."""
    project = make_project(k=3, overlap=3)
    people = [make_user(n) for n in ("ann", "bob", "cat")]
    for user in people:
        add_member(project, user)
    for n in range(4):
        comparison = make_comparison(project)
        ids = list(comparison.responses.values_list("pk", flat=True))
        if n == 0:
            comparison.gold_response_id = ids[0]
            comparison.save(update_fields=["gold_response"])
        for user in people:
            order = ids[::-1] if user.username == "cat" else ids
            if user.username == "bob" and n == 0:
                order = [ids[1], ids[0], ids[2]]  # bob misses the gold one but agrees on the rest
            ranking = Ranking.objects.create(comparison=comparison, annotator=user, order=[[i] for i in order], display_order=ids)
            Preference.objects.bulk_create(
                Preference(ranking=ranking, comparison=comparison, annotator=user, chosen_id=c, rejected_id=r, margin=m)
                for c, r, m in preferences_from_order(ranking.order)
            )
    return project, people


def _annotators(snapshot) -> set[str]:
    lines = (Path(snapshot.path) / "train.jsonl").read_text().splitlines()
    return {json.loads(line)["annotator"] for line in lines}


def test_low_agreement_annotators_are_left_out_and_counted(crowd):
    project, (ann, bob, cat) = crowd
    figures = {a.annotator: a.agreement for a in project_quality(project=project).annotators}
    assert figures == {"ann": 11 / 24, "bob": 12 / 24, "cat": 1 / 24}  # each agrees with bob/ann, not with the other
    snapshot = snapshot_create(project=project, params={"min_annotator_agreement": 0.3, "test_fraction": 0})
    assert _annotators(snapshot) == {annotator_pseudonym(ann.pk), annotator_pseudonym(bob.pk)}
    assert snapshot.manifest["dropped"]["rankings"] == {"annotator_below_quality": 4}


def test_gold_accuracy_threshold_leaves_out_who_missed_gold(crowd):
    project, (ann, bob, cat) = crowd
    snapshot = snapshot_create(project=project, params={"min_gold_accuracy": 1.0, "test_fraction": 0})
    assert _annotators(snapshot) == {annotator_pseudonym(ann.pk)}  # bob and cat missed the gold response
    everyone = snapshot_create(project=project, params={"test_fraction": 0})
    assert len(_annotators(everyone)) == 3


def test_thresholds_outside_0_to_1_are_refused(crowd):
    project, _ = crowd
    with pytest.raises(ValidationError) as caught:
        snapshot_create(project=project, params={"min_gold_accuracy": 2})
    assert "min_gold_accuracy" in caught.value.message_dict
