"""sft, kto and orpo through a Run: snapshot, job process, registered policy, figures on the run."""

from __future__ import annotations

import pytest

from labeling.models import Role
from tests.factories import add_member, make_user
from tests.training.loop_helpers import rank_new_comparisons
from training.kinds import RECIPES, export_kind, train_now_kinds
from training.models import ModelKind, ModelVersion, Recipe, Run, RunKind, RunStatus
from training.orchestration import run_execute
from training.services.triggers import TrainRequest, train_start


@pytest.fixture
def ranked(project, tiny_policy):
    """A project on the tiny policy with 40 ranked comparisons: the answer opening "Well." ranked first."""
    project.base_model = str(tiny_policy)
    project.save(update_fields=["base_model"])
    manager = make_user("boss")
    add_member(project, manager, Role.MANAGER)
    rank_new_comparisons(project, 40, marker="Well.")
    return project, manager


def _train(project, user, kind: str, config: dict) -> tuple[Run, dict]:
    run = train_start(project=project, request=TrainRequest(kind=kind, config=config, snapshot_params={"test_fraction": 0.2}), user=user)
    status = run_execute(run.pk)
    run.refresh_from_db()
    assert status == RunStatus.SUCCEEDED, (run.error, run.log_tail)
    return run, run.outputs["result"]


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_sft_kto_and_orpo_runs_train_on_their_snapshots_and_register_policies(ranked) -> None:
    project, manager = ranked
    sft_run, sft_result = _train(project, manager, RunKind.SFT, {"num_samples": 2})
    assert sft_run.snapshot.kind == "sft"
    assert sft_result["eval_loss"] < sft_result["eval_start_loss"] and len(sft_result["samples"]) == 2
    kto_run, kto_result = _train(project, manager, RunKind.KTO, {})
    assert kto_run.snapshot.kind == "kto" and kto_result["desirable"] == kto_result["undesirable"] > 0
    assert kto_result["eval_desirable_reward"] > kto_result["eval_undesirable_reward"], kto_result
    for kind in (RunKind.ORPO,):
        run, result = _train(project, manager, kind, {})
        assert run.snapshot.kind == "preference"
        # Chosen answers here are longer than rejected ones, so the summed log-probability test of the
        # job tests (length-matched pairs) is not the measure; the implicit reward vs the start is.
        assert result["eval_reward_accuracy"] > result["eval_start_reward_accuracy"], (kind, result)
        assert result["eval_reward_margin"] > 0, (kind, result)
    made = ModelVersion.objects.filter(project=project, kind=ModelKind.POLICY)
    assert sorted(made.values_list("run__kind", flat=True)) == ["kto", "orpo", "sft"]


def test_the_post_training_kinds_are_offered_and_read_the_right_snapshot_kind() -> None:
    assert {RunKind.SFT, RunKind.KTO, RunKind.ORPO} <= set(train_now_kinds())
    assert (export_kind(RunKind.SFT), export_kind(RunKind.KTO), export_kind(RunKind.ORPO)) == ("sft", "kto", "preference")
    assert RECIPES[Recipe.SFT_DPO][:2] == (RunKind.SFT, RunKind.DPO)
    assert RECIPES[Recipe.SFT_REWARD_PPO][:3] == (RunKind.SFT, RunKind.REWARD, RunKind.PPO)
