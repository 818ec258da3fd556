"""What the RLOO and GRPO jobs share: config fields, prompts as a dataset, TRL settings, saving.

Both wrap TRL's trainers with the project's reward model as the reward function, kept
conversational end to end: TRL renders prompt + completion with the reward model's chat
template, which is how RewardTrainer rendered the pairs it learnt from.
"""

from __future__ import annotations

import dataclasses
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from training.jobs import common
from training.jobs.backends.vllm import check_vllm_fields, vllm_kwargs
from training.jobs.common import ConfigError, JobError, check_range

SYSTEM_FIELDS: frozenset[str] = frozenset({"run_dir", "output_dir", "model", "reward_model", "prompts_file"})


@dataclass(frozen=True)
class OnlineJobConfig:
    """Fields every group-sampling RL job (RLOO, GRPO) takes."""

    run_dir: str  # system: metrics.jsonl and result.json go here
    output_dir: str  # system: the trained policy (with tokenizer) is saved here
    model: str  # system: starting policy; also the KL reference
    reward_model: str  # system: sequence-classification reward model (num_labels=1)
    prompts_file: str  # system: JSONL rows {"prompt_id", "prompt": [messages], "reference"}
    learning_rate: float | None = None  # AdamW step size; empty = scaled to the model's size (1e-6 at 1B parameters)
    num_train_epochs: float | None = None  # passes over the prompts; empty = 3 below 100M parameters, 2 below 1B, else 1
    max_steps: int = -1  # stop after this many optimizer steps (-1 = use num_train_epochs)
    per_device_train_batch_size: int = 8  # completions per device per step; a multiple of num_generations
    gradient_accumulation_steps: int = 1  # steps accumulated before an update
    num_generations: int = 4  # completions sampled per prompt (the group the baseline is taken over)
    max_completion_length: int = 64  # most new tokens per completion
    max_prompt_length: int | None = None  # prompts keep their last this-many tokens; empty = the policy's context less max_completion_length, at most 1024
    temperature: float = 0.7  # sampling temperature (also used for the log-probs)
    beta: float = 0.05  # KL coefficient to the starting policy; 0 drops the reference model
    epsilon: float = 0.2  # ratio clip
    num_iterations: int = 1  # optimisation passes per generated batch
    logging_steps: int = 1  # log (and write metrics) every N steps
    seed: int = 0
    report_to: list[str] = field(default_factory=lambda: ["tensorboard"])  # trackers fed the run's metrics: tensorboard, wandb, mlflow, trackio
    save_steps: int = 500  # checkpoint every N optimizer steps (0 = never); a failed run resumes from the last one
    save_total_limit: int = 2  # checkpoints kept (the oldest go first)
    use_lora: bool = False  # train LoRA adapters instead of all weights (merged on save)
    lora_r: int = 8  # LoRA rank
    lora_alpha: int = 16  # LoRA scaling
    lora_dropout: float = 0.05  # dropout on LoRA inputs
    load_in_4bit: bool = False  # QLoRA: 4-bit base weights via bitsandbytes (CUDA only; needs use_lora)
    gradient_checkpointing: bool = False  # recompute activations in the backward pass: less memory, slower steps
    dtype: str = "auto"  # weights: auto (bf16 on a GPU that has it, else float32), float32, bfloat16, float16
    use_vllm: bool = False  # generate with vLLM (CUDA only; TRL's use_vllm)
    vllm_mode: str = "colocate"  # "colocate" (inside the trainer) or "server" (`trl vllm-serve`)
    vllm_server_base_url: str = ""  # server mode: e.g. http://10.0.0.2:8000
    vllm_gpu_memory_utilization: float = 0.3  # colocate mode: GPU memory share vLLM may take

    def validate(self) -> None:
        """Raise ConfigError naming the first out-of-range field."""
        check_vllm_fields(self)
        common.check_job_options(self)
        if self.learning_rate is not None:  # None = auto (training/jobs/defaults.py)
            check_range("learning_rate", self.learning_rate, low=0.0, high=1.0)
        if self.num_train_epochs is not None:
            check_range("num_train_epochs", self.num_train_epochs, low=0.01, high=1000)
        check_range("max_steps", self.max_steps, low=-1, kind=int)
        if self.max_steps == 0:
            raise ConfigError("max_steps: must be -1 (use epochs) or a positive number")
        for name in ("per_device_train_batch_size", "gradient_accumulation_steps", "max_completion_length", "num_iterations", "logging_steps"):
            check_range(name, getattr(self, name), low=1, kind=int)
        if self.max_prompt_length is not None:  # None = auto (training/jobs/defaults.py)
            check_range("max_prompt_length", self.max_prompt_length, low=1, kind=int)
        check_range("num_generations", self.num_generations, low=2, kind=int)
        if self.per_device_train_batch_size % self.num_generations:
            raise ConfigError(f"per_device_train_batch_size: must be a multiple of num_generations ({self.num_generations})")
        check_range("temperature", self.temperature, low=0.01, high=10.0)
        check_range("beta", self.beta, low=0.0, high=100.0)
        check_range("epsilon", self.epsilon, low=1e-6, high=10.0)
        check_range("seed", self.seed, low=0, kind=int)


