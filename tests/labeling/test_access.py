"""Project membership: the one raw query behind every claim answers as the ORM would."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser
from django.forms.models import model_to_dict
from django.http import Http404

from labeling.access import project_get_for_member
from labeling.models import Project
from tests.factories import add_member, make_project, make_user

pytestmark = pytest.mark.django_db


def test_a_member_gets_the_project_as_the_orm_loads_it(project, annotator):
    loaded = project_get_for_member(annotator, str(project.pk))
    assert model_to_dict(loaded) == model_to_dict(Project.objects.get(pk=project.pk))
    assert (loaded.created_at, loaded._state.adding) == (Project.objects.get(pk=project.pk).created_at, False)


def test_staff_get_any_project_and_everyone_else_a_404(project):
    other = make_project(name="Other")
    member = make_user()
    add_member(other, member)
    assert project_get_for_member(make_user(staff=True), project.pk) == project
    for user, project_id in [(member, project.pk), (AnonymousUser(), project.pk), (member, "abc"), (member, None), (member, 10**6)]:
        with pytest.raises(Http404):
            project_get_for_member(user, project_id)
