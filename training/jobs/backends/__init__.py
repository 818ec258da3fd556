"""Generation backends: one interface for sampling chat answers, in-process or through a server.

- `transformers` (the default, offline): the model runs inside the job (`local.py`).
- `openai`: any OpenAI-compatible endpoint: vLLM, SGLang, TGI, `transformers serve` or a
  hosted API (`endpoint.py`). The key is read from the worker's environment variable named
  by `api_key_env`; only that name is ever stored in a run's config.
- `sources.py`: draw a comparison's K candidates from several backends, each answer tagged.

Django-free and torch-free at import: the web app validates configs with `check_backend_fields`.
"""

from __future__ import annotations

import re
from typing import Any

from training.jobs.backends.base import Backend, Messages, Sample, SamplingParams
from training.jobs.common import ConfigError, check_range

BACKENDS = ("transformers", "openai")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")

__all__ = ["BACKENDS", "Backend", "Messages", "Sample", "SamplingParams", "check_backend_fields", "check_endpoint",
           "endpoint_settings", "make_backend", "source_backend",
           "check_env_name"]


def check_env_name(field_name: str, value: Any) -> None:
    """Refuse anything but an environment variable's name (an API key pasted here would be stored)."""
    if not isinstance(value, str):
        raise ConfigError(f"{field_name}: expected the name of an environment variable, got {value!r}")
    if value and not _ENV_NAME.match(value):
        raise ConfigError(f"{field_name}: give the NAME of the worker's environment variable that holds the key "
                          "(e.g. OPENAI_API_KEY), never the key itself")


def check_endpoint(field_name: str, base_url: Any) -> None:
    """Require an http(s) base URL such as http://127.0.0.1:8000/v1."""
    if not isinstance(base_url, str) or not re.match(r"^https?://[^\s/]+", base_url):
        raise ConfigError(f"{field_name}: expected the endpoint's http(s) base URL, e.g. http://127.0.0.1:8000/v1, "
                          f"got {base_url!r}")


def check_backend_fields(config: Any) -> None:
    """Validate `backend` and the endpoint fields a sampling job shares, naming the bad one."""
    if config.backend not in BACKENDS:
        raise ConfigError(f"backend: expected one of {', '.join(BACKENDS)}, got {config.backend!r}")
    if config.backend == "openai":
        check_endpoint("base_url", config.base_url)
    elif config.base_url:
        raise ConfigError('base_url: only used with backend "openai"')
    check_env_name("api_key_env", config.api_key_env)
    check_range("concurrency", config.concurrency, low=1, high=256, kind=int)
    check_range("request_timeout", config.request_timeout, low=0.1, high=3600)
    check_range("max_retries", config.max_retries, low=0, high=10, kind=int)


def endpoint_settings(config: Any, *, base_url: str, model: str, api_key_env: str) -> Any:
    """EndpointSettings for one endpoint, with the job's concurrency, timeout and retries."""
    from training.jobs.backends.endpoint import EndpointSettings

    return EndpointSettings(base_url=base_url, model=model, api_key_env=api_key_env, concurrency=config.concurrency,
                            timeout=float(config.request_timeout), max_retries=config.max_retries)


def make_backend(config: Any, *, model_path: str, served_name: str = "") -> Backend:
    """The backend a job's config asks for, sampling `model_path` (an endpoint: `served_name` or the path)."""
    if config.backend == "openai":
        from training.jobs.backends.endpoint import EndpointBackend

        return EndpointBackend(endpoint_settings(config, base_url=config.base_url, model=served_name or model_path,
                                                 api_key_env=config.api_key_env))
    from training.jobs.backends.local import TransformersBackend

    return TransformersBackend(model_path, batch_size=config.batch_size)


def source_backend(spec: Any, config: Any) -> Backend:
    """The backend of one `sources` entry; "policy" is the job's own model through its own backend."""
    if spec.is_policy:
        return make_backend(config, model_path=config.model, served_name=getattr(config, "endpoint_model", ""))
    if spec.base_url:
        from training.jobs.backends.endpoint import EndpointBackend

        return EndpointBackend(endpoint_settings(config, base_url=spec.base_url, model=spec.model,
                                                 api_key_env=spec.api_key_env))
    from training.jobs.backends.local import TransformersBackend

    return TransformersBackend(spec.model, batch_size=config.batch_size)
