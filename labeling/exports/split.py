"""Train/test split by prompt, never by pair: seeded, deterministic, and streamable."""

from __future__ import annotations

import hashlib

TRAIN = "train"
TEST = "test"
SPLITS = (TRAIN, TEST)


def split_of(prompt_hash: str, *, seed: int, test_fraction: float) -> str:
    """Return "train" or "test" for a prompt.

    The decision depends only on the prompt's content hash and the seed, so every pair of a
    prompt lands on the same side, the split needs no state while streaming, and it stays
    stable when new prompts arrive (old prompts never change sides).
    """
    if test_fraction <= 0:
        return TRAIN
    digest = hashlib.sha256(f"{seed}:{prompt_hash}".encode()).digest()
    bucket = int.from_bytes(digest[:8], "big") / 2**64
    return TEST if bucket < test_fraction else TRAIN
