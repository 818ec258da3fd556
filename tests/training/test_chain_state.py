"""Recipe-chain state lives in ChainStep rows: shown on the run page, in the API, carried over from the old JSON keys."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.urls import reverse

from labeling.models import Role
from tests.factories import add_member, make_user
from tests.training.helpers import current_policy
from training.models import ChainStep, Recipe, Run, RunKind, RunStatus, Schedule

pytestmark = pytest.mark.django_db


def _decided_evaluate(project) -> tuple[Run, Run, Schedule]:
    schedule = Schedule.objects.create(project=project, recipe=Recipe.DPO, every_n_preferences=5, auto_promote=True)
    run = Run.objects.create(project=project, kind=RunKind.EVALUATE, status=RunStatus.SUCCEEDED, schedule=schedule)
    generate = Run.objects.create(project=project, kind=RunKind.GENERATE, schedule=schedule, parent_run=run)
    ChainStep.objects.create(
        run=run, recipe=Recipe.DPO, index=1, decided_at=run.created_at, promoted=True, next_run=generate,
        decision="win rate 0.700 ≥ minimum 0.500", win_rate=0.7, min_win_rate=0.5, version=current_policy(project),
    )
    return run, generate, schedule


def test_the_run_page_and_the_api_say_what_the_chain_decided(client, project):
    run, generate, schedule = _decided_evaluate(project)
    user = make_user()
    add_member(project, user, Role.MANAGER)
    client.force_login(user)
    page = client.get(reverse("training:run-detail", args=[run.pk])).content.decode()
    assert f"Recipe dpo, step 2 (schedule #{schedule.pk}):" in page
    assert "promoted — win rate 0.700 ≥ minimum 0.500" in page
    assert reverse("training:run-detail", args=[generate.pk]) in page
    chain = client.get(f"/api/runs/{run.pk}/").json()["chain"]
    assert (chain["promoted"], chain["win_rate"], chain["next_run"], chain["index"]) == (True, 0.7, generate.pk, 1)
    listed = client.get(f"/api/projects/{project.pk}/runs/").json()["results"]
    assert {r["id"]: r["chain"] is not None for r in listed} == {run.pk: True, generate.pk: False}


def test_the_chains_last_step_says_the_round_is_out_not_an_empty_decision(client, project):
    """Seen on `make demo`: the generate step's page read "Recipe reward_ppo, step 4 (schedule #1): ."."""
    run, generate, schedule = _decided_evaluate(project)
    generate.status = RunStatus.SUCCEEDED
    generate.save()
    ChainStep.objects.create(run=generate, recipe=Recipe.DPO, index=2, decided_at=generate.created_at, ended=True)
    user = make_user()
    add_member(project, user, Role.MANAGER)
    client.force_login(user)
    page = " ".join(client.get(reverse("training:run-detail", args=[generate.pk])).content.decode().split())
    assert f"Recipe dpo, step 3 (schedule #{schedule.pk}): the next round is out for ranking." in page
    assert "The chain ends here." in page and "): ." not in page


def test_the_admin_shows_a_runs_chain_step_read_only(client, project):
    run, _, _ = _decided_evaluate(project)
    client.force_login(make_user(staff=True))
    page = client.get(reverse("admin:training_run_change", args=[run.pk]))
    assert page.status_code == 200
    assert "win rate 0.700 ≥ minimum 0.500" in page.content.decode()
    assert 'name="chain_step-0-decision"' not in page.content.decode()  # shown, not editable


@pytest.mark.django_db(transaction=True)
def test_the_migration_moves_the_old_json_recipe_keys_into_chain_steps():
    executor = MigrationExecutor(connection)
    before = [("training", "0001_initial")]
    executor.migrate(before)
    others = [node for node in executor.loader.graph.leaf_nodes() if node[0] != "training"]
    old = executor.loader.project_state(before + others).apps
    project = old.get_model("labeling", "Project").objects.create(name="Old", slug="old")
    OldRun = old.get_model("training", "Run")
    nxt = OldRun.objects.create(project=project, kind="evaluate", status="queued")
    run = OldRun.objects.create(
        project=project, kind="dpo", status="succeeded", inputs={"recipe": {"name": "dpo", "step": 0, "reason": "3 new"},
                                                                   "model": "/m"},
        outputs={"model_version_id": None, "recipe": {"evaluating": None, "next_run_id": nxt.pk, "ended": False,
                                                      "at": "2026-01-01T10:00:00+00:00", "reason": "sent on"}},
    )
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    step = ChainStep.objects.get(run_id=run.pk)
    assert (step.recipe, step.index, step.reason, step.next_run_id, step.decision) == ("dpo", 0, "3 new", nxt.pk, "sent on")
    assert step.decided
    migrated = Run.objects.get(pk=run.pk)
    assert "recipe" not in migrated.inputs and "recipe" not in migrated.outputs and migrated.inputs["model"] == "/m"
