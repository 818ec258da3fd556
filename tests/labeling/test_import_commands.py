"""manage.py import_prompts and seed_demo."""

from __future__ import annotations

import io
import json

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.core.management import CommandError, call_command

from labeling.models import Comparison, Membership, Project, Prompt, Role
from tests.factories import make_project

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=out)
    return out.getvalue()


def test_import_prompts_reports_counts_and_is_idempotent(tmp_path):
    project = make_project(k=2)
    path = tmp_path / "p.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in [{"prompt": "A", "responses": ["x", "y"]}, {"prompt": "B"}]))
    assert "2 new prompt(s)" in run("import_prompts", project.slug, str(path))
    assert "0 new prompt(s), 2 already there" in run("import_prompts", project.slug, str(path))
    assert Prompt.objects.count() == 2 and Comparison.objects.count() == 1


def test_import_prompts_lists_problems_by_line_and_imports_nothing(tmp_path):
    project = make_project()
    path = tmp_path / "bad.csv"
    path.write_text("prompt,response_1\nok,\n,orphan\n")
    err = io.StringIO()
    with pytest.raises(CommandError, match="Nothing was imported"):
        call_command("import_prompts", project.slug, str(path), stdout=io.StringIO(), stderr=err)
    assert "line 3: prompt" in err.getvalue()
    assert Prompt.objects.count() == 0


def test_import_prompts_names_an_unknown_project_or_file(tmp_path):
    make_project()
    with pytest.raises(CommandError, match="No project with slug 'nope'"):
        run("import_prompts", "nope", str(tmp_path / "x.jsonl"))
    with pytest.raises(CommandError, match="(?i)no such file"):
        run("import_prompts", Project.objects.get().slug, str(tmp_path / "missing.jsonl"))


def test_seed_demo_twice_creates_users_project_and_prompts_once(settings, monkeypatch):
    monkeypatch.delenv("DEMO_PASSWORD", raising=False)
    first = run("seed_demo")
    second = run("seed_demo")
    project = Project.objects.get(slug="demo")
    assert (project.k, project.overlap, project.allow_ties) == (4, 2, True)
    assert Prompt.objects.filter(project=project).count() >= 40
    assert Comparison.objects.filter(project=project).count() == Prompt.objects.filter(project=project).count()
    assert all(c.responses.count() == 4 for c in Comparison.objects.filter(project=project)[:50])
    assert len({tag for p in Prompt.objects.all() for tag in p.tags[:1]}) >= 6  # varied categories
    roles = dict(Membership.objects.filter(project=project).values_list("user__username", "role"))
    assert roles == {"admin": Role.MANAGER, "annotator1": Role.ANNOTATOR, "annotator2": Role.ANNOTATOR}
    admin = get_user_model().objects.get(username="admin")
    assert admin.is_staff and admin.is_superuser
    stored = dict(line.split(" ", 1) for line in (settings.DATA_DIR / "demo_passwords.txt").read_text().splitlines())
    for name, password in stored.items():
        assert password in first and password in second  # printed each time
        assert authenticate(username=name, password=password) is not None
    assert "0 new prompt(s)" in second


def test_seed_demo_uses_demo_password_when_given(monkeypatch, settings):
    monkeypatch.setenv("DEMO_PASSWORD", "demo-pass-123")
    run("seed_demo")
    assert authenticate(username="annotator1", password="demo-pass-123") is not None
    assert not (settings.DATA_DIR / "demo_passwords.txt").exists()


def test_seed_demo_ships_arithmetic_prompts_with_reference_answers_for_grpo(monkeypatch):
    monkeypatch.setenv("DEMO_PASSWORD", "demo-pass-123")
    out = run("seed_demo")
    sums = [p for p in Prompt.objects.filter(project__slug="demo") if "arithmetic" in p.tags]
    assert len(sums) >= 5 and all(p.reference.strip().lstrip("-").isdigit() for p in sums)
    assert "Arithmetic prompts with reference answers" in out
