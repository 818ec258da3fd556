"""The leaves every job module shares: exit codes, the errors a job explains, field checks, rank.

Kept free of other job modules so tracking, memory and checkpoints can import it without a cycle.
"""

from __future__ import annotations

import os
from typing import Any

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_CONFIG = 2


class JobError(Exception):
    """A failure the job can explain in one sentence (shown to the user as the run's error)."""


class ConfigError(JobError):
    """The config is invalid; the message names the field."""


class ModelLoadError(JobError):
    """The model cannot be loaded safely (missing, pickle-only, remote code, ...)."""


def check_range(name: str, value: Any, *, low: float | None = None, high: float | None = None, kind: type | tuple = (int, float)) -> None:
    """Raise ConfigError naming the field unless low <= value <= high and of the right type."""
    if isinstance(value, bool) or not isinstance(value, kind):
        raise ConfigError(f"{name}: expected {getattr(kind, '__name__', 'a number')}, got {value!r}")
    if low is not None and value < low:
        raise ConfigError(f"{name}: must be >= {low}, got {value}")
    if high is not None and value > high:
        raise ConfigError(f"{name}: must be <= {high}, got {value}")


def is_main_process() -> bool:
    """True on rank 0 (or when not distributed): only it writes metrics and outputs."""
    return int(os.environ.get("RANK", os.environ.get("LOCAL_RANK", "0"))) == 0
