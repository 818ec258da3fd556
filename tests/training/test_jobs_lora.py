"""LoRA runs of every kind that offers it save a plain, loadable merged model; QLoRA refuses on CPU."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.training.jobs_helpers import make_preference_rows, write_jsonl
from tests.training.posttrain_helpers import demonstrations
from tests.training.rl_helpers import write_prompts
from training.jobs import common, dpo, grpo, reward, rloo, sft

LORA = {"use_lora": True, "lora_r": 4, "lora_alpha": 8, "max_steps": 2, "logging_steps": 1}


def _changed(base: Path, out: Path, loader) -> bool:  # type: ignore[no-untyped-def]
    before, after = loader(str(base)).state_dict(), loader(str(out)).state_dict()
    shared = [k for k in after if k in before and "score" not in k]
    return any(not torch.equal(before[k], after[k]) for k in shared)


def _assert_plain_model(out: Path) -> None:
    assert (out / "COMPLETE").exists() and list(out.glob("*.safetensors"))
    assert not (out / "adapter_config.json").exists() and not (out / "_lora_adapter").exists()


def _preference_config(tmp_path: Path, policy: Path) -> dict:
    return {"model": str(policy), "train_file": str(write_jsonl(tmp_path / "train.jsonl", make_preference_rows(16))),
            "output_dir": str(tmp_path / "out"), "run_dir": str(tmp_path / "run"), "per_device_train_batch_size": 4,
            "learning_rate": 1e-3, "eval_fraction": 0.25, **LORA}


def _online_config(tmp_path: Path, policy: Path) -> dict:
    return {"model": str(policy), "reward_model": str(policy), "prompts_file": str(write_prompts(tmp_path / "p.jsonl", n=8)),
            "output_dir": str(tmp_path / "out"), "run_dir": str(tmp_path / "run"), "per_device_train_batch_size": 4,
            "num_generations": 2, "max_completion_length": 8, "learning_rate": 1e-3, **LORA}


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["dpo", "reward", "grpo", "rloo", "sft"])
def test_a_lora_run_saves_a_merged_model_that_loads_and_differs_from_the_base(kind: str, tmp_path: Path, tiny_policy: Path) -> None:
    if kind in ("dpo", "reward"):
        config = _preference_config(tmp_path, tiny_policy)
    elif kind == "sft":
        config = {**_preference_config(tmp_path, tiny_policy),
                  "train_file": str(write_jsonl(tmp_path / "demos.jsonl", demonstrations(16, seed=1)))}
    else:
        config = _online_config(tmp_path, tiny_policy)
    module = {"dpo": dpo, "reward": reward, "grpo": grpo, "rloo": rloo, "sft": sft}[kind]
    module.main(common.config_from_dict(module.CONFIG_CLASS, config))
    out = tmp_path / "out"
    _assert_plain_model(out)
    loader = common.load_reward_model if kind == "reward" else common.load_causal_lm
    assert _changed(tiny_policy, out, loader), "the merged model equals the base: the adapter was not merged in"


def test_qlora_is_refused_on_a_worker_without_cuda(tmp_path: Path, tiny_policy: Path) -> None:
    if torch.cuda.is_available():
        pytest.skip("checks the refusal without CUDA")
    config = common.config_from_dict(dpo.DPOJobConfig, {**_preference_config(tmp_path, tiny_policy), "load_in_4bit": True})
    with pytest.raises(common.JobError, match="load_in_4bit: QLoRA needs a CUDA GPU"):
        dpo.main(config)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("overrides", "field"), [
    ({"load_in_4bit": True}, "load_in_4bit"),  # without use_lora
    ({"dtype": "float8"}, "dtype"),
    ({"gradient_checkpointing": "yes"}, "gradient_checkpointing"),
    ({"use_lora": True, "lora_r": 0}, "lora_r"),
])
def test_memory_options_are_checked_naming_the_field(overrides: dict, field: str) -> None:
    with pytest.raises(common.ConfigError, match=f"^{field}"):
        common.config_from_dict(reward.RewardJobConfig, {"model": "m", "train_file": "t", "output_dir": "o", **overrides})
