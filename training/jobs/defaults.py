"""Hyperparameter defaults that follow the model: learning rate and epochs by size, length by context.

A field left at None ("auto") in a job's config is filled here once the model is loaded, and
the job reports the values it used (result.json "hyperparameters", "defaults"). The rule:

    learning_rate = LR_AT_1B[kind] * (1e9 / parameters) ** 0.5, clamped to [1e-7, 1e-3]
    num_train_epochs = 3 below 100M parameters, 2 below 1B, else 1
    max_length (reward, dpo) = the model's context window (1024 when its config does not say)
    total_episodes (ppo) = 8 passes over the training prompts, at least 256 and at most 1024
    max_prompt_length (ppo, rloo, grpo) = context - the completion budget (response_length or
        max_completion_length), at most 1024 tokens

The anchors at 1B parameters are the values published recipes use for 1-8B models (TRL's DPO
default 1e-6; reward models 1e-5; PPO 3e-6 from Huang et al. 2024; RLOO/GRPO TRL's 1e-6), and
the square-root slope lands 8B models at a third of that (DPO 3.5e-7: Zephyr-7B used 5e-7,
Tulu-3-8B 5e-7). Small models need far larger steps: on the 0.15M-parameter demo policy the
same rule gives DPO 8e-5, which learns on demo-sized data where TRL's 1e-6 does not move at
all (figures in bench/defaults_learn.py). Small models also need more passes over a small set.
The RL jobs sample a completion after each prompt, so a prompt may take what the context leaves
beside the completion; the 1024 ceiling bounds rollout memory on long-context models (every
prompt of a batch is padded to the longest), and a prompt over the limit keeps its last tokens
and is reported (training/jobs/rl/prompt_budget.py).

No Django and no torch at import: the web app reads a local model's size from its safetensors
headers (`parameters_on_disk`) to show the value a run will use.
"""

from __future__ import annotations

import dataclasses
import json
import math
import struct
from pathlib import Path
from typing import Any

ONE_BILLION = 1e9
LR_AT_1B: dict[str, float] = {"reward": 1e-5, "dpo": 1e-6, "ppo": 3e-6, "rloo": 1e-6, "grpo": 1e-6}
LR_SLOPE = 0.5  # learning rate ~ parameters ** -0.5 between the anchors
LR_MIN, LR_MAX = 1e-7, 1e-3
FALLBACK_MAX_LENGTH = 1024  # when the model's config names no context window
EPOCH_KINDS = frozenset({"reward", "dpo", "rloo", "grpo"})
LENGTH_KINDS = frozenset({"reward", "dpo"})
MAX_PROMPT_LENGTH = 1024  # auto prompt budget's ceiling, whatever the context
# The config field each RL kind reserves for the completion, beside the prompt.
COMPLETION_FIELDS: dict[str, str] = {"ppo": "response_length", "rloo": "max_completion_length", "grpo": "max_completion_length"}


def scaled_learning_rate(kind: str, parameters: int) -> float:
    """Return the size-scaled learning rate for a kind (rounded to 2 significant digits)."""
    raw = LR_AT_1B[kind] * (ONE_BILLION / max(parameters, 1)) ** LR_SLOPE
    value = min(max(raw, LR_MIN), LR_MAX)
    return float(f"{value:.2g}")


# PPO's episode budget follows the prompts: 1024 episodes on the demo's 40 training prompts are 25 passes,
# and the demo policy then drifts far from its reference (KL 16-30 nats per answer) to please a reward
# model trained on 45 comparisons. Eight passes still move it clearly (tests/training/test_loop_unattended.py);
# from 128 prompts on, the budget is the fixed 1024 of before.
PPO_PASSES = 8
PPO_EPISODES_MIN, PPO_EPISODES_MAX = 256, 1024


def ppo_total_episodes(prompts: int) -> int:
    """Return PPO's auto total_episodes for a prompt set of this size."""
    return min(max(PPO_PASSES * prompts, PPO_EPISODES_MIN), PPO_EPISODES_MAX)


# Auto values that follow the number of training prompts rather than the model: kind -> field -> rule.
PROMPT_RULES = {"ppo": {"total_episodes": ppo_total_episodes}}


def scaled_epochs(parameters: int) -> float:
    """Return passes over the data: small models need several, large ones overfit after one."""
    if parameters < 100_000_000:
        return 3.0
    if parameters < ONE_BILLION:
        return 2.0
    return 1.0


def prompt_length(context: int | None, completion_length: int) -> int:
    """Return the prompt tokens that fit beside a completion in the context, at most MAX_PROMPT_LENGTH.

    Zero or less when the completion alone fills the context: the job then refuses to start.
    """
    return min((context or FALLBACK_MAX_LENGTH) - completion_length, MAX_PROMPT_LENGTH)


