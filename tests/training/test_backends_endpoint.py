"""The OpenAI-compatible endpoint backend against a real local HTTP server: answers, retries, clear failures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.training.jobs_helpers import make_prompt_rows, write_jsonl
from tests.training.openai_stub import OpenAIStub, answer_text, unused_base_url
from training.jobs import common, generate
from training.jobs.backends import endpoint
from training.jobs.backends.base import SamplingParams
from training.jobs.backends.endpoint import EndpointBackend, EndpointError, EndpointSettings

PROMPTS = [[{"role": "user", "content": q}] for q in ("Why is the sky blue?", "Name a fruit.", "Count to three.")]
PARAMS = SamplingParams(temperature=0.7, top_p=0.9, max_new_tokens=32, seed=4)


@pytest.fixture(autouse=True)
def _fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(endpoint, "BACKOFF_S", 0.01)


def _backend(base_url: str, **settings) -> EndpointBackend:
    return EndpointBackend(EndpointSettings(base_url=base_url, model="served-policy", **settings))


def test_endpoint_answers_k_times_per_prompt_with_the_key_from_the_named_env_var(monkeypatch) -> None:
    monkeypatch.setenv("PREFLOOP_TEST_KEY", "sk-test-123")
    with OpenAIStub() as stub:
        grouped = _backend(stub.base_url, api_key_env="PREFLOOP_TEST_KEY", concurrency=2).generate(PROMPTS, k=2, params=PARAMS)
    assert [[s.text for s in group] for group in grouped] == [[answer_text("served-policy", p)] * 2 for p in PROMPTS]
    assert all(s.finished and s.num_tokens and s.length == s.num_tokens for group in grouped for s in group)
    assert len(stub.state.requests) == 6 and stub.state.max_in_flight <= 2
    sent = stub.state.requests[0]
    assert sent["authorization"] == "Bearer sk-test-123"
    assert {k: sent["body"][k] for k in ("model", "temperature", "top_p", "max_tokens")} == {
        "model": "served-policy", "temperature": 0.7, "top_p": 0.9, "max_tokens": 32}
    assert len({r["body"]["seed"] for r in stub.state.requests}) == 6  # each answer its own seed


def test_endpoint_retries_a_503_and_then_answers() -> None:
    with OpenAIStub(mode="flaky", failures=2) as stub:
        grouped = _backend(stub.base_url, concurrency=1, max_retries=3).generate(PROMPTS[:1], k=1, params=PARAMS)
    assert grouped[0][0].text.startswith("[served-policy]") and len(stub.state.requests) == 3


def test_endpoint_down_fails_with_a_message_that_names_it() -> None:
    url = unused_base_url()
    with pytest.raises(EndpointError, match=r"cannot reach the endpoint .*is the server running at .*\(tried 2 times\)"):
        _backend(url, max_retries=1).generate(PROMPTS, k=1, params=PARAMS)


def test_endpoint_timeout_fails_naming_request_timeout() -> None:
    with OpenAIStub(mode="slow", delay=1.5) as stub, pytest.raises(EndpointError, match=r"no answer within 0.3 s \(request_timeout\)"):
        _backend(stub.base_url, timeout=0.3, max_retries=0, concurrency=1).generate(PROMPTS[:1], k=1, params=PARAMS)


@pytest.mark.parametrize(("mode", "message"), [("malformed", "no choices"), ("not_json", "not JSON")])
def test_a_malformed_answer_fails_at_once_without_retrying(mode: str, message: str) -> None:
    with OpenAIStub(mode=mode) as stub, pytest.raises(EndpointError, match=f"malformed answer.*{message}"):
        _backend(stub.base_url, max_retries=3, concurrency=1).generate(PROMPTS[:1], k=1, params=PARAMS)
    assert len(stub.state.requests) == 1


def test_a_missing_key_variable_fails_before_any_request(monkeypatch) -> None:
    monkeypatch.delenv("PREFLOOP_MISSING_KEY", raising=False)
    with pytest.raises(EndpointError, match="PREFLOOP_MISSING_KEY is not set"):
        _backend("http://127.0.0.1:9/v1", api_key_env="PREFLOOP_MISSING_KEY")


@pytest.mark.parametrize(("overrides", "field"), [
    ({"backend": "vllm"}, "backend"),
    ({"backend": "openai"}, "base_url"),
    ({"backend": "openai", "base_url": "ftp://x"}, "base_url"),
    ({"backend": "openai", "base_url": "http://h/v1", "api_key_env": "sk-live-abc123-PASTED KEY"}, "api_key_env"),
    ({"concurrency": 0}, "concurrency"),
    ({"sources": [{"name": "policy"}, {"name": "gpt", "base_url": "http://h/v1"}]}, r"sources\[1\].model"),
    ({"sources": [{"name": "a", "model": "m"}, {"name": "a", "model": "n"}]}, "sources"),
    ({"sources": [{"name": "policy", "secret": "x"}]}, r"sources\[0\]"),
])
def test_generate_config_refuses_bad_backend_settings_naming_the_field(overrides: dict, field: str) -> None:
    data = {"model": "m", "prompts_file": "p", "output_file": "o", **overrides}
    with pytest.raises(common.ConfigError, match=f"^{field}"):
        common.config_from_dict(generate.GenerateJobConfig, data)


def test_generate_job_through_an_endpoint_writes_tagged_answers_without_loading_a_model(tmp_path: Path) -> None:
    prompts = write_jsonl(tmp_path / "prompts.jsonl", make_prompt_rows(["Hi there?", "What is tea?"]))
    out = tmp_path / "out.jsonl"
    with OpenAIStub() as stub:
        generate.main(generate.GenerateJobConfig(
            model="/no/local/model", prompts_file=str(prompts), output_file=str(out), run_dir=str(tmp_path / "run"),
            k=2, backend="openai", base_url=stub.base_url, endpoint_model="served-policy"))
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [len(r["responses"]) for r in rows] == [2, 2]
    first = rows[0]["responses"][0]
    assert first["text"] == "[served-policy] answer to: Hi there?" and first["source"] == "policy"
    assert first["params"]["num_tokens"] > 0 and first["params"]["finished"] is True
    assert json.loads((tmp_path / "run" / "result.json").read_text())["backend"] == "openai"


@pytest.mark.slow
def test_generate_job_against_transformers_serve_with_the_tiny_policy(tmp_path: Path, tiny_policy: Path) -> None:
    """The endpoint backend against a real `transformers serve` (OpenAI-compatible) on this machine."""
    import os
    import subprocess
    import sys
    import time
    import urllib.request

    pytest.importorskip("fastapi")
    pytest.importorskip("uvicorn")
    base_url = unused_base_url()
    port = base_url.split(":")[-1].split("/")[0]
    exe = Path(sys.executable).with_name("transformers")
    server = subprocess.Popen([str(exe), "serve", str(tiny_policy), "--port", port, "--device", "cpu", "--log-level", "warning"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ, HF_HUB_OFFLINE="1"))
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2).close()
                break
            except OSError:
                time.sleep(0.5)
        prompts = write_jsonl(tmp_path / "prompts.jsonl", make_prompt_rows(["What does a dog eat?"]))
        out = tmp_path / "out.jsonl"
        generate.main(generate.GenerateJobConfig(
            model=str(tiny_policy), prompts_file=str(prompts), output_file=str(out), k=2, max_new_tokens=16,
            backend="openai", base_url=base_url, request_timeout=60.0))
    finally:
        server.terminate()
        server.wait(timeout=30)
    responses = json.loads(out.read_text())["responses"]
    assert len(responses) == 2 and all(1 <= r["params"]["num_tokens"] <= 16 for r in responses)
    assert all("<|" not in r["text"] for r in responses)
