"""Recipe chains: each succeeded step queues the next, the win-rate gate decides promotion, failures end the chain."""

from __future__ import annotations

from unittest import mock

import pytest
from django.urls import reverse

from labeling.models import Comparison, Prompt, Role
from tests.factories import add_member, make_project, make_user
from tests.training.helpers import complete_model_dir, current_policy
from tests.training.loop_helpers import CHAIN_JOBS, rank_new_comparisons
from training.models import ChainStep, ModelKind, ProjectModels, Recipe, Run, RunKind, RunStatus
from training.orchestration import run_execute
from training.selectors import held_out_prompt_ids
from training.services.recipes import recipe_advance, recipe_advance_safely
from training.services.registry import model_version_register
from training.services.schedules import ScheduleData, schedule_fire, schedule_save
from training.services.triggers import training_snapshot_create

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _chain_jobs(settings):
    settings.PREFLOOP_JOB_MODULES = CHAIN_JOBS
    settings.PREFLOOP_RUNNER_POLL_S = 0.05


@pytest.fixture
def loop(db):
    """A project with 8 ranked comparisons, a current policy, a reward model and a snapshot holding out half the prompts."""
    project = make_project(k=2)
    rank_new_comparisons(project, 8)
    parent = current_policy(project, "policy-v0")
    reward = current_policy(project, "reward-v0", kind=ModelKind.REWARD)
    snapshot = training_snapshot_create(project=project, params={"test_fraction": 0.5, "seed": 3})
    return project, parent, reward, snapshot


def _schedule(project, **fields):
    data = {"recipe": Recipe.DPO, "every_n_preferences": 100, "auto_promote": True, "min_win_rate": 0.6, **fields}
    return schedule_save(project=project, data=ScheduleData(**data))


def _version(project, name, kind=ModelKind.POLICY, parent=None):
    return model_version_register(
        project=project, kind=kind, name=name, path=str(complete_model_dir(name)), parent=parent
    )


def _succeeded(project, schedule, kind, *, step, snapshot, inputs=None, outputs=None, parent_run=None) -> Run:
    run = Run.objects.create(
        project=project,
        kind=kind,
        status=RunStatus.SUCCEEDED,
        schedule=schedule,
        snapshot=snapshot,
        parent_run=parent_run,
        inputs=dict(inputs or {}),
        outputs=outputs or {},
    )
    ChainStep.objects.create(run=run, recipe=schedule.recipe, index=step, snapshot=snapshot)
    return run


def _chain(run) -> ChainStep:
    return ChainStep.objects.get(run=run)


def _current_policy(project):
    return ProjectModels.objects.get(project=project).policy


def test_a_trained_policy_is_evaluated_against_its_parent_on_held_out_prompts(loop):
    project, parent, reward, snapshot = loop
    schedule = _schedule(project)
    candidate = _version(project, "dpo-1", parent=parent)
    trained = _succeeded(
        project,
        schedule,
        RunKind.DPO,
        step=0,
        snapshot=snapshot,
        inputs={"model_version_id": parent.pk},
        outputs={"model_version_id": candidate.pk, "result": {}},
    )

    evaluate = recipe_advance(trained)

    assert (evaluate.kind, evaluate.status, evaluate.parent_run_id, evaluate.schedule_id) == (
        "evaluate",
        "queued",
        trained.pk,
        schedule.pk,
    )
    assert evaluate.inputs["model_version_id"] == candidate.pk and evaluate.inputs["ref_version_id"] == parent.pk
    held_out = held_out_prompt_ids(snapshot)
    assert 0 < len(held_out) < Prompt.objects.filter(project=project).count()
    assert sorted(evaluate.inputs["prompts"]["ids"]) == sorted(held_out)
    trained.refresh_from_db()
    assert _chain(trained).next_run_id == evaluate.pk
    assert _current_policy(project) == parent  # nothing is promoted before the evaluation
    assert recipe_advance(trained) is None  # advancing twice queues nothing more
    assert Run.objects.filter(kind="evaluate").count() == 1


def _evaluated(loop, *, win_rate, **schedule_fields):
    project, parent, reward, snapshot = loop
    schedule = _schedule(project, **schedule_fields)
    candidate = _version(project, "dpo-1", parent=parent)
    run = _succeeded(
        project,
        schedule,
        RunKind.EVALUATE,
        step=1,
        snapshot=snapshot,
        inputs={"model_version_id": candidate.pk, "ref_version_id": parent.pk},
        outputs={"result": {"win_rate": win_rate, "mean_reward": 0.2, "kl_to_parent": 0.05, "prompts": 3}},
    )
    return project, parent, candidate, run


