"""The models PPO trains and reads: policy + value as one module, dropout off, value heads."""

from __future__ import annotations

from torch import Tensor, nn


def position_ids_for(attention_mask: Tensor) -> Tensor:
    """Positions that skip left padding, as generate() used them."""
    return (attention_mask.cumsum(1) - 1).clamp(min=0)


def policy_logits(policy: nn.Module, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
    """Run a causal LM over a left-padded batch with the positions generate() used."""
    input_ids = input_ids.masked_fill(attention_mask == 0, 0)  # pad ids may be outside the embedding
    return policy(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids_for(attention_mask), use_cache=False).logits


def response_slice(per_token: Tensor, context_length: int) -> Tensor:
    """Keep the outputs that predict/evaluate response tokens: positions ctx-1 .. end-1."""
    return per_token[:, context_length - 1 : -1]


def disable_dropout(model: nn.Module) -> None:
    """Zero every dropout ([N+] detail: dropout makes the PPO ratio != 1 even with unchanged weights)."""
    for module in model.modules():
        if isinstance(module, nn.Dropout):
            module.p = 0.0
    for key, value in vars(model.config).items():
        if isinstance(value, float) and ("dropout" in key or "pdrop" in key):
            setattr(model.config, key, 0.0)
    model.eval()


def value_parts(value_model: nn.Module) -> tuple[nn.Module, nn.Module]:
    """Return (backbone, scalar head) of a sequence-classification model, to read a value at every token."""
    backbone = getattr(value_model, value_model.base_model_prefix, None)
    head = getattr(value_model, "score", None)
    if backbone is None or head is None:
        raise ValueError(f"{type(value_model).__name__} has no backbone/score head to use as a value model")
    return backbone, head


class PolicyAndValue(nn.Module):
    """Policy and value model as one module, so one optimizer and one DDP wrapper cover both."""

    def __init__(self, policy: nn.Module, value_model: nn.Module) -> None:
        super().__init__()
        self.policy = policy
        self.value_model = value_model

    def forward(self, input_ids: Tensor, attention_mask: Tensor) -> tuple[Tensor, Tensor]:
        """Return (policy logits, per-token values) over the whole sequence."""
        logits = policy_logits(self.policy, input_ids, attention_mask)
        backbone, head = value_parts(self.value_model)
        hidden = backbone(
            input_ids=input_ids.masked_fill(attention_mask == 0, 0),
            attention_mask=attention_mask,
            position_ids=position_ids_for(attention_mask),
            use_cache=False,
        ).last_hidden_state
        return logits, head(hidden).squeeze(-1)
