"""Fixtures for the training jobs: a tiny chat policy built once per test session, offline."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# One torch thread: the tiny models gain nothing from two, and on a busy 2-core machine two
# threads spin against each other (measured: sampling 5-10x slower). Set before torch loads.
os.environ.setdefault("OMP_NUM_THREADS", "1")

# Enough steps for the policy to learn the chat format and stop at EOS; a few seconds on 2 cores.
TINY_SFT_STEPS = 60
TINY_LEARNING_RATE = 1e-2  # high on purpose: few steps must still teach the format


@pytest.fixture(scope="session")
def tiny_policy_factory(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """Return build(seed=0, sft_steps=TINY_SFT_STEPS) -> Path, caching each variant for the session."""
    from training.jobs.tinymodel import build_tiny_policy

    cache: dict[tuple[int, int], Path] = {}

    def build(*, seed: int = 0, sft_steps: int = TINY_SFT_STEPS) -> Path:
        key = (seed, sft_steps)
        if key not in cache:
            root = tmp_path_factory.mktemp(f"tiny-policy-s{seed}-n{sft_steps}")
            cache[key] = build_tiny_policy(root / "policy", seed=seed, sft_steps=sft_steps,
                                           learning_rate=TINY_LEARNING_RATE)
        return cache[key]

    return build


@pytest.fixture(scope="session")
def tiny_policy(tiny_policy_factory: Callable[..., Path]) -> Path:
    """Path of a tiny GPT-2 chat policy (tokenizer + safetensors), built once per session."""
    return tiny_policy_factory()