def test_the_gate_blocks_promotion_below_the_minimum_win_rate_and_the_loop_goes_on_from_the_current_policy(loop):
    project, parent, candidate, run = _evaluated(loop, win_rate=0.55, generate_next=True)
    generate = recipe_advance(run)
    assert _current_policy(project) == parent
    run.refresh_from_db()
    decision = _chain(run)
    assert decision.promoted is False and decision.ended is False
    # The evidence is said beside the figure: on `make demo` the gate decides on 3 held-out prompts.
    assert decision.decision == "win rate 0.550 < minimum 0.600 (on 3 held-out prompts): the current policy stays"
    # The next round still comes, from the policy that stayed: an unattended loop never waits forever.
    assert (generate.kind, generate.schedule_id, generate.parent_run_id) == ("generate", run.schedule_id, run.pk)
    assert decision.next_run == generate


def test_a_refused_candidate_without_generate_next_ends_the_chain(loop):
    project, parent, candidate, run = _evaluated(loop, win_rate=0.1, generate_next=False)
    assert recipe_advance(run) is None
    assert _chain(run).ended is True and not Run.objects.filter(kind="generate").exists()


def test_the_gate_promotes_at_or_above_the_minimum_and_generates_the_next_round(loop):
    project, parent, candidate, run = _evaluated(loop, win_rate=0.6, generate_next=True)
    generate = recipe_advance(run)
    assert _current_policy(project) == candidate
    run.refresh_from_db()
    assert _chain(run).promoted is True and _chain(run).decision == "win rate 0.600 ≥ minimum 0.600 (on 3 held-out prompts)"
    assert (generate.kind, generate.schedule_id, generate.parent_run_id) == ("generate", run.schedule_id, run.pk)
    assert generate.inputs["prompts"]["which"] == "uncovered"  # never a second open comparison for a prompt


def test_without_auto_promote_a_winning_policy_waits_for_a_human(loop):
    project, parent, candidate, run = _evaluated(loop, win_rate=0.9, auto_promote=False)
    assert recipe_advance(run) is None
    assert _current_policy(project) == parent
    run.refresh_from_db()
    assert _chain(run).decision.startswith("auto-promote is off")


def test_an_evaluation_without_a_win_rate_never_promotes(loop):
    project, parent, candidate, run = _evaluated(loop, win_rate=None)
    assert recipe_advance(run) is None
    assert _current_policy(project) == parent


def test_a_reward_step_promotes_the_reward_model_and_queues_rl_on_training_prompts_only(loop, settings):
    project, parent, old_reward, snapshot = loop
    schedule = _schedule(project, recipe=Recipe.REWARD_PPO)
    new_reward = _version(project, "reward-1", kind=ModelKind.REWARD)
    trained = _succeeded(
        project, schedule, RunKind.REWARD, step=0, snapshot=snapshot, outputs={"model_version_id": new_reward.pk}
    )

    ppo = recipe_advance(trained)

    assert ProjectModels.objects.get(project=project).reward == new_reward
    assert _current_policy(project) == parent
    assert ppo.kind == "ppo" and ppo.inputs["reward_version_id"] == new_reward.pk
    assert sorted(ppo.inputs["prompts"]["exclude_ids"]) == sorted(held_out_prompt_ids(snapshot))


def test_the_reward_recipe_ends_after_promoting_the_reward_model(loop):
    project, parent, old_reward, snapshot = loop
    schedule = _schedule(project, recipe=Recipe.REWARD)
    new_reward = _version(project, "reward-1", kind=ModelKind.REWARD)
    trained = _succeeded(
        project, schedule, RunKind.REWARD, step=0, snapshot=snapshot, outputs={"model_version_id": new_reward.pk}
    )
    assert recipe_advance(trained) is None
    assert ProjectModels.objects.get(project=project).reward == new_reward
    trained.refresh_from_db()
    assert _chain(trained).ended is True


def test_a_step_that_cannot_start_ends_the_chain_and_says_why(loop):
    project, parent, reward, snapshot = loop
    schedule = _schedule(project)
    candidate = _version(project, "dpo-1", parent=parent)
    Run.objects.create(project=project, kind=RunKind.EVALUATE)  # someone's evaluate run is already queued
    trained = _succeeded(
        project,
        schedule,
        RunKind.DPO,
        step=0,
        snapshot=snapshot,
        inputs={"model_version_id": parent.pk},
        outputs={"model_version_id": candidate.pk},
    )
    assert recipe_advance(trained) is None
    trained.refresh_from_db()
    assert "a evaluate run is already active" in _chain(trained).stopped
    assert _current_policy(project) == parent


def test_a_crash_while_advancing_leaves_the_run_succeeded_and_records_it(loop):
    project, parent, candidate, run = _evaluated(loop, win_rate=0.9)
    with mock.patch("training.services.recipes._after_evaluate", side_effect=RuntimeError("disk on fire")):
        assert recipe_advance_safely(run.pk) is None
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED
    assert "RuntimeError: disk on fire" in _chain(run).error
    assert _current_policy(project) == parent


def _run_chain(project, first: Run, limit: int = 5) -> list[Run]:
    """Execute a chain's runs one after another through the real runner (fake job processes)."""
    done, run = [], first
    while run is not None and len(done) < limit:
        run_execute(run.pk)
        run.refresh_from_db()
        done.append(run)
        run = Run.objects.filter(parent_run=run).first()
    return done


