"""Benchmark: do each kind's defaults learn from one demo-sized round on the demo policy?

    python bench/defaults_learn.py [--model DIR] [--seeds 0,1,2] [--kinds reward,dpo,ppo,rloo,grpo] [--old]

One round as the demo makes it: the 45 demo prompts, K=4 responses sampled from the policy,
ranked by 2 scripted annotators (the second one is wrong on 15% of comparisons, shuffling them)
who prefer friendly answers that address the user: more occurrences of "you", "yes", "hello",
"sure", "please", "thank" is better, equal counts tie. Pairs are every ordered pair across tie
groups (the export's "all"). Held-out pairs come from a second, independent round of samples.
Each kind then trains with its defaults (`--old`: also with the previous fixed defaults:
reward 1e-4 x 1 epoch, DPO 1e-6 x 1 epoch (TRL's), PPO 3e-6, RLOO/GRPO 1e-6 x 1 epoch) and the
bench prints, per seed, the job's own metric before -> after and the ground truth: the mean
preference score of K=4 fresh samples on all 45 prompts from the trained policy vs the start.
Jobs run in this process (their `main`), so the figures exclude process start-up.
Without --model it builds the demo policy (1000 SFT steps, ~2 min) into var/bench/.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

K = 4
DEMO_PROMPTS = ROOT / "labeling" / "fixtures" / "demo_prompts.jsonl"
OLD_DEFAULTS: dict[str, dict[str, Any]] = {
    "reward": {"learning_rate": 1e-4, "num_train_epochs": 1.0, "max_length": 1024},
    "dpo": {"learning_rate": 1e-6, "num_train_epochs": 1.0, "max_length": 1024},
    "ppo": {"learning_rate": 3e-6, "total_episodes": 1024},
    "rloo": {"learning_rate": 1e-6, "num_train_epochs": 1.0},
    "grpo": {"learning_rate": 1e-6, "num_train_epochs": 1.0},
}


FRIENDLY = ("you", "yes", "hello", "sure", "please", "thank")


def preference_score(text: str) -> int:
    """The scripted annotators' taste: friendly answers that address the user are better."""
    lower = text.lower()
    return sum(lower.count(word) for word in FRIENDLY)


