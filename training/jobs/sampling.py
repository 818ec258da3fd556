"""Batched chat sampling and scoring shared by the generate and evaluate jobs.

Import inside a job's `main` (pulls in torch). Prompts are lists of chat messages; the
tokenizer's chat template renders them, padded on the left so every prompt ends where
generation starts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch

from training.jobs.backends.base import Messages, Sample, SamplingParams
from training.jobs.common import context_limit

__all__ = ["Messages", "NucleusSampler", "Sample", "SamplingParams", "reward_scores", "response_logprobs", "sample_all",
           "tokenize_samples"]


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


class NucleusSampler:
    """Draw each row's next token from its top-p nucleus, and hand generate() a one-hot to take greedily.

    Exact nucleus sampling without sorting the vocabulary. A draw x from the full tempered
    distribution p lies in the nucleus iff the mass of the tokens more likely than x is below
    top_p (the set transformers' TopPLogitsWarper keeps, up to exact ties); a draw from p that
    is kept is a draw from the renormalised nucleus (rejection sampling, acceptance >= top_p).
    A draw costs one cumsum and a binary search per row, where the library sorts every row
    (on CPU a 64 x 32k sort costs ~20x the model's own lm_head) and then runs multinomial.
    Rows still rejected after `rounds` tries (chance <= (1-top_p)^rounds) fall back to a sort.
    """

    def __init__(self, temperature: float, top_p: float, rounds: int = 8) -> None:
        self.temperature = temperature
        self.top_p = top_p
        self.rounds = rounds

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        probs = torch.softmax(scores.float() / self.temperature, dim=-1)
        tokens = self.draw(probs)
        out = torch.full_like(scores, float("-inf"))
        return out.scatter_(1, tokens.unsqueeze(1), 0.0)

    def draw(self, probs: torch.Tensor) -> torch.Tensor:
        """Return one token id per row of probs (rows x vocab), sampled from each row's nucleus."""
        tokens = torch.empty(probs.shape[0], dtype=torch.long, device=probs.device)
        todo = torch.arange(probs.shape[0], device=probs.device)
        rows, cdf = probs, probs.cumsum(dim=-1)
        for _ in range(self.rounds):
            u = torch.rand(rows.shape[0], 1, device=rows.device, dtype=cdf.dtype) * cdf[:, -1:]
            pick = torch.searchsorted(cdf, u, right=True).squeeze(1).clamp_(max=rows.shape[1] - 1)
            if self.top_p >= 1.0:
                tokens[todo] = pick
                return tokens
            p_pick = rows.gather(1, pick.unsqueeze(1))
            kept = (rows * (rows > p_pick)).sum(dim=-1) < self.top_p
            tokens[todo[kept]] = pick[kept]
            if bool(kept.all()):
                return tokens
            todo, rows, cdf = todo[~kept], rows[~kept], cdf[~kept]
        tokens[todo] = _sorted_nucleus_draw(rows, self.top_p)
        return tokens


def _sorted_nucleus_draw(probs: torch.Tensor, top_p: float) -> torch.Tensor:
    """Sample from each row's nucleus the textbook way (sort, cut at top_p, renormalise)."""
    sorted_probs, order = torch.sort(probs, dim=-1, descending=True)
    above = sorted_probs.cumsum(dim=-1) - sorted_probs  # mass strictly before each token
    sorted_probs = sorted_probs.masked_fill(above >= top_p, 0.0)
    choice = torch.multinomial(sorted_probs, 1)
    return order.gather(1, choice).squeeze(1)


def _truncate_to_context(model, enc: dict[str, torch.Tensor], max_new_tokens: int) -> dict[str, torch.Tensor]:  # type: ignore[no-untyped-def]
    limit = context_limit(model)
    if limit is not None and enc["input_ids"].shape[1] + max_new_tokens > limit:
        # Left padding: the last columns hold every prompt's end, which is what the answer follows.
        keep = max(limit - max_new_tokens, 1)
        enc = {k: v[:, -keep:] for k, v in enc.items()}
    return enc


def generate_ids(model, enc: dict[str, torch.Tensor], *, k: int, params: SamplingParams,  # type: ignore[no-untyped-def]
                 pad_id: int | None) -> torch.Tensor:
    """Run generate() for k continuations of each encoded prompt; rows come out prompt-major."""
    enc = {name: t.repeat_interleave(k, dim=0) for name, t in enc.items()}  # what num_return_sequences does
    sampler = [NucleusSampler(params.temperature, params.top_p)] if params.temperature > 0 else None
    return model.generate(
        **enc,
        do_sample=False,  # NucleusSampler already drew the token; generate takes the one left standing
        temperature=None,
        top_p=None,
        top_k=None,
        logits_processor=sampler,
        max_new_tokens=params.max_new_tokens,
        pad_token_id=pad_id,
    )


@torch.no_grad()
def sample_batch(model, tokenizer, prompts: Sequence[Messages], *, k: int, params: SamplingParams,  # type: ignore[no-untyped-def]
                 device: str) -> list[list[Sample]]:
    """Sample k responses for each prompt in one generate() call; return them grouped per prompt."""
    enc = _truncate_to_context(model, encode_prompts(tokenizer, prompts, device), params.max_new_tokens)
    out = generate_ids(model, enc, k=k, params=params, pad_id=tokenizer.pad_token_id)
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


def tokenize_samples(tokenizer, prompts: Sequence[Messages], grouped: list[list[Sample]]) -> None:  # type: ignore[no-untyped-def]
    """Fill in the token ids of text-only samples (from an endpoint) with a local tokenizer, for scoring."""
    for prompt, group in zip(prompts, grouped, strict=True):
        prompt_ids = list(tokenizer.apply_chat_template(prompt, add_generation_prompt=True, tokenize=True,
                                                        return_dict=True)["input_ids"])
        for sample in group:
            if sample.response_ids:
                continue
            ids = tokenizer(sample.text, add_special_tokens=False)["input_ids"]
            sample.prompt_ids = prompt_ids
            sample.response_ids = ids + ([tokenizer.eos_token_id] if sample.finished and tokenizer.eos_token_id is not None else [])


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
