"""Bootstrap job: build the offline default policy (tokenizer + tiny GPT-2 + SFT on bundled dialogues).

Needs no download, so a fresh install has a policy to generate the first comparisons with.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from training.jobs import common
from training.jobs.tinymodel import DEFAULT_SFT_STEPS

SAMPLE_PROMPTS = ("What does a dog eat?", "How do I make tea?", "What is the opposite of hot?")


@dataclass(frozen=True)
class BootstrapJobConfig:
    """Build the tiny policy into output_dir."""

    output_dir: str  # system: where the policy is saved (must not exist)
    run_dir: str = ""  # system: metrics.jsonl and result.json go here ("" = nowhere)
    seed: int = 0  # seeds tokenizer-independent randomness: weights init, data order, sampling
    sft_steps: int = DEFAULT_SFT_STEPS  # supervised fine-tuning steps on the bundled dialogues
    learning_rate: float = 5e-3  # high for a 2-layer model trained from scratch

    def validate(self) -> None:
        common.check_range("seed", self.seed, low=0, kind=int)
        common.check_range("sft_steps", self.sft_steps, low=0, high=100_000, kind=int)
        common.check_range("learning_rate", self.learning_rate, low=1e-7, high=1.0)


CONFIG_CLASS = BootstrapJobConfig
SYSTEM_FIELDS: frozenset[str] = frozenset({"output_dir", "run_dir"})


def _samples(model_dir: Path, seed: int) -> list[dict[str, str]]:
    """Decode one greedy answer per fixed prompt so the result shows what the policy sounds like.

    Greedy, not sampled: the showcase is the policy's most likely answer, the same on every
    machine and independent of how the sampler draws random numbers.
    """
    from training.jobs.sampling import SamplingParams, sample_all

    model, tokenizer = common.load_causal_lm(str(model_dir), dtype=None), common.load_tokenizer(str(model_dir))
    device = common.pick_device().device
    prompts = [[{"role": "user", "content": text}] for text in SAMPLE_PROMPTS]
    params = SamplingParams(temperature=0.0, top_p=1.0, max_new_tokens=48, seed=seed)
    grouped = sample_all(model.to(device).eval(), tokenizer, prompts, k=1, params=params, device=device,
                         batch_size=len(prompts))
    return [{"prompt": text, "response": group[0].text} for text, group in zip(SAMPLE_PROMPTS, grouped, strict=True)]


def _last_loss(metrics_path: Path) -> float | None:
    rows = list(common.read_jsonl(metrics_path)) if metrics_path.exists() else []
    losses = [r["loss"] for r in rows if "loss" in r]
    return losses[-1] if losses else None


def main(config: BootstrapJobConfig) -> None:
    from training.jobs.tinymodel import build_tiny_policy

    metrics = common.MetricsWriter(Path(config.run_dir) / "metrics.jsonl") if config.run_dir else None
    out = build_tiny_policy(config.output_dir, seed=config.seed, sft_steps=config.sft_steps,
                            learning_rate=config.learning_rate, metrics=metrics)
    if not (config.run_dir and common.is_main_process()):
        return
    result = {"sft_steps": config.sft_steps, "final_loss": _last_loss(Path(config.run_dir) / "metrics.jsonl"),
              "samples": _samples(out, config.seed)}
    metrics.write(config.sft_steps, 1.0, final_loss=result["final_loss"])  # type: ignore[union-attr]
    common.write_json(Path(config.run_dir) / "result.json", result)


if __name__ == "__main__":
    sys.exit(common.run_job(main, BootstrapJobConfig))
