"""The evaluate job compares a new policy with its parent: win rate, rewards, KL, length."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.training.jobs_helpers import make_prompt_rows, run_job_module, write_jsonl
from training.jobs import common, evaluate

PROMPTS = ["What does a cat eat?", "How do I plant a seed?", "What is 3 plus 4?", "Tell me a joke.",
           "What color is snow?", "Good morning."]
KEYS = {"win_rate", "mean_reward", "parent_mean_reward", "kl_to_parent", "mean_length"}


@pytest.fixture(scope="module")
def reward_model(tiny_policy: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An (untrained, seeded) reward head on the policy backbone: enough to rank answers consistently."""
    import torch

    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("rm") / "rm"
    model = common.load_reward_model(str(tiny_policy))
    model.config.pad_token_id = common.load_tokenizer(str(tiny_policy)).pad_token_id
    model.save_pretrained(out)
    common.load_tokenizer(str(tiny_policy)).save_pretrained(out)
    return out


def _perturbed_copy(policy: Path, out: Path) -> Path:
    """Save a copy of the policy with noisy weights: a 'new' policy that differs from its parent."""
    import torch

    torch.manual_seed(1)
    model = common.load_causal_lm(str(policy))
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    model.save_pretrained(out)
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
        if (policy / name).exists():
            shutil.copy(policy / name, out / name)
    return out


def _config(tmp_path: Path, model: Path, parent: Path, reward_model: Path) -> dict:
    prompts = write_jsonl(tmp_path / "prompts.jsonl", make_prompt_rows(PROMPTS))
    return {"model": str(model), "ref_model": str(parent), "reward_model": str(reward_model),
            "prompts_file": str(prompts), "run_dir": str(tmp_path / "run"), "max_new_tokens": 24,
            "samples_per_prompt": 2}


def test_a_policy_against_itself_ties_with_zero_kl(tmp_path: Path, tiny_policy: Path, reward_model: Path) -> None:
    evaluate.main(evaluate.EvaluateJobConfig(**_config(tmp_path, tiny_policy, tiny_policy, reward_model)))
    result = json.loads((tmp_path / "run" / "result.json").read_text())
    assert KEYS <= set(result)
    assert result["win_rate"] == 0.5 and result["kl_to_parent"] == pytest.approx(0.0, abs=1e-6)
    assert result["mean_reward"] == pytest.approx(result["parent_mean_reward"])
    assert result["mean_length"] == result["parent_mean_length"] > 0


def test_evaluate_job_measures_how_far_a_changed_policy_moved(tmp_path: Path, tiny_policy: Path, reward_model: Path) -> None:
    new = _perturbed_copy(tiny_policy, tmp_path / "new")
    proc = run_job_module("evaluate", _config(tmp_path, new, tiny_policy, reward_model), tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads((tmp_path / "run" / "result.json").read_text())
    assert KEYS <= set(result) and result["prompts"] == len(PROMPTS)
    assert result["kl_to_parent"] > 0.001
    assert 0.0 <= result["win_rate"] <= 1.0 and result["mean_reward"] != result["parent_mean_reward"]


def test_evaluate_config_rejects_bad_values_naming_the_field() -> None:
    data = {"model": "m", "ref_model": "r", "reward_model": "rm", "prompts_file": "p", "samples_per_prompt": 0}
    with pytest.raises(common.ConfigError, match="^samples_per_prompt:"):
        common.config_from_dict(evaluate.EvaluateJobConfig, data)


def test_left_empty_samples_per_prompt_gives_a_few_held_out_prompts_enough_answers(tmp_path: Path, tiny_policy: Path,
                                                                                    reward_model: Path) -> None:
    # 4 held-out prompts (10% of a demo project): one answer each would make the gate a 4-sample vote.
    assert [evaluate.auto_samples_per_prompt(n) for n in (1, 4, 5, 64, 500)] == [16, 16, 13, 1, 1]
    config = {k: v for k, v in _config(tmp_path, tiny_policy, tiny_policy, reward_model).items() if k != "samples_per_prompt"}
    evaluate.main(evaluate.EvaluateJobConfig(**config))
    result = json.loads((tmp_path / "run" / "result.json").read_text())
    per_prompt = evaluate.auto_samples_per_prompt(len(PROMPTS))
    assert result["samples_per_prompt"] == per_prompt
    assert result["defaults"] == f"auto: samples_per_prompt {per_prompt} ({per_prompt * len(PROMPTS)} answers per policy over {len(PROMPTS)} prompts)"


def test_the_win_rate_is_each_prompts_share_of_won_answer_pairs_averaged_over_prompts() -> None:
    assert evaluate.prompt_win_rate([2.0, 2.0, 2.0], [1.0, 1.0, 3.0]) == pytest.approx(2 / 3)
    assert evaluate.prompt_win_rate([1.0], [1.0]) == 0.5  # a tie counts half
    result = evaluate.summarize([[1.0, 2.0], [0.0]], [[0.0, 3.0], [0.0]], [], [])
    assert result["win_rate"] == 0.5 and result["answer_pairs"] == 5 and result["prompts"] == 2
    assert result["mean_reward"] == pytest.approx(0.75) and result["parent_mean_reward"] == pytest.approx(0.75)
    # One answer per prompt: the plain per-prompt comparison (2 of 3 prompts won).
    assert evaluate.summarize([[1.0], [1.0], [0.0]], [[0.0], [0.0], [1.0]], [], [])["win_rate"] == pytest.approx(2 / 3)
