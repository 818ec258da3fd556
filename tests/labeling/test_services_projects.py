"""project_create and membership changes, with errors that name the field."""

from __future__ import annotations

import pytest

from labeling.access import is_manager, project_get_for_member
from labeling.models import Membership, Role
from labeling.services import ProjectError, membership_add, membership_remove, project_create
from tests.factories import make_user

pytestmark = pytest.mark.django_db


def test_creator_becomes_manager_and_slug_is_made_unique():
    user = make_user(staff=True)
    first = project_create(name="Helpful answers", k=3, overlap=2, user=user)
    second = project_create(name="Helpful answers", user=user)
    assert (first.slug, second.slug) == ("helpful-answers", "helpful-answers-2")
    assert (first.k, first.overlap) == (3, 2)
    assert Membership.objects.get(project=first, user=user).role == Role.MANAGER


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"name": "  "}, "name"),
        ({"name": "x", "k": 1}, "k"),
        ({"name": "x", "k": 10}, "k"),
        ({"name": "x", "k": "4"}, "k"),
        ({"name": "x", "overlap": 0}, "overlap"),
        ({"name": "x", "lease_minutes": 0}, "lease_minutes"),
        ({"name": "x", "slug": "Not A Slug"}, "slug"),
    ],
)
def test_bad_project_fields_are_refused_by_name(fields, field):
    with pytest.raises(ProjectError) as exc:
        project_create(**fields, user=None)
    assert exc.value.field == field


def test_taken_slug_is_refused():
    project_create(name="A", slug="demo")
    with pytest.raises(ProjectError, match="already exists"):
        project_create(name="B", slug="demo")


def test_membership_add_gives_access_and_can_change_the_role():
    project = project_create(name="P")
    user = make_user("ann")
    membership_add(project=project, username="ann", role=Role.ANNOTATOR)
    assert project_get_for_member(user, project.pk) == project and not is_manager(user, project)
    membership_add(project=project, username="ann", role=Role.MANAGER)
    assert is_manager(user, project)
    with pytest.raises(ProjectError, match="already a manager"):
        membership_add(project=project, username="ann", role=Role.MANAGER)


@pytest.mark.parametrize(("username", "role", "field"), [("ghost", Role.ANNOTATOR, "username"), ("ann", "boss", "role")])
def test_membership_add_errors_name_the_problem(username, role, field):
    project = project_create(name="P")
    make_user("ann")
    with pytest.raises(ProjectError) as exc:
        membership_add(project=project, username=username, role=role)
    assert exc.value.field == field


def test_the_last_manager_cannot_be_removed():
    owner = make_user("owner")
    project = project_create(name="P", user=owner)
    make_user("ann")
    membership_add(project=project, username="ann")
    membership_remove(project=project, username="ann")
    with pytest.raises(ProjectError, match="at least one manager"):
        membership_remove(project=project, username="owner")
    assert Membership.objects.filter(project=project).count() == 1
