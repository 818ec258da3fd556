"""The whole loop, unattended: rank → snapshot → train → evaluate → promote → generate, three rounds.

Real parts throughout: a `manage.py worker` process (its ticker fires due schedules), the runner,
the real job processes (TRL reward, PPO, DPO, evaluate, generate) on the tiny 2-layer policy, and
a scripted annotator who ranks through the API. Its taste is one a 2-layer model can learn and is
not about length: it prefers answers that open with an article ("A bird can sing.", "The
opposite of late is early.") over answers that do not; answers alike are tied.

A user starts the loop as they would on the demo: round 0 is generated and ranked (twice for the dpo
recipe), the manager (dpo) trains the reward model the evaluation gate needs, saves a schedule with the
form's defaults plus its loop switches (auto-promote, generate next), and asks for one more round
from the start policy. From then on nothing is touched: each time enough new preferences arrive,
the schedule runs its chain, and the chain ends with a new round from the current policy (the promoted one when its gate passed).

Round 0 is sampled two or three times from the start policy (the manual rounds), and the start policy
is sampled again with five more seeds in this process: the spread of those round scores is the
run-to-run noise. Every later round must beat round 0 by more than three times that spread.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from labeling.models import Comparison, Prompt, Role
from tests.factories import add_member, api_client_for, make_project, make_user
from tests.processes import live_database_url
from training.models import ChainStep, ModelKind, ProjectModels, Run, RunKind, RunStatus, Schedule
from training.services.registry import model_promote, model_version_register

pytestmark = [pytest.mark.slow, pytest.mark.heavy, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
DEMO_PROMPTS = ROOT / "labeling" / "fixtures" / "demo_prompts.jsonl"
ROUNDS = 3
EVERY_N_PREFERENCES = 40  # about half a round of 45 comparisons x K=4 at round 0's rate of article answers
NOISE_SEEDS = (101, 102, 103, 104, 105)
TIMEOUT_S = 1200
ARTICLES = {"a", "an", "the"}
TERMINAL = {RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED}


def opens_with_article(text: str) -> float:
    """The scripted annotator's taste: 1 for an answer whose first word is an article, else 0."""
    words = text.split()
    return 1.0 if words and words[0].strip(".,!?;:\"'").lower() in ARTICLES else 0.0


