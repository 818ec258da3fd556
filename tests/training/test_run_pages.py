"""Run and model pages read well: formatted numbers, clean logs, key figures, timing, re-run, managers only."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from tests.factories import make_comparison
from tests.training.helpers import current_policy
from training.display import clean_log, key_figures, number, readable, timing, words
from training.models import MetricPoint, Run, RunKind, RunStatus

LOG = (
    "\x1b[1m\x1b[32mINFO\x1b[0m loading model\n"
    "  0%|          | 0/25 [00:00<?, ?it/s]\r 48%|████▊     | 12/25 [00:01<00:01, 9.3it/s]\r100%|██████████| 25/25 [00:02<00:00, 9.9it/s]\n"
    "{'loss': 0.52, 'learning_rate': 1.21e-07}\n"
    "\x1b[31mwarning\x1b[0m: done"
)


def test_numbers_and_values_read_as_words():
    assert number(1.21e-07) == "1.21e-07" and number(0.30000000000000004) == "0.3" and number(1234) == "1,234"
    assert readable(None) == "–" and readable([]) == "–" and readable(["sigmoid", "ipo"]) == "sigmoid, ipo"
    assert readable({"max_new_tokens": 64, "temperature": 0.7000000000000001}) == "Max new tokens: 64; Temperature: 0.7"
    assert readable(True) == "yes"


def test_labels_keep_the_capitals_of_kl_eos_lora_and_the_kind_names():
    assert [words(n) for n in ("kl_coef", "eos_rate", "use_lora", "lora_r", "vllm_mode", "rewards/accuracies", "top_p")] == [
        "KL coef", "EOS rate", "Use LoRA", "LoRA r", "vLLM mode", "Rewards accuracies", "Top p",
    ]


def test_log_tail_loses_colour_codes_and_progress_bars_but_keeps_messages():
    assert clean_log(LOG) == "INFO loading model\n{'loss': 0.52, 'learning_rate': 1.21e-07}\nwarning: done"


def test_key_figures_compare_first_and_last_and_know_which_way_is_better():
    figures = key_figures({"loss": [(1, 0.69), (9, 0.41)], "rewards/accuracies": [(1, 0.5), (9, 0.75)], "epoch": [(9, 1.0)]})
    assert [(f.name, f.before, f.after, f.better) for f in figures] == [
        ("Loss", "0.69", "0.41", True), ("Rewards accuracies", "0.5", "0.75", True),
    ]


def test_key_figures_leave_out_counters_that_only_grow():
    """Seen on `make demo`: a reward run's headline said "Epoch 0.303 → 3", a generate run's "Prompts done 16 → 30",
    a PPO run's "Clipfrac 0.324 → 0.00195" in the colour of a worse result."""
    counters = {"epoch": [(1, 0.3), (9, 3.0)], "prompts_done": [(1, 16), (2, 30)], "episodes": [(1, 64), (9, 1024)],
                "learning_rate": [(1, 1e-3), (9, 1e-4)], "num_tokens": [(1, 1e4), (9, 1e5)],
                "approxkl": [(1, 0.84), (9, 2e-4)], "clipfrac": [(1, 0.32), (9, 0.002)],
                "responses_per_s": [(1, 5.3), (2, 8.8)]}
    assert key_figures(counters) == []
    figures = key_figures({**counters, "eval_reward_margin": [(0, 0.0), (9, 2.2)], "loss": [(1, 1.6), (9, 0.2)]})
    assert [f.name for f in figures] == ["Loss", "Eval reward margin"]


def test_elapsed_and_eta_from_progress():
    now = timezone.now()
    assert timing(started=now - timedelta(seconds=60), finished=None, progress=0.25, now=now) == {"elapsed": "1 min 0 s", "eta": "3 min 0 s"}
    assert timing(started=now - timedelta(hours=2, minutes=4), finished=now, progress=1, now=now) == {"elapsed": "2 h 4 min", "eta": ""}


@pytest.fixture
def finished_run(project):
    start = timezone.now() - timedelta(minutes=3)
    run = Run.objects.create(
        project=project, kind=RunKind.DPO, status=RunStatus.SUCCEEDED, progress=1.0, log_tail=LOG,
        started_at=start, finished_at=start + timedelta(seconds=95),
        config={"beta": 0.1, "loss_type": ["sigmoid"], "max_steps": None, "precompute": [], "learning_rate": 5.000000000000001e-07},
    )
    for step, loss in ((1, 0.693), (2, 0.6), (3, 0.52)):
        MetricPoint.objects.create(run=run, step=step, values={"loss": loss, "learning_rate": 1.21e-07})
    MetricPoint.objects.create(run=run, step=3, values={"train_runtime": 12.345678901234567})
    return run