def explain_prompt_length(context: int | None, completion_field: str, completion_length: int) -> str:
    """Say where an auto max_prompt_length came from, e.g. "the policy's context of 256 tokens less response_length 48"."""
    room = (context or FALLBACK_MAX_LENGTH) - completion_length
    if room > MAX_PROMPT_LENGTH:
        return f"at most {MAX_PROMPT_LENGTH} tokens"
    if context is None:
        return f"{FALLBACK_MAX_LENGTH} tokens (the policy's config names no context) less {completion_field} {completion_length}"
    return f"the policy's context of {context} tokens less {completion_field} {completion_length}"


def parameter_count(model: Any) -> int:
    """Count a loaded torch model's parameters."""
    return int(sum(p.numel() for p in model.parameters()))


def _safetensors_parameters(path: Path) -> int:
    with path.open("rb") as fh:
        (size,) = struct.unpack("<Q", fh.read(8))
        header = json.loads(fh.read(size))
    return sum(math.prod(v["shape"]) for k, v in header.items() if k != "__metadata__")


def parameters_on_disk(model_dir: str | Path) -> int | None:
    """Count a local model's parameters from its safetensors headers (None if not a local safetensors model)."""
    path = Path(model_dir)
    files = sorted(path.glob("*.safetensors")) if path.is_dir() else []
    if not files:
        return None
    try:
        return sum(_safetensors_parameters(f) for f in files)
    except (OSError, ValueError, KeyError, struct.error):
        return None


def context_on_disk(model_dir: str | Path) -> int | None:
    """Read a local model's context window from its config.json (None when it does not say)."""
    try:
        config = json.loads((Path(model_dir) / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    for name in ("n_positions", "max_position_embeddings"):
        value = config.get(name)
        if isinstance(value, int) and value > 0:
            return value
    return None


def recommended(kind: str, *, parameters: int | None, context: int | None,
                completion_length: int | None = None, prompts: int | None = None) -> dict[str, Any]:
    """Return the auto values a kind's job would use for a model of this size and context.

    completion_length: the RL kinds' response_length / max_completion_length, which the prompt
    budget leaves room for. prompts: the number of training prompts, for PROMPT_RULES.
    """
    out: dict[str, Any] = {}
    if prompts is not None:
        out |= {name: rule(prompts) for name, rule in PROMPT_RULES.get(kind, {}).items()}
    if kind in LR_AT_1B and parameters:
        out["learning_rate"] = scaled_learning_rate(kind, parameters)
    if kind in EPOCH_KINDS and parameters:
        out["num_train_epochs"] = scaled_epochs(parameters)
    if kind in LENGTH_KINDS:
        out["max_length"] = context or FALLBACK_MAX_LENGTH
    if kind in COMPLETION_FIELDS and completion_length and prompt_length(context, completion_length) > 0:
        out["max_prompt_length"] = prompt_length(context, completion_length)
    return out


def resolve(config: Any, kind: str, *, parameters: int, context: int | None,
            prompts: int | None = None) -> tuple[Any, dict[str, Any]]:
    """Fill the config's None ("auto") fields; return (config, {field: value} of what was filled)."""
    completion = getattr(config, COMPLETION_FIELDS.get(kind, ""), None)
    auto = recommended(kind, parameters=parameters, context=context, completion_length=completion, prompts=prompts)
    names = {f.name for f in dataclasses.fields(config)}
    filled = {k: v for k, v in auto.items() if k in names and getattr(config, k) is None}
    return dataclasses.replace(config, **filled), filled


def describe(filled: dict[str, Any], *, parameters: int, context: int | None, prompts: int | None = None) -> str:
    """Say in one line which values were chosen automatically and from what (the prompt count, the model)."""
    if not filled:
        return "all hyperparameters were set explicitly"
    from_prompts = {k: v for k, v in filled.items() if any(k in rules for rules in PROMPT_RULES.values())}
    from_model = {k: v for k, v in filled.items() if k not in from_prompts}
    size = f"{parameters / 1e6:.2f}M parameters" if parameters < ONE_BILLION else f"{parameters / 1e9:.1f}B parameters"
    ctx = f", context {context} tokens" if context else ""
    sources = [(from_prompts, f"{prompts} prompts"), (from_model, f"model of {size}{ctx}")]
    return "auto: " + ", ".join(f"{_values(values)} ({source})" for values, source in sources if values)


def _values(values: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}" for k, v in values.items())


def resolve_for_model(config: Any, kind: str, model: Any, *, prompts: int | None = None) -> tuple[Any, dict[str, Any]]:
    """Fill a job config's auto fields from a loaded model (and its training prompts' count); return
    (config, what to report in result.json)."""
    from training.jobs.common import context_limit

    parameters, context = parameter_count(model), context_limit(model)
    config, filled = resolve(config, kind, parameters=parameters, context=context, prompts=prompts)
    line = describe(filled, parameters=parameters, context=context, prompts=prompts)
    return config, {"hyperparameters": filled, "defaults": line, "model_parameters": parameters}