@pytest.fixture
def worker(tmp_path):
    """A real `manage.py worker` on the test database, with the shipped settings."""
    env = {
        **os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "DATABASE_URL": live_database_url(),
        "PREFLOOP_DATA_DIR": str(settings.DATA_DIR), "DEBUG": "1", "PYTHONPATH": str(ROOT),
        "LOG_LEVEL": "WARNING", "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1",
    }
    log = (tmp_path / "worker.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "worker", "--no-startup-delay", "--interval", "0.2", "--tick-interval", "1"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    yield proc
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    log.close()


def _seed_project(tiny_policy: Path):
    project = make_project(k=4, name="Unattended loop")
    for line in DEMO_PROMPTS.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            messages = row.get("messages") or [{"role": "user", "content": row["prompt"]}]
            digest = hashlib.sha256(json.dumps(messages, sort_keys=True).encode()).hexdigest()
            Prompt.objects.create(project=project, messages=messages, content_hash=digest)
    policy = model_version_register(project=project, kind=ModelKind.POLICY, name="tiny-policy", path=str(tiny_policy))
    model_promote(version=policy)
    manager, annotator = make_user("manager"), make_user("annotator")
    add_member(project, manager, Role.MANAGER)
    add_member(project, annotator)
    return project, manager, annotator


def _failures(project) -> str:
    """Each failed run of the project with its error and the tail of its stderr (empty when none failed)."""
    lines = []
    for run in Run.objects.filter(project=project, status__in=(RunStatus.FAILED, RunStatus.CANCELLED)):
        stderr = Path(settings.RUNS_DIR) / str(run.pk) / "stderr.log"
        tail = stderr.read_text(errors="replace")[-1500:] if stderr.exists() else ""
        lines.append(f"{run.kind} run {run.pk} {run.status}: {run.error}\n{tail}")
    return "\n".join(lines)


def _wait(project, condition, what: str, deadline: float) -> None:
    while not condition():
        failed = _failures(project)
        assert not failed, f"while waiting for {what}, a run failed:\n{failed}"
        assert time.monotonic() < deadline, (
            f"timed out waiting for {what}; runs: {list(Run.objects.filter(project=project).values_list('kind', 'status'))}; "
            f"chain decisions: {list(ChainStep.objects.filter(run__project=project).values_list('run__kind', 'decision', 'stopped'))}"
        )
        time.sleep(0.5)


def _start_run(api, project, kind: str) -> int:
    response = api.post(f"/api/projects/{project.pk}/runs/", {"kind": kind}, format="json")
    assert response.status_code == 201, response.content
    return response.json()["id"]


def _succeeded(run_id: int):
    return lambda: Run.objects.get(pk=run_id).status == RunStatus.SUCCEEDED


def rank_everything_open(api, project) -> int:
    """Claim and rank until nothing is left: articles first, answers alike tied. Returns how many were ranked."""
    ranked = 0
    while True:
        claimed = api.post(f"/api/projects/{project.pk}/comparisons/next/")
        if claimed.status_code == 204:
            return ranked
        assert claimed.status_code == 200, claimed.content
        payload = claimed.json()
        groups: dict[float, list[int]] = {}
        for response in payload["responses"]:
            groups.setdefault(opens_with_article(response["text"]), []).append(response["id"])
        order = [groups[score] for score in sorted(groups, reverse=True)]
        stored = api.post(f"/api/comparisons/{payload['id']}/ranking/?next=false", {"order": order}, format="json")
        assert stored.status_code == 201, stored.content
        ranked += 1


def _round_score(run: Run) -> float:
    """Mean taste score of every response the generate run added."""
    ids = run.outputs["generated"]["comparison_ids"]
    texts = [r.text for c in Comparison.objects.filter(pk__in=ids).prefetch_related("responses") for r in c.responses.all()]
    assert len(texts) == 4 * len(ids) > 0
    return statistics.fmean(opens_with_article(t) for t in texts)


def _start_policy_spread(project, tiny_policy: Path) -> list[float]:
    """Round scores of the start policy sampled as a generate run samples (its defaults), with other seeds."""
    from training.jobs import common
    from training.jobs.generate import GenerateJobConfig
    from training.jobs.sampling import SamplingParams, sample_all

    prompts = [p.messages for p in Prompt.objects.filter(project=project).order_by("pk")]
    model, tokenizer = common.load_causal_lm(str(tiny_policy)).eval(), common.load_tokenizer(str(tiny_policy))
    d = GenerateJobConfig(model="", prompts_file="", output_file="")
    scores = []
    for seed in NOISE_SEEDS:
        grouped = sample_all(model, tokenizer, prompts, k=4, params=SamplingParams(d.temperature, d.top_p, d.max_new_tokens, seed),
                             device="cpu", batch_size=d.batch_size)
        scores.append(statistics.fmean(opens_with_article(s.text) for group in grouped for s in group))
    return scores


def _save_schedule(manager, project, recipe: str) -> Schedule:
    """Save the schedule through the manager's form: the defaults, plus the trigger and the loop switches."""
    client = Client()
    client.force_login(manager)
    response = client.post(f"/training/projects/{project.pk}/schedules/", {
        "recipe": recipe, "every_n_preferences": EVERY_N_PREFERENCES, "min_win_rate": "0.5", "auto_promote": "on",
        "generate_next": "on", "enabled": "on", "config": "",
    })
    assert response.status_code in (200, 302), response.content[:2000]
    schedule = Schedule.objects.filter(project=project).first()
    assert schedule is not None, response.content.decode()[:3000]
    assert schedule.config in ({}, None), schedule.config
    return schedule


def _chains(schedule: Schedule) -> list[list[Run]]:
    """The schedule's chains in order, each as its runs in order (first step, then each next run)."""
    chains = []
    for step in ChainStep.objects.filter(run__schedule=schedule, index=0).order_by("run_id").select_related("run"):
        runs, run = [], step.run
        while run is not None:
            runs.append(run)
            run = Run.objects.filter(parent_run=run).first()
        chains.append(runs)
    return chains


def _run_loop(recipe: str, tiny_policy: Path, *, reward_first: bool) -> dict[str, Any]:
    deadline = time.monotonic() + TIMEOUT_S
    project, manager, annotator = _seed_project(tiny_policy)
    manager_api, annotator_api = api_client_for(manager), api_client_for(annotator)

    # Round 0, by hand: generate from the start policy and rank it; for dpo twice, then train the reward
    # model its evaluation gate needs (one round of 45 comparisons makes too weak a judge to trust).
    round0 = []
    for _ in range(2 if reward_first else 1):
        round0.append(_start_run(manager_api, project, RunKind.GENERATE))
        _wait(project, _succeeded(round0[-1]), "round 0", deadline)
        assert rank_everything_open(annotator_api, project) == 45
    if reward_first:
        reward = _start_run(manager_api, project, RunKind.REWARD)
        _wait(project, _succeeded(reward), "the first reward model", deadline)
        assert ProjectModels.objects.get(project=project).reward_id == Run.objects.get(pk=reward).outputs["model_version_id"]
    schedule = _save_schedule(manager, project, recipe)
    round0.append(_start_run(manager_api, project, RunKind.GENERATE))  # round 0 again: the schedule counts from here
    _wait(project, _succeeded(round0[-1]), "the last round from the start policy", deadline)

    # From here on nobody but the scripted annotator acts.
    def chains_done() -> bool:
        rank_everything_open(annotator_api, project)
        chains = _chains(schedule)
        if len(chains) >= ROUNDS and schedule.enabled:
            Schedule.objects.filter(pk=schedule.pk).update(enabled=False)  # the test stops after three chains
            schedule.enabled = False
        return len(chains) >= ROUNDS and all(c[-1].kind == RunKind.GENERATE and c[-1].status in TERMINAL for c in chains[:ROUNDS])

    _wait(project, chains_done, f"{ROUNDS} chains of {recipe}", deadline)
    chains = _chains(schedule)[:ROUNDS]
    return {"project": project, "schedule": schedule, "chains": chains, "round0": [Run.objects.get(pk=pk) for pk in round0]}


@pytest.mark.parametrize(("recipe", "steps", "reward_first"), [
    ("reward_ppo", [RunKind.REWARD, RunKind.PPO, RunKind.EVALUATE, RunKind.GENERATE], False),
    ("dpo", [RunKind.DPO, RunKind.EVALUATE, RunKind.GENERATE], True),
])
def test_a_schedule_with_default_settings_improves_the_policy_every_round_unattended(
    recipe, steps, reward_first, tiny_policy, worker,
):
    loop = _run_loop(recipe, tiny_policy, reward_first=reward_first)
    project, chains = loop["project"], loop["chains"]

    # The figures first, so that a failure shows them too.
    round0 = [_round_score(r) for r in loop["round0"]]
    spread = _start_policy_spread(project, Path(tiny_policy))
    noise = 3 * statistics.stdev(round0 + spread)
    baseline = statistics.fmean(round0 + spread)
    rounds = [_round_score(chain[-1]) for chain in chains]
    gates = [next(r for r in c if r.kind == RunKind.EVALUATE).chain_step for c in chains]
    seconds: dict[str, list[float]] = {}
    for run in Run.objects.filter(pk__in=[r.pk for chain in chains for r in chain]):
        seconds.setdefault(run.kind, []).append((run.finished_at - run.started_at).total_seconds())
    chain_s = [(c[-1].finished_at - c[0].created_at).total_seconds() for c in chains]
    report = (
        f"{recipe}: round 0 {baseline:.3f} (runs {', '.join(f'{s:.3f}' for s in round0)}; seeds "
        f"{', '.join(f'{s:.3f}' for s in spread)}; noise = 3 sd = {noise:.3f}); rounds 1-3 "
        f"{', '.join(f'{s:.3f}' for s in rounds)}; gates {[(g.win_rate, g.promoted) for g in gates]}; mean run time "
        f"{', '.join(f'{kind} {statistics.fmean(v):.0f} s' for kind, v in seconds.items())}; "
        f"chains {', '.join(f'{c:.0f}' for c in chain_s)} s"
    )
    print(report)

    # Every chain completed every step and ended with a round from the policy its gate left current.
    current = "tiny-policy"
    for chain, gate in zip(chains, gates, strict=True):
        assert [r.kind for r in chain] == steps, [(r.kind, r.status) for r in chain]
        assert all(r.status == RunStatus.SUCCEEDED for r in chain), _failures(project)
        if gate.promoted:
            assert gate.version.parent.name == current  # each candidate trained from the policy then current
            current = gate.version.name
        ids = chain[-1].outputs["generated"]["comparison_ids"]
        assert set(Comparison.objects.filter(pk__in=ids).values_list("policy_version", flat=True)) == {current}, report
    assert gates[0].promoted, f"the first chain's candidate must beat the start policy: {report}"
    assert ProjectModels.objects.get(project=project).policy.name == current

    # Every round beats round 0 by more than the run-to-run noise of round 0's score.
    assert all(score > baseline + noise for score in rounds), report
