"""People: invites from the members page, the invite link, and the members/users API."""

from __future__ import annotations

import re

from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from labeling.models import Membership, Role
from tests.factories import add_member, api_client_for, make_project, make_user


def _invite(client, project, **fields):
    data = {f"invite-{k}": v for k, v in ({"role": "annotator"} | fields).items()}
    return client.post(reverse("labeling:project-invite", args=[project.pk]), data)


def test_manager_invites_a_new_user_whose_link_sets_a_password_once(client, project, manager):
    client.force_login(manager)
    page = _invite(client, project, username="newbie", email="new@example.org")
    body = page.content.decode()
    assert page.status_code == 200 and "newbie is invited as annotator" in body
    link = re.search(r'data-testid="invite-created">\s*<p><label>Invite link <input type="text" readonly value="([^"]+)"', body).group(1)
    user = get_user_model().objects.get(username="newbie")
    assert not user.has_usable_password() and Membership.objects.get(user=user, project=project).role == Role.ANNOTATOR

    guest = Client()
    path = link.removeprefix("http://testserver")
    assert guest.get(path).status_code == 200
    weak = guest.post(path, {"new_password1": "abc", "new_password2": "abc"})
    assert weak.status_code == 400 and "too short" in weak.content.decode()
    done = guest.post(path, {"new_password1": "a-long-pass-phrase", "new_password2": "a-long-pass-phrase"})
    assert done.status_code == 302 and done["Location"] == reverse("labeling:project-detail", args=[project.pk])
    assert guest.get(reverse("labeling:project-detail", args=[project.pk])).status_code == 200  # signed in
    again = Client().get(path)
    assert again.status_code == 400 and "no longer works" in again.content.decode()


def test_invite_refuses_a_taken_username_and_annotators_cannot_invite(client, project, manager, annotator):
    client.force_login(manager)
    taken = _invite(client, project, username="Annotator")
    assert taken.status_code == 400 and "is taken" in taken.content.decode()
    client.force_login(annotator)
    assert _invite(client, project, username="sneaky").status_code == 403
    assert not get_user_model().objects.filter(username="sneaky").exists()


def test_a_tampered_invite_link_is_refused(client, db):
    assert client.get("/invite/MQ/not-a-token/").status_code == 400
    assert client.get("/invite/%%%/x/").status_code in (400, 404)


def test_api_scripts_members_with_invites_and_staff_creates_users(project, manager, annotator):
    api = api_client_for(manager)
    url = f"/api/projects/{project.pk}/members/"
    created = [api.post(url, {"username": f"ann{n:02d}", "invite": True}, format="json") for n in range(3)]
    assert all(r.status_code == 201 and r.json()["invited"] and "/invite/" in r.json()["invite_url"] for r in created)
    existing = make_user("veteran")
    assert api.post(url, {"username": "veteran", "role": "manager"}, format="json").json() == {
        "username": "veteran", "role": "manager", "invited": False, "invite_url": None,
    }
    listed = {m["username"]: m for m in api.get(url).json()}
    assert {"ann00", "ann01", "ann02", "veteran", "manager", "annotator"} == set(listed)
    bad = api.post(url, {"username": "ghost"}, format="json")
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "username"
    assert api.delete(f"{url}veteran/").status_code == 204 and api.delete(f"{url}veteran/").status_code == 404
    assert api_client_for(annotator).get(url).status_code == 403
    assert existing.pk

    assert api.get("/api/users/").status_code == 403
    staff = api_client_for(make_user("root", staff=True))
    made = staff.post("/api/users/", {"username": "script", "password": "a-long-pass-phrase"}, format="json")
    assert made.status_code == 201 and made.json()["invite_url"] is None
    assert get_user_model().objects.get(username="script").check_password("a-long-pass-phrase")
    weak = staff.post("/api/users/", {"username": "weak", "password": "123"}, format="json")
    assert weak.status_code == 400 and weak.json()["errors"][0]["field"] == "password"
    assert "script" in [u["username"] for u in staff.get("/api/users/").json()]


def test_other_projects_members_are_404(project, manager):
    other = make_project()
    add_member(other, make_user("elsewhere"), Role.MANAGER)
    assert api_client_for(manager).get(f"/api/projects/{other.pk}/members/").status_code == 404
