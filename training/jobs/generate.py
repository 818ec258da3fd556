"""Generate job: sample K responses per prompt, batched, into a JSONL file.

Answers come from the policy in-process (`backend: "transformers"`, the default), from an
OpenAI-compatible endpoint (`backend: "openai"`, training/jobs/backends/endpoint.py), or from
several `sources` at once, each answer tagged with its source. Output rows:
{"prompt_id": int, "responses": [{"text", "source", "params": {...}}, ...K]}; the file is
written under a temporary name and renamed at the end, so a reader never sees half of it,
and a failed endpoint leaves no file at all.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from training.jobs import common
from training.jobs.backends import check_backend_fields
from training.jobs.backends.base import Sample, SamplingParams
from training.jobs.backends.sources import POLICY, SourceSpec, parse_sources


@dataclass(frozen=True)
class GenerateJobConfig:
    """Sample k responses for every prompt in prompts_file."""

    model: str  # system: the policy (local dir or hub id)
    prompts_file: str  # system: JSONL rows {"prompt_id", "prompt": [messages], "reference"}
    output_file: str  # system: JSONL rows {"prompt_id", "responses": [{"text", "source", "params"}]}
    run_dir: str = ""  # system: metrics.jsonl and result.json
    k: int = 4  # responses per prompt (the project's K overrides it)
    temperature: float = 0.8  # 0 = greedy (then all k responses are the same)
    top_p: float = 0.95  # nucleus sampling mass
    max_new_tokens: int = 64  # longest response, in tokens
    seed: int = 0  # makes a round reproducible
    batch_size: int = 16  # prompts per generate() call (each expands to k sequences)
    backend: str = "transformers"  # "transformers" (in-process) or "openai" (an OpenAI-compatible endpoint)
    base_url: str = ""  # endpoint base URL, e.g. http://127.0.0.1:8000/v1 (backend "openai")
    endpoint_model: str = ""  # the model name the endpoint serves ("" = the policy's path)
    api_key_env: str = ""  # NAME of the worker's environment variable holding the API key (never the key)
    concurrency: int = 8  # endpoint requests in flight at once
    request_timeout: float = 60.0  # seconds to wait for one endpoint answer
    max_retries: int = 3  # retries after a timeout, refused connection, 429 or 5xx (backoff 0.5 s, 1 s, 2 s)
    sources: list[dict] = field(default_factory=list)  # several sources: [{"name": "policy"}, {"name", "model", "base_url", "api_key_env"}]

    def validate(self) -> None:
        common.check_range("k", self.k, low=1, high=64, kind=int)
        common.check_sampling_fields(self)
        check_backend_fields(self)
        parse_sources(self.sources, k=self.k)


CONFIG_CLASS = GenerateJobConfig
SYSTEM_FIELDS: frozenset[str] = frozenset({"model", "prompts_file", "output_file", "run_dir"})


def read_prompts(path: str | Path) -> list[dict[str, Any]]:
    """Read and check prompt rows; JobError naming the line for a malformed one."""
    rows = []
    for line_no, row in enumerate(common.read_jsonl(path), start=1):
        prompt = row.get("prompt")
        if not isinstance(prompt, list) or not prompt or not all(
            isinstance(m, dict) and isinstance(m.get("content"), str) and isinstance(m.get("role"), str) for m in prompt
        ):
            raise common.JobError(f"{path}: line {line_no}: 'prompt' must be a non-empty list of chat messages")
        if "prompt_id" not in row:
            raise common.JobError(f"{path}: line {line_no}: missing 'prompt_id'")
        rows.append(row)
    if not rows:
        raise common.JobError(f"{path}: no prompts")
    return rows


def _response(sample: Sample, index: int, params: dict[str, Any], model: str) -> dict[str, Any]:
    source = sample.extra.get("source", POLICY)
    return {"text": sample.text, "source": source,
            "params": {**params, "model": sample.extra.get("model") or model, "source": source, "index": index,
                       "num_tokens": sample.length, "finished": sample.finished}}


def _response_rows(rows: list[dict[str, Any]], grouped: list, params: dict[str, Any], model: str) -> list[str]:
    return [
        json.dumps({"prompt_id": row["prompt_id"], "responses": [_response(s, i, params, model) for i, s in enumerate(samples)]}) + "\n"
        for row, samples in zip(rows, grouped, strict=True)
    ]


def sample_sources(config: GenerateJobConfig, prompts: list, on_batch: Any = None) -> list[list[Sample]]:
    """Draw k answers per prompt from the configured sources (the policy alone by default)."""
    from training.jobs.backends import source_backend
    from training.jobs.backends.sources import draw

    specs = parse_sources(config.sources, k=config.k) or [SourceSpec(POLICY)]
    params = SamplingParams(config.temperature, config.top_p, config.max_new_tokens, config.seed)
    return draw([(spec, source_backend(spec, config)) for spec in specs], prompts, k=config.k, params=params,
                on_batch=on_batch)


def main(config: GenerateJobConfig) -> None:
    if not common.is_main_process():
        return  # sampling is cheap next to training: rank 0 does all of it
    rows = read_prompts(config.prompts_file)
    metrics = common.MetricsWriter(Path(config.run_dir) / "metrics.jsonl") if config.run_dir else None
    started = time.perf_counter()

    def on_batch(done: int, total: int) -> None:
        if metrics is not None:
            elapsed = max(time.perf_counter() - started, 1e-9)
            metrics.write(done, done / total, prompts_done=done, responses_per_s=done * config.k / elapsed)

    grouped = sample_sources(config, [r["prompt"] for r in rows], on_batch)
    params = SamplingParams(config.temperature, config.top_p, config.max_new_tokens, config.seed).as_dict()
    out = Path(config.output_file)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    tmp.write_text("".join(_response_rows(rows, grouped, params, config.model)), encoding="utf-8")
    os.replace(tmp, out)
    if config.run_dir:
        _write_result(config, grouped, time.perf_counter() - started)


def _write_result(config: GenerateJobConfig, grouped: list, elapsed: float) -> None:
    samples = [s for group in grouped for s in group]
    by_source: dict[str, int] = {}
    for s in samples:
        by_source[s.extra.get("source", POLICY)] = by_source.get(s.extra.get("source", POLICY), 0) + 1
    common.write_json(Path(config.run_dir) / "result.json", {
        "prompts": len(grouped),
        "responses": len(samples),
        "responses_by_source": by_source,
        "backend": config.backend,
        "responses_per_s": round(len(samples) / max(elapsed, 1e-9), 2),
        "mean_length": sum(s.length for s in samples) / max(len(samples), 1),
        "finished_fraction": sum(s.finished for s in samples) / max(len(samples), 1),
        "empty_responses": sum(not s.text for s in samples),
    })


if __name__ == "__main__":
    sys.exit(common.run_job(main, GenerateJobConfig))
