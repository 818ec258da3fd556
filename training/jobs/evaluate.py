"""Evaluate job: compare a new policy with its parent on held-out prompts.

Both policies answer every prompt; the reward model scores the answers. Reports the new
policy's win rate (ties count half), each policy's mean reward, the KL from the parent
(mean per token, estimated on the new policy's own samples), and mean response length.
"""

from __future__ import annotations

import dataclasses
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from training.jobs import common
from training.jobs.backends import check_backend_fields


@dataclass(frozen=True)
class EvaluateJobConfig:
    """Sample from `model` and `ref_model` on prompts_file and judge with `reward_model`."""

    model: str  # system: the new policy
    ref_model: str  # system: its parent
    reward_model: str  # system: scores (prompt, answer) conversations
    prompts_file: str  # system: JSONL rows {"prompt_id", "prompt": [messages], "reference"}
    run_dir: str = ""  # system: metrics.jsonl and result.json
    samples_per_prompt: int | None = None  # answers per prompt and policy, each new one compared with each parent one; empty = auto (see below)
    temperature: float = 0.7  # sampling temperature for both policies (0 = greedy)
    top_p: float = 0.95  # nucleus sampling mass
    max_new_tokens: int = 64  # longest answer, in tokens
    max_prompts: int = 0  # evaluate at most this many prompts (0 = all)
    batch_size: int = 16  # prompts per generate() call
    seed: int = 0  # same seed for both policies
    backend: str = "transformers"  # "transformers" (in-process) or "openai": the endpoint serves both policies by path
    base_url: str = ""  # endpoint base URL, e.g. http://127.0.0.1:8000/v1 (backend "openai")
    api_key_env: str = ""  # NAME of the worker's environment variable holding the API key (never the key)
    concurrency: int = 8  # endpoint requests in flight at once
    request_timeout: float = 60.0  # seconds to wait for one endpoint answer
    max_retries: int = 3  # retries after a timeout, refused connection, 429 or 5xx

    def validate(self) -> None:
        if self.samples_per_prompt is not None:
            common.check_range("samples_per_prompt", self.samples_per_prompt, low=1, high=64, kind=int)
        common.check_sampling_fields(self)
        check_backend_fields(self)
        common.check_range("max_prompts", self.max_prompts, low=0, kind=int)


CONFIG_CLASS = EvaluateJobConfig

SYSTEM_FIELDS: frozenset[str] = frozenset({"model", "ref_model", "reward_model", "prompts_file", "run_dir"})

# Auto samples_per_prompt: enough answers per policy that the gate is not a coin toss. A snapshot's
# held-out split is often a handful of prompts (10% of 45 demo prompts is 4 or 5); one answer each
# makes the win rate a vote of 5 single samples, so the gate passes or fails by chance. With several
# answers per prompt each prompt's share of won answer pairs is a measurement rather than a coin.
AUTO_ANSWERS = 64
AUTO_MAX_PER_PROMPT = 16


def auto_samples_per_prompt(n_prompts: int) -> int:
    """Answers per prompt for about AUTO_ANSWERS answers per policy in all (1 to AUTO_MAX_PER_PROMPT)."""
    return max(1, min(AUTO_MAX_PER_PROMPT, math.ceil(AUTO_ANSWERS / max(n_prompts, 1))))


def _sample(path: str, prompts: list, config: EvaluateJobConfig, device: str):  # type: ignore[no-untyped-def]
    """Sample one policy through the configured backend; return (model, tokenizer, grouped samples).

    An endpoint returns text only: the policy is then loaded here just to tokenize and score
    its answers for the KL estimate.
    """
    from training.jobs.backends import make_backend
    from training.jobs.backends.local import TransformersBackend
    from training.jobs.sampling import SamplingParams, tokenize_samples

    backend = make_backend(config, model_path=path)
    params = SamplingParams(config.temperature, config.top_p, config.max_new_tokens, config.seed)
    grouped = backend.generate(prompts, k=config.samples_per_prompt, params=params)
    if isinstance(backend, TransformersBackend):
        return backend.model, backend.tokenizer, grouped
    tokenizer = common.load_tokenizer(path)
    tokenize_samples(tokenizer, prompts, grouped)
    return common.load_causal_lm(path).to(device).eval(), tokenizer, grouped


def _rewards(config: EvaluateJobConfig, prompts: list, grouped: list, device: str) -> list[list[float]]:
    """The reward of every sample, grouped by prompt."""
    from training.jobs.sampling import reward_scores

    model = common.load_reward_model(config.reward_model).to(device).eval()
    tokenizer = common.load_tokenizer(config.reward_model)
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    conversations = [p + [{"role": "assistant", "content": s.text}] for p, group in zip(prompts, grouped, strict=True) for s in group]
    scores = reward_scores(model, tokenizer, conversations, device=device, batch_size=config.batch_size)
    k = config.samples_per_prompt
    return [list(scores[i * k:(i + 1) * k]) for i in range(len(prompts))]