@pytest.mark.slow
def test_a_whole_dpo_chain_through_the_runner_promotes_and_generates(loop):
    project, parent, reward, snapshot = loop
    schedule = _schedule(
        project, generate_next=True, config={"evaluate": {"win_rate": 0.8}, "snapshot": {"test_fraction": 0.5}}
    )
    first = schedule_fire(schedule_id=schedule.pk, force=True)
    runs = _run_chain(project, first)
    assert [(r.kind, r.status) for r in runs] == [
        ("dpo", "succeeded"),
        ("evaluate", "succeeded"),
        ("generate", "succeeded"),
    ]
    dpo, evaluate, generate = runs
    new_policy = _current_policy(project)
    assert new_policy.pk == dpo.outputs["model_version_id"] and new_policy.parent == parent
    assert evaluate.outputs["result"]["ref_model"] == parent.path  # compared against the policy it started from
    assert evaluate.outputs["result"]["model"] == new_policy.path
    assert sorted(evaluate.outputs["result"]["prompt_ids"]) == sorted(held_out_prompt_ids(dpo.snapshot))
    assert _chain(evaluate).promoted is True
    made = Comparison.objects.filter(project=project, source="generate")
    assert made.count() == Prompt.objects.filter(project=project).count()
    assert set(made.values_list("policy_version", flat=True)) == {new_policy.name}


@pytest.mark.slow
@pytest.mark.parametrize("failing", ["dpo", "evaluate"])
def test_a_failed_step_ends_the_chain_and_leaves_the_policy_alone(loop, failing):
    project, parent, reward, snapshot = loop
    config = {"dpo": {"mode": "fail"}} if failing == "dpo" else {"evaluate": {"fail": True}}
    schedule = _schedule(project, generate_next=True, min_win_rate=0.0, config=config)
    runs = _run_chain(project, schedule_fire(schedule_id=schedule.pk, force=True))
    assert runs[-1].kind == failing and runs[-1].status == RunStatus.FAILED
    assert "fake" in runs[-1].error
    assert not Run.objects.filter(parent_run=runs[-1]).exists()
    assert _current_policy(project) == parent
    assert not Comparison.objects.filter(project=project, source="generate").exists()


def test_the_run_page_shows_the_gate_decision(loop, client):
    project, parent, candidate, run = _evaluated(loop, win_rate=0.41)
    recipe_advance(run)
    user = make_user()
    add_member(project, user, Role.MANAGER)
    client.force_login(user)
    html = client.get(reverse("training:run-detail", args=[run.pk])).content.decode()
    assert "not promoted — win rate 0.410 &lt; minimum 0.600 (on 3 held-out prompts): the current policy stays" in html
    assert "The chain ends here." in html


def test_sft_then_dpo_starts_dpo_from_the_sft_policy_on_a_fresh_preference_snapshot(loop):
    project, parent, reward, _ = loop
    schedule = _schedule(project, recipe=Recipe.SFT_DPO)
    sft_snapshot = training_snapshot_create(project=project, params={"test_fraction": 0}, kind="sft")
    sft_policy = _version(project, "sft-1", parent=parent)
    sft = _succeeded(project, schedule, RunKind.SFT, step=0, snapshot=sft_snapshot,
                     outputs={"model_version_id": sft_policy.pk})
    dpo = recipe_advance(sft)
    assert dpo.kind == RunKind.DPO and dpo.inputs["model_version_id"] == sft_policy.pk
    assert dpo.snapshot.kind == "preference" and dpo.snapshot != sft_snapshot
    assert _chain(dpo).index == 1 and _chain(dpo).snapshot == dpo.snapshot
    assert _current_policy(project) == parent, "the SFT policy is not promoted on its own"
    assert not _chain(sft).promoted and _chain(sft).next_run == dpo


def test_sft_then_reward_then_ppo_carries_the_sft_policy_into_the_rl_step(loop):
    project, parent, _, _ = loop
    schedule = _schedule(project, recipe=Recipe.SFT_REWARD_PPO)
    sft_snapshot = training_snapshot_create(project=project, params={"test_fraction": 0}, kind="sft")
    sft_policy = _version(project, "sft-2", parent=parent)
    sft = _succeeded(project, schedule, RunKind.SFT, step=0, snapshot=sft_snapshot,
                     outputs={"model_version_id": sft_policy.pk})
    reward_run = recipe_advance(sft)
    assert reward_run.kind == RunKind.REWARD and reward_run.inputs["model_version_id"] == sft_policy.pk
    new_reward = _version(project, "reward-2", kind=ModelKind.REWARD)
    Run.objects.filter(pk=reward_run.pk).update(status=RunStatus.SUCCEEDED, outputs={"model_version_id": new_reward.pk})
    ppo = recipe_advance(Run.objects.get(pk=reward_run.pk))
    assert ppo.kind == RunKind.PPO and ppo.inputs["model_version_id"] == sft_policy.pk
    assert ppo.inputs["reward_version_id"] == new_reward.pk
