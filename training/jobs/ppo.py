"""PPO against a reward model: `python -m training.jobs.ppo --config run.json`.

TRL 1.16 has no PPOTrainer, so this is PrefLoop's own, following Huang et al. 2024, "The N+
Implementation Details of RLHF with PPO" (arXiv:2403.17031): frozen reference = copy of the
start policy, value model initialised from the reward model, sampling and log-probs at the
same temperature, truncation at EOS with a penalty when it is missing, per-token KL penalty
(fixed or Ziegler's adaptive controller) with the score at the last token, GAE, advantage
whitening, clipped policy and value losses, dropout off. The equations live in
training/jobs/rl/losses.py. Runs unchanged on CPU, one GPU, or under `torchrun` /
`accelerate launch` (each process samples its own share of every batch; DDP syncs gradients).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from training.jobs import common, defaults
from training.jobs.common import ConfigError, JobError, check_range


@dataclass(frozen=True)
class PPOJobConfig:
    """Settings of one PPO run; defaults follow Huang et al. 2024 where they apply."""

    run_dir: str  # system: metrics.jsonl and result.json go here
    output_dir: str  # system: the trained policy (with tokenizer) is saved here
    model: str  # system: starting policy; also the frozen reference
    reward_model: str  # system: sequence-classification reward model (num_labels=1)
    prompts_file: str  # system: JSONL rows {"prompt_id", "prompt": [messages], "reference"}
    total_episodes: int | None = None  # responses sampled over the whole run, all processes together; empty = 8 passes over the prompts, 256-1024
    batch_size: int = 16  # prompts sampled per update, per process
    mini_batch_size: int = 4  # episodes per gradient step; must divide batch_size
    ppo_epochs: int = 4  # passes over each batch of rollouts
    learning_rate: float | None = None  # Adam (eps 1e-5), policy and value model; empty = scaled to the model's size (3e-6 at 1B)
    anneal_lr: bool = True  # decay the learning rate linearly to 0 over the run
    max_grad_norm: float = 1.0  # global gradient-norm clip; 0 disables
    temperature: float = 0.7  # sampling temperature, also applied when recomputing log-probs
    response_length: int = 48  # most new tokens per response
    max_prompt_length: int | None = None  # prompts keep their last this-many tokens; empty = the policy's context less response_length, at most 1024
    missing_eos_penalty: float = 1.0  # subtracted from the score of a response that never emits EOS
    kl_coef: float = 0.05  # beta of the per-token KL penalty (starting value when adaptive)
    adaptive_kl: bool = False  # adapt beta to keep the KL near target_kl (Ziegler et al. 2019)
    target_kl: float = 6.0  # adaptive controller: wanted KL per response, in nats
    kl_horizon: int = 10_000  # adaptive controller: episodes over which beta adjusts
    gamma: float = 1.0  # discount
    lam: float = 0.95  # GAE lambda
    whiten_rewards: bool = False  # also whiten the shaped per-token rewards
    cliprange: float = 0.2  # PPO ratio clip epsilon
    cliprange_value: float = 0.2  # value prediction clip around the rollout's values
    vf_coef: float = 0.1  # weight of the value loss
    seed: int = 0
    report_to: list[str] = field(default_factory=lambda: ["tensorboard"])  # trackers fed the run's metrics: tensorboard, wandb, mlflow, trackio
    save_steps: int = 500  # checkpoint every N updates (0 = never); a failed run resumes from the last one
    save_total_limit: int = 2  # checkpoints kept (the oldest go first)
    use_lora: bool = False  # LoRA adapters on the policy (the value model trains fully); merged on save
    lora_r: int = 8  # LoRA rank
    lora_alpha: int = 16  # LoRA scaling
    lora_dropout: float = 0.0  # dropout on LoRA inputs (0: PPO turns dropout off, [N+])

    def validate(self) -> None:
        """Raise ConfigError naming the first out-of-range field."""
        for name in ("total_episodes", "batch_size", "mini_batch_size", "ppo_epochs", "response_length",
                     "max_prompt_length", "kl_horizon"):
            if getattr(self, name) is not None:  # None = auto (training/jobs/defaults.py)
                check_range(name, getattr(self, name), low=1, kind=int)
        if self.batch_size % self.mini_batch_size:
            raise ConfigError(f"mini_batch_size: must divide batch_size ({self.batch_size}), got {self.mini_batch_size}")
        if self.learning_rate is not None:  # None = auto (training/jobs/defaults.py)
            check_range("learning_rate", self.learning_rate, low=0.0, high=1.0)
        check_range("temperature", self.temperature, low=0.01, high=10.0)
        for name in ("gamma", "lam"):
            check_range(name, getattr(self, name), low=0.0, high=1.0)
        for name in ("cliprange", "cliprange_value"):
            check_range(name, getattr(self, name), low=1e-6, high=10.0)
        for name in ("max_grad_norm", "missing_eos_penalty", "kl_coef", "vf_coef"):
            check_range(name, getattr(self, name), low=0.0)
        check_range("target_kl", self.target_kl, low=1e-6)
        check_range("seed", self.seed, low=0, kind=int)
        common.check_job_options(self)
        for name in ("anneal_lr", "adaptive_kl", "whiten_rewards"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name}: expected true or false")


CONFIG_CLASS = PPOJobConfig
SYSTEM_FIELDS: frozenset[str] = frozenset({"run_dir", "output_dir", "model", "reward_model", "prompts_file"})


@dataclass
class PPORun:
    """Everything the loop carries from one update to the next."""

    accelerator: Any
    loaded: Any  # runtime.Loaded: tokenizer, frozen reference and reward model
    model: Any  # PolicyAndValue, wrapped for DDP when distributed
    optimizer: Any
    scheduler: Any
    sampler: Any
    kl_ctl: Any
    num_updates: int
    rollout_models: Any
    rollout_settings: Any
    update_settings: Any
    shuffle: Any  # torch.Generator for minibatch order
    auto: dict[str, Any]  # the hyperparameters chosen automatically, for result.json
    warnings: list[dict[str, Any]]  # prompts cut to max_prompt_length, for the run and model pages


def setup(config: PPOJobConfig) -> PPORun:
    """Build the accelerator, models, optimizer and schedule for the loop."""
    import torch
    from accelerate import Accelerator
    from accelerate.utils import set_seed

    from training.jobs.rl import prompt_budget
    from training.jobs.rl.models import PolicyAndValue
    from training.jobs.rl.ppo_step import UpdateSettings
    from training.jobs.rl.rollout import RolloutModels, RolloutSettings
    from training.jobs.rl.runtime import PromptSampler, kl_controller, load_models, load_prompts

    info = common.pick_device()
    accelerator = Accelerator(cpu=info.device == "cpu", mixed_precision="bf16" if info.bf16 else "no")
    set_seed(config.seed)  # same value-head init and prompt stream on every process
    prompts, loaded = load_prompts(config.prompts_file), load_models(config)
    config, auto = defaults.resolve_for_model(config, "ppo", loaded.policy, prompts=len(prompts))
    # Long prompts keep their end: prompt + response must fit the policy's context (and the
    # scored conversation the reward model's, below).
    prompt_length, warnings = prompt_budget.apply(loaded.tokenizer, prompts, prompt_budget.PromptBudget(
        config.max_prompt_length, "max_prompt_length" in auto["hyperparameters"], "response_length",
        config.response_length, common.context_limit(loaded.ref_policy)))
    pair = PolicyAndValue(loaded.policy, loaded.value_model)
    # [N+] detail: Adam eps 1e-5 rather than 1e-8.
    optimizer = torch.optim.AdamW(pair.parameters(), lr=config.learning_rate, eps=1e-5, weight_decay=0.0)
    world = accelerator.num_processes
    num_updates = max(1, config.total_episodes // (config.batch_size * world))
    decay = (lambda u: 1.0 - u / num_updates) if config.anneal_lr else (lambda u: 1.0)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, decay)  # stepped once per update, not prepared
    model, optimizer = accelerator.prepare(pair, optimizer)
    loaded.ref_policy.to(accelerator.device)
    loaded.reward_model.to(accelerator.device)
    sampler = PromptSampler(prompts, per_process=config.batch_size, rank=accelerator.process_index, world=world, seed=config.seed)
    torch.manual_seed(config.seed + 1_000 * (accelerator.process_index + 1))  # each process samples its own responses
    reward_length = common.effective_max_length(prompt_length + 2 * config.response_length, loaded.reward_model)
    models = RolloutModels(model, accelerator.unwrap_model(model).policy, loaded.ref_policy, loaded.reward_model,
                           loaded.tokenizer, loaded.reward_tokenizer)
    return PPORun(
        accelerator, loaded, model, optimizer, scheduler, sampler, kl_controller(config), num_updates, models,
        RolloutSettings(config.temperature, config.response_length, prompt_length,
                        reward_max_length=reward_length,
                        forward_batch_size=config.mini_batch_size),
        UpdateSettings(config.ppo_epochs, config.mini_batch_size, config.cliprange, config.cliprange_value,
                       config.vf_coef, config.temperature, config.max_grad_norm),
        torch.Generator().manual_seed(config.seed), auto, warnings,
    )


def run_update(run: PPORun, config: PPOJobConfig) -> tuple[Any, Any, list[dict[str, float]]]:
    """Sample and score one batch, shape rewards, and run the PPO epochs on it."""
    from training.jobs.rl.ppo_step import compute_advantages, ppo_update
    from training.jobs.rl.rollout import collect_rollout

    with run.accelerator.autocast():
        rollout = collect_rollout(run.rollout_models, run.sampler.next(), settings=run.rollout_settings, device=run.accelerator.device)
    # [N+] detail: a response that never emits EOS is penalised instead of scored as is.
    scores = rollout.scores - config.missing_eos_penalty * (~rollout.contains_eos).float()
    adv = compute_advantages(rollout, scores=scores, kl_coef=run.kl_ctl.value, gamma=config.gamma, lam=config.lam,
                             whiten_rewards=config.whiten_rewards)
    steps = ppo_update(model=run.model, optimizer=run.optimizer, accelerator=run.accelerator, rollout=rollout, adv=adv,
                       settings=run.update_settings, generator=run.shuffle)
    return rollout, adv, steps


def train(config: PPOJobConfig) -> dict[str, Any]:
    """Run the PPO loop: sample, score, update; log each update; save the policy; return the result.

    Every save_steps updates the loop's whole state is checkpointed; a restarted job resumes
    from the last complete checkpoint (training/jobs/rl/checkpoint.py).
    """
    from training.jobs.rl import checkpoint
    from training.jobs.rl.runtime import reduce_mean, save_policy, update_stats

    run = setup(config)
    writer = common.MetricsWriter(Path(config.run_dir) / "metrics.jsonl")
    common.report_warnings(writer, run.warnings)
    episodes_per_update = config.batch_size * run.accelerator.num_processes
    done, history, resumed_from = checkpoint.resume(run, config)
    for update in range(done + 1, run.num_updates + 1):
        rollout, adv, steps = run_update(run, config)
        stats = reduce_mean(run.accelerator, update_stats(rollout, adv, steps))
        stats.update(kl_coef=run.kl_ctl.value, learning_rate=run.scheduler.get_last_lr()[0], episodes=update * episodes_per_update)
        run.scheduler.step()
        run.kl_ctl.update(stats["kl"], episodes_per_update)
        writer.write(update, update / run.num_updates, **stats)
        history.append(stats)
        if config.save_steps and update % config.save_steps == 0 and update < run.num_updates:
            checkpoint.save(run, config, update, history)
    save_policy(run.accelerator, run.model, run.loaded.tokenizer, config.output_dir)
    return {**_result(history), **run.auto, "resumed_from": resumed_from,
            "max_prompt_length": run.rollout_settings.max_prompt_length, "data_warnings": run.warnings}


def _result(history: list[dict[str, float]]) -> dict[str, Any]:
    """Reward and KL of the first and last update's rollouts, plus the run's size."""
    first, last = history[0], history[-1]
    return {
        "initial_reward": first["reward"], "final_reward": last["reward"],
        "initial_kl": first["kl"], "final_kl": last["kl"],
        "final_eos_rate": last["eos_rate"], "updates": len(history), "episodes": last["episodes"],
    }


def main(config: PPOJobConfig) -> None:
    """Train the policy with PPO on the prompts, against the reward model."""
    config.validate()
    if Path(config.output_dir).exists():
        raise JobError(f"output directory already exists: {config.output_dir}")
    result = train(config)
    if common.is_main_process():
        common.write_json(Path(config.run_dir) / "result.json", result)


if __name__ == "__main__":
    sys.exit(common.run_job(main, PPOJobConfig))
