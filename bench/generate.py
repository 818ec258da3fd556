"""Benchmark the generation backends: PrefLoop's in-process sampler vs plain `model.generate`, and an endpoint.

    python bench/generate.py [--model DIR] [--prompts 32] [--k 4] [--batch-size 16] [--max-new-tokens 48]
                             [--rounds 3] [--skip-endpoint] [--serve-port 8765]

1. Same prompts, batches and sampling parameters (temperature 0.8, top-p 0.95, no top-k) through
   (a) plain transformers: apply_chat_template -> model.generate(do_sample=True, num_return_sequences=k)
   -> batch_decode, and (b) PrefLoop's TransformersBackend (training/jobs/backends/local.py), on
   the tiny policy (512-token vocabulary) and on a randomly initialised Llama with a 32k
   vocabulary (built here, no download). Rounds alternate (a) and (b); the median is reported.
   Target: ratio (b)/(a) >= 1.0 on both.
2. The endpoint backend (training/jobs/backends/endpoint.py) against a real OpenAI-compatible
   server on this machine: `transformers serve` with the tiny policy, at several concurrencies.
Without --model the tiny policy is built first (not timed).
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _tiny(path: str | None, workdir: Path) -> str:
    if path:
        return path
    from training.jobs.tinymodel import build_tiny_policy

    return str(build_tiny_policy(workdir / "policy", sft_steps=300, learning_rate=1e-2))


def _random_llama(tokenizer_dir: str, out: Path, vocab: int = 32000) -> str:
    """Save a random 2-layer Llama with a 32k vocabulary next to the tiny tokenizer (ids past it decode to nothing)."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tok = AutoTokenizer.from_pretrained(tokenizer_dir)
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=vocab, hidden_size=128, intermediate_size=256, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=512,
                         bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    LlamaForCausalLM(config).save_pretrained(out, safe_serialization=True)
    tok.save_pretrained(out)
    return str(out)


def _length(ids: list[int], eos: int, pad: int) -> int:
    for i, t in enumerate(ids):
        if t == eos:
            return i + 1
    return len([t for t in ids if t != pad])


def plain_generate(model, tok, prompts, *, k: int, batch_size: int, max_new_tokens: int, seed: int) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """What a user writes with plain transformers; returns (responses, generated tokens)."""
    import torch

    torch.manual_seed(seed)
    responses = tokens = 0
    for start in range(0, len(prompts), batch_size):
        enc = tok.apply_chat_template(prompts[start:start + batch_size], add_generation_prompt=True, padding=True,
                                      return_tensors="pt", return_dict=True)
        with torch.no_grad():
            out = model.generate(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"], do_sample=True,
                                 temperature=0.8, top_p=0.95, top_k=None, max_new_tokens=max_new_tokens,
                                 num_return_sequences=k, pad_token_id=tok.pad_token_id)
        new = out[:, enc["input_ids"].shape[1]:]
        tok.batch_decode(new, skip_special_tokens=True)
        responses += new.shape[0]
        tokens += sum(_length(row, tok.eos_token_id, tok.pad_token_id) for row in new.tolist())
    return responses, tokens


def prefloop_generate(backend, prompts, *, k: int, max_new_tokens: int, seed: int) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    from training.jobs.backends.base import SamplingParams

    grouped = backend.generate(prompts, k=k, params=SamplingParams(0.8, 0.95, max_new_tokens, seed))
    samples = [s for g in grouped for s in g]
    return len(samples), sum(s.length for s in samples)


def _timed(fn, *args, **kwargs) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    responses, tokens = fn(*args, **kwargs)
    elapsed = time.perf_counter() - started
    return responses / elapsed, tokens / elapsed


def compare(label: str, path: str, prompts, args) -> float:  # type: ignore[no-untyped-def]
    """Alternate plain and PrefLoop rounds on one model; print medians; return the responses/s ratio."""
    from training.jobs.backends.local import TransformersBackend

    backend = TransformersBackend(path, batch_size=args.batch_size, device="cpu")
    model, tok = backend.model, backend.tokenizer
    kw = {"k": args.k, "max_new_tokens": args.max_new_tokens}
    plain_generate(model, tok, prompts[:2], k=2, batch_size=2, max_new_tokens=4, seed=0)  # warm-up
    plain, ours = [], []
    for r in range(args.rounds):
        plain.append(_timed(plain_generate, model, tok, prompts, batch_size=args.batch_size, seed=r, **kw))
        ours.append(_timed(prefloop_generate, backend, prompts, seed=r, **kw))
    p_rate, o_rate = (statistics.median(x[0] for x in runs) for runs in (plain, ours))
    p_tok, o_tok = (statistics.median(x[1] for x in runs) for runs in (plain, ours))
    print(f"{label:<28} plain model.generate {p_rate:7.1f} responses/s {p_tok:8.0f} tokens/s | "
          f"PrefLoop in-process {o_rate:7.1f} responses/s {o_tok:8.0f} tokens/s | ratio {o_rate / p_rate:4.2f}")
    return o_rate / p_rate


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def endpoint(path: str, prompts, args) -> None:  # type: ignore[no-untyped-def]
    """Serve the tiny policy with `transformers serve` and time the endpoint backend against it."""
    from training.jobs.backends.endpoint import EndpointBackend, EndpointSettings

    port = args.serve_port or _free_port()
    exe = Path(sys.executable).with_name("transformers")
    server = subprocess.Popen([str(exe), "serve", path, "--port", str(port), "--device", "cpu", "--log-level", "warning"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ, HF_HUB_OFFLINE="1"))
    try:
        _wait_healthy(f"http://127.0.0.1:{port}/health", timeout=180)
        print(f"endpoint: transformers serve {path} on port {port}")
        for concurrency in (1, 4, 8):
            backend = EndpointBackend(EndpointSettings(f"http://127.0.0.1:{port}/v1", path, concurrency=concurrency))
            rate, tokens = _timed(prefloop_generate, backend, prompts, k=args.k, max_new_tokens=args.max_new_tokens, seed=0)
            print(f"  concurrency {concurrency}: {rate:6.1f} responses/s {tokens:7.0f} tokens/s")
    finally:
        server.terminate()
        server.wait(timeout=30)


def _wait_healthy(url: str, *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - localhost
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"transformers serve did not come up at {url} within {timeout:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model")
    parser.add_argument("--prompts", type=int, default=32)
    parser.add_argument("--llama-prompts", type=int, default=16, help="prompts for the (slower) 32k-vocabulary model")
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--skip-endpoint", action="store_true")
    parser.add_argument("--serve-port", type=int, default=0)
    args = parser.parse_args()

    import torch

    from training.jobs.tinymodel import load_dialogues

    prompts = [row["messages"][:1] for row in load_dialogues()[: args.prompts]]
    with tempfile.TemporaryDirectory() as tmp:
        tiny = _tiny(args.model, Path(tmp))
        llama = _random_llama(tiny, Path(tmp) / "llama32k")
        print(f"prompts={args.prompts} (llama {args.llama_prompts}) k={args.k} batch={args.batch_size} "
              f"max_new_tokens={args.max_new_tokens} rounds={args.rounds} torch_threads={torch.get_num_threads()}")
        ratios = [compare("tiny policy (vocab 512)", tiny, prompts, args),
                  compare("random Llama (vocab 32000)", llama, prompts[: args.llama_prompts], args)]
        print(f"target: ratio >= 1.0 on both -> {'met' if min(ratios) >= 1.0 else 'NOT met'}")
        if not args.skip_endpoint:
            endpoint(tiny, prompts, args)


if __name__ == "__main__":
    main()
