"""A run picks an accelerate config (DDP / FSDP / ZeRO-3) by name; the launcher uses it; the run page shows how it started."""

from __future__ import annotations

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from tests.training.helpers import current_policy, fake_jobs  # noqa: F401 - fixture
from tests.training.loop_helpers import rank_new_comparisons
from training.models import Run
from training.orchestration import run_execute
from training.runner import prepare
from training.services.distributed import BUNDLED_DIR, accelerate_configs

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fake_jobs")]


def _api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_the_bundled_configs_are_ddp_fsdp_and_zero3() -> None:
    assert {"ddp", "fsdp", "zero3"} <= set(accelerate_configs())


def test_a_run_created_with_a_named_config_keeps_its_file_and_unknown_names_are_refused(project, manager):
    rank_new_comparisons(project, 2)
    client = _api(manager)
    bad = client.post(f"/api/projects/{project.pk}/runs/", {"kind": "dpo", "accelerate_config": "../../etc/passwd"}, format="json")
    assert bad.status_code == 400 and "accelerate_config" in bad.content.decode() and "fsdp" in bad.content.decode()
    response = client.post(f"/api/projects/{project.pk}/runs/", {"kind": "dpo", "nproc": 8, "accelerate_config": "fsdp"},
                           format="json")
    assert response.status_code == 201, response.content
    run = Run.objects.get(pk=response.json()["id"])
    assert run.inputs["accelerate_config"] == str(BUNDLED_DIR / "fsdp.yaml")


def test_on_gpus_the_launcher_passes_the_config_file_to_accelerate(monkeypatch):
    monkeypatch.setattr(prepare, "_gpus_present", lambda: True)
    command = prepare.build_command(module="training.jobs.dpo", config_path="c.json", nproc=8,
                                    accelerate_config=str(BUNDLED_DIR / "zero3.yaml"))
    assert command[1:5] == ["-m", "accelerate.commands.launch", "--config_file", str(BUNDLED_DIR / "zero3.yaml")]
    assert command[5:7] == ["--num_processes", "8"]


def test_run_page_shows_how_the_worker_launched_the_job(client, project, manager):
    current_policy(project)
    from training.services.runs import run_create

    run = run_create(project=project, kind="dpo", config={"steps": 2})
    run_execute(run.pk)
    client.force_login(manager)
    html = client.get(reverse("training:run-detail", args=[run.pk])).content.decode()
    assert 'data-testid="run-launch"' in html and "Launched as <code>" in html and "Worker defaults:" in html
