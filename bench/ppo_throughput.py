"""Benchmark the PPO job on the tiny policy: episodes per second, split into rollout and update.

    .venv/bin/python bench/ppo_throughput.py                      # 5 timed updates of 16 episodes
    .venv/bin/python bench/ppo_throughput.py --updates 10 --batch-size 32 --response-length 48

Builds the tiny policy (a short SFT) and a reward model from it with an untrained head in
var/bench/ppo/ (reused when present): throughput does not depend on what the reward model
prefers. Runs the job's own setup() and run_update(); the first update is a warm-up and is
not timed. An episode is one sampled response, scored and trained on for ppo_epochs passes.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


def _models(work: Path) -> tuple[Path, Path]:
    """Build (or reuse) the tiny policy and a reward model with a fresh head."""
    import torch

    from training.jobs import common
    from training.jobs.tinymodel import build_tiny_policy

    policy, reward = work / "policy", work / "reward"
    if not policy.exists():
        build_tiny_policy(policy, seed=0, sft_steps=40)
    if not reward.exists():
        torch.manual_seed(0)
        common.load_reward_model(str(policy)).save_pretrained(reward, safe_serialization=True)
        common.load_tokenizer(str(policy)).save_pretrained(reward)
    return policy, reward


def _prompts(path: Path, n: int = 64) -> Path:
    from training.jobs.tinymodel import load_dialogues

    with path.open("w", encoding="utf-8") as fh:
        for i, row in enumerate(load_dialogues()[:n]):
            fh.write(json.dumps({"prompt_id": i, "prompt": [row["messages"][0]], "reference": None}) + "\n")
    return path


def run(args: argparse.Namespace) -> dict[str, float]:
    """Time run_update() phase by phase over args.updates updates after one warm-up."""
    import torch

    from training.jobs.ppo import PPOJobConfig, run_update, setup
    from training.jobs.rl import ppo_step, rollout

    work = ROOT / "var" / "bench" / "ppo"
    work.mkdir(parents=True, exist_ok=True)
    policy, reward = _models(work)
    config = PPOJobConfig(
        run_dir=str(work / "run"), output_dir=str(work / "unused"), model=str(policy), reward_model=str(reward),
        prompts_file=str(_prompts(work / "prompts.jsonl")), batch_size=args.batch_size, mini_batch_size=args.mini_batch_size,
        ppo_epochs=args.ppo_epochs, response_length=args.response_length, learning_rate=1e-4,
    )
    torch.set_num_threads(args.threads)
    run_state = setup(config)
    timers = {"rollout": 0.0, "update": 0.0}

    def timed(name, fn):  # type: ignore[no-untyped-def]
        def wrapper(*a, **kw):  # type: ignore[no-untyped-def]
            start = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                timers[name] += time.perf_counter() - start
        return wrapper

    run_update(run_state, config)  # warm-up: first-call allocations and kernel choices
    # run_update looks these up at call time, so wrapping the module attributes times each phase.
    rollout.collect_rollout = timed("rollout", rollout.collect_rollout)
    ppo_step.ppo_update = timed("update", ppo_step.ppo_update)
    tokens = 0.0
    start = time.perf_counter()
    for _ in range(args.updates):
        roll, _adv, _steps = run_update(run_state, config)
        tokens += roll.response_mask.sum().item()
    total = time.perf_counter() - start
    episodes = args.updates * args.batch_size
    return {
        "episodes": episodes,
        "seconds": total,
        "episodes_per_s": episodes / total,
        "response_tokens_per_s": tokens / total,
        "rollout_share": timers["rollout"] / total,
        "update_share": timers["update"] / total,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--mini-batch-size", type=int, default=4)
    parser.add_argument("--ppo-epochs", type=int, default=4)
    parser.add_argument("--response-length", type=int, default=32)
    # One thread by default: on a busy 2-core machine a second OpenMP thread spins and runs ~10x slower.
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    figures = run(args)
    print(f"PPO on the tiny policy (2-layer GPT-2, 64 dims), {args.threads} thread(s), batch {args.batch_size}, "
          f"minibatch {args.mini_batch_size}, {args.ppo_epochs} PPO epochs, up to {args.response_length} new tokens")
    print(f"  {figures['episodes']} episodes in {figures['seconds']:.2f} s: {figures['episodes_per_s']:.1f} episodes/s, "
          f"{figures['response_tokens_per_s']:.0f} response tokens/s")
    print(f"  time in rollout (sample + score + log-probs) {figures['rollout_share']:.0%}, "
          f"in PPO epochs {figures['update_share']:.0%}")


if __name__ == "__main__":
    main()
