"""The model registry: only complete models are registered; promotion and rollback switch pointers."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError

from tests.training.helpers import complete_model_dir, current_policy
from training.models import ProjectModels
from training.services.registry import model_promote, model_rollback, model_version_register

pytestmark = pytest.mark.django_db


def test_a_directory_without_the_complete_marker_is_not_registered(project):
    half = Path(settings.MODELS_DIR) / "half"
    half.mkdir(parents=True)
    (half / "config.json").write_text("{}")
    with pytest.raises(ValidationError) as info:
        model_version_register(project=project, kind="policy", name="half", path=str(half))
    assert "COMPLETE" in info.value.message_dict["path"][0]


def test_a_hub_id_is_registered_as_is(project):
    version = model_version_register(project=project, kind="policy", name="gpt2", path="openai-community/gpt2")
    assert version.path == "openai-community/gpt2"


def test_promote_switches_only_its_own_kind(project):
    policy = current_policy(project, "p1")
    reward = current_policy(project, "r1", kind="reward")
    newer = model_version_register(project=project, kind="policy", name="p2", path=str(complete_model_dir("p2")), parent=policy)
    model_promote(version=newer)
    pointers = ProjectModels.objects.get(project=project)
    assert (pointers.policy, pointers.reward) == (newer, reward)


def test_rollback_goes_to_any_earlier_version_and_refuses_a_newer_one(project):
    v1 = current_policy(project, "p1")
    v2 = current_policy(project, "p2")
    v3 = current_policy(project, "p3")
    model_rollback(version=v1)
    assert ProjectModels.objects.get(project=project).policy == v1
    with pytest.raises(ValidationError):
        model_rollback(version=v2)  # newer than the current one: that is a promotion
    model_promote(version=v3)
    assert ProjectModels.objects.get(project=project).policy == v3


def test_a_deleted_model_directory_cannot_be_promoted(project):
    version = current_policy(project, "p1")
    (Path(version.path) / "COMPLETE").unlink()
    other = model_version_register(project=project, kind="policy", name="p0", path="some/hub-id")
    model_promote(version=other)
    with pytest.raises(ValidationError):
        model_promote(version=version)
    assert ProjectModels.objects.get(project=project).policy == other


def test_bootstrap_policy_builds_once_and_promotes_only_where_no_policy_is_set(settings):
    from io import StringIO

    from django.core.management import CommandError, call_command

    from tests.factories import make_project
    from training.models import ModelVersion

    settings.PREFLOOP_JOB_MODULES = {"bootstrap": "tests.training.fake_job"}  # the real one takes minutes
    fresh, settled = make_project(), make_project()
    mine = current_policy(settled, "mine")

    out = StringIO()
    call_command("bootstrap_policy", stdout=out)
    assert "Tiny policy built" in out.getvalue()
    tiny = ModelVersion.objects.get(project=fresh, name="tiny-policy")
    assert (Path(tiny.path) / "COMPLETE").exists()
    assert ProjectModels.objects.get(project=fresh).policy == tiny
    assert ProjectModels.objects.get(project=settled).policy == mine  # registered, not promoted over theirs

    out = StringIO()
    call_command("bootstrap_policy", "--project", fresh.slug, stdout=out)
    assert "Tiny policy reused" in out.getvalue()
    assert ModelVersion.objects.filter(name="tiny-policy").count() == 2  # one per project, never twice
    with pytest.raises(CommandError):
        call_command("bootstrap_policy", "--project", "no-such-project")
