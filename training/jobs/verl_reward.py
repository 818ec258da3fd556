"""PrefLoop's rule rewards for verl: point `custom_reward_function.path` at this file.

    reward.custom_reward_function.path=/path/to/prefloop/training/jobs/verl_reward.py
    reward.custom_reward_function.name=compute_score

(`custom_reward_function.path` at the top level on verl releases before the `reward.` group.)
verl calls `compute_score(data_source, solution_str, ground_truth, extra_info)` once per
response. The rules are the `grpo` job's (training/jobs/rewards.py): format = the response is
`<think>…</think><answer>…</answer>`; correctness = its answer matches the reference that a
PrefLoop prompt export wrote as `reward_model.ground_truth`. No Django, no torch: verl loads
this file by path in its reward workers, where PrefLoop may not be installed.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any


def _rules() -> Any:
    """Return training/jobs/rewards.py: imported when PrefLoop is installed, else loaded from beside this file."""
    try:
        from training.jobs import rewards
    except ImportError:
        name = "prefloop_rule_rewards"
        if name in sys.modules:
            return sys.modules[name]
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name("rewards.py"))
        rewards = importlib.util.module_from_spec(spec)
        sys.modules[name] = rewards
        spec.loader.exec_module(rewards)
    return rewards


def compute_score(
    data_source: str,
    solution_str: str,
    ground_truth: str | None,
    extra_info: dict[str, Any] | None = None,
    *,
    format_weight: float = 1.0,
    correctness_weight: float = 1.0,
    **kwargs: Any,
) -> dict[str, float]:
    """Score one response: format reward, plus correctness when the prompt has a reference.

    Returns verl's dict form: `score` (the weighted sum, what verl trains on) and each part,
    so verl logs format and correctness separately. Weights come from
    `custom_reward_function.reward_kwargs`. `data_source` is not used: every PrefLoop prompt
    is scored by the same rules.
    """
    rules = _rules()
    fmt = rules.format_reward([solution_str])[0]
    has_reference = ground_truth is not None and bool(str(ground_truth).strip())
    correct = rules.correctness_reward([solution_str], reference=[ground_truth])[0] if has_reference else None
    score = format_weight * fmt + (correctness_weight * correct if correct is not None else 0.0)
    return {"score": float(score), "format": float(fmt), "correct": float(correct or 0.0), "has_reference": float(has_reference)}
