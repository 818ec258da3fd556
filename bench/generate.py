"""Benchmark: responses per second, batched generation vs one prompt at a time (tiny policy, CPU).

    python bench/generate.py [--model DIR] [--prompts 64] [--k 4] [--batch-size 64] [--max-new-tokens 64]

Uses the generate job's own sampling code (training/jobs/sampling.py). Without --model it builds
the tiny offline policy first (not timed). Target: batched >= 4x one-at-a-time.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _model(path: str | None, workdir: Path) -> str:
    if path:
        return path
    from training.jobs.tinymodel import build_tiny_policy

    return str(build_tiny_policy(workdir / "policy", sft_steps=1000))


def _time(model, tokenizer, prompts, *, k: int, batch_size: int, max_new_tokens: int) -> tuple[float, int]:  # type: ignore[no-untyped-def]
    from training.jobs.sampling import SamplingParams, sample_all

    params = SamplingParams(temperature=0.8, top_p=0.95, max_new_tokens=max_new_tokens, seed=0)
    started = time.perf_counter()
    grouped = sample_all(model, tokenizer, prompts, k=k, params=params, device="cpu", batch_size=batch_size)
    return time.perf_counter() - started, sum(len(g) for g in grouped)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model")
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    args = parser.parse_args()

    import torch

    from training.jobs.common import load_causal_lm, load_tokenizer
    from training.jobs.tinymodel import load_dialogues

    with tempfile.TemporaryDirectory() as tmp:
        path = _model(args.model, Path(tmp))
        model, tokenizer = load_causal_lm(path).eval(), load_tokenizer(path)
        prompts = [row["messages"][:1] for row in load_dialogues()[: args.prompts]]
        _time(model, tokenizer, prompts[:2], k=args.k, batch_size=2, max_new_tokens=8)  # warm-up
        kw = {"k": args.k, "max_new_tokens": args.max_new_tokens}
        one_s, n_one = _time(model, tokenizer, prompts, batch_size=1, **kw)
        batch_s, n_batch = _time(model, tokenizer, prompts, batch_size=args.batch_size, **kw)
    one_rate, batch_rate = n_one / one_s, n_batch / batch_s
    print(f"model={path if args.model else 'tiny policy (built)'} prompts={args.prompts} k={args.k} "
          f"max_new_tokens={args.max_new_tokens} torch_threads={torch.get_num_threads()}")
    print(f"one prompt at a time : {n_one} responses in {one_s:6.2f} s = {one_rate:7.1f} responses/s")
    print(f"batched ({args.batch_size:>3} prompts): {n_batch} responses in {batch_s:6.2f} s = {batch_rate:7.1f} responses/s")
    print(f"speed-up: {batch_rate / one_rate:.1f}x (target >= 4x)")


if __name__ == "__main__":
    main()
