"""Data longer than the model's context trains and generates instead of crashing the job.

The demo's hand-written answers are longer than the tiny policy's 256 positions: before the
jobs clamped lengths to the model's context, DPO died with "index out of range" on them.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.training.jobs_helpers import make_preference_rows, read_jsonl, write_jsonl
from training.jobs import common, dpo, reward
from training.jobs.sampling import SamplingParams, sample_all

LONG = " ".join(["The quick brown fox jumps over the lazy dog."] * 60)  # ~600 tokens in the tiny BPE


def _long_rows(n: int) -> list[dict]:
    rows = make_preference_rows(n, seed=3)
    for row in rows[: n // 2]:
        row["rejected"] = [{"role": "assistant", "content": LONG}]
    return rows


def test_dpo_and_reward_jobs_train_on_pairs_longer_than_the_context(tmp_path: Path, tiny_policy: Path) -> None:
    assert common.context_limit(common.load_causal_lm(str(tiny_policy))) == 256
    train = write_jsonl(tmp_path / "train.jsonl", _long_rows(16))
    held_out = write_jsonl(tmp_path / "eval.jsonl", _long_rows(8))
    base = {"model": str(tiny_policy), "train_file": str(train), "eval_file": str(held_out), "max_steps": 2,
            "per_device_train_batch_size": 4}
    dpo.main(dpo.DPOJobConfig(**base, output_dir=str(tmp_path / "dpo"), run_dir=str(tmp_path / "run-dpo")))
    reward.main(reward.RewardJobConfig(**base, output_dir=str(tmp_path / "rm"), run_dir=str(tmp_path / "run-rm")))
    assert (tmp_path / "dpo" / "COMPLETE").exists() and (tmp_path / "rm" / "COMPLETE").exists()


def test_a_run_that_drops_or_truncates_long_pairs_says_how_many_and_why(tmp_path: Path, tiny_policy: Path) -> None:
    train = write_jsonl(tmp_path / "train.jsonl", _long_rows(16))
    base = {"model": str(tiny_policy), "train_file": str(train), "eval_fraction": 0.0, "max_steps": 1,
            "per_device_train_batch_size": 4}
    reward.main(reward.RewardJobConfig(**base, output_dir=str(tmp_path / "rm"), run_dir=str(tmp_path / "run-rm")))
    dpo.main(dpo.DPOJobConfig(**base, output_dir=str(tmp_path / "dpo"), run_dir=str(tmp_path / "run-dpo")))

    dropped = json.loads((tmp_path / "run-rm" / "result.json").read_text())["data_warnings"]
    assert [w["message"] for w in dropped] == [
        "Dropped 8 of 16 train pairs: longer than max_length 256 tokens (the model's context window); "
        "they were not trained on."
    ]
    assert {"dropped_pairs": 8, "split": "train"}.items() <= read_jsonl(tmp_path / "run-rm" / "metrics.jsonl")[0].items()
    truncated = json.loads((tmp_path / "run-dpo" / "result.json").read_text())["data_warnings"]
    assert [(w["action"], w["count"], w["of"]) for w in truncated] == [("truncated", 8, 16)]


def test_generation_keeps_the_end_of_a_prompt_longer_than_the_context(tiny_policy: Path) -> None:
    model, tokenizer = common.load_causal_lm(str(tiny_policy)), common.load_tokenizer(str(tiny_policy))
    prompts = [[{"role": "user", "content": LONG + " What is the capital of France?"}]]
    params = SamplingParams(max_new_tokens=16, seed=0)
    grouped = sample_all(model, tokenizer, prompts, k=2, params=params, device="cpu", batch_size=1)
    assert len(grouped[0]) == 2
    assert all(len(s.response_ids) <= 16 for s in grouped[0])
