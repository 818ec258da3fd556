"""Rule-based rewards for GRPO/RLOO, with TRL's reward-function signature.

TRL calls each function as `f(prompts=..., completions=..., completion_ids=..., **columns)`,
where every extra dataset column (here `reference`) arrives as a list aligned with
`completions`. A function returns one float per completion, or None where it does not apply
(TRL then ignores it for that row). No torch, no Django: these are plain string rules.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from typing import Any

RewardFunc = Callable[..., list[float | None]]

# Whole completion: a reasoning block, then an answer block, nothing else around them.
FORMAT_RE = re.compile(r"^\s*<think>.*?</think>\s*<answer>.*?</answer>\s*$", re.DOTALL)
ANSWER_RE = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)
_DIGIT_COMMA_RE = re.compile(r"(?<=\d),(?=\d{3}\b)")
_EDGE_PUNCT = " \t\n.,;:!?\"'`$"


def completion_text(completion: Any) -> str:
    """Return the text of a completion: a plain string or conversational messages."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, Sequence):
        return "".join(str(m.get("content", "")) for m in completion if isinstance(m, dict))
    return str(completion)


def extract_answer(text: str) -> str:
    """Return the last <answer>...</answer> body, or the whole text when there is none."""
    found = ANSWER_RE.findall(text)
    return found[-1] if found else text


def normalize_answer(text: str) -> str:
    """Canonicalise an answer: Unicode NFKC, casefold, single spaces, no edge punctuation or $."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = _DIGIT_COMMA_RE.sub("", text)  # "1,000" and "1000" are the same number
    text = " ".join(text.split())
    return text.strip(_EDGE_PUNCT)


def answers_match(answer: str, reference: str) -> bool:
    """Compare normalised answers; numbers compare by value so '3.0' matches '3'."""
    a, b = normalize_answer(answer), normalize_answer(reference)
    if a == b:
        return True
    try:
        return abs(float(a) - float(b)) <= 1e-9 * max(1.0, abs(float(b)))
    except ValueError:
        return False


def format_reward(completions: list[Any], **kwargs: Any) -> list[float | None]:
    """Score 1.0 for `<think>...</think><answer>...</answer>`, else 0.0."""
    return [1.0 if FORMAT_RE.match(completion_text(c)) else 0.0 for c in completions]


def correctness_reward(completions: list[Any], reference: list[str | None] | None = None, **kwargs: Any) -> list[float | None]:
    """Score 1.0 when the answer matches the row's reference, 0.0 when not, None without a reference."""
    references = reference if reference is not None else [None] * len(completions)
    scores: list[float | None] = []
    for completion, ref in zip(completions, references, strict=True):
        if ref is None or not str(ref).strip():
            scores.append(None)
            continue
        answer = extract_answer(completion_text(completion))
        scores.append(1.0 if answers_match(answer, str(ref)) else 0.0)
    return scores


RULE_REWARDS: dict[str, RewardFunc] = {
    "format": format_reward,
    "correctness": correctness_reward,
}


def rule_reward_funcs(names: Sequence[str]) -> list[RewardFunc]:
    """Look up rule rewards by name; raise KeyError naming an unknown one."""
    unknown = [n for n in names if n not in RULE_REWARDS]
    if unknown:
        raise KeyError(f"unknown rule reward(s): {', '.join(unknown)}; known: {', '.join(sorted(RULE_REWARDS))}")
    return [RULE_REWARDS[n] for n in names]
