"""The reward model as a TRL reward function for RLOO and GRPO: prompt + completion, left-truncated.

TRL 1.16 scores a reward *model* by tokenizing the rendered prompt + completion without
truncation (GRPOTrainer/RLOOTrainer `_calculate_rewards`), so an input longer than the reward
model's context indexes past its positions. Setting `truncation_side` and `model_max_length`
on the tokenizer does not help: TRL never asks for truncation. Handing TRL this callable
instead scores as PPO does (training/jobs/rl/rollout.py `score_texts`): the same chat template,
right padding, and the input's last `max_length` tokens kept, since the score is read at
the response's end. It counts the inputs it cuts, for the run page.
"""

from __future__ import annotations

from typing import Any

Messages = list[dict[str, str]]


class RewardModelScorer:
    """Score (prompt, completion) pairs with a sequence-classification reward model, keeping each input's end."""

    __name__ = "reward_model"  # TRL logs rewards/<name>/mean; matches GRPOJobConfig.reward_names()

    def __init__(self, model: Any, tokenizer: Any, *, max_length: int | None) -> None:
        self.model, self.tokenizer, self.max_length = model, tokenizer, max_length
        self.truncated = 0  # inputs longer than max_length, on this process
        self.tokens_cut = 0
        self.scored = 0

    def __call__(self, prompts: list[Messages], completions: list[Messages], log_metric: Any = None,
                 **_: Any) -> list[float]:
        """Return one score per pair; TRL passes the other columns (reference, trainer_state, ...) as keywords."""
        import torch

        rendered = [self.tokenizer.apply_chat_template(p + c, tokenize=False) for p, c in zip(prompts, completions, strict=True)]
        ids = self.tokenizer(rendered, add_special_tokens=False)["input_ids"]
        limit = self.max_length
        cut = [len(x) - limit for x in ids if limit is not None and len(x) > limit]
        self.truncated, self.tokens_cut, self.scored = self.truncated + len(cut), self.tokens_cut + sum(cut), self.scored + len(ids)
        if log_metric is not None:
            log_metric("reward_model/truncated_ratio", len(cut) / len(ids))
        kept = [x[-limit:] for x in ids] if limit is not None else ids
        batch = self.tokenizer.pad({"input_ids": kept}, padding=True, padding_side="right", return_tensors="pt")
        device = next(self.model.parameters()).device
        with torch.inference_mode():
            return self.model(**batch.to(device)).logits[:, 0].float().tolist()

    def warnings(self, accelerator: Any) -> list[dict[str, Any]]:
        """Describe the truncated inputs summed over all processes (a collective: every rank calls it)."""
        import torch

        local = torch.tensor([self.truncated, self.tokens_cut, self.scored], dtype=torch.int64, device=accelerator.device)
        truncated, tokens_cut, scored = (int(v) for v in accelerator.reduce(local, reduction="sum").tolist())
        if not truncated:
            return []
        message = (f"Truncated {truncated} of {scored} reward-model inputs (prompt + completion) to their last "
                   f"{self.max_length} tokens (the reward model's context); {tokens_cut} tokens were cut from their starts.")
        return [{
            "action": "truncated", "count": truncated, "of": scored, "split": "train", "unit": "reward_inputs",
            "reason": f"longer than the reward model's context of {self.max_length} tokens",
            "tokens_cut": tokens_cut, "max_length": self.max_length, "message": message,
        }]


def place_on_process_device(model: Any) -> Any:
    """Move the reward model to this process's device: TRL prepares reward models, not reward callables."""
    from accelerate import PartialState

    return model.to(PartialState().device)


def truncation_warnings(reward_funcs: list[Any], accelerator: Any) -> list[dict[str, Any]]:
    """Collect the reward-model scorers' truncation warnings (rule rewards have none); every rank calls it."""
    return [w for func in reward_funcs if isinstance(func, RewardModelScorer) for w in func.warnings(accelerator)]
