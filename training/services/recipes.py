"""Recipe chains: snapshot -> train -> evaluate -> promote -> generate, one Run per step.

A chain is a small state machine kept as typed rows: each run of a chain has `schedule`,
`parent_run` and a ChainStep (recipe, step index, the chain's snapshot). When a run of a chain
succeeds, training.orchestration calls `recipe_advance(run)`, which records its decision on the
run's ChainStep and queues the next step (with its own ChainStep). A failed or cancelled step
is never advanced, so the chain ends there and the current policy is left as it was.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from training.kinds import RECIPES, AfterStep, export_kind, kind_spec, reads_snapshot
from training.models import ChainStep, ModelVersion, Run, RunKind, RunStatus, Schedule
from training.selectors import PromptChoice, held_out_prompt_ids
from training.services.configs import config_validate
from training.services.generation import generation_round_start
from training.services.registry import model_promote
from training.services.runs import ChainPosition
from training.services.triggers import TrainRequest, train_start, training_snapshot_request

logger = logging.getLogger(__name__)

# Schedule.config keys that are not a kind's hyperparameters.
SNAPSHOT_KEY = "snapshot"
GENERATE_PROMPTS_KEY = "generate_prompts"


def schedule_kind_config(schedule: Schedule, kind: str) -> dict[str, Any]:
    """Return the schedule's hyperparameters for one kind ({} = the job's defaults)."""
    value = (schedule.config or {}).get(kind) or {}
    return dict(value) if isinstance(value, dict) else {}


def recipe_start(*, schedule: Schedule, user: Any = None, reason: str = "") -> Run:
    """Queue the recipe's first step on a fresh snapshot with the schedule's filters (exported by the worker)."""
    kind = RECIPES[schedule.recipe][0]
    config = schedule_kind_config(schedule, kind)
    config_validate(kind, config)  # refuse before storing a snapshot
    params = (schedule.config or {}).get(SNAPSHOT_KEY) or {}
    # Every chain starts from its own fresh snapshot (train_start stores it pending on the chain):
    # the data it trains on and the prompts it holds out.
    chain = ChainPosition(recipe=schedule.recipe, index=0, reason=reason)
    request = TrainRequest(kind=kind, config=config, snapshot_params=params, chain=chain)
    return train_start(project=schedule.project, request=request, user=user, schedule=schedule)


def _measured_on(prompts: Any) -> str:
    """" (on 3 held-out prompts)": how much evidence the win rate is, said beside it."""
    count = _number(prompts)
    return f" (on {int(count)} held-out prompt{'' if count == 1 else 's'})" if count is not None else ""


def promotion_decide(*, schedule: Schedule, win_rate: Any, prompts: Any = None) -> tuple[bool, str]:
    """Apply the evaluation gate: promote only when auto-promote is on and the win rate is high enough."""
    if not schedule.auto_promote:
        return False, "auto-promote is off: promote it by hand if you want it"
    if not isinstance(win_rate, (int, float)) or isinstance(win_rate, bool) or math.isnan(win_rate):
        return False, "the evaluation reported no win rate, so the gate cannot pass"
    on = _measured_on(prompts)
    if win_rate >= schedule.min_win_rate:
        return True, f"win rate {win_rate:.3f} ≥ minimum {schedule.min_win_rate:.3f}{on}"
    return False, f"win rate {win_rate:.3f} < minimum {schedule.min_win_rate:.3f}{on}: the current policy stays"


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _version(pk: Any) -> ModelVersion | None:
    return ModelVersion.objects.filter(pk=pk).first() if pk else None


def _next_position(step: ChainStep) -> ChainPosition:
    return ChainPosition(recipe=step.recipe, index=step.index + 1, snapshot=step.snapshot)


def _try_start(decision: dict[str, Any], start: Callable[[], Run]) -> Run | None:
    """Start the next step; when it cannot start, say why in the decision and end the chain there."""
    try:
        return start()
    except ValidationError as exc:
        decision["stopped"] = "the next step could not start: " + "; ".join(exc.messages)
        return None


def _queue(run: Run, kind: str, *, base: ModelVersion | None, prompts: dict | None, extra: dict | None = None) -> Run:
    """Queue the next training or evaluate step of the chain after `run`."""
    step = run.chain_step
    request = TrainRequest(
        kind=kind,
        config=schedule_kind_config(run.schedule, kind),
        snapshot=step.snapshot,
        base=base,
        prompts=prompts,
        inputs=dict(extra or {}),
        chain=_next_position(step),
    )
    return train_start(project=run.project, request=request, schedule=run.schedule, parent_run=run)


def _after_reward(run: Run) -> tuple[dict[str, Any], Run | None]:
    """Promote the new reward model (no gate for reward models) and queue the RL step, if any."""
    version = _version(run.outputs.get("model_version_id"))
    if version is None:
        return {"promoted": False, "decision": "the reward run registered no model"}, None
    model_promote(version=version)
    decision = {
        "promoted": True,
        "version": version,
        "decision": "reward models are promoted without an evaluation gate",
    }
    steps = RECIPES[run.chain_step.recipe]
    step = run.chain_step.index + 1
    if step >= len(steps):
        return decision, None
    snapshot = run.chain_step.snapshot
    held_out = held_out_prompt_ids(snapshot) if snapshot else []
    prompts = {"which": "all", "tag": "", "exclude_ids": held_out}
    extra = {"reward_version_id": version.pk}
    base = _version(run.inputs.get("model_version_id"))  # sft -> reward -> ppo: the RL step starts from the SFT policy
    return decision, _try_start(decision, lambda: _queue(run, steps[step], base=base, prompts=prompts, extra=extra))


def _after_policy(run: Run) -> tuple[dict[str, Any], Run | None]:
    """Queue the evaluation of the new policy against the policy it started from."""
    candidate = _version(run.outputs.get("model_version_id"))
    parent = _version(run.inputs.get("model_version_id"))
    if candidate is None:
        return {"promoted": False, "decision": "the training run registered no model"}, None
    if parent is None:
        return {
            "promoted": False,
            "decision": "the new policy has no registered parent to compare against; promote it by hand",
        }, None
    snapshot = run.chain_step.snapshot
    held_out = held_out_prompt_ids(snapshot) if snapshot else []
    prompts = {"which": "all", "tag": "", "ids": held_out} if held_out else {"which": "all", "tag": ""}
    extra = {"ref_version_id": parent.pk, "held_out_prompts": len(held_out)}
    decision: dict[str, Any] = {"evaluating": True, "version": candidate}
    return decision, _try_start(
        decision, lambda: _queue(run, RunKind.EVALUATE, base=candidate, prompts=prompts, extra=extra)
    )


def _after_sft(run: Run) -> tuple[dict[str, Any], Run | None]:
    """Queue the chain's next step from the new SFT policy, on a fresh snapshot of the data it reads.

    The SFT policy is not promoted: the chain's last step is evaluated against it, and only
    that result is promoted through the gate.
    """
    candidate = _version(run.outputs.get("model_version_id"))
    if candidate is None:
        return {"promoted": False, "decision": "the sft run registered no model"}, None
    steps = RECIPES[run.chain_step.recipe]
    index = run.chain_step.index + 1
    decision: dict[str, Any] = {"promoted": False, "version": candidate,
                                "decision": "the next step starts from the SFT policy"}
    if index >= len(steps):
        return decision, None
    kind = steps[index]

    def start() -> Run:
        snapshot = run.chain_step.snapshot
        if reads_snapshot(kind):
            params = (run.schedule.config or {}).get(SNAPSHOT_KEY) or {}
            snapshot = training_snapshot_request(project=run.project, params=params, kind=export_kind(kind))
        request = TrainRequest(kind=kind, config=schedule_kind_config(run.schedule, kind), snapshot=snapshot,
                               base=candidate, chain=ChainPosition(recipe=run.chain_step.recipe, index=index, snapshot=snapshot))
        return train_start(project=run.project, request=request, schedule=run.schedule, parent_run=run)

    return decision, _try_start(decision, start)


def _after_evaluate(run: Run) -> tuple[dict[str, Any], Run | None]:
    """Promote the candidate when the gate passes; then, if the schedule says so, generate the next round from the current policy."""
    schedule = run.schedule
    result = run.outputs.get("result") or {}
    win_rate = result.get("win_rate")
    promote, reason = promotion_decide(schedule=schedule, win_rate=win_rate, prompts=result.get("prompts"))
    candidate = _version(run.inputs.get("model_version_id"))
    decision = {
        "promoted": False,
        "decision": reason,
        "win_rate": _number(win_rate),
        "min_win_rate": schedule.min_win_rate,
        "version": candidate,
    }
    if promote and candidate is None:
        decision["decision"] = "the evaluated model no longer exists"
    elif promote:
        model_promote(version=candidate)
        decision["promoted"] = True
    if not schedule.generate_next:
        return decision, None
    # The loop keeps collecting when the gate keeps the old policy: the next round comes from the
    # current policy either way, and its rankings are what the next chain trains on. Without it an
    # unattended loop whose candidate lost once would wait forever for new preferences.
    return decision, _try_start(decision, lambda: _generate_next(run))


def _generate_next(run: Run) -> Run:
    """Queue a generate round from the current policy (the new one when it was promoted), as the chain's last step."""
    schedule = run.schedule
    choice = (schedule.config or {}).get(GENERATE_PROMPTS_KEY) or {}
    generate = generation_round_start(
        project=run.project,
        user=None,
        which=choice.get("which", PromptChoice.GENERATE_DEFAULT),
        tag=choice.get("tag", ""),
        config=schedule_kind_config(schedule, RunKind.GENERATE),
    )
    Run.objects.filter(pk=generate.pk).update(schedule=schedule, parent_run=run)
    _next_position(run.chain_step).create_for(generate)
    generate.schedule, generate.parent_run = schedule, run
    return generate


