"""A fake generate job: K canned responses per prompt, in the generate job's output format."""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from training.jobs import common


@dataclass(frozen=True)
class FakeGenerateConfig:
    run_dir: str = ""
    prompts_file: str = ""
    output_file: str = ""
    model: str = ""
    k: int = 2
    temperature: float = 1.0
    seed: int = 0  # like the real job: each round draws a new one
    step_s: float = 0.0  # pause per prompt, so a browser can watch the progress bar move
    short_first: bool = False  # give the first prompt one response too few

    def validate(self) -> None:
        common.check_range("temperature", self.temperature, low=0.0, high=5.0)
        common.check_range("step_s", self.step_s, low=0.0, high=10.0)


CONFIG_CLASS = FakeGenerateConfig
SYSTEM_FIELDS = frozenset({"run_dir", "prompts_file", "output_file", "model", "k"})


def main(config: FakeGenerateConfig) -> None:
    metrics = common.MetricsWriter(Path(config.run_dir) / "metrics.jsonl")
    prompts = list(common.read_jsonl(config.prompts_file))
    tmp = Path(config.output_file + ".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        for i, row in enumerate(prompts):
            n = config.k - 1 if (config.short_first and i == 0) else config.k
            question = row["prompt"][-1]["content"]
            responses = [{"text": f"Answer {j} to <{question}>", "params": {"temperature": config.temperature}} for j in range(n)]
            fh.write(json.dumps({"prompt_id": row["prompt_id"], "responses": responses}) + "\n")
            metrics.write(i + 1, (i + 1) / len(prompts), responses_per_s=10.0 + i)
            time.sleep(config.step_s)
    os.replace(tmp, config.output_file)
    common.write_json(Path(config.run_dir) / "result.json", {"prompts": len(prompts)})


if __name__ == "__main__":
    sys.exit(common.run_job(main, FakeGenerateConfig))