def demo_prompts() -> list[list[dict[str, str]]]:
    rows = [json.loads(line) for line in DEMO_PROMPTS.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [row.get("messages") or [{"role": "user", "content": row["prompt"]}] for row in rows]


def sample(model_dir: str, prompts: list, *, seed: int) -> list[list[str]]:
    """K responses per prompt, as a generate run samples them (temperature 0.8, top-p 0.95)."""
    from training.jobs import common
    from training.jobs.sampling import SamplingParams, sample_all

    model, tokenizer = common.load_causal_lm(model_dir).eval(), common.load_tokenizer(model_dir)
    grouped = sample_all(model, tokenizer, prompts, k=K, params=SamplingParams(0.8, 0.95, 64, seed), device="cpu",
                         batch_size=16)
    return [[s.text for s in group] for group in grouped]


def ranking(texts: list[str], rng: random.Random, *, noisy: bool) -> list[list[int]]:
    """Tie groups, best first; a noisy annotator shuffles 15% of comparisons."""
    scores = [preference_score(t) for t in texts]
    if noisy and rng.random() < 0.15:
        scores = rng.sample(range(len(texts)), len(texts))
    levels = sorted(set(scores), reverse=True)
    return [[i for i, s in enumerate(scores) if s == level] for level in levels]


def pairs(prompt: list, texts: list[str], groups: list[list[int]]) -> list[dict[str, Any]]:
    out = []
    for gi, better in enumerate(groups):
        for gj in range(gi + 1, len(groups)):
            for c in better:
                for r in groups[gj]:
                    out.append({"prompt": prompt, "chosen": [{"role": "assistant", "content": texts[c]}],
                                "rejected": [{"role": "assistant", "content": texts[r]}], "margin": float(gj - gi)})
    return out


def make_round(model_dir: str, prompts: list, seed: int, work: Path) -> dict[str, Any]:
    """Sample, rank by 2 annotators, write train/eval pair files and the prompts file."""
    rng = random.Random(seed)
    responses = sample(model_dir, prompts, seed=seed)
    train, held_out = [], []
    for target, texts_per_prompt in ((train, responses), (held_out, sample(model_dir, prompts, seed=seed + 500))):
        for prompt, texts in zip(prompts, texts_per_prompt, strict=True):
            for annotator in range(2):
                target.extend(pairs(prompt, texts, ranking(texts, rng, noisy=annotator == 1)))
    files = {"train": work / "train.jsonl", "eval": work / "eval.jsonl", "prompts": work / "prompts.jsonl"}
    files["train"].write_text("".join(json.dumps(r) + "\n" for r in train))
    files["eval"].write_text("".join(json.dumps(r) + "\n" for r in held_out))
    files["prompts"].write_text("".join(json.dumps({"prompt_id": i, "prompt": p, "reference": None}) + "\n"
                                        for i, p in enumerate(prompts)))
    # The start policy's score on the same sampling stream the trained policies are measured with.
    base = statistics.mean(preference_score(t) for group in sample(model_dir, prompts, seed=1000 + seed) for t in group)
    round0 = statistics.mean(preference_score(t) for group in responses for t in group)
    return {"files": files, "train_pairs": len(train), "eval_pairs": len(held_out), "base_score": base,
            "round0_score": round0}


def run_kind(kind: str, system: dict[str, str], config: dict[str, Any]) -> dict[str, Any]:
    """Run a job's main in this process and return its result.json."""
    import importlib

    from training.jobs import common

    module = importlib.import_module(f"training.jobs.{kind}")
    job_config = common.config_from_dict(module.CONFIG_CLASS, {**system, **config})
    module.main(job_config)
    return json.loads((Path(system["run_dir"]) / "result.json").read_text())


def headline(kind: str, result: dict[str, Any]) -> str:
    if kind == "reward":
        return f"held-out accuracy 0.5 -> {result.get('eval_accuracy', float('nan')):.3f}"
    if kind == "dpo":
        return (f"implicit-reward accuracy {result['eval_start_reward_accuracy']:.3f} -> {result['eval_reward_accuracy']:.3f}, "
                f"log-prob accuracy {result['eval_start_preference_accuracy']:.3f} -> {result['eval_preference_accuracy']:.3f}")
    return f"reward-model score {result['initial_reward']:+.3f} -> {result['final_reward']:+.3f}"


def trial(kind: str, variant: str, seed: int, model: str, data: dict[str, Any], reward_dir: str | None,
          work: Path) -> dict[str, Any]:
    """Train one kind with one variant's settings and measure the policy's preference score after."""
    files = data["files"]
    run_dir = work / f"{kind}-{variant}-{seed}"
    run_dir.mkdir()
    system: dict[str, str] = {"run_dir": str(run_dir), "output_dir": str(run_dir / "model"), "model": model}
    if kind in ("reward", "dpo"):
        system |= {"train_file": str(files["train"]), "eval_file": str(files["eval"])}
    else:
        system |= {"reward_model": reward_dir or "", "prompts_file": str(files["prompts"])}
    config = {"seed": seed, **(OLD_DEFAULTS[kind] if variant == "old" else {})}
    started = time.process_time()
    result = run_kind(kind, system, config)
    out = {"kind": kind, "variant": variant, "seed": seed, "cpu_s": round(time.process_time() - started, 1),
           "headline": headline(kind, result), "auto": result.get("defaults", ""),
           "warnings": [w["message"] for w in result.get("data_warnings", [])]}
    if kind != "reward":
        after = sample(str(run_dir / "model"), demo_prompts(), seed=1000 + seed)
        out["score"] = f"{data['base_score']:.3f} -> {statistics.mean(preference_score(t) for g in after for t in g):.3f}"
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--kinds", default="reward,dpo,ppo,rloo,grpo")
    parser.add_argument("--old", action="store_true", help="also train with the previous fixed defaults")
    args = parser.parse_args()
    from training.jobs.tinymodel import build_tiny_policy

    model = args.model
    if not model:
        cached = ROOT / "var" / "bench" / "demo-policy"
        model = str(cached if cached.exists() else build_tiny_policy(cached, seed=0))
    kinds = args.kinds.split(",")
    for seed in (int(s) for s in args.seeds.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            data = make_round(model, demo_prompts(), seed, work)
            print(json.dumps({"seed": seed, "train_pairs": data["train_pairs"], "eval_pairs": data["eval_pairs"],
                              "round0_score": round(data["round0_score"], 3),
                              "start_policy_score": round(data["base_score"], 3)}), flush=True)
            reward_dir = None
            for kind in kinds:
                for variant in (["auto", "old"] if args.old else ["auto"]):
                    res = trial(kind, variant, seed, model, data, reward_dir, work)
                    if kind == "reward" and variant == "auto":
                        reward_dir = str(work / f"reward-auto-{seed}" / "model")
                    print(json.dumps(res), flush=True)


if __name__ == "__main__":
    main()