def _step(run: Run) -> tuple[dict[str, Any], Run | None]:
    """Take the step the kinds table names for what follows a run of this kind."""
    spec = kind_spec(run.kind)
    after = spec.after if spec else AfterStep.END
    if after == AfterStep.PROMOTE_REWARD:
        return _after_reward(run)
    if after == AfterStep.EVALUATE:
        return _after_policy(run)
    if after == AfterStep.CONTINUE:
        return _after_sft(run)
    if after == AfterStep.GATE:
        return _after_evaluate(run)
    return {}, None  # e.g. generate ends the chain: the next round is out for ranking


def _record(run_id: int, decision: dict[str, Any]) -> None:
    """Store the chain's decision on the run's ChainStep (what the run page shows); marks it advanced."""
    ChainStep.objects.filter(run_id=run_id).update(**decision, decided_at=timezone.now())


@transaction.atomic
def recipe_advance(run: Run) -> Run | None:
    """Take the next step of a succeeded chain run; return the queued run, or None when the chain ends."""
    run = Run.objects.select_for_update(of=("self",)).select_related("schedule", "project").get(pk=run.pk)
    step = ChainStep.objects.select_related("snapshot").filter(run=run).first()
    if run.schedule is None or step is None or run.status != RunStatus.SUCCEEDED:
        return None
    if step.decided:
        return None  # already advanced: a second call must not queue a second step
    run.chain_step = step
    if step.recipe not in RECIPES:
        _record(run.pk, {"error": f"unknown recipe {step.recipe!r}", "ended": True})
        return None
    decision, next_run = _step(run)
    _record(run.pk, {**decision, "next_run": next_run, "ended": next_run is None})
    return next_run


def recipe_advance_safely(run_id: int) -> Run | None:
    """Advance a chain from the runner's success path; a failure here is logged and marks nothing else wrong."""
    try:
        return recipe_advance(Run.objects.get(pk=run_id))
    except Exception as exc:  # noqa: BLE001 - the run itself succeeded; only the chain stops
        logger.exception("run %s: advancing its recipe failed", run_id)
        try:
            _record(run_id, {"ended": True, "error": f"advancing the recipe failed: {type(exc).__name__}: {exc}"})
        except Exception:  # noqa: BLE001 - the database itself may be the problem
            logger.exception("run %s: could not record the recipe failure", run_id)
        return None
