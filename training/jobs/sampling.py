"""Batched chat sampling and scoring shared by the generate and evaluate jobs.

Import inside a job's `main` (pulls in torch). Prompts are lists of chat messages; the
tokenizer's chat template renders them, padded on the left so every prompt ends where
generation starts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from training.jobs.common import context_limit

Messages = list[dict[str, str]]


@dataclass(frozen=True)
class SamplingParams:
    """How to sample; stored next to every response so a comparison can be reproduced."""

    temperature: float = 0.8
    top_p: float = 0.95
    max_new_tokens: int = 64
    seed: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"temperature": self.temperature, "top_p": self.top_p, "max_new_tokens": self.max_new_tokens,
                "seed": self.seed}


@dataclass
class Sample:
    """One sampled response: decoded text plus the token ids needed to score it later."""

    text: str
    prompt_ids: list[int]
    response_ids: list[int]
    finished: bool  # ended with EOS rather than hitting max_new_tokens
    extra: dict[str, Any] = field(default_factory=dict)


def chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def encode_prompts(tokenizer, prompts: Sequence[Messages], device: str) -> dict[str, torch.Tensor]:  # type: ignore[no-untyped-def]
    """Render prompts with the chat template (generation prompt on) as a left-padded batch."""
    tokenizer.padding_side = "left"
    enc = tokenizer.apply_chat_template(
        list(prompts), add_generation_prompt=True, padding=True, return_tensors="pt", return_dict=True,
    )
    return {k: v.to(device) for k, v in enc.items() if k in ("input_ids", "attention_mask")}


def _split_response(ids: list[int], *, eos_ids: set[int], pad_id: int | None) -> tuple[list[int], bool]:
    """Cut a generated continuation at its first EOS (kept) and drop the padding after it."""
    for i, tok in enumerate(ids):
        if tok in eos_ids:
            return ids[: i + 1], True
    if pad_id is not None:
        while ids and ids[-1] == pad_id:
            ids = ids[:-1]
    return ids, False


def _eos_ids(model, tokenizer) -> set[int]:  # type: ignore[no-untyped-def]
    ids = model.generation_config.eos_token_id
    found = set(ids if isinstance(ids, list) else [ids] if ids is not None else [])
    if tokenizer.eos_token_id is not None:
        found.add(tokenizer.eos_token_id)
    return found


class NucleusByThreshold:
    """Top-p (nucleus) filtering that finds each row's probability threshold by bisection.

    Keeps the smallest set of most likely tokens whose mass reaches top_p, like transformers'
    TopPLogitsWarper, but without sorting the vocabulary: on CPU a (rows x vocab) sort costs more
    than the model step itself for small models and large batches, and it grows with the batch.
    Bisection needs only elementwise compares and row sums; 30 halvings pin the threshold below
    float32 resolution, so the kept set matches the sorted one except for exact probability ties.
    """

    def __init__(self, top_p: float, iterations: int = 30) -> None:
        self.top_p = top_p
        self.iterations = iterations

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        if self.top_p >= 1.0:
            return scores
        probs = torch.softmax(scores.float(), dim=-1)
        lo = torch.zeros(probs.shape[0], 1, dtype=probs.dtype, device=probs.device)  # mass(lo) >= top_p always
        hi = probs.max(dim=-1, keepdim=True).values
        # hi itself may already hold enough mass (one dominant token): then keep exactly that token.
        lo = torch.where((probs * (probs >= hi)).sum(-1, keepdim=True) >= self.top_p, hi, lo)
        for _ in range(self.iterations):
            mid = (lo + hi) / 2
            enough = (probs * (probs >= mid)).sum(-1, keepdim=True) >= self.top_p
            lo = torch.where(enough, mid, lo)
            hi = torch.where(enough, hi, mid)
        return scores.masked_fill(probs < lo, float("-inf"))


@torch.no_grad()
def sample_batch(model, tokenizer, prompts: Sequence[Messages], *, k: int, params: SamplingParams,  # type: ignore[no-untyped-def]
                 device: str) -> list[list[Sample]]:
    """Sample k responses for each prompt in one generate() call; return them grouped per prompt."""
    enc = encode_prompts(tokenizer, prompts, device)
    limit = context_limit(model)
    if limit is not None and enc["input_ids"].shape[1] + params.max_new_tokens > limit:
        # Left padding: the last columns hold every prompt's end, which is what the answer follows.
        keep = max(limit - params.max_new_tokens, 1)
        enc = {k: v[:, -keep:] for k, v in enc.items()}
    out = model.generate(
        **enc,
        do_sample=params.temperature > 0,
        temperature=params.temperature if params.temperature > 0 else None,
        top_p=None,  # applied by NucleusByThreshold below, after temperature
        top_k=None,
        logits_processor=[NucleusByThreshold(params.top_p)] if params.temperature > 0 else None,
        max_new_tokens=params.max_new_tokens,
        num_return_sequences=k,
        pad_token_id=tokenizer.pad_token_id,
    )
    width = enc["input_ids"].shape[1]
    eos_ids, pad_id = _eos_ids(model, tokenizer), tokenizer.pad_token_id
    grouped: list[list[Sample]] = [[] for _ in prompts]
    for row, seq in enumerate(out.tolist()):
        p = row // k
        prompt_ids = [t for t, m in zip(enc["input_ids"][p].tolist(), enc["attention_mask"][p].tolist(), strict=True) if m]
        response_ids, finished = _split_response(seq[width:], eos_ids=eos_ids, pad_id=pad_id)
        text = tokenizer.decode(response_ids, skip_special_tokens=True).strip()
        grouped[p].append(Sample(text=text, prompt_ids=prompt_ids, response_ids=response_ids, finished=finished))
    return grouped


def sample_all(model, tokenizer, prompts: Sequence[Messages], *, k: int, params: SamplingParams,  # type: ignore[no-untyped-def]
               device: str, batch_size: int,
               on_batch: Callable[[int, int], None] | None = None) -> list[list[Sample]]:
    """Sample k responses for every prompt, batch_size prompts per generate() call (seeded once)."""
    torch.manual_seed(params.seed)
    results: list[list[Sample]] = []
    for batch in chunks(prompts, batch_size):
        results.extend(sample_batch(model, tokenizer, batch, k=k, params=params, device=device))
        if on_batch is not None:
            on_batch(len(results), len(prompts))
    return results


def _pad_right(seqs: Sequence[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = torch.tensor(s, dtype=torch.long)
        mask[i, : len(s)] = 1
    return ids, mask


@torch.no_grad()
def response_logprobs(model, samples: Sequence[Sample], *, pad_id: int, device: str,  # type: ignore[no-untyped-def]
                      batch_size: int = 16) -> list[torch.Tensor]:
    """Return, per sample, the log-probability the model gives each response token (float32, CPU)."""
    out: list[torch.Tensor] = []
    for batch in chunks(samples, batch_size):
        ids, mask = _pad_right([s.prompt_ids + s.response_ids for s in batch], pad_id)
        logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits.float()
        logps = torch.log_softmax(logits[:, :-1], dim=-1).gather(-1, ids[:, 1:].to(device).unsqueeze(-1)).squeeze(-1)
        for i, s in enumerate(batch):
            start = len(s.prompt_ids) - 1  # logits at position t predict token t+1
            out.append(logps[i, start:start + len(s.response_ids)].cpu())
    return out


@torch.no_grad()
def reward_scores(reward_model, tokenizer, conversations: Sequence[Messages], *, device: str,  # type: ignore[no-untyped-def]
                  batch_size: int = 16, max_length: int = 512) -> list[float]:
    """Score full conversations (prompt + assistant answer) with a one-output reward model."""
    scores: list[float] = []
    limit = context_limit(reward_model)
    max_length = min(max_length, limit) if limit else max_length
    tokenizer.padding_side = "left"  # the classifier reads the last non-pad token either way
    for batch in chunks(conversations, batch_size):
        enc = tokenizer.apply_chat_template(list(batch), padding=True, truncation=True, max_length=max_length,
                                            return_tensors="pt", return_dict=True)
        logits = reward_model(input_ids=enc["input_ids"].to(device),
                              attention_mask=enc["attention_mask"].to(device)).logits
        scores.extend(logits[:, 0].float().cpu().tolist())
    return scores
