"""Run pages of the post-training kinds: reasoning curves first on GRPO, sample answers on SFT."""

from __future__ import annotations

from django.urls import reverse

from training.models import MetricPoint, Run, RunKind, RunStatus


def test_grpo_run_page_charts_response_length_and_rule_rewards_first(client, project, manager) -> None:
    run = Run.objects.create(project=project, kind=RunKind.GRPO, status=RunStatus.RUNNING)
    for step in (1, 2, 3):
        MetricPoint.objects.create(run=run, step=step, values={
            "loss": 0.1 * step, "kl": 0.01 * step, "reward": 0.3 * step, "completions_mean_length": 20.0 + step,
            "rewards_format_reward_mean": 0.25 * step, "rewards_correctness_reward_mean": 0.1 * step})
    client.force_login(manager)
    html = client.get(reverse("training:run-detail", args=[run.pk])).content.decode()
    order = [html.index(f'data-metric="{name}"') for name in (
        "completions_mean_length", "rewards_format_reward_mean", "rewards_correctness_reward_mean", "reward", "loss", "kl")]
    assert order == sorted(order)
    assert "mean response length (tokens)" in html and "format reward" in html and "correctness reward" in html


def test_sft_run_page_shows_the_sampled_answers_escaped(client, project, manager) -> None:
    samples = [{"prompt": "What is 2 + 2?", "demonstration": "It is 4.", "response": "<script>alert(1)</script>4"}]
    run = Run.objects.create(project=project, kind=RunKind.SFT, status=RunStatus.SUCCEEDED,
                             outputs={"result": {"eval_loss": 1.5, "samples": samples}})
    client.force_login(manager)
    html = client.get(reverse("training:run-detail", args=[run.pk])).content.decode()
    assert 'data-testid="run-samples"' in html and "It is 4." in html
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;4" in html