def load_prompt_dataset(path: str) -> Any:
    """Read the prompts_file as a datasets.Dataset with conversational `prompt` and `reference`."""
    from datasets import Dataset

    from training.jobs.rl.runtime import load_prompts

    references = []
    for row in common.read_jsonl(path):
        ref = row.get("reference")
        references.append(None if ref is None else str(ref))
    prompts = load_prompts(path)  # validates every row, naming the bad line
    return Dataset.from_dict({"prompt": prompts, "reference": references})


def load_reward_function(path: str) -> tuple[Any, Any]:
    """Load the reward model and its tokenizer the way TRL's reward-model path expects."""
    tokenizer = common.load_tokenizer(path, padding_side="right")
    model = common.load_reward_model(path)
    model.config.pad_token_id = tokenizer.pad_token_id  # the classifier finds each sequence's end by it
    return model.requires_grad_(False).eval(), tokenizer


def trl_kwargs(config: OnlineJobConfig, work_dir: Path) -> dict[str, Any]:
    """Map the shared job fields onto TRL's RLOOConfig/GRPOConfig arguments."""
    return {
        "learning_rate": config.learning_rate,
        "num_train_epochs": config.num_train_epochs,
        "max_steps": config.max_steps,
        "per_device_train_batch_size": config.per_device_train_batch_size,
        "gradient_accumulation_steps": config.gradient_accumulation_steps,
        "num_generations": config.num_generations,
        "max_completion_length": config.max_completion_length,
        "temperature": config.temperature,
        "top_p": 1.0,
        "top_k": 0,
        "beta": config.beta,
        "epsilon": config.epsilon,
        "num_iterations": config.num_iterations,
        "disable_dropout": True,
        "log_completions": False,
        **vllm_kwargs(config),
        **common.base_trainer_kwargs(output_dir=work_dir, seed=config.seed, logging_steps=config.logging_steps),
        **common.checkpoint_trainer_kwargs(config),
    }


def load_policy(config: OnlineJobConfig, kind: str) -> tuple[Any, Any, Any, dict[str, Any]]:
    """Load the policy in float32 (mixed precision comes from the trainer) and its left-padding tokenizer.

    Return (model, tokenizer, config with its auto fields filled for this model, what was filled).
    """
    import torch

    from training.jobs.backends.vllm import require_vllm

    require_vllm(config)  # before any weights load: a worker without CUDA refuses use_vllm at once

    from training.jobs import defaults, memory

    model = common.load_causal_lm(config.model, **memory.load_kwargs(config, torch.float32))
    config, auto = defaults.resolve_for_model(config, kind, model)
    return model, common.load_tokenizer(config.model), config, auto


