"""A fake online-RL job (ppo, rloo, grpo) for flow tests: it reads the current reward model and the prompts as the real ones do.

Like fake_job (no torch), plus the system fields an RL job declares, so the runner must fill
`reward_model` (the project's current reward model, or the run's) and write the prompts file.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

from training.jobs import common


@dataclass(frozen=True)
class FakeRLJobConfig:
    run_dir: str = ""
    output_dir: str = ""
    model: str = ""
    reward_model: str = ""
    prompts_file: str = ""
    steps: int = 3
    learning_rate: float = 3e-6

    def validate(self) -> None:
        common.check_range("steps", self.steps, low=1, high=1000, kind=int)


CONFIG_CLASS = FakeRLJobConfig
SYSTEM_FIELDS = frozenset({"run_dir", "output_dir", "model", "reward_model", "prompts_file"})


def main(config: FakeRLJobConfig) -> None:
    if not Path(config.reward_model).is_dir():
        raise common.JobError(f"reward_model: {config.reward_model!r} is not a model directory")
    prompts = list(common.read_jsonl(config.prompts_file))
    metrics = common.MetricsWriter(Path(config.run_dir) / "metrics.jsonl")
    for step in range(1, config.steps + 1):
        metrics.write(step, step / config.steps, reward=-0.2 + 0.4 * step, kl=0.1 * (step - 1))
    with common.atomic_output_dir(config.output_dir) as tmp:
        (tmp / "config.json").write_text(json.dumps({"model_type": "fake"}))
        (tmp / "model.safetensors").write_bytes(b"fake weights")
    common.write_json(Path(config.run_dir) / "result.json",
                      {"started_from": config.model, "reward_model": config.reward_model, "prompts": len(prompts)})


if __name__ == "__main__":
    sys.exit(common.run_job(main, FakeRLJobConfig))
