"""Generate runs through an endpoint: a failing endpoint fails the run and ingests nothing; two sources share a comparison."""

from __future__ import annotations

import pytest

from labeling.models import Comparison, Response
from tests.factories import make_prompt
from tests.training.helpers import current_policy
from tests.training.openai_stub import OpenAIStub, answer_text, unused_base_url
from training.models import RunStatus
from training.orchestration import run_execute
from training.services.generation import generation_round_start

pytestmark = pytest.mark.django_db


@pytest.fixture
def real_generate(settings):
    settings.PREFLOOP_JOB_MODULES = {}  # the real training.jobs.generate
    settings.PREFLOOP_RUNNER_POLL_S = 0.05
    return settings


def _generate(project, **config):
    run = generation_round_start(project=project, user=None, which="all", config=config)
    run_execute(run.pk)
    run.refresh_from_db()
    return run


@pytest.mark.parametrize(("state", "timeout", "message"), [
    (None, 5.0, "cannot reach the endpoint"),
    ({"mode": "slow", "delay": 2.0}, 0.3, "no answer within 0.3 s"),
    ({"mode": "malformed"}, 5.0, "malformed answer"),
])
def test_a_failing_endpoint_fails_the_run_and_ingests_nothing(project, real_generate, state, timeout, message):
    current_policy(project, name="policy-v1")
    make_prompt(project, "What is rain?")
    config = {"backend": "openai", "endpoint_model": "served", "request_timeout": timeout, "max_retries": 0}
    if state is None:
        run = _generate(project, base_url=unused_base_url(), **config)
    else:
        with OpenAIStub(**state) as stub:
            run = _generate(project, base_url=stub.base_url, **config)
    assert run.status == RunStatus.FAILED
    assert message in run.error
    assert not Comparison.objects.exists() and not Response.objects.exists()


def test_the_api_key_is_read_from_the_worker_env_and_never_stored(project, real_generate, monkeypatch):
    current_policy(project)
    make_prompt(project, "Hello?")
    monkeypatch.setenv("PREFLOOP_ENDPOINT_KEY", "sk-secret-value")
    with OpenAIStub() as stub:
        run = _generate(project, backend="openai", base_url=stub.base_url, endpoint_model="served",
                        api_key_env="PREFLOOP_ENDPOINT_KEY")
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert {r["authorization"] for r in stub.state.requests} == {"Bearer sk-secret-value"}
    assert "sk-secret-value" not in str(run.config) + str(run.inputs) + str(run.outputs)


@pytest.mark.slow
def test_candidates_from_the_policy_and_an_endpoint_share_one_comparison_each_tagged(project, real_generate, tiny_policy):
    from training.services.registry import model_promote, model_version_register

    model_promote(version=model_version_register(project=project, kind="policy", name="tiny-v1", path=str(tiny_policy)))
    prompt = make_prompt(project, "What does a dog eat?")
    with OpenAIStub() as stub:
        run = _generate(project, max_new_tokens=12, sources=[
            {"name": "policy"}, {"name": "arena-model", "base_url": stub.base_url, "model": "big-model"}])
    assert run.status == RunStatus.SUCCEEDED, run.error
    comparison = Comparison.objects.get(prompt=prompt)
    responses = list(comparison.responses.order_by("position"))
    assert len(responses) == project.k
    assert sorted(r.model_name for r in responses) == sorted(["tiny-v1", "arena-model"] * (project.k // 2))
    external = [r for r in responses if r.model_name == "arena-model"]
    assert all(r.text == answer_text("big-model", prompt.messages) for r in external)
    assert {r.generation_params["source"] for r in responses} == {"policy", "arena-model"}