def prompt_win_rate(new: list[float], parent: list[float]) -> float:
    """The share of (new answer, parent answer) pairs on one prompt that the new answer wins (ties half)."""
    wins = sum(1.0 if a > b else 0.5 if a == b else 0.0 for a in new for b in parent)
    return wins / (len(new) * len(parent))


def kl_to_parent(new_model, new_tok, parent_path: str, grouped: list, device: str) -> float | None:  # type: ignore[no-untyped-def]
    """Mean over the new policy's sampled tokens of log p_new − log p_parent (a Monte-Carlo KL estimate)."""
    from training.jobs.sampling import response_logprobs

    parent_tok = common.load_tokenizer(parent_path)
    if parent_tok.get_vocab() != new_tok.get_vocab():
        return None  # token-level KL needs a shared vocabulary
    parent = common.load_causal_lm(parent_path).to(device).eval()
    samples = [s for group in grouped for s in group if s.response_ids]
    if not samples:
        return None
    new_lp = response_logprobs(new_model, samples, pad_id=new_tok.pad_token_id, device=device)
    ref_lp = response_logprobs(parent, samples, pad_id=new_tok.pad_token_id, device=device)
    total = sum(float((a - b).sum()) for a, b in zip(new_lp, ref_lp, strict=True))
    return total / sum(len(s.response_ids) for s in samples)


def summarize(new_rewards: list[list[float]], parent_rewards: list[list[float]], new_grouped: list,
              parent_grouped: list) -> dict[str, Any]:
    """Win rate, mean rewards and mean lengths in tokens.

    The win rate is, per prompt, the share of (new, parent) answer pairs the new answer wins
    (ties half), averaged over prompts: every prompt counts once, and on a handful of held-out
    prompts it is a share of many pairs rather than a vote of a few prompt means. With one
    answer per prompt it is the plain per-prompt comparison.
    """
    def mean(values: list[float]) -> float:
        return sum(values) / max(len(values), 1)

    def mean_length(grouped: list) -> float:
        return mean([s.length for group in grouped for s in group])

    per_prompt = [prompt_win_rate(a, b) for a, b in zip(new_rewards, parent_rewards, strict=True)]
    return {
        "prompts": len(new_rewards),
        "answer_pairs": sum(len(a) * len(b) for a, b in zip(new_rewards, parent_rewards, strict=True)),
        "win_rate": mean(per_prompt),
        "mean_reward": mean([mean(r) for r in new_rewards]),
        "parent_mean_reward": mean([mean(r) for r in parent_rewards]),
        "mean_length": mean_length(new_grouped),
        "parent_mean_length": mean_length(parent_grouped),
    }


def main(config: EvaluateJobConfig) -> None:
    from training.jobs.generate import read_prompts

    if not common.is_main_process():
        return
    rows = read_prompts(config.prompts_file)
    prompts = [r["prompt"] for r in rows][: config.max_prompts or None]
    auto = ""
    if config.samples_per_prompt is None:
        config = dataclasses.replace(config, samples_per_prompt=auto_samples_per_prompt(len(prompts)))
        auto = (f"auto: samples_per_prompt {config.samples_per_prompt} "
                f"({config.samples_per_prompt * len(prompts)} answers per policy over {len(prompts)} prompts)")
    device = common.pick_device().device
    metrics = common.MetricsWriter(Path(config.run_dir) / "metrics.jsonl") if config.run_dir else None
    new_model, new_tok, new_grouped = _sample(config.model, prompts, config, device)
    _progress(metrics, 1, 0.3)
    parent_model, _, parent_grouped = _sample(config.ref_model, prompts, config, device)
    del parent_model  # only its samples are needed from here; kl_to_parent reloads it when vocabularies match
    _progress(metrics, 2, 0.6)
    new_rewards = _rewards(config, prompts, new_grouped, device)
    parent_rewards = _rewards(config, prompts, parent_grouped, device)
    _progress(metrics, 3, 0.8)
    result = summarize(new_rewards, parent_rewards, new_grouped, parent_grouped)
    result["kl_to_parent"] = kl_to_parent(new_model, new_tok, config.ref_model, new_grouped, device)
    result["samples_per_prompt"] = config.samples_per_prompt
    if auto:
        result["defaults"] = auto
    if metrics is not None:
        metrics.write(4, 1.0, **{k: v for k, v in result.items() if isinstance(v, (int, float))})
        common.write_json(Path(config.run_dir) / "result.json", result)


def _progress(metrics: common.MetricsWriter | None, step: int, progress: float) -> None:
    if metrics is not None:
        metrics.write(step, progress)


if __name__ == "__main__":
    sys.exit(common.run_job(main, EvaluateJobConfig))
