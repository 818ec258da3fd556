"""The runner against fake jobs: success, failure, SIGKILL, cancel, timeout, no double start."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.conf import settings

from tests.training.helpers import current_policy, fake_jobs  # noqa: F401 - fixture
from training.models import MetricPoint, ModelVersion, ProjectModels, Run, RunStatus
from training.orchestration import run_execute
from training.runner import process as runner_process
from training.runner.prepare import build_command
from training.services.runs import run_create

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fake_jobs")]


def _run(project, *, kind: str = "dpo", **config) -> Run:
    run = run_create(project=project, kind="dpo" if kind == "dpo" else kind, config=config)
    run_execute(run.pk)
    run.refresh_from_db()
    return run


def test_successful_job_tails_metrics_and_registers_a_policy_child_of_the_current_one(project):
    parent = current_policy(project)
    run = _run(project, steps=4)

    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.progress == 1.0
    steps = list(MetricPoint.objects.filter(run=run).values_list("step", flat=True))
    assert steps == [1, 2, 3, 4]
    assert MetricPoint.objects.filter(run=run).last().values["loss"] == pytest.approx(0.25)
    version = ModelVersion.objects.get(run=run)
    assert version.parent == parent and version.kind == "policy"
    assert (Path(version.path) / "model.safetensors").read_bytes() == b"fake weights"
    assert version.metrics["eval_accuracy"] == 0.9
    assert run.outputs["model_version_id"] == version.pk
    # The job started from the current policy's path (a system field filled by the runner).
    assert run.outputs["result"]["started_from"] == parent.path
    # Registering is not promoting: the current policy stays until someone promotes.
    assert ProjectModels.objects.get(project=project).policy == parent


def test_config_json_holds_user_and_system_fields(project):
    current_policy(project)
    run = _run(project, steps=1, learning_rate=0.5)
    config = json.loads((Path(settings.RUNS_DIR) / str(run.pk) / "config.json").read_text())
    assert config["learning_rate"] == 0.5 and config["steps"] == 1
    assert config["run_dir"] == str(Path(settings.RUNS_DIR) / str(run.pk))
    assert config["output_dir"] == str(Path(settings.MODELS_DIR) / project.slug / f"dpo-{run.pk}")


def test_job_exiting_1_fails_with_the_stderr_tail_and_no_model(project):
    current_policy(project)
    run = _run(project, mode="fail")
    assert run.status == RunStatus.FAILED
    assert "exit 1" in run.error
    assert "error: fake failure at step 1: the data ran out" in run.error
    assert "loading data... fine" in run.log_tail
    assert not ModelVersion.objects.filter(run=run).exists()


def test_job_killed_by_sigkill_mid_save_fails_and_leaves_the_policy_untouched(project):
    parent = current_policy(project)
    run = _run(project, mode="selfkill")
    assert run.status == RunStatus.FAILED
    assert "killed by SIGKILL" in run.error
    assert not ModelVersion.objects.filter(run=run).exists()
    assert ProjectModels.objects.get(project=project).policy == parent
    # The half-written output never reached its final name.
    assert not (Path(settings.MODELS_DIR) / project.slug / f"dpo-{run.pk}").exists()


def test_exit_0_without_a_complete_model_fails_instead_of_registering(project):
    current_policy(project)
    run = _run(project, mode="no_output")
    assert run.status == RunStatus.FAILED
    assert "no complete model" in run.error
    assert not ModelVersion.objects.filter(run=run).exists()


def _cancel_after_first_metrics(monkeypatch):
    """Press "cancel" as soon as the first metric line arrives (as a user watching would)."""
    original = runner_process.metrics_store

    def store_then_cancel(run_id, rows):
        original(run_id, rows)
        if rows:
            Run.objects.filter(pk=run_id).update(cancel_requested=True)

    monkeypatch.setattr(runner_process, "metrics_store", store_then_cancel)


@pytest.mark.parametrize("mode", ["hang", "stubborn"])
def test_cancel_stops_the_job_even_one_that_ignores_sigterm(project, monkeypatch, mode):
    current_policy(project)
    _cancel_after_first_metrics(monkeypatch)
    run = _run(project, mode=mode)
    assert run.status == RunStatus.CANCELLED
    assert run.finished_at is not None
    assert not ModelVersion.objects.filter(run=run).exists()


def test_timeout_fails_the_run(project):
    current_policy(project)
    # 3 s leaves a loaded machine time to start the job and see it print before the timeout.
    run = run_create(project=project, kind="dpo", config={"mode": "hang"}, timeout_s=3)
    run_execute(run.pk)
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    assert run.error.startswith("timed out after")
    assert "hanging on purpose" in run.error


def test_a_run_is_never_started_twice(project):
    current_policy(project)
    run = run_create(project=project, kind="dpo", config={"steps": 1})
    assert run_execute(run.pk) == RunStatus.SUCCEEDED
    assert run_execute(run.pk) == "skipped"
    assert MetricPoint.objects.filter(run=run).count() == 1


def test_without_any_policy_the_run_fails_with_a_pointer_to_bootstrap(project):
    run = _run(project)
    assert run.status == RunStatus.FAILED
    assert "bootstrap_policy" in run.error


def test_several_processes_use_torchrun_on_cpu_and_an_argument_list(settings, monkeypatch):
    monkeypatch.setattr("training.runner.prepare._gpus_present", lambda: False)
    cmd = build_command(module="training.jobs.dpo", config_path=Path("/r/config.json"), nproc=2)
    assert cmd[1:] == ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                       "-m", "training.jobs.dpo", "--config", "/r/config.json"]
    monkeypatch.setattr("training.runner.prepare._gpus_present", lambda: True)
    cmd = build_command(module="training.jobs.dpo", config_path=Path("/r/config.json"), nproc=4)
    assert cmd[1:6] == ["-m", "accelerate.commands.launch", "--num_processes", "4", "-m"]
