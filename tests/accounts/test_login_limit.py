"""The sign-in limit: per (address, username) and per address, shared by /login/, /admin/login/ and tokens."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client

from accounts.models import LoginThrottle
from tests.factories import PASSWORD, make_user

pytestmark = pytest.mark.django_db


def fail(client: Client, url: str = "/login/", username: str = "victim", **extra):
    return client.post(url, {"username": username, "password": "wrong"}, **extra)


def test_lockout_page_says_why_and_for_how_long(db):
    make_user("victim")
    client = Client()
    for _ in range(10):
        assert fail(client).status_code == 200
    locked = fail(client)
    assert locked.status_code == 429 and locked["Retry-After"] in {"299", "300"}
    assert "Too many failed sign-in attempts" in locked.content.decode() and "try again in 5 minutes" in locked.content.decode()


def test_admin_login_locks_out_too_and_the_right_password_then_waits(db):
    make_user("boss", staff=True)
    client = Client()
    for _ in range(10):
        assert fail(client, "/admin/login/", "boss").status_code == 200
    page = client.post("/admin/login/", {"username": "boss", "password": PASSWORD, "next": "/admin/"})
    assert "Too many failed sign-in attempts" in page.content.decode()
    assert client.get("/admin/").status_code == 302  # still not logged in


def test_a_lockout_at_login_also_holds_at_admin_login_and_for_tokens(db):
    make_user("boss", staff=True)
    client = Client()
    for _ in range(10):
        fail(client, username="boss")
    admin_page = client.post("/admin/login/", {"username": "boss", "password": PASSWORD, "next": "/admin/"})
    assert "Too many failed sign-in attempts" in admin_page.content.decode()
    token = client.post("/api/auth/token/", {"username": "boss", "password": PASSWORD}, content_type="application/json")
    assert token.status_code == 429 and "try again in" in token.json()["detail"] and token["Retry-After"]


def test_token_api_gives_the_token_for_the_right_password_and_400_for_a_wrong_one(db):
    user = make_user("scripter")
    client = Client()
    wrong = client.post("/api/auth/token/", {"username": "scripter", "password": "nope"}, content_type="application/json")
    assert wrong.status_code == 400 and wrong.json()["detail"] == "Wrong username or password."
    right = client.post("/api/auth/token/", {"username": "scripter", "password": PASSWORD}, content_type="application/json")
    assert right.status_code == 200 and right.json()["token"] == user.auth_token.key
    projects = Client(headers={"Authorization": f"Token {right.json()['token']}"}).get("/api/projects/")
    assert projects.status_code == 200


def test_another_address_is_not_locked_out(db):
    make_user("victim")
    for _ in range(11):
        fail(Client(), REMOTE_ADDR="203.0.113.5")
    assert fail(Client(), REMOTE_ADDR="203.0.113.5").status_code == 429
    assert Client().post("/login/", {"username": "victim", "password": PASSWORD}, REMOTE_ADDR="198.51.100.7").status_code == 302


def test_forwarded_for_is_ignored_unless_the_proxy_is_trusted(db, settings):
    make_user("victim")
    for n in range(11):  # a spoofed header does not buy fresh attempts
        response = fail(Client(), HTTP_X_FORWARDED_FOR=f"192.0.2.{n}")
    assert response.status_code == 429
    settings.LOGIN_TRUSTED_PROXIES = ["127.0.0.0/8"]
    LoginThrottle.objects.all().delete()
    for _ in range(10):  # behind our proxy, one client's failures lock only that client
        fail(Client(), HTTP_X_FORWARDED_FOR="192.0.2.66, 127.0.0.1")
    assert fail(Client(), HTTP_X_FORWARDED_FOR="192.0.2.66").status_code == 429
    assert Client().post("/login/", {"username": "victim", "password": PASSWORD}, HTTP_X_FORWARDED_FOR="192.0.2.77").status_code == 302


def test_one_address_guessing_across_many_usernames_hits_the_address_limit(db, settings):
    settings.LOGIN_ADDRESS_RATE_LIMIT = 15
    client = Client()
    for n in range(15):
        assert fail(client, username=f"user{n}").status_code == 200
    assert fail(client, username="someone-else").status_code == 429


def test_a_successful_login_gives_the_budget_back(db):
    make_user("victim")
    client = Client()
    for _ in range(9):
        fail(client)
    assert client.post("/login/", {"username": "victim", "password": PASSWORD}).status_code == 302
    client.post("/logout/")
    for _ in range(10):
        assert fail(client).status_code == 200


def test_the_lock_lifts_when_the_window_is_over(db):
    make_user("victim")
    client = Client()
    for _ in range(11):
        fail(client)
    LoginThrottle.objects.update(window_start=LoginThrottle.objects.first().window_start - timedelta(seconds=301))
    assert client.post("/login/", {"username": "victim", "password": PASSWORD}).status_code == 302
