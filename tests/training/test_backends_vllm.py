"""TRL's vLLM switches pass through to GRPO/RLOO, and a worker without CUDA refuses them clearly."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.training.jobs_helpers import make_prompt_rows, write_jsonl
from training.jobs import common, grpo, rloo

SYSTEM = {"run_dir": "r", "output_dir": "o", "model": "m", "reward_model": "rm", "prompts_file": "p"}


@pytest.mark.parametrize(("overrides", "field"), [
    ({"use_vllm": "yes"}, "use_vllm"),
    ({"vllm_mode": "remote"}, "vllm_mode"),
    ({"vllm_server_base_url": "10.0.0.2:8000"}, "vllm_server_base_url"),
    ({"vllm_gpu_memory_utilization": 1.5}, "vllm_gpu_memory_utilization"),
])
def test_vllm_fields_are_checked_naming_the_field(overrides: dict, field: str) -> None:
    with pytest.raises(common.ConfigError, match=f"^{field}"):
        common.config_from_dict(grpo.GRPOJobConfig, {**SYSTEM, **overrides})


def test_vllm_fields_reach_trls_config(monkeypatch) -> None:
    from training.jobs.backends import vllm
    from training.jobs.rl.trl_online import trl_kwargs

    monkeypatch.setattr(vllm, "require_vllm", lambda config: None)  # as on a GPU worker with vllm installed
    config = common.config_from_dict(rloo.RLOOJobConfig, {**SYSTEM, "use_vllm": True, "vllm_mode": "server",
                                                           "vllm_server_base_url": "http://10.0.0.2:8000"})
    kwargs = trl_kwargs(config, Path("w"))
    assert {k: kwargs[k] for k in ("use_vllm", "vllm_mode", "vllm_server_base_url")} == {
        "use_vllm": True, "vllm_mode": "server", "vllm_server_base_url": "http://10.0.0.2:8000"}


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="checks the refusal on a worker without CUDA")
def test_use_vllm_without_cuda_fails_the_job_with_a_clear_message(tmp_path: Path) -> None:
    prompts = write_jsonl(tmp_path / "prompts.jsonl", make_prompt_rows(["Hi?"]))
    config = common.config_from_dict(grpo.GRPOJobConfig, {
        **SYSTEM, "run_dir": str(tmp_path / "run"), "output_dir": str(tmp_path / "out"), "use_vllm": True,
        "prompts_file": str(prompts), "model": "/no/such/model"})  # refused before any model is looked at
    with pytest.raises(common.JobError, match="use_vllm: vLLM generation needs a CUDA GPU and this worker has none"):
        grpo.main(config)
    assert not (tmp_path / "out").exists()
