"""Generate runs: the output becomes comparisons of K responses, tagged with the policy version."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from labeling.models import Comparison, Ranking, Response
from tests.factories import make_comparison, make_prompt, make_user
from tests.training.helpers import current_policy, fake_jobs  # noqa: F401 - fixture
from training.models import RunStatus
from training.orchestration import run_execute
from training.services.generation import generation_round_start

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fake_jobs")]


def _generate(project, *, which="all", tag="", **config):
    run = generation_round_start(project=project, user=None, which=which, tag=tag, config=config)
    run_execute(run.pk)
    run.refresh_from_db()
    return run


def test_generate_creates_one_comparison_of_k_responses_per_prompt_tagged_with_the_policy(project):
    policy = current_policy(project, name="policy-v3")
    prompts = [make_prompt(project, f"What is {n}?") for n in ("salt", "rain")]

    run = _generate(project, temperature=0.7)

    assert run.status == RunStatus.SUCCEEDED, run.error
    comparisons = Comparison.objects.filter(project=project).order_by("prompt_id")
    assert [c.prompt for c in comparisons] == prompts
    for comparison in comparisons:
        assert comparison.policy_version == policy.name and comparison.source == "generate"
        responses = list(comparison.responses.order_by("position"))
        assert len(responses) == project.k
        assert [r.position for r in responses] == list(range(project.k))
        assert responses[0].text == f"Answer 0 to <{comparison.prompt.last_user_text}>"
        assert responses[0].generation_params == {"temperature": 0.7}
        assert responses[0].model_name == "policy-v3"
    made = sorted(Comparison.objects.filter(source="generate").values_list("pk", flat=True))
    assert run.outputs["generated"] == {
        "comparisons": 2, "responses": 2 * project.k, "skipped_prompts": 0, "comparison_ids": made
    }


def test_a_prompt_given_fewer_than_k_responses_is_skipped(project):
    current_policy(project)
    make_prompt(project, "First?")
    second = make_prompt(project, "Second?")
    run = _generate(project, short_first=True)
    assert run.status == RunStatus.SUCCEEDED
    assert list(Comparison.objects.values_list("prompt", flat=True)) == [second.pk]
    assert Response.objects.count() == project.k
    assert run.outputs["generated"]["skipped_prompts"] == 1


def test_unranked_choice_leaves_out_prompts_that_already_have_a_ranking(project):
    current_policy(project)
    ranked = make_comparison(project)
    fresh = make_prompt(project, "Fresh?")
    Ranking.objects.create(comparison=ranked, annotator=make_user(), order=[[r.pk] for r in ranked.responses.all()])

    run = _generate(project, which="unranked")

    assert run.inputs["prompt_count"] == 1
    assert list(Comparison.objects.filter(source="generate").values_list("prompt", flat=True)) == [fresh.pk]


def test_tag_choice_and_empty_selection(project):
    current_policy(project)
    make_prompt(project, "Untagged?")
    tagged = make_prompt(project, "Tagged?", tags=["math"])
    with pytest.raises(ValidationError) as info:
        generation_round_start(project=project, user=None, which="tag", tag="poetry")
    assert "which" in info.value.message_dict
    run = _generate(project, which="tag", tag="math")
    assert list(Comparison.objects.values_list("prompt", flat=True)) == [tagged.pk]
    assert run.status == RunStatus.SUCCEEDED


@pytest.mark.slow
def test_the_real_generate_job_on_the_tiny_policy_makes_k_responses_per_prompt(project, tiny_policy, settings):
    from training.services.registry import model_promote, model_version_register

    settings.PREFLOOP_JOB_MODULES = {}  # the real training.jobs.generate
    settings.PREFLOOP_RUNNER_POLL_S = 0.2
    version = model_version_register(project=project, kind="policy", name="tiny-v1", path=str(tiny_policy))
    model_promote(version=version)
    for question in ("What does a dog eat?", "How do I make tea?", "What is rain?"):
        make_prompt(project, question)

    run = _generate(project, max_new_tokens=12, seed=3)

    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.progress == 1.0 and run.metric_points.exists()
    comparisons = Comparison.objects.filter(project=project, source="generate")
    assert comparisons.count() == 3
    for comparison in comparisons:
        assert comparison.policy_version == "tiny-v1"
        texts = list(comparison.responses.values_list("text", flat=True))
        assert len(texts) == project.k
        assert len(set(texts)) > 1  # sampled, not K copies of one greedy answer


def _default_round(project):
    run = generation_round_start(project=project, user=None, which="uncovered")
    run_execute(run.pk)
    run.refresh_from_db()
    return run


def test_generating_twice_with_the_defaults_creates_no_duplicate_comparison(project):
    current_policy(project)
    imported = make_comparison(project)  # came with its responses: already covered
    fresh = [make_prompt(project, f"Fresh {n}?") for n in range(2)]

    first = _default_round(project)
    assert first.status == RunStatus.SUCCEEDED, first.error
    generated = Comparison.objects.filter(source="generate")
    assert sorted(generated.values_list("prompt", flat=True)) == [p.pk for p in fresh]
    with pytest.raises(ValidationError) as info:
        generation_round_start(project=project, user=None, which="uncovered")
    message = info.value.message_dict["which"][0]
    assert "“uncovered” (the default)" in message and "choose “all” to add another round" in message
    assert generated.count() == 2 and not Comparison.objects.filter(prompt=imported.prompt, source="generate").exists()


def test_a_prompt_whose_comparisons_are_finished_gets_the_next_round_with_a_new_seed(project):
    current_policy(project)
    done = make_comparison(project)
    Comparison.objects.filter(pk=done.pk).update(complete=True)
    first = _default_round(project)
    assert list(Comparison.objects.filter(source="generate").values_list("prompt", flat=True)) == [done.prompt_id]
    Comparison.objects.filter(source="generate").update(complete=True)
    second = _default_round(project)
    assert (first.config["seed"], second.config["seed"]) == (0, 1)
    assert Comparison.objects.filter(prompt=done.prompt, source="generate").count() == 2


def test_asking_for_all_prompts_is_the_explicit_way_to_another_round_of_open_ones(project):
    current_policy(project)
    make_comparison(project)
    run = _generate(project, which="all")
    assert run.outputs["generated"]["comparisons"] == 1


def test_the_generate_form_says_how_many_comparisons_each_choice_creates(project, client):
    from django.urls import reverse

    from labeling.models import Role
    from tests.factories import add_member

    current_policy(project)
    make_comparison(project)
    make_prompt(project, "Fresh?")
    manager = make_user()
    add_member(project, manager, Role.MANAGER)
    client.force_login(manager)
    html = client.get(reverse("training:generate-round", args=[project.pk])).content.decode()
    assert f"never given one, or all of theirs fully ranked) — creates 1 comparison ({project.k} responses)" in html
    assert f"another round of the same prompts) — creates 2 comparisons ({2 * project.k} responses)" in html
