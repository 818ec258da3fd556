"""A fake evaluate job: reports the win rate it is told to, and which prompts and models it was given."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from training.jobs import common


@dataclass(frozen=True)
class FakeEvaluateConfig:
    run_dir: str = ""
    model: str = ""
    ref_model: str = ""
    reward_model: str = ""
    prompts_file: str = ""
    win_rate: float = 0.7  # what the fake evaluation "measures"
    fail: bool = False

    def validate(self) -> None:
        common.check_range("win_rate", self.win_rate, low=0.0, high=1.0)


CONFIG_CLASS = FakeEvaluateConfig
SYSTEM_FIELDS = frozenset({"run_dir", "model", "ref_model", "reward_model", "prompts_file"})


def main(config: FakeEvaluateConfig) -> None:
    if config.fail:
        raise common.JobError("fake evaluation failure")
    prompt_ids = [row["prompt_id"] for row in common.read_jsonl(config.prompts_file)]
    common.MetricsWriter(Path(config.run_dir) / "metrics.jsonl").write(1, 1.0, win_rate=config.win_rate)
    common.write_json(
        Path(config.run_dir) / "result.json",
        {
            "win_rate": config.win_rate,
            "mean_reward": 0.1,
            "kl_to_parent": 0.01,
            "model": config.model,
            "ref_model": config.ref_model,
            "prompt_ids": prompt_ids,
            "prompts": len(prompt_ids),  # as the real job reports it
        },
    )


if __name__ == "__main__":
    sys.exit(common.run_job(main, FakeEvaluateConfig))
