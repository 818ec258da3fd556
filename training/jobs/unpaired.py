"""Unpaired feedback rows for KTO: read, check, and unpair preference rows.

A KTO row judges one answer on its own: {"prompt": [messages], "completion": [assistant message],
"label": true (desirable) | false (undesirable)}. A preference row {"prompt", "chosen", "rejected"}
is also accepted and becomes two KTO rows (chosen desirable, rejected undesirable); its pair is
kept for the held-out preference accuracy. Extra columns (ids, provenance) are ignored.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from training.jobs import common

Messages = list[dict[str, str]]


@dataclass
class Feedback:
    """Rows read from one file: KTO rows, plus the preference pairs some of them came from."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    pairs: list[dict[str, Messages]] = field(default_factory=list)

    @property
    def desirable(self) -> int:
        return sum(1 for r in self.rows if r["label"])

    @property
    def undesirable(self) -> int:
        return len(self.rows) - self.desirable


def _is_messages(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(
        isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str) for m in value
    )


def _check(row: Any, where: str) -> tuple[list[dict[str, Any]], dict[str, Messages] | None]:
    """Return the KTO rows of one line (one or two) and its pair when it is a preference row."""
    if not isinstance(row, dict) or not _is_messages(row.get("prompt")):
        raise common.JobError(f"{where}: expected an object whose 'prompt' is a non-empty list of chat messages")
    prompt = row["prompt"]
    if "chosen" in row or "rejected" in row:
        if not (_is_messages(row.get("chosen")) and _is_messages(row.get("rejected"))):
            raise common.JobError(f"{where}: 'chosen' and 'rejected' must both be non-empty lists of chat messages")
        pair = {"prompt": prompt, "chosen": row["chosen"], "rejected": row["rejected"]}
        return [{"prompt": prompt, "completion": row["chosen"], "label": True},
                {"prompt": prompt, "completion": row["rejected"], "label": False}], pair
    if not _is_messages(row.get("completion")):
        raise common.JobError(f"{where}: 'completion' must be a non-empty list of chat messages (or give chosen/rejected)")
    if not isinstance(row.get("label"), bool):
        raise common.JobError(f"{where}: 'label' must be true (desirable) or false (undesirable), got {row.get('label')!r}")
    return [{"prompt": prompt, "completion": row["completion"], "label": row["label"]}], None


def read_feedback(path: str | Path, *, field: str) -> list[tuple[list[dict[str, Any]], dict[str, Messages] | None]]:
    """Read a feedback JSONL as (KTO rows, pair or None) per line; JobError names the line."""
    if not Path(path).exists():
        raise common.JobError(f"{field}: file not found: {path}")
    lines = [_check(row, f"{field} line {n}") for n, row in enumerate(common.read_jsonl(path), start=1)]
    if not lines:
        raise common.JobError(f"{field}: {path} has no rows")
    return lines


def collect(lines: list[tuple[list[dict[str, Any]], dict[str, Messages] | None]]) -> Feedback:
    """Flatten per-line rows into one Feedback."""
    out = Feedback()
    for rows, pair in lines:
        out.rows.extend(rows)
        if pair is not None:
            out.pairs.append(pair)
    return out


def shuffled(rows: list[dict[str, Any]], seed: int) -> list[dict[str, Any]]:
    """Return rows in a seeded random order.

    KTOTrainer reads its data in order (its KL estimate pairs each row with its neighbour's
    answer), so an unpaired preference file would otherwise put every chosen answer next to
    the rejected answer of the same prompt, and each batch would hold one prompt's two halves.
    """
    out = list(rows)
    random.Random(seed).shuffle(out)
    return out


def balanced_weights(feedback: Feedback, desirable_weight: float, undesirable_weight: float) -> tuple[float, float]:
    """Scale the desirable weight so both labels weigh the same in total (KTO paper, Ethayarajh et al. 2024, §4.2).

    The paper recommends λ_D·n_D / (λ_U·n_U) in [1, 4/3]; equal totals sit at the bottom of that range.
    """
    if not feedback.desirable or not feedback.undesirable:
        return desirable_weight, undesirable_weight
    ratio = (undesirable_weight * feedback.undesirable) / (desirable_weight * feedback.desirable)
    return desirable_weight * ratio, undesirable_weight
