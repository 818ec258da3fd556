"""What every generation backend shares, free of torch: sampling parameters, samples, the interface."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

Messages = list[dict[str, str]]
OnBatch = Callable[[int, int], None]  # (prompts done, prompts in all)


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
    """One sampled response: decoded text plus the token ids needed to score it later.

    An endpoint returns text only: its ids are empty until `sampling.tokenize_samples` fills
    them with a local tokenizer, and `num_tokens` holds the count the server reported.
    """

    text: str
    prompt_ids: list[int]
    response_ids: list[int]
    finished: bool  # ended with EOS (or the server's "stop") rather than hitting max_new_tokens
    extra: dict[str, Any] = field(default_factory=dict)
    num_tokens: int | None = None

    @property
    def length(self) -> int:
        """Response length in tokens, however it was learnt."""
        return self.num_tokens if self.num_tokens is not None else len(self.response_ids)


class Backend(Protocol):
    """Samples k chat answers per prompt; returns them grouped per prompt, in prompt order."""

    name: str

    def generate(self, prompts: Sequence[Messages], *, k: int, params: SamplingParams,
                 on_batch: OnBatch | None = None) -> list[list[Sample]]: ...
