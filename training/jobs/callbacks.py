"""Trainer callbacks shared by the training jobs (dpo, reward, sft, ppo, rloo, grpo, bootstrap).

Import this module inside a job's `main`: it imports transformers at load time.
"""

from __future__ import annotations

import math
from typing import Any

from transformers import TrainerCallback

from training.jobs.metrics import MetricsWriter

# Trainer log keys that are bookkeeping, not metrics worth a chart.
_SKIP_KEYS = frozenset({"epoch_float", "total_flos"})


def numeric_logs(logs: dict[str, Any] | None) -> dict[str, float]:
    """Keep the finite numbers from a Trainer log dict (drop strings, NaN and bookkeeping keys)."""
    out: dict[str, float] = {}
    for key, value in (logs or {}).items():
        if key in _SKIP_KEYS or isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        if math.isfinite(float(value)):
            out[key.replace("/", "_")] = float(value)
    return out


class MetricsCallback(TrainerCallback):
    """Write every Trainer log line to metrics.jsonl with progress = global_step / max_steps.

    `progress_scale` and `progress_offset` map the trainer's own 0..1 onto a slice of the job's
    progress, for jobs that do more than train (e.g. evaluate before and after).
    """

    def __init__(self, writer: MetricsWriter, *, progress_offset: float = 0.0, progress_scale: float = 1.0,
                 prefix: str = "") -> None:
        self.writer = writer
        self.progress_offset = progress_offset
        self.progress_scale = progress_scale
        self.prefix = prefix

    def _progress(self, state: Any) -> float:
        fraction = state.global_step / state.max_steps if state.max_steps else 0.0
        return self.progress_offset + self.progress_scale * min(fraction, 1.0)

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        if not state.is_world_process_zero:
            return
        values = {f"{self.prefix}{k}": v for k, v in numeric_logs(logs).items()}
        if values:
            self.writer.write(state.global_step, self._progress(state), **values)
