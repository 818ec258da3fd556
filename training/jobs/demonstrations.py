"""Demonstration rows for SFT: read, check, and turn into what SFTTrainer trains on.

A row is a conversation that ends with the answer to learn, in either form:
  {"messages": [{"role": "user", ...}, {"role": "assistant", ...}, ...]}   (PrefLoop's sft export)
  {"prompt": [messages], "completion": [{"role": "assistant", ...}]}        (TRL prompt-completion)
Extra columns (ids, provenance) are ignored.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from training.jobs import common

Messages = list[dict[str, str]]
ROLES = frozenset({"system", "user", "assistant"})


def _messages(value: Any, where: str, key: str) -> Messages:
    if not isinstance(value, list) or not value:
        raise common.JobError(f"{where}: '{key}' must be a non-empty list of chat messages")
    for message in value:
        if not isinstance(message, dict) or message.get("role") not in ROLES or not isinstance(message.get("content"), str):
            raise common.JobError(f"{where}: every message in '{key}' needs a role ({', '.join(sorted(ROLES))}) and text content")
    return [{"role": m["role"], "content": m["content"]} for m in value]


def check_row(row: Any, where: str) -> Messages:
    """Return a row as one conversation ending with an assistant turn; JobError names the line."""
    if not isinstance(row, dict):
        raise common.JobError(f"{where}: expected a JSON object")
    if "messages" in row:
        conversation = _messages(row["messages"], where, "messages")
    elif "prompt" in row and "completion" in row:
        conversation = _messages(row["prompt"], where, "prompt") + _messages(row["completion"], where, "completion")
    else:
        raise common.JobError(f"{where}: expected 'messages', or 'prompt' and 'completion'")
    if conversation[-1]["role"] != "assistant":
        raise common.JobError(f"{where}: the conversation must end with an assistant turn (the answer to learn)")
    if len(conversation) < 2:
        raise common.JobError(f"{where}: an assistant turn needs something to answer")
    return conversation


def read_demonstrations(path: str | Path, *, field: str) -> list[Messages]:
    """Read and check a demonstrations JSONL; JobError names the line."""
    if not Path(path).exists():
        raise common.JobError(f"{field}: file not found: {path}")
    rows = [check_row(row, f"{field} line {n}") for n, row in enumerate(common.read_jsonl(path), start=1)]
    if not rows:
        raise common.JobError(f"{field}: {path} has no demonstrations")
    return rows


def assistant_turns(conversation: Messages) -> list[tuple[Messages, Messages]]:
    """Return (everything before, [the turn]) for each assistant turn that answers something.

    Training on each of these as prompt/completion puts the loss on every assistant turn and
    nowhere else: what assistant-only masking does, for templates without generation markers.
    """
    return [(conversation[:i], [m]) for i, m in enumerate(conversation) if m["role"] == "assistant" and i > 0]


def prompt_completion_rows(conversations: list[Messages]) -> list[dict[str, Messages]]:
    """Expand conversations into TRL prompt-completion rows, one per assistant turn."""
    return [{"prompt": p, "completion": c} for conv in conversations for p, c in assistant_turns(conv)]


def supports_assistant_mask(tokenizer: Any) -> bool:
    """True when SFTTrainer can mask assistant tokens itself: the template has, or TRL can add, generation markers."""
    from trl.chat_template_utils import get_training_chat_template, has_generation_markers

    template = tokenizer.chat_template
    if not template:
        return False
    if has_generation_markers(template):
        return True
    try:
        return get_training_chat_template(tokenizer) is not None
    except ValueError:  # TRL knows no training variant of this template
        return False
