"""The parts of the PPO job around the update: prompts, model loading, stats, saving."""

from __future__ import annotations

import copy
import sys
from dataclasses import dataclass
from typing import Any

from training.jobs import common
from training.jobs.common import JobError


def load_prompts(path: str) -> list[list[dict[str, str]]]:
    """Read conversational prompts; raise JobError naming the first bad line."""
    prompts = []
    try:
        for line_no, row in enumerate(common.read_jsonl(path), start=1):
            messages = row.get("prompt") if isinstance(row, dict) else None
            if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) and "role" in m and "content" in m for m in messages):
                raise JobError(f"{path}: line {line_no}: 'prompt' must be a non-empty list of {{role, content}} messages")
            prompts.append(messages)
    except (OSError, ValueError) as exc:
        raise JobError(f"cannot read prompts_file {path}: {exc}") from exc
    if not prompts:
        raise JobError(f"prompts_file {path} has no prompts")
    return prompts


class PromptSampler:
    """Hand each process its own slice of a shared, reshuffled stream of prompts."""

    def __init__(self, prompts: list[Any], *, per_process: int, rank: int, world: int, seed: int) -> None:
        import torch

        self.prompts, self.per_process, self.rank, self.world = prompts, per_process, rank, world
        self.generator = torch.Generator().manual_seed(seed)  # same seed on every rank: same stream
        self.queue: list[int] = []

    def next(self) -> list[Any]:
        """Return this process's prompts for the next update."""
        import torch

        needed = self.per_process * self.world
        while len(self.queue) < needed:
            self.queue.extend(torch.randperm(len(self.prompts), generator=self.generator).tolist())
        batch, self.queue = self.queue[:needed], self.queue[needed:]
        mine = batch[self.rank * self.per_process : (self.rank + 1) * self.per_process]
        return [self.prompts[i] for i in mine]


@dataclass
class Loaded:
    tokenizer: Any
    policy: Any
    ref_policy: Any
    value_model: Any
    reward_model: Any
    reward_tokenizer: Any


def load_models(config: Any) -> Loaded:
    """Load policy (fp32, trained), reference copy, reward model and a value model from it."""
    import torch

    from training.jobs.rl.models import disable_dropout

    tokenizer = common.load_tokenizer(config.model)
    policy = common.load_causal_lm(config.model, dtype=torch.float32)
    ref_policy = copy.deepcopy(policy).requires_grad_(False)
    if getattr(config, "use_lora", False):  # adapters on the policy only: the reference stays the plain start
        from peft import get_peft_model

        from training.jobs.memory import lora_config

        policy = get_peft_model(policy, lora_config(config))
    reward_model = common.load_reward_model(config.reward_model).requires_grad_(False)
    reward_tokenizer = common.load_tokenizer(config.reward_model, padding_side="right")
    reward_tokenizer.truncation_side = "left"  # keep the response end, where the score is read
    reward_model.config.pad_token_id = reward_tokenizer.pad_token_id
    # The value model reads policy tokens: start it from the reward model when they share a
    # vocabulary ([N+] detail), else from the policy's own backbone with a fresh scalar head.
    same_vocab = reward_tokenizer.get_vocab() == tokenizer.get_vocab()
    value_source = config.reward_model if same_vocab else config.model
    if not same_vocab:
        print("ppo: reward model tokenizer differs from the policy's; value model starts from the policy", file=sys.stderr)
    value_model = common.load_reward_model(value_source, dtype=torch.float32)
    value_model.config.pad_token_id = tokenizer.pad_token_id
    for model in (policy, ref_policy, reward_model, value_model):
        disable_dropout(model)
    return Loaded(tokenizer, policy, ref_policy, value_model, reward_model, reward_tokenizer)


def kl_controller(config: Any) -> Any:
    """Return the fixed or adaptive KL controller the config asks for."""
    from training.jobs.rl.losses import AdaptiveKLController, FixedKLController

    if config.adaptive_kl:
        return AdaptiveKLController(config.kl_coef, target=config.target_kl, horizon=config.kl_horizon)
    return FixedKLController(config.kl_coef)


def update_stats(rollout: Any, adv: Any, history: list[dict[str, float]]) -> dict[str, float]:
    """Summarise one update on this process (reduced across processes by the caller)."""
    from training.jobs.rl.losses import masked_mean

    mask = rollout.response_mask
    stats = {k: sum(h[k] for h in history) / len(history) for k in ("policy_loss", "value_loss", "clipfrac", "approxkl", "value_clipfrac")}
    stats.update(
        reward=rollout.scores.mean().item(),
        reward_penalized=adv.scores.mean().item(),
        kl=adv.kl.sum(1).mean().item(),
        non_score_reward=(adv.rewards.sum(1) - adv.scores).mean().item(),
        entropy=masked_mean(rollout.entropy, mask).item(),
        response_length=mask.sum(1).mean().item(),
        eos_rate=rollout.contains_eos.float().mean().item(),
    )
    return stats


def reduce_mean(accelerator: Any, stats: dict[str, float]) -> dict[str, float]:
    """Average a dict of floats over all processes."""
    import torch

    keys = sorted(stats)
    values = torch.tensor([stats[k] for k in keys], dtype=torch.float64, device=accelerator.device)
    values = accelerator.reduce(values, reduction="mean")
    return dict(zip(keys, values.tolist(), strict=True))


def save_policy(accelerator: Any, model: Any, tokenizer: Any, output_dir: str) -> None:
    """Save the trained policy + tokenizer atomically; every process takes part in gathering weights."""
    state = accelerator.get_state_dict(model)  # a collective under FSDP/ZeRO-3: all ranks call it
    if accelerator.is_main_process:
        policy_state = {k.removeprefix("policy."): v for k, v in state.items() if k.startswith("policy.")}
        policy = accelerator.unwrap_model(model).policy
        with common.atomic_output_dir(output_dir) as tmp:
            if hasattr(policy, "merge_and_unload"):  # LoRA: fold the adapters into a plain model
                policy.merge_and_unload().save_pretrained(tmp, safe_serialization=True)
            else:
                policy.save_pretrained(tmp, state_dict=policy_state, safe_serialization=True)
            tokenizer.save_pretrained(tmp)
    accelerator.wait_for_everyone()
