"""Generate job: sample K responses per prompt from a policy, batched, into a JSONL file.

Output rows: {"prompt_id": int, "responses": [{"text": str, "params": {...}}, ...K]}; the file
is written under a temporary name and renamed at the end, so a reader never sees half of it.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from training.jobs import common


@dataclass(frozen=True)
class GenerateJobConfig:
    """Sample k responses for every prompt in prompts_file."""

    model: str  # system: the policy (local dir or hub id)
    prompts_file: str  # system: JSONL rows {"prompt_id", "prompt": [messages], "reference"}
    output_file: str  # system: JSONL rows {"prompt_id", "responses": [{"text", "params"}]}
    run_dir: str = ""  # system: metrics.jsonl and result.json
    k: int = 4  # responses per prompt (the project's K overrides it)
    temperature: float = 0.8  # 0 = greedy (then all k responses are the same)
    top_p: float = 0.95  # nucleus sampling mass
    max_new_tokens: int = 64  # longest response, in tokens
    seed: int = 0  # makes a round reproducible
    batch_size: int = 16  # prompts per generate() call (each expands to k sequences)

    def validate(self) -> None:
        common.check_range("k", self.k, low=1, high=64, kind=int)
        common.check_sampling_fields(self)


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


def _response_rows(rows: list[dict[str, Any]], grouped: list, params: dict[str, Any], model: str) -> list[str]:
    lines = []
    for row, samples in zip(rows, grouped, strict=True):
        responses = [
            {"text": s.text, "params": {**params, "model": model, "index": i, "num_tokens": len(s.response_ids),
                                        "finished": s.finished}}
            for i, s in enumerate(samples)
        ]
        lines.append(json.dumps({"prompt_id": row["prompt_id"], "responses": responses}) + "\n")
    return lines


def main(config: GenerateJobConfig) -> None:
    from training.jobs.sampling import SamplingParams, sample_all

    if not common.is_main_process():
        return  # sampling is cheap next to training: rank 0 does all of it
    rows = read_prompts(config.prompts_file)
    info = common.pick_device()
    model = common.load_causal_lm(config.model).to(info.device).eval()
    tokenizer = common.load_tokenizer(config.model)
    if not tokenizer.chat_template:
        raise common.JobError(f"{config.model}: the tokenizer has no chat template, so chat prompts cannot be rendered")
    metrics = common.MetricsWriter(Path(config.run_dir) / "metrics.jsonl") if config.run_dir else None
    started = time.perf_counter()

    def on_batch(done: int, total: int) -> None:
        if metrics is not None:
            elapsed = max(time.perf_counter() - started, 1e-9)
            metrics.write(done, done / total, prompts_done=done, responses_per_s=done * config.k / elapsed)

    params = SamplingParams(config.temperature, config.top_p, config.max_new_tokens, config.seed)
    grouped = sample_all(model, tokenizer, [r["prompt"] for r in rows], k=config.k, params=params,
                         device=info.device, batch_size=config.batch_size, on_batch=on_batch)
    out = Path(config.output_file)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    tmp.write_text("".join(_response_rows(rows, grouped, params.as_dict(), config.model)), encoding="utf-8")
    os.replace(tmp, out)
    if config.run_dir:
        _write_result(config, grouped, time.perf_counter() - started)


def _write_result(config: GenerateJobConfig, grouped: list, elapsed: float) -> None:
    samples = [s for group in grouped for s in group]
    common.write_json(Path(config.run_dir) / "result.json", {
        "prompts": len(grouped),
        "responses": len(samples),
        "responses_per_s": round(len(samples) / max(elapsed, 1e-9), 2),
        "mean_length": sum(len(s.response_ids) for s in samples) / max(len(samples), 1),
        "finished_fraction": sum(s.finished for s in samples) / max(len(samples), 1),
        "empty_responses": sum(not s.text for s in samples),
    })


if __name__ == "__main__":
    sys.exit(common.run_job(main, GenerateJobConfig))