def fit_prompts(config: OnlineJobConfig, model: Any, tokenizer: Any, prompts: list[Any],
                auto: dict[str, Any]) -> tuple[Any, list[dict[str, Any]]]:
    """Fit max_prompt_length to the policy's context and count, before training, the prompts it cuts.

    Return (config with the prompt limit it trains with, data warnings for the run page).
    """
    from training.jobs.rl import prompt_budget

    budget = prompt_budget.PromptBudget(config.max_prompt_length, "max_prompt_length" in auto["hyperparameters"],
                                        "max_completion_length", config.max_completion_length, common.context_limit(model))
    kept, warnings = prompt_budget.apply(tokenizer, prompts, budget)
    return dataclasses.replace(config, max_prompt_length=kept), warnings


def keep_prompt_end(trainer_cls: type, max_prompt_length: int) -> type:
    """Return a subclass of a TRL trainer that keeps each prompt's last max_prompt_length tokens, as PPO does.

    TRL 1.16 has no max_prompt_length: prompts reach generate() whole, and one that leaves no room
    for the completion in the context would index past the policy's positions. Every later step
    (vLLM or transformers generation, log-probs, loss) reads the ids returned here.
    """

    class KeepPromptEnd(trainer_cls):  # type: ignore[misc, valid-type]
        def _tokenize_prompts(self, prompts: list) -> tuple[Any, Any, Any]:
            prompt_ids, images, multimodal_fields = super()._tokenize_prompts(prompts)
            return [ids[-max_prompt_length:] for ids in prompt_ids], images, multimodal_fields

    KeepPromptEnd.__name__ = KeepPromptEnd.__qualname__ = trainer_cls.__name__
    return KeepPromptEnd


def save_trained_policy(trainer: Any, output_dir: str, config: Any = None) -> None:
    """Save the policy + tokenizer atomically; every process takes part (FSDP/ZeRO gather)."""
    final = Path(output_dir)
    staging = final.parent / f".staging-{final.name}"  # the same path on every process
    if getattr(config, "use_lora", False):  # LoRA merged into a fresh base: safe under FSDP / ZeRO-3
        from training.jobs import memory

        memory.save_merged(trainer, trainer.processing_class, staging, base=config.model, load_base=common.load_causal_lm)
    else:
        trainer.save_model(str(staging))  # writes on the main process only
    trainer.accelerator.wait_for_everyone()
    if common.is_main_process():
        with common.atomic_output_dir(final) as tmp:
            for item in staging.iterdir():
                if item.name != "training_args.bin":  # a pickle: model dirs hold safetensors only
                    shutil.move(str(item), tmp / item.name)
        shutil.rmtree(staging, ignore_errors=True)
    trainer.accelerator.wait_for_everyone()


def result_from_logs(log_history: list[dict[str, Any]]) -> dict[str, Any]:
    """Take mean reward and KL from the first and last logged steps."""
    logged = [row for row in log_history if "reward" in row]
    if not logged:
        raise JobError("training logged no reward: no step completed")
    first, last = logged[0], logged[-1]
    result = {"initial_reward": first["reward"], "final_reward": last["reward"], "steps": last.get("step", len(logged))}
    if "kl" in last:
        result.update(initial_kl=first.get("kl", 0.0), final_kl=last["kl"])
    return result


def ensure_new_output(output_dir: str) -> None:
    """Fail before any loading or training when the output directory is already taken."""
    if Path(output_dir).exists():
        raise JobError(f"output directory already exists: {output_dir}")


def run_trainer(trainer: Any, config: OnlineJobConfig, work_dir: Path, auto: dict[str, Any]) -> None:
    """Train, save the policy, and write result.json (rank 0) with the auto-chosen hyperparameters."""
    from training.jobs.checkpoints import train

    train(trainer, config)
    common.remove_tree(work_dir)
    save_trained_policy(trainer, config.output_dir, config)
    if common.is_main_process():
        result = result_from_logs(trainer.state.log_history)
        result["steps"] = trainer.state.global_step
        result.update(auto)
        common.write_json(Path(config.run_dir) / "result.json", result)
