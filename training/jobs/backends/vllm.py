"""TRL's vLLM generation for GRPO and RLOO, passed through from a run's config (GPU workers only).

`vllm_mode` "colocate" runs vLLM inside the training process (share GPU memory through
`vllm_gpu_memory_utilization`); "server" talks to `trl vllm-serve` at `vllm_server_base_url`.
On a worker without CUDA or without the vllm package the job refuses before loading anything.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from training.jobs.common import ConfigError, JobError, check_range

VLLM_MODES = ("colocate", "server")


def check_vllm_fields(config: Any) -> None:
    """Validate the vLLM fields (without importing torch: the web app runs this too)."""
    if not isinstance(config.use_vllm, bool):
        raise ConfigError("use_vllm: expected true or false")
    if config.vllm_mode not in VLLM_MODES:
        raise ConfigError(f"vllm_mode: expected one of {', '.join(VLLM_MODES)}, got {config.vllm_mode!r}")
    if config.vllm_server_base_url and not str(config.vllm_server_base_url).startswith(("http://", "https://")):
        raise ConfigError("vllm_server_base_url: expected an http(s) URL such as http://10.0.0.2:8000")
    check_range("vllm_gpu_memory_utilization", config.vllm_gpu_memory_utilization, low=0.05, high=0.95)


def require_vllm(config: Any) -> None:
    """Refuse use_vllm clearly where it cannot work: no CUDA, or vllm not installed."""
    if not config.use_vllm:
        return
    import torch

    if not torch.cuda.is_available():
        raise JobError("use_vllm: vLLM generation needs a CUDA GPU and this worker has none; "
                       "set use_vllm to false (TRL then generates with transformers) or run on a GPU worker")
    if importlib.util.find_spec("vllm") is None:
        raise JobError("use_vllm: the vllm package is not installed on this worker (pip install vllm)")


def vllm_kwargs(config: Any) -> dict[str, Any]:
    """The TRL GRPOConfig/RLOOConfig arguments for the vLLM fields (refusing use_vllm where it cannot run)."""
    if not config.use_vllm:
        return {"use_vllm": False}
    require_vllm(config)  # before TRL's config or any weights: a CPU worker refuses at once
    out: dict[str, Any] = {"use_vllm": True, "vllm_mode": config.vllm_mode,
                           "vllm_gpu_memory_utilization": config.vllm_gpu_memory_utilization}
    if config.vllm_mode == "server" and config.vllm_server_base_url:
        out["vllm_server_base_url"] = config.vllm_server_base_url
    return out
