"""Who may touch what, production settings, login limits and the Content-Security-Policy."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from labeling.models import Prompt, Ranking, Role
from tests.factories import PASSWORD, add_member, api_client_for, make_comparison, make_project, make_user

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def two_projects(db):
    """An annotator of project A; project B belongs to someone else."""
    a, b = make_project(name="A"), make_project(name="B")
    annotator, owner = make_user("ann"), make_user("owner")
    add_member(a, annotator)
    add_member(b, owner, Role.MANAGER)
    return a, b, annotator, make_comparison(a), make_comparison(b)


def endpoints(project, comparison) -> list[tuple[str, str, dict | None]]:
    p, c = project.pk, comparison.pk
    order = {"order": list(comparison.responses.values_list("id", flat=True))}
    return [
        ("get", f"/api/projects/{p}/", None),
        ("post", f"/api/projects/{p}/import/", {"rows": [{"prompt": "sneaky"}]}),
        ("post", f"/api/projects/{p}/comparisons/next/", None),
        ("get", f"/api/projects/{p}/preferences/", None),
        ("post", f"/api/comparisons/{c}/ranking/", order),
        ("post", f"/api/comparisons/{c}/skip/", None),
    ]


def test_annotator_gets_404_on_every_endpoint_of_another_project(two_projects):
    _, b, annotator, _, comparison_b = two_projects
    api = api_client_for(annotator)
    for method, url, body in endpoints(b, comparison_b):
        response = getattr(api, method)(url, body, format="json")
        assert response.status_code == 404, (method, url, response.status_code)
    assert not Prompt.objects.filter(messages__0__content="sneaky").exists()
    assert Ranking.objects.count() == 0 and not comparison_b.assignments.exists()


def test_annotator_gets_403_on_manager_actions_of_their_own_project(two_projects):
    a, _, annotator, _, _ = two_projects
    api = api_client_for(annotator)
    upload = SimpleUploadedFile("p.jsonl", b'{"prompt": "x"}\n')
    assert api.post(f"/api/projects/{a.pk}/import/", {"file": upload}, format="multipart").status_code == 403
    assert api.post(f"/api/projects/{a.pk}/import/", {"rows": [{"prompt": "x"}]}, format="json").status_code == 403
    assert api.get(f"/api/projects/{a.pk}/preferences/").status_code == 403
    assert api.post("/api/projects/", {"name": "Mine now"}, format="json").status_code == 403
    assert Prompt.objects.filter(project=a).count() == 1  # only the fixture's


def test_unknown_and_non_numeric_ids_are_404(two_projects):
    api = api_client_for(two_projects[2])
    assert api.get("/api/projects/999999/").status_code == 404
    assert api.post("/api/comparisons/999999/ranking/", {"order": [1]}, format="json").status_code == 404
    assert api.get("/api/projects/abc/").status_code == 404


def test_admin_is_closed_to_non_staff(two_projects):
    client = Client()
    client.force_login(two_projects[2])
    response = client.get("/admin/labeling/ranking/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_admin_lists_render_for_staff(db):
    client = Client()
    client.force_login(make_user(staff=True))
    project = make_project()
    make_comparison(project)
    for model in ["project", "membership", "prompt", "comparison", "response", "assignment", "ranking", "preference", "datasetsnapshot"]:
        response = client.get(f"/admin/labeling/{model}/", {"q": "x"})
        assert response.status_code == 200, model
    assert client.get("/admin/labeling/preference/add/").status_code == 403  # derived rows are read-only


def test_eleventh_failed_login_is_refused_with_429(db):
    make_user("victim")
    client = Client()
    for _ in range(10):
        assert client.post("/login/", {"username": "victim", "password": "wrong"}).status_code == 200
    locked = client.post("/login/", {"username": "victim", "password": "wrong"})
    assert locked.status_code == 429
    # Even the right password waits out the window: guessing cannot continue.
    assert client.post("/login/", {"username": "victim", "password": PASSWORD}).status_code == 429


def test_every_page_carries_a_strict_content_security_policy(db):
    user = make_user(staff=True)
    client = Client()
    pages = ["/login/", "/api/docs/", "/admin/login/", "/no-such-page/"]
    responses = [client.get(url) for url in pages]
    client.force_login(user)
    responses += [client.get(url) for url in ["/", "/admin/", "/api/projects/", "/api/docs/"]]
    for url, response in zip(pages + ["/", "/admin/", "/api/projects/", "/api/docs/"], responses, strict=True):
        csp = response.headers.get("Content-Security-Policy", "")
        assert "script-src 'self'" in csp, url
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, url


def test_the_policy_header_follows_the_settings(db, settings):
    assert "img-src 'self' data:" in Client().get("/login/").headers["Content-Security-Policy"]
    settings.CONTENT_SECURITY_POLICY = {"EXCLUDE_URL_PREFIXES": ["/api/"], "DIRECTIVES": {"default-src": ["'self'"], "img-src": ["https://img.example"]}}
    assert "img-src https://img.example" in Client().get("/login/").headers["Content-Security-Policy"]
    assert "Content-Security-Policy" not in Client().get("/api/projects/").headers


def test_api_docs_run_no_inline_script(db):
    client = Client()
    client.force_login(make_user())
    page = client.get("/api/docs/")
    assert page.status_code == 200
    assert not re.search(rb"<script(?![^>]*\bsrc=)[^>]*>", page.content)  # every script is a file
    script = client.get("/api/docs/?script=")
    assert script.status_code == 200 and b"SwaggerUIBundle" in script.content


def _django(args: list[str], env_extra: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess:
    # A production process starts from a clean environment: drop what the test session itself sets
    # (the browser tests set DJANGO_ALLOW_ASYNC_UNSAFE, which the deploy check rightly rejects).
    dropped = {"DEBUG", "SECRET_KEY", "DJANGO_ALLOW_ASYNC_UNSAFE", "DATABASE_URL"}
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env.update({"PREFLOOP_DATA_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "config.settings", **env_extra})
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_production_settings_refuse_to_start_without_a_secret_key(tmp_path):
    result = _django(["-c", "import django; django.setup()"], {"DEBUG": "0"}, tmp_path)
    assert result.returncode != 0 and "SECRET_KEY is not set" in result.stderr
    short = _django(["-c", "import django; django.setup()"], {"DEBUG": "0", "SECRET_KEY": "short"}, tmp_path)
    assert short.returncode != 0 and "too short" in short.stderr


def test_production_settings_pass_the_deploy_check(tmp_path):
    env = {"DEBUG": "0", "SECRET_KEY": secrets.token_urlsafe(50), "ALLOWED_HOSTS": "prefloop.example.org"}
    result = _django(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], env, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
