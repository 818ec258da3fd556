"""What every job shares: config parsing, metrics, atomic outputs, device choice, model loading.

No Django here: a job reads a JSON config, writes metrics.jsonl and model directories, and
exits non-zero on failure. That boundary lets the same job run under `accelerate launch` or
`torchrun` on many GPUs.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

# The leaf modules (errors, metrics) are re-exported: jobs import them from here.
from training.jobs.base import (  # noqa: F401
    EXIT_BAD_CONFIG,
    EXIT_FAILED,
    EXIT_OK,
    ConfigError,
    JobError,
    ModelLoadError,
    check_range,
    is_main_process,
)
from training.jobs.metrics import MetricsWriter  # noqa: F401

os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

C = TypeVar("C")


def config_from_dict(cls: type[C], data: dict[str, Any]) -> C:
    """Build a config dataclass from a dict, refusing unknown keys and wrong types by name."""
    if not isinstance(data, dict):
        raise ConfigError("config must be a JSON object")
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"unknown field(s): {', '.join(unknown)}")
    missing = [n for n, f in fields.items() if n not in data and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if missing:
        raise ConfigError(f"missing field(s): {', '.join(missing)}")
    try:
        config = cls(**data)
    except (TypeError, ValueError) as exc:
        raise ConfigError(str(exc)) from exc
    validate = getattr(config, "validate", None)
    if callable(validate):
        validate()
    return config


def check_trainer_fields(config: Any) -> None:
    """Validate the Trainer fields that the supervised jobs (reward, dpo) share, naming the bad one."""
    if config.learning_rate is not None:  # None = auto, scaled to the model's size (training/jobs/defaults.py)
        check_range("learning_rate", config.learning_rate, low=1e-10, high=1.0)
    if config.num_train_epochs is not None:
        check_range("num_train_epochs", config.num_train_epochs, low=0.01, high=1000)
    check_range("max_steps", config.max_steps, low=-1, kind=int)
    if config.max_steps == 0:
        raise ConfigError("max_steps: must be -1 (use epochs) or a positive number")
    check_range("per_device_train_batch_size", config.per_device_train_batch_size, low=1, high=4096, kind=int)
    check_range("gradient_accumulation_steps", config.gradient_accumulation_steps, low=1, high=4096, kind=int)
    if config.max_length is not None:  # None = the model's context window
        check_range("max_length", config.max_length, low=8, high=1_000_000, kind=int)
    check_job_options(config)


def check_job_options(config: Any) -> None:
    """Validate the options every training kind shares (tracking), where the config has them."""
    from training.jobs.checkpoints import check_checkpoint_fields
    from training.jobs.memory import check_memory_fields
    from training.jobs.tracking import check_report_to

    if hasattr(config, "report_to"):
        check_report_to(config.report_to)
    check_checkpoint_fields(config)
    check_memory_fields(config)


def context_limit(model: Any) -> int | None:
    """Return how many positions the model can attend to (None when its config does not say)."""
    config = getattr(model, "config", None)
    for name in ("n_positions", "max_position_embeddings"):
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def effective_max_length(requested: int | None, model: Any) -> int:
    """Clamp a configured sequence length to the model's context, so long data cannot index past it."""
    limit = context_limit(model)
    if requested is None:
        return limit or 1024
    if limit is not None and requested > limit:
        print(f"max_length {requested} exceeds the model's context of {limit} tokens; using {limit}", file=sys.stderr, flush=True)
        return limit
    return requested


def length_warnings(*, action: str, counts: dict[str, tuple[int, int]], max_length: int, model: Any,
                    unit: str = "pairs") -> list[dict[str, Any]]:
    """Describe data a job dropped or truncated for length: one warning per split with any (n, of total)."""
    limit = context_limit(model)
    why = f"longer than max_length {max_length} tokens" + (" (the model's context window)" if limit == max_length else "")
    advice = {"dropped": "they were not trained on", "truncated": "their ends were cut off"}.get(action, "")
    return [
        {"action": action, "count": n, "of": total, "split": split, "unit": unit, "reason": why,
         "message": f"{action.capitalize()} {n} of {total} {split} {unit}: {why}; {advice}."}
        for split, (n, total) in counts.items() if n
    ]


def report_warnings(metrics: MetricsWriter | None, warnings: list[dict[str, Any]], *, step: int = 0,
                    progress: float = 0.0) -> None:
    """Write each data warning as a metrics line, e.g. {"dropped_pairs": 78, "reason": "..."}, and to stderr."""
    for w in warnings:
        print(f"warning: {w['message']}", file=sys.stderr, flush=True)
        if metrics is not None:
            metrics.write(step, progress, **{f"{w['action']}_{w['unit']}": w["count"], "split": w["split"], "reason": w["message"]})


