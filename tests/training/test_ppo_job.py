"""The PPO job end to end: config checks, learning on the tiny policy, and two processes."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest

from tests.training.rl_helpers import brevity_reward_model, read_metrics, weights_changed, write_prompts
from training.jobs import common
from training.jobs.ppo import CONFIG_CLASS, SYSTEM_FIELDS, PPOJobConfig, main
from training.jobs.rl.prompt_budget import prompt_token_ids

ROOT = Path(__file__).resolve().parents[2]
SYSTEM = {"run_dir": "r", "output_dir": "o", "model": "m", "reward_model": "rm", "prompts_file": "p"}
PER_UPDATE_KEYS = {"reward", "kl", "entropy", "clipfrac", "approxkl", "value_loss", "policy_loss", "response_length", "eos_rate", "progress"}


def test_config_names_the_bad_field():
    assert CONFIG_CLASS is PPOJobConfig and SYSTEM_FIELDS <= {f.name for f in fields(PPOJobConfig)}
    with pytest.raises(common.ConfigError, match="mini_batch_size"):
        common.config_from_dict(PPOJobConfig, {**SYSTEM, "batch_size": 6, "mini_batch_size": 4})
    with pytest.raises(common.ConfigError, match="cliprange"):
        common.config_from_dict(PPOJobConfig, {**SYSTEM, "cliprange": -0.1})
    with pytest.raises(common.ConfigError, match="adaptive_kl"):
        common.config_from_dict(PPOJobConfig, {**SYSTEM, "adaptive_kl": "yes"})
    with pytest.raises(common.ConfigError, match="ppo_steps"):
        common.config_from_dict(PPOJobConfig, {**SYSTEM, "ppo_steps": 3})
    assert common.config_from_dict(PPOJobConfig, {**SYSTEM, "adaptive_kl": True, "target_kl": 3.0}).target_kl == 3.0


def test_rl_jobs_do_not_import_django():
    for path in [ROOT / "training/jobs/ppo.py", ROOT / "training/jobs/rewards.py", *sorted((ROOT / "training/jobs/rl").glob("*.py"))]:
        imports = re.findall(r"^\s*(?:from|import)\s+([\w.]+)", path.read_text(), flags=re.MULTILINE)
        assert not [m for m in imports if m.split(".")[0] in {"django", "labeling", "rest_framework"}], path


def test_bad_prompts_file_fails_with_the_line_number(tmp_path, tiny_policy):
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text('{"prompt": [{"role": "user", "content": "hi"}]}\n{"prompt": "not messages"}\n')
    config = PPOJobConfig(run_dir=str(tmp_path / "run"), output_dir=str(tmp_path / "out"), model=str(tiny_policy),
                          reward_model=str(tiny_policy), prompts_file=str(prompts))
    with pytest.raises(common.JobError, match="line 2"):
        main(config)
    assert not (tmp_path / "out").exists()


def test_ppo_keeps_the_end_of_a_prompt_longer_than_the_context_allows_and_says_so(tmp_path, tiny_policy):
    prompts = write_prompts(tmp_path / "prompts.jsonl", n=3)
    long = [{"role": "user", "content": " ".join(["The quick brown fox jumps over the lazy dog."] * 60) + " What season is warm?"}]
    with prompts.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps({"prompt_id": 3, "prompt": long}) + "\n")
    config = PPOJobConfig(run_dir=str(tmp_path / "run"), output_dir=str(tmp_path / "out"), model=str(tiny_policy),
                          reward_model=str(tiny_policy), prompts_file=str(prompts), total_episodes=4, batch_size=4,
                          mini_batch_size=4, ppo_epochs=1, response_length=8, learning_rate=1e-4)
    main(config)  # one update samples all four prompts: the long one included, without indexing past 256 positions

    result = json.loads((tmp_path / "run" / "result.json").read_text())
    assert result["hyperparameters"] == {"max_prompt_length": 248} and result["max_prompt_length"] == 248
    assert result["defaults"].startswith("auto: max_prompt_length 248 ")
    cut = len(prompt_token_ids(common.load_tokenizer(str(tiny_policy)), long)) - 248
    assert [w["message"] for w in result["data_warnings"]] == [
        "Truncated 1 of 4 prompts to their last 248 tokens (max_prompt_length, auto: the policy's context of 256 tokens "
        f"less response_length 8); {cut} tokens were cut from their starts."
    ]
    assert {"truncated_prompts": 1, "split": "train"}.items() <= read_metrics(tmp_path / "run")[0].items()
    assert (tmp_path / "out" / "COMPLETE").exists()


def test_ppo_refuses_a_response_length_that_fills_the_policy_s_context(tmp_path, tiny_policy):
    config = PPOJobConfig(run_dir=str(tmp_path / "run"), output_dir=str(tmp_path / "out"), model=str(tiny_policy),
                          reward_model=str(tiny_policy), prompts_file=str(write_prompts(tmp_path / "p.jsonl", n=4)),
                          response_length=256)
    with pytest.raises(common.JobError, match="response_length: 256 does not fit the policy's context of 256 tokens"):
        main(config)
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_ppo_raises_the_reward_with_bounded_kl_and_saves_a_loadable_policy(tmp_path, tiny_policy, tmp_path_factory):
    reward_model = brevity_reward_model(tiny_policy, tmp_path_factory.mktemp("rm"))
    config = PPOJobConfig(
        run_dir=str(tmp_path / "run"), output_dir=str(tmp_path / "out"), model=str(tiny_policy),
        reward_model=str(reward_model), prompts_file=str(write_prompts(tmp_path / "prompts.jsonl")),
        total_episodes=96, batch_size=16, mini_batch_size=8, ppo_epochs=4, response_length=16,
        learning_rate=1e-3, kl_coef=0.05,
    )
    main(config)
    rows = read_metrics(tmp_path / "run")
    assert len(rows) == 6 and all(PER_UPDATE_KEYS <= set(r) for r in rows)
    assert rows[-1]["progress"] == 1.0 and rows[0]["kl"] == 0.0
    result = json.loads((tmp_path / "run" / "result.json").read_text())
    late = (rows[-1]["reward"] + rows[-2]["reward"]) / 2
    assert late > rows[0]["reward"] + 1.0, [(r["reward"], r["kl"]) for r in rows]
    assert result["initial_reward"] == rows[0]["reward"] and result["final_reward"] == rows[-1]["reward"]
    assert max(r["kl"] for r in rows) < 8.0  # nats per response: the KL penalty holds the policy near the reference
    out = tmp_path / "out"
    assert (out / "COMPLETE").exists() and weights_changed(tiny_policy, out)
    assert common.load_causal_lm(str(out)) is not None and common.load_tokenizer(str(out)).eos_token == "<|end|>"


@pytest.mark.slow
def test_ppo_runs_in_two_processes_with_torchrun(tmp_path, tiny_policy, tmp_path_factory):
    reward_model = brevity_reward_model(tiny_policy, tmp_path_factory.mktemp("rm"))
    config = {
        "run_dir": str(tmp_path / "run"), "output_dir": str(tmp_path / "out"), "model": str(tiny_policy),
        "reward_model": str(reward_model), "prompts_file": str(write_prompts(tmp_path / "prompts.jsonl", n=16)),
        "total_episodes": 16, "batch_size": 4, "mini_batch_size": 2, "ppo_epochs": 1, "response_length": 8,
        "learning_rate": 1e-3, "adaptive_kl": True, "target_kl": 0.5, "kl_horizon": 10,
    }
    (tmp_path / "config.json").write_text(json.dumps(config))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--standalone",
           "-m", "training.jobs.ppo", "--config", str(tmp_path / "config.json")]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = read_metrics(tmp_path / "run")
    assert [r["step"] for r in rows] == [1, 2]  # 16 episodes / (4 per process x 2 processes)
    assert rows[-1]["episodes"] == 16
    assert rows[1]["kl_coef"] < rows[0]["kl_coef"]  # KL 0 < target: the adaptive controller lowers beta
    assert weights_changed(tiny_policy, tmp_path / "out")
    assert common.load_causal_lm(str(tmp_path / "out")) is not None
