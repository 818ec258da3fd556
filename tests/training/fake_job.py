"""A fake model job for runner tests: `python -m tests.training.fake_job --config run.json`.

It follows the job contract (config dataclass, metrics.jsonl, atomic output dir, result.json,
exit codes) without torch, and misbehaves on request (`mode`) so tests can watch the runner cope.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from training.jobs import common

MODES = ("ok", "fail", "hang", "stubborn", "selfkill", "no_output")


@dataclass(frozen=True)
class FakeJobConfig:
    run_dir: str = ""
    output_dir: str = ""
    model: str = ""
    mode: str = "ok"  # ok | fail (exit 1) | hang | stubborn (ignores SIGTERM) | selfkill (SIGKILL mid-save)
    steps: int = 3
    step_s: float = 0.02
    learning_rate: float = 1e-3

    def validate(self) -> None:
        if self.mode not in MODES:
            raise common.ConfigError(f"mode: must be one of {', '.join(MODES)}, got {self.mode!r}")
        common.check_range("steps", self.steps, low=1, high=1000, kind=int)
        common.check_range("learning_rate", self.learning_rate, low=0.0, high=1.0)


CONFIG_CLASS = FakeJobConfig
SYSTEM_FIELDS = frozenset({"run_dir", "output_dir", "model"})


def train_steps(config, metrics: common.MetricsWriter) -> None:  # type: ignore[no-untyped-def]
    """Log a falling loss, one line per step."""
    for step in range(1, config.steps + 1):
        metrics.write(step, step / config.steps, loss=1.0 / step, accuracy=0.5 + 0.1 * step)
        time.sleep(config.step_s)
        if config.mode == "fail" and step == 1:
            print("loading data... fine", file=sys.stderr)
            raise common.JobError("fake failure at step 1: the data ran out")
        if config.mode in ("hang", "stubborn"):
            if config.mode == "stubborn":
                signal.signal(signal.SIGTERM, signal.SIG_IGN)
            print("hanging on purpose", file=sys.stderr, flush=True)
            while True:
                time.sleep(0.1)


def main(config: FakeJobConfig) -> None:
    metrics = common.MetricsWriter(Path(config.run_dir) / "metrics.jsonl")
    print(f"starting from {config.model}", flush=True)
    train_steps(config, metrics)
    if config.mode == "no_output":
        return
    with common.atomic_output_dir(config.output_dir) as tmp:
        (tmp / "config.json").write_text(json.dumps({"model_type": "fake"}))
        (tmp / "model.safetensors").write_bytes(b"half")
        if config.mode == "selfkill":
            os.kill(os.getpid(), signal.SIGKILL)  # like the OOM killer, in the middle of saving
        (tmp / "model.safetensors").write_bytes(b"fake weights")
    common.write_json(Path(config.run_dir) / "result.json", {"eval_accuracy": 0.9, "started_from": config.model})


if __name__ == "__main__":
    sys.exit(common.run_job(main, FakeJobConfig))
