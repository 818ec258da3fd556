"""The hot reads built from raw rows give the same objects the ORM would (types included)."""

from __future__ import annotations

from datetime import datetime

import pytest

from labeling.models import Comparison
from labeling.selectors import lease_for_member
from labeling.services import comparison_claim_next
from tests.factories import add_member, make_comparison, make_project, make_user

pytestmark = pytest.mark.django_db


def test_a_claimed_comparison_and_a_loaded_lease_match_what_the_orm_loads():
    project = make_project(k=3, allow_ties=False)
    user = make_user()
    add_member(project, user)
    made = make_comparison(project, texts=["ä one", "two", "three"])
    lease = comparison_claim_next(project=project, annotator=user)
    orm = Comparison.objects.select_related("prompt").get(pk=made.pk)
    claimed = lease.comparison
    assert claimed.prompt.messages == orm.prompt.messages and isinstance(claimed.prompt.messages, list)
    assert isinstance(claimed.created_at, datetime) and claimed.created_at == orm.created_at
    assert claimed.complete is False and [r.text for r in claimed.responses.all()] == ["ä one", "two", "three"]
    loaded = lease_for_member(user=user, comparison_id=made.pk)
    assert loaded.pk == lease.pk and loaded.display_order == lease.display_order
    assert isinstance(loaded.expires_at, datetime) and loaded.comparison.project.allow_ties is False
    assert lease_for_member(user=make_user(), comparison_id=made.pk) is None  # not a member: nothing


def test_a_raw_instance_holds_what_the_orm_loads_and_saves_as_an_update():
    from labeling import rawrows
    from labeling.access import _member_project_sql
    from labeling.models import Project

    project = make_project(k=3)
    raw = rawrows.one(Project, _member_project_sql(staff=True), {"project": project.pk, "user": 0})
    orm = Project.objects.get(pk=project.pk)
    fields = [f.attname for f in Project._meta.concrete_fields]
    assert [getattr(raw, f) for f in fields] == [getattr(orm, f) for f in fields]
    assert raw == orm and raw._state.adding is False and raw.get_deferred_fields() == set()
    raw.name = "Renamed"
    raw.save()
    assert Project.objects.count() == 1 and Project.objects.get(pk=project.pk).name == "Renamed"
