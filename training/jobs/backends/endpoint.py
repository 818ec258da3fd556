"""An OpenAI-compatible chat endpoint as a generation backend (vLLM, SGLang, TGI, transformers serve, ...).

One request per answer (`n` = 1: not every server supports n > 1), at most `concurrency` in
flight. Timeouts, refused connections, 429 and 5xx are retried with exponential backoff; any
other HTTP error or a malformed answer fails at once. Every failure is an EndpointError whose
message says which endpoint, what happened and how often it was tried: the job exits non-zero
before writing its output, so the run fails and nothing is ingested.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from training.jobs.backends.base import Messages, OnBatch, Sample, SamplingParams
from training.jobs.common import JobError

BACKOFF_S = 0.5  # first retry waits 0.5 s, then 1 s, 2 s, ...: a restarting server gets a few seconds
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


class EndpointError(JobError):
    """The endpoint could not give an answer; the message is the run's error."""


class _Retryable(Exception):
    """A failure worth another try (the server may be restarting or overloaded)."""


@dataclass(frozen=True)
class EndpointSettings:
    """Where and how to ask: base_url like http://host:8000/v1; the key comes from env var api_key_env."""

    base_url: str
    model: str
    api_key_env: str = ""
    concurrency: int = 8
    timeout: float = 60.0
    max_retries: int = 3

    @property
    def url(self) -> str:
        return self.base_url.rstrip("/") + "/chat/completions"

    def headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.api_key_env:
            key = os.environ.get(self.api_key_env)
            if not key:
                raise EndpointError(f"api_key_env: the environment variable {self.api_key_env} is not set for the worker")
            headers["Authorization"] = f"Bearer {key}"
        return headers


def parse_answer(data: Any, url: str) -> Sample:
    """Turn one chat-completion JSON answer into a Sample; EndpointError when it is not one."""
    try:
        choice = data["choices"][0]
        text = choice["message"]["content"]
    except (KeyError, IndexError, TypeError) as exc:
        raise EndpointError(f"{url} returned a malformed answer (no choices[0].message.content): {str(data)[:200]}") from exc
    if not isinstance(text, str):
        raise EndpointError(f"{url} returned a malformed answer: message.content is {type(text).__name__}, not text")
    usage = data.get("usage") if isinstance(data, dict) else None
    tokens = usage.get("completion_tokens") if isinstance(usage, dict) else None
    return Sample(text=text.strip(), prompt_ids=[], response_ids=[], finished=choice.get("finish_reason") == "stop",
                  num_tokens=tokens if isinstance(tokens, int) else None)


class EndpointBackend:
    """Sample answers from an OpenAI-compatible /chat/completions endpoint."""

    name = "openai"

    def __init__(self, settings: EndpointSettings) -> None:
        self.settings = settings
        self._headers = settings.headers()  # fail before any request when the key is missing

    def generate(self, prompts: Sequence[Messages], *, k: int, params: SamplingParams,
                 on_batch: OnBatch | None = None, report_every: int = 16) -> list[list[Sample]]:
        """Ask for k answers per prompt, `concurrency` requests at a time; the first failure stops the rest."""
        grouped: list[list[Sample | None]] = [[None] * k for _ in prompts]
        left = [k] * len(prompts)
        done, reported = 0, 0
        with ThreadPoolExecutor(max_workers=self.settings.concurrency, thread_name_prefix="endpoint") as pool:
            futures: dict[Future, tuple[int, int]] = {
                pool.submit(self.ask, prompt, params, seed=params.seed + i * k + j): (i, j)
                for i, prompt in enumerate(prompts) for j in range(k)
            }
            pending = set(futures)
            while pending:
                finished, pending = wait(pending, return_when=FIRST_EXCEPTION)
                for future in finished:
                    if future.exception() is not None:
                        pool.shutdown(wait=False, cancel_futures=True)
                        raise future.exception()  # type: ignore[misc]
                    i, j = futures[future]
                    grouped[i][j] = future.result()
                    left[i] -= 1
                    done += left[i] == 0
                if on_batch is not None and (done - reported >= report_every or done == len(prompts)) and done > reported:
                    reported = done
                    on_batch(done, len(prompts))
        return [[s for s in group if s is not None] for group in grouped]

    def ask(self, messages: Messages, params: SamplingParams, *, seed: int) -> Sample:
        """Request one answer, retrying what may pass; raise EndpointError naming the endpoint."""
        body = {"model": self.settings.model, "messages": messages, "max_tokens": params.max_new_tokens,
                "temperature": params.temperature, "top_p": params.top_p, "seed": seed, "stream": False}
        tries = self.settings.max_retries + 1
        for attempt in range(tries):
            try:
                return parse_answer(self._post(body), self.settings.url)
            except _Retryable as exc:
                if attempt + 1 == tries:
                    raise EndpointError(f"{self.settings.url}: {exc} (tried {tries} times)") from None
                time.sleep(BACKOFF_S * 2**attempt)
        raise AssertionError("unreachable")

    def _post(self, body: dict[str, Any]) -> Any:
        url = self.settings.url
        request = urllib.request.Request(url, data=json.dumps(body).encode(), headers=self._headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.settings.timeout) as response:  # noqa: S310 - http(s) checked
                raw = response.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read()[:300].decode("utf-8", "replace")
            if exc.code in RETRY_STATUSES:
                raise _Retryable(f"the endpoint answered HTTP {exc.code}: {detail}") from None
            raise EndpointError(f"{url} answered HTTP {exc.code}: {detail}") from None
        except TimeoutError:
            raise _Retryable(f"no answer within {self.settings.timeout:g} s (request_timeout)") from None
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                raise _Retryable(f"no answer within {self.settings.timeout:g} s (request_timeout)") from None
            raise _Retryable(f"cannot reach the endpoint ({exc.reason}); is the server running at "
                             f"{self.settings.base_url}?") from None
        except (ConnectionError, OSError) as exc:
            raise _Retryable(f"the connection failed ({exc})") from None
        try:
            return json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise EndpointError(f"{url} returned a malformed answer (not JSON): {raw[:200]!r}") from None