def check_sampling_fields(config: Any) -> None:
    """Validate the sampling fields that generate and evaluate share, naming the bad one."""
    check_range("temperature", config.temperature, low=0.0, high=5.0)
    check_range("top_p", config.top_p, low=0.01, high=1.0)
    check_range("max_new_tokens", config.max_new_tokens, low=1, high=8192, kind=int)
    check_range("batch_size", config.batch_size, low=1, high=4096, kind=int)
    check_range("seed", config.seed, low=0, kind=int)


@contextmanager
def atomic_output_dir(final: str | Path) -> Iterator[Path]:
    """Yield a temporary directory next to `final`; rename it into place only if the block succeeds."""
    final = Path(final)
    if final.exists():
        raise JobError(f"output directory already exists: {final}")
    tmp = final.parent / f".tmp-{final.name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        yield tmp
        if is_main_process():
            (tmp / "COMPLETE").write_text("ok\n")
            os.replace(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@dataclass(frozen=True)
class DeviceInfo:
    device: str  # "cuda" or "cpu"
    bf16: bool
    n_gpus: int

    @property
    def torch_dtype(self):  # type: ignore[no-untyped-def]
        import torch

        return torch.bfloat16 if self.bf16 else torch.float32


def pick_device() -> DeviceInfo:
    """GPU with bf16 when present (and supported), else CPU float32."""
    import torch

    if torch.cuda.is_available():
        return DeviceInfo("cuda", bool(torch.cuda.is_bf16_supported()), torch.cuda.device_count())
    return DeviceInfo("cpu", False, 0)


def trainer_precision_kwargs(info: DeviceInfo | None = None) -> dict[str, Any]:
    """Arguments for any TRL/transformers TrainingArguments: TRL defaults to bf16=True, which CPU refuses."""
    info = info or pick_device()
    return {"bf16": info.bf16, "fp16": False, "use_cpu": info.device == "cpu"}


def _check_local_model_dir(path: Path) -> None:
    if not (path / "config.json").exists():
        raise ModelLoadError(f"{path} has no config.json; it is not a Hugging Face model directory")
    has_safetensors = any(path.glob("*.safetensors")) or (path / "model.safetensors.index.json").exists()
    if not has_safetensors:
        pickles = [p.name for p in path.iterdir() if p.suffix in {".bin", ".pt", ".pth", ".ckpt", ".pkl"}]
        detail = f" (found {', '.join(sorted(pickles))})" if pickles else ""
        raise ModelLoadError(
            f"{path} has no .safetensors weights{detail}. PrefLoop loads safetensors only, because pickle "
            "checkpoints can run arbitrary code; convert it with model.save_pretrained(dir, safe_serialization=True)."
        )
    config = json.loads((path / "config.json").read_text())
    if config.get("auto_map"):
        raise ModelLoadError(
            f"{path} needs trust_remote_code (its config has auto_map); PrefLoop never runs a model's own code."
        )


def resolve_model(name_or_path: str) -> str:
    """Check a local model directory (or accept a hub id) before loading; raise ModelLoadError if unsafe."""
    if not name_or_path or not str(name_or_path).strip():
        raise ModelLoadError("no model given")
    path = Path(name_or_path).expanduser()
    if path.exists():
        _check_local_model_dir(path)
        return str(path.resolve())
    if name_or_path.startswith((".", "/", "~")):
        raise ModelLoadError(f"model directory not found: {name_or_path}")
    return name_or_path  # a hub id: transformers fetches it (or its cache) with safetensors only


def load_tokenizer(name_or_path: str, *, padding_side: str = "left"):  # type: ignore[no-untyped-def]
    """Load a tokenizer (left padding for generation); give it a pad token if it has none."""
    from transformers import AutoTokenizer

    source = resolve_model(name_or_path)
    try:
        tok = AutoTokenizer.from_pretrained(source, trust_remote_code=False)
    except OSError as exc:
        raise ModelLoadError(f"cannot load tokenizer from {name_or_path}: {exc}") from exc
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    tok.padding_side = padding_side
    return tok


def _from_pretrained(auto_cls, name_or_path: str, dtype=None, **kwargs):  # type: ignore[no-untyped-def]
    source = resolve_model(name_or_path)
    info = pick_device()
    try:
        return auto_cls.from_pretrained(
            source,
            trust_remote_code=False,
            use_safetensors=True,
            dtype=dtype or info.torch_dtype,
            **kwargs,
        )
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"cannot load model from {name_or_path}: {exc}") from exc


