"""Draw a comparison's K candidates from several sources (the policy plus named models or endpoints).

A source is `{"name": ..., "model": ..., "base_url": ..., "api_key_env": ...}`: with a base_url
it is an OpenAI-compatible endpoint serving `model`; without one, `model` is a local directory
(or hub id) sampled in-process. The name "policy" stands for the job's own policy and backend.
K is split as evenly as the sources allow (K=4 over 2 sources: 2 each); answers are interleaved
in source order and each is tagged with its source's name, as Chatbot Arena tags its battles.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from training.jobs.backends import check_endpoint, check_env_name
from training.jobs.backends.base import Backend, Messages, OnBatch, Sample, SamplingParams
from training.jobs.common import ConfigError

POLICY = "policy"
_KEYS = frozenset({"name", "model", "base_url", "api_key_env"})
_SEED_STRIDE = 7919  # each source draws from its own seed; the policy keeps the job's seed


@dataclass(frozen=True)
class SourceSpec:
    """One place candidates come from."""

    name: str
    model: str = ""  # local dir / hub id (in-process), or the endpoint's served model name
    base_url: str = ""  # set: an OpenAI-compatible endpoint
    api_key_env: str = ""

    @property
    def is_policy(self) -> bool:
        return self.name == POLICY


def _spec(index: int, item: Any) -> SourceSpec:
    where = f"sources[{index}]"
    if not isinstance(item, dict):
        raise ConfigError(f"{where}: expected an object like {{\"name\": \"policy\"}}, got {item!r}")
    unknown = sorted(set(item) - _KEYS)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(_KEYS))}")
    if not all(isinstance(item.get(key, ""), str) for key in _KEYS):
        raise ConfigError(f"{where}: name, model, base_url and api_key_env must be text")
    spec = SourceSpec(**item)
    if not spec.name.strip() or len(spec.name) > 100:
        raise ConfigError(f"{where}.name: give each source a short name (1-100 characters)")
    if spec.is_policy:
        if spec.model or spec.base_url:
            raise ConfigError(f'{where}: "policy" is the run\'s own policy; give other sources another name')
        return spec
    if not spec.model.strip():
        raise ConfigError(f"{where}.model: name the model (a local directory, or the endpoint's model name)")
    if spec.base_url:
        check_endpoint(f"{where}.base_url", spec.base_url)
    check_env_name(f"{where}.api_key_env", spec.api_key_env)
    return spec


def parse_sources(raw: Any, *, k: int) -> list[SourceSpec]:
    """Validate the `sources` config field ([] = the policy alone); ConfigError names the bad entry."""
    if not isinstance(raw, list):
        raise ConfigError("sources: expected a list of sources")
    specs = [_spec(i, item) for i, item in enumerate(raw)]
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise ConfigError("sources: every source needs its own name")
    if len(specs) > k:
        raise ConfigError(f"sources: {len(specs)} sources cannot share k={k} responses per prompt")
    return specs


def split_k(k: int, n: int) -> list[int]:
    """Share k answers among n sources, the first ones taking the remainder."""
    return [k // n + (i < k % n) for i in range(n)]


def draw(sources: Sequence[tuple[SourceSpec, Backend]], prompts: Sequence[Messages], *, k: int, params: SamplingParams,
         on_batch: OnBatch | None = None) -> list[list[Sample]]:
    """Sample k answers per prompt across the sources; tag each with `extra["source"]`, interleaved."""
    counts = split_k(k, len(sources))
    per_source: list[list[list[Sample]]] = []
    for index, ((spec, backend), count) in enumerate(zip(sources, counts, strict=True)):
        seeded = params if spec.is_policy else replace(params, seed=params.seed + _SEED_STRIDE * (index + 1))
        grouped = backend.generate(prompts, k=count, params=seeded, on_batch=_scaled(on_batch, index, len(sources)))
        for group in grouped:
            for sample in group:
                sample.extra.update(source=spec.name, model=spec.model or None)
        per_source.append(grouped)
    return [_interleave([groups[p] for groups in per_source]) for p in range(len(prompts))]


def _interleave(lists: list[list[Sample]]) -> list[Sample]:
    out: list[Sample] = []
    for i in range(max(len(items) for items in lists)):
        out.extend(items[i] for items in lists if i < len(items))
    return out


def _scaled(on_batch: OnBatch | None, index: int, n: int) -> OnBatch | None:
    """Report one source's progress as its share of the whole."""
    if on_batch is None:
        return None
    report: Callable[[int, int], None] = on_batch
    return lambda done, total: report(index * total + done, n * total)
