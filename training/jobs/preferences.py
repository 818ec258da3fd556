"""Preference rows in TRL's conversational form: read, check, split, measure (reward and dpo jobs).

A row: {"prompt": [messages], "chosen": [assistant message], "rejected": [assistant message],
"margin": float (optional), ...provenance columns (ignored)}.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from training.jobs import common

Row = dict[str, Any]


def _is_messages(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(
        isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str) for m in value
    )


def _check_row(row: Any, where: str) -> Row:
    if not isinstance(row, dict):
        raise common.JobError(f"{where}: expected a JSON object")
    for key in ("prompt", "chosen", "rejected"):
        if not _is_messages(row.get(key)):
            raise common.JobError(f"{where}: '{key}' must be a non-empty list of chat messages")
    margin = row.get("margin")
    if margin is not None and (isinstance(margin, bool) or not isinstance(margin, (int, float))):
        raise common.JobError(f"{where}: 'margin' must be a number, got {margin!r}")
    clean: Row = {"prompt": row["prompt"], "chosen": row["chosen"], "rejected": row["rejected"]}
    clean["margin"] = float(margin) if margin is not None else None
    return clean


def read_preferences(path: str | Path, *, field: str) -> list[Row]:
    """Read and check a preference JSONL, keeping only the columns training uses; JobError names the line."""
    if not Path(path).exists():
        raise common.JobError(f"{field}: file not found: {path}")
    rows = [_check_row(row, f"{field} line {n}") for n, row in enumerate(common.read_jsonl(path), start=1)]
    if not rows:
        raise common.JobError(f"{field}: {path} has no preference rows")
    return rows


def train_eval_rows(train_file: str, eval_file: str, *, eval_fraction: float, seed: int) -> tuple[list[Row], list[Row]]:
    """Return (train, held-out) rows: eval_file when given, else a seeded slice of the training rows."""
    train = read_preferences(train_file, field="train_file")
    if eval_file:
        return train, read_preferences(eval_file, field="eval_file")
    n_eval = int(len(train) * eval_fraction)
    if n_eval == 0 or len(train) - n_eval < 1:
        return train, []
    order = list(range(len(train)))
    random.Random(seed).shuffle(order)
    held = set(order[:n_eval])
    return [r for i, r in enumerate(train) if i not in held], [r for i, r in enumerate(train) if i in held]


def trl_rows(rows: list[Row], *, with_margin: bool) -> list[Row]:
    """Rows as TRL wants them; margin included only when every row has one (missing = 0 would mislead)."""
    keep_margin = with_margin and all(r["margin"] is not None for r in rows)
    out = []
    for r in rows:
        row = {"prompt": r["prompt"], "chosen": r["chosen"], "rejected": r["rejected"]}
        if keep_margin:
            row["margin"] = r["margin"]
        out.append(row)
    return out


def token_lengths(tokenizer, row: Row) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """Token counts of prompt+chosen and prompt+rejected as the chat template renders them."""
    chosen = tokenizer.apply_chat_template(row["prompt"] + row["chosen"], tokenize=True)
    rejected = tokenizer.apply_chat_template(row["prompt"] + row["rejected"], tokenize=True)
    chosen = chosen["input_ids"] if isinstance(chosen, dict) or hasattr(chosen, "keys") else chosen
    rejected = rejected["input_ids"] if isinstance(rejected, dict) or hasattr(rejected, "keys") else rejected
    return len(chosen), len(rejected)


def split_by_length(tokenizer, rows: list[Row], max_length: int) -> tuple[list[Row], int]:  # type: ignore[no-untyped-def]
    """Drop pairs whose longer side exceeds max_length (as RewardTrainer would) and count them."""
    kept = [r for r in rows if max(token_lengths(tokenizer, r)) <= max_length]
    return kept, len(rows) - len(kept)


def margin_bucket(margin: float | None) -> str:
    """Group pairs by how strongly annotators preferred chosen: rank gap 1, 2, 3 or more, or none."""
    if margin is None:
        return "none"
    if margin >= 3:
        return "3+"
    return f"{margin:g}" if float(margin).is_integer() else f"{margin:.1f}"


def accuracy_by_bucket(rows: list[Row], correct: list[bool]) -> dict[str, dict[str, float]]:
    """Accuracy and pair count per margin bucket."""
    buckets: dict[str, list[bool]] = {}
    for row, ok in zip(rows, correct, strict=True):
        buckets.setdefault(margin_bucket(row["margin"]), []).append(ok)
    return {k: {"accuracy": sum(v) / len(v), "pairs": len(v)} for k, v in sorted(buckets.items())}
