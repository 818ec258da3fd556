"""The work of bench/gpu_check.sh: each kind on a random ~0.5B Llama on one GPU, with its figures.

    python bench/gpu_check.py [--steps 20] [--keep DIR]

Builds the model (hidden 1024, 24 layers, 32k vocabulary: ~0.5B parameters) with the tiny
policy's tokenizer, then runs the real jobs in this process, one after the other: generate
(K=4 responses per prompt), reward, dpo, ppo and grpo (both against the reward model just
trained). Prints per kind: samples/s (responses, pairs or episodes), tokens/s and peak GPU memory.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def build_model(root: Path) -> Path:
    """A random Llama-shaped ~0.5B model, saved with the tiny tokenizer and its chat template."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from training.jobs.tinymodel import build_tiny_policy

    tok_dir = build_tiny_policy(root / "tiny", sft_steps=1)
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tok_dir)
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=32000, hidden_size=1024, intermediate_size=2816, num_hidden_layers=24,
                         num_attention_heads=16, num_key_value_heads=16, max_position_embeddings=2048,
                         bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    model = LlamaForCausalLM(config)
    print(f"model: random Llama, {sum(p.numel() for p in model.parameters()) / 1e9:.2f}B parameters", flush=True)
    out = root / "llama-0.5b"
    model.save_pretrained(out, safe_serialization=True)
    tok.save_pretrained(out)
    return out


def _data(root: Path, n: int) -> tuple[Path, Path]:
    from training.jobs.tinymodel import load_dialogues, synthetic_preferences

    prefs = root / "prefs.jsonl"
    prefs.write_text("".join(json.dumps(r) + "\n" for r in synthetic_preferences(n)))
    prompts = root / "prompts.jsonl"
    rows = [{"prompt_id": i, "prompt": r["messages"][:1], "reference": None} for i, r in enumerate(load_dialogues()[:n])]
    prompts.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return prefs, prompts


def measure(name: str, run: Callable[[], tuple[int, int]]) -> None:
    """Run one kind; print samples/s, tokens/s and peak memory."""
    import torch

    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    samples, tokens = run()
    elapsed = time.perf_counter() - started
    peak = torch.cuda.max_memory_allocated() / 2**30
    print(f"{name:<9} {samples / elapsed:9.1f} samples/s {tokens / elapsed:10.0f} tokens/s "
          f"peak {peak:6.2f} GiB  ({samples} samples in {elapsed:.1f} s)", flush=True)


def _result(run_dir: Path) -> dict[str, Any]:
    return json.loads((run_dir / "result.json").read_text())


def kinds(model: Path, root: Path, steps: int) -> dict[str, Callable[[], tuple[int, int]]]:
    from training.jobs import common, dpo, generate, grpo, ppo, reward

    prefs, prompts = _data(root, 256)
    batch, new_tokens, pair_tokens = 8, 64, 2 * 128

    def gen() -> tuple[int, int]:
        run_dir = root / "run-generate"
        generate.main(common.config_from_dict(generate.GenerateJobConfig, {
            "model": str(model), "prompts_file": str(prompts), "output_file": str(root / "gen.jsonl"),
            "run_dir": str(run_dir), "k": 4, "max_new_tokens": new_tokens, "batch_size": 32}))
        r = _result(run_dir)
        return r["responses"], int(r["responses"] * r["mean_length"])

    def supervised(module: Any, kind: str) -> Callable[[], tuple[int, int]]:
        def go() -> tuple[int, int]:
            module.main(common.config_from_dict(module.CONFIG_CLASS, {
                "model": str(model), "train_file": str(prefs), "output_dir": str(root / kind), "run_dir": str(root / f"run-{kind}"),
                "max_steps": steps, "per_device_train_batch_size": batch, "max_length": 256, "learning_rate": 1e-5,
                "eval_fraction": 0.05, "save_steps": 0}))
            return steps * batch, steps * batch * pair_tokens
        return go

    def ppo_run() -> tuple[int, int]:
        episodes = steps * batch
        ppo.main(common.config_from_dict(ppo.PPOJobConfig, {
            "model": str(model), "reward_model": str(root / "reward"), "prompts_file": str(prompts),
            "output_dir": str(root / "ppo"), "run_dir": str(root / "run-ppo"), "total_episodes": episodes,
            "batch_size": batch, "mini_batch_size": 4, "ppo_epochs": 1, "response_length": new_tokens, "save_steps": 0}))
        return episodes, episodes * new_tokens

    def grpo_run() -> tuple[int, int]:
        grpo.main(common.config_from_dict(grpo.GRPOJobConfig, {
            "model": str(model), "reward_model": str(root / "reward"), "prompts_file": str(prompts),
            "output_dir": str(root / "grpo"), "run_dir": str(root / "run-grpo"), "max_steps": steps,
            "per_device_train_batch_size": batch, "num_generations": 4, "max_completion_length": new_tokens,
            "save_steps": 0}))
        return steps * batch, steps * batch * new_tokens

    return {"generate": gen, "reward": supervised(reward, "reward"), "dpo": supervised(dpo, "dpo"),
            "ppo": ppo_run, "grpo": grpo_run}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20, help="optimizer steps (ppo: updates) per training kind")
    parser.add_argument("--keep", help="work in this directory and keep it (default: a temporary one)")
    args = parser.parse_args()
    import torch

    if not torch.cuda.is_available():
        raise SystemExit("gpu_check: no CUDA GPU visible to torch on this machine; nothing was run")
    print(f"device: {torch.cuda.get_device_name(0)}, torch {torch.__version__}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.keep) if args.keep else Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        model = build_model(root)
        for name, run in kinds(model, root, args.steps).items():
            measure(name, run)


if __name__ == "__main__":
    main()
