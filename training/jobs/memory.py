"""Memory options the training kinds share: LoRA, QLoRA (4-bit base), gradient checkpointing, weights dtype.

Validation is torch-free (the web app runs it). Saving a LoRA run is safe under FSDP and
ZeRO-3: every process calls `trainer.save_model` (which gathers the sharded weights and
writes the adapter on rank 0), then rank 0 merges that adapter into a freshly loaded base
in full precision, so a merged model is never built from one process's shard.
"""

from __future__ import annotations

import importlib.util
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from training.jobs.base import ConfigError, JobError, check_range, is_main_process

DTYPES = ("auto", "float32", "bfloat16", "float16")


def _check_bool(config: Any, name: str) -> None:
    if hasattr(config, name) and not isinstance(getattr(config, name), bool):
        raise ConfigError(f"{name}: expected true or false, got {getattr(config, name)!r}")


def check_memory_fields(config: Any) -> None:
    """Validate use_lora / lora_* / load_in_4bit / gradient_checkpointing / dtype where the config has them."""
    for name in ("use_lora", "load_in_4bit", "gradient_checkpointing"):
        _check_bool(config, name)
    if hasattr(config, "lora_r"):
        check_range("lora_r", config.lora_r, low=1, high=1024, kind=int)
        check_range("lora_alpha", config.lora_alpha, low=1, high=4096, kind=int)
        check_range("lora_dropout", config.lora_dropout, low=0.0, high=0.9)
    if hasattr(config, "dtype") and config.dtype not in DTYPES:
        raise ConfigError(f"dtype: expected one of {', '.join(DTYPES)}, got {config.dtype!r}")
    if getattr(config, "load_in_4bit", False) and not getattr(config, "use_lora", False):
        raise ConfigError("load_in_4bit: QLoRA trains LoRA adapters on a 4-bit base; set use_lora to true")


def torch_dtype(config: Any, default: Any = None) -> Any:
    """The dtype to load weights in: the config's, or `default` (None: bf16 on a GPU that has it, else float32)."""
    name = getattr(config, "dtype", "auto")
    if name == "auto":
        return default
    import torch

    return getattr(torch, name)


def quantization(config: Any) -> dict[str, Any]:
    """from_pretrained kwargs for a 4-bit (QLoRA) base; JobError on a worker without CUDA or bitsandbytes."""
    if not getattr(config, "load_in_4bit", False):
        return {}
    import torch

    if not torch.cuda.is_available():
        raise JobError("load_in_4bit: QLoRA needs a CUDA GPU (bitsandbytes 4-bit kernels) and this worker has none; "
                       "set load_in_4bit to false (plain LoRA runs on CPU)")
    if importlib.util.find_spec("bitsandbytes") is None:
        raise JobError("load_in_4bit: bitsandbytes is not installed on this worker (pip install bitsandbytes)")
    from transformers import BitsAndBytesConfig

    return {"quantization_config": BitsAndBytesConfig(
        load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16)}


def load_kwargs(config: Any, default_dtype: Any = None) -> dict[str, Any]:
    """Keyword arguments for common.load_causal_lm / load_reward_model from the memory options."""
    return {"dtype": torch_dtype(config, default_dtype), **quantization(config)}


def trainer_kwargs(config: Any) -> dict[str, Any]:
    """TrainingArguments for gradient checkpointing (off unless asked: PrefLoop's small models do not need it)."""
    if not getattr(config, "gradient_checkpointing", False):
        return {}
    return {"gradient_checkpointing": True, "gradient_checkpointing_kwargs": {"use_reentrant": False}}


def lora_config(config: Any, task_type: str = "CAUSAL_LM") -> Any:
    """LoRA on every linear layer; a reward model's score head trains fully (modules_to_save)."""
    if not getattr(config, "use_lora", False):
        return None
    from peft import LoraConfig

    extra = {"modules_to_save": ["score"]} if task_type == "SEQ_CLS" else {}
    return LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
                      target_modules="all-linear", task_type=task_type, **extra)


def save_merged(trainer: Any, tokenizer: Any, out: Path, *, base: str, load_base: Callable[[str], Any]) -> Any:
    """Save a LoRA run as a plain model (adapter merged into a fresh full-precision base); every rank calls it.

    Returns the merged model on rank 0, None elsewhere.
    """
    adapter = Path(out) / "_lora_adapter"
    trainer.save_model(str(adapter))  # a collective under FSDP / ZeRO-3: gathers, then rank 0 writes
    trainer.accelerator.wait_for_everyone()
    if not is_main_process():
        return None
    from peft import PeftModel

    merged = PeftModel.from_pretrained(load_base(base), str(adapter)).merge_and_unload()
    if getattr(merged.config, "pad_token_id", None) is None:
        merged.config.pad_token_id = tokenizer.pad_token_id
    shutil.rmtree(adapter, ignore_errors=True)
    merged.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    return merged