def load_causal_lm(name_or_path: str, *, dtype=None):  # type: ignore[no-untyped-def]
    """Load any Hugging Face causal LM by path or hub id: safetensors only, never remote code."""
    from transformers import AutoModelForCausalLM

    return _from_pretrained(AutoModelForCausalLM, name_or_path, dtype=dtype)


def load_reward_model(name_or_path: str, *, dtype=None, num_labels: int = 1):  # type: ignore[no-untyped-def]
    """Load a sequence-classification (reward) model with one output, by the same rules."""
    from transformers import AutoModelForSequenceClassification

    return _from_pretrained(AutoModelForSequenceClassification, name_or_path, dtype=dtype, num_labels=num_labels)


def read_jsonl(path: str | Path) -> Iterator[dict[str, Any]]:
    with Path(path).open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def write_json(path: str | Path, data: Any) -> None:
    Path(path).write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def run_job(main: Callable[[C], None], config_cls: type[C], argv: list[str] | None = None) -> int:
    """Parse `--config run.json`, call main(config), and map the outcome to an exit code."""
    parser = argparse.ArgumentParser(description=(main.__module__ or "job"))
    parser.add_argument("--config", required=True, help="path to the job's JSON config")
    args = parser.parse_args(argv)
    try:
        data = json.loads(Path(args.config).read_text(encoding="utf-8"))
        config = config_from_dict(config_cls, data)
    except (OSError, json.JSONDecodeError, ConfigError) as exc:
        print(f"invalid config: {exc}", file=sys.stderr, flush=True)
        return EXIT_BAD_CONFIG
    try:
        from training.jobs.tracking import configure

        configure(getattr(config, "report_to", None))
        main(config)
    except JobError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return EXIT_FAILED
    except Exception:  # noqa: BLE001 - the runner shows the stderr tail as the run's error
        traceback.print_exc()
        sys.stderr.flush()
        return EXIT_FAILED
    return EXIT_OK


def base_trainer_kwargs(*, output_dir: str | Path, seed: int, logging_steps: int = 10) -> dict[str, Any]:
    """Arguments every TRL trainer config in PrefLoop shares: no checkpoints, no hub, no tqdm, right precision."""
    return {
        "output_dir": str(output_dir),
        "seed": seed,
        "data_seed": seed,
        "logging_steps": logging_steps,
        "save_strategy": "no",  # the job saves the finished model itself, atomically
        "report_to": [],
        "disable_tqdm": True,
        "dataloader_num_workers": 0,
        "gradient_checkpointing": False,  # TRL defaults to True; a job that needs it sets it explicitly
        "ddp_find_unused_parameters": False,
        **trainer_precision_kwargs(),
    }


def supervised_trainer_kwargs(config: Any, *, output_dir: str | Path) -> dict[str, Any]:
    """Trainer arguments the supervised jobs (reward, dpo) take from their shared config fields."""
    return {
        "learning_rate": config.learning_rate,
        "num_train_epochs": config.num_train_epochs,
        "max_steps": config.max_steps,
        "per_device_train_batch_size": config.per_device_train_batch_size,
        "gradient_accumulation_steps": config.gradient_accumulation_steps,
        "max_length": config.max_length,
        "warmup_steps": config.warmup_ratio,  # transformers 5: a value < 1 is a fraction of the steps
        **base_trainer_kwargs(output_dir=output_dir, seed=config.seed, logging_steps=config.logging_steps),
        **checkpoint_trainer_kwargs(config),
    }


def checkpoint_trainer_kwargs(config: Any) -> dict[str, Any]:
    """Checkpoints every save_steps into the run directory, and gradient checkpointing when asked."""
    from training.jobs import checkpoints, memory

    return {**checkpoints.trainer_kwargs(config), **memory.trainer_kwargs(config)}


def remove_tree(path: str | Path) -> None:
    """Delete a scratch directory if it exists (trainer output we do not keep)."""
    shutil.rmtree(path, ignore_errors=True)


def save_trained_model(trainer: Any, out_dir: str | Path) -> None:
    """Save a trainer's model + tokenizer as safetensors; call on every rank (FSDP/ZeRO-3 gather here).

    Trainer also pickles its arguments (training_args.bin) next to the weights: drop it, so a
    model directory PrefLoop writes never holds a pickle.
    """
    trainer.save_model(str(out_dir))
    if is_main_process():
        (Path(out_dir) / "training_args.bin").unlink(missing_ok=True)