def test_finished_run_page_shows_before_after_timing_and_readable_figures(client, manager, finished_run):
    client.force_login(manager)
    body = client.get(reverse("training:run-detail", args=[finished_run.pk])).content.decode()
    assert "0.693 <span aria-label=\"to\">→</span> <strong>0.52</strong>" in body
    assert "Took 1 min 35 s" in body
    assert "<dt>Learning rate</dt><dd>1.21e-07</dd>" in body and "0.0000" not in body
    assert "<dt>Train runtime</dt><dd>12.3</dd>" in body and "12.345678" not in body
    assert body.count('class="chart"') == 1  # loss only: learning rate is flat, runtime has one point
    assert "None" not in body and "[]" not in body and "\x1b" not in body and "it/s" not in body
    assert "<dt>Loss type</dt><dd>sigmoid</dd>" in body and "<dt>Learning rate</dt><dd>5e-07</dd>" in body


def _snapshot(project, user):
    from labeling.exports.services import snapshot_create
    from labeling.services import comparison_claim_next, ranking_submit

    lease = comparison_claim_next(project=project, annotator=user) if make_comparison(project) else None
    ranking_submit(comparison=lease.comparison, annotator=user, data={"order": [[i] for i in lease.display_order]})
    return snapshot_create(project=project, params={"test_fraction": 0}, user=user)


def test_cancelled_run_is_neutral_and_runs_again_with_its_settings(client, manager, project):
    snapshot = _snapshot(project, manager)
    run = Run.objects.create(
        project=project, kind=RunKind.DPO, status=RunStatus.CANCELLED, config={"beta": 0.2}, snapshot=snapshot, error="cancelled by user"
    )
    client.force_login(manager)
    body = client.get(reverse("training:run-detail", args=[run.pk])).content.decode()
    assert 'data-testid="run-cancelled"' in body and "alert-error" not in body and 'data-testid="run-rerun"' in body
    response = client.post(reverse("training:run-rerun", args=[run.pk]))
    again = Run.objects.exclude(pk=run.pk).get()
    assert response.status_code == 302 and response["Location"] == reverse("training:run-detail", args=[again.pk])
    assert again.status == RunStatus.QUEUED and again.config["beta"] == 0.2 and again.kind == RunKind.DPO


def test_annotators_cannot_open_runs_models_or_logs(client, annotator, project, finished_run):
    version = current_policy(project)
    client.force_login(annotator)
    for url in (
        reverse("training:run-detail", args=[finished_run.pk]),
        reverse("training:run-list", args=[project.pk]),
        reverse("training:model-list", args=[project.pk]),
        reverse("training:model-detail", args=[version.pk]),
    ):
        assert client.get(url).status_code == 403, url
    body = client.get(reverse("labeling:project-detail", args=[project.pk])).content.decode()
    assert 'data-testid="project-loop"' not in body and version.path not in body


def test_a_hand_started_policy_run_offers_to_evaluate_its_model_against_the_parent(project, manager, client):
    """Seen on `make demo`: after Train now → ppo the page offered only "Make current", with no word on whether it beat its parent."""
    from tests.training.helpers import complete_model_dir
    from training.services.registry import model_version_register

    parent = current_policy(project, "tiny-policy")
    run = Run.objects.create(project=project, kind=RunKind.PPO, status=RunStatus.SUCCEEDED, progress=1.0)
    candidate = model_version_register(project=project, kind="policy", name="ppo-2", path=str(complete_model_dir("ppo-2")),
                                       parent=parent, run=run)
    client.force_login(manager)
    html = client.get(reverse("training:run-detail", args=[run.pk])).content.decode()
    link = f"{reverse('training:train-now', args=[project.pk])}?kind=evaluate&amp;base={candidate.pk}"
    assert f'href="{link}" data-testid="run-evaluate">evaluate it against tiny-policy</a>' in html
    page = client.get(link.replace("&amp;", "&")).content.decode()
    assert f'<option value="{candidate.pk}" selected>ppo-2</option>' in page
    assert 'data-testid="kind-evaluate" aria-current="page"' in page
