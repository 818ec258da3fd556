"""Run and model pages in words: readable numbers, a clean log tail, key figures, timing.

Pure functions over what the selectors return, used by training/views and the `training_tags`
template filters, so no page shows Python reprs, float noise or terminal control codes.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

# Metrics a reader looks for first, in this order; the first few present make the headline.
KEY_METRICS = (
    "loss", "eval_loss", "rewards/accuracies", "accuracy", "eval_accuracy", "rewards/margins", "reward",
    "objective/scores", "kl", "objective/kl", "win_rate",
)  # fmt: skip
HEADLINE_SIZE = 4
# Charted, but no headline: counters, schedules and speeds that change with every step ("Epoch 0.3 → 3"
# says nothing about learning) and PPO's step-size diagnostics, whose fall is neither better nor worse.
NOT_HEADLINES = frozenset({
    "epoch", "episodes", "prompts_done", "num_tokens", "learning_rate", "global_step", "total_flos",
    "responses_per_s", "approxkl", "clipfrac", "value_clipfrac",
})
ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-Z\\-_]")
# A tqdm bar: "12%|██▍      | 3/25 [00:01<00:09,  2.3it/s]" (or its ASCII form with # and spaces).
TQDM = re.compile(r"\d{1,3}%\|[^|]*\|\s*\d+(?:\.\d+)?[kMG]?/\d*")


def number(value: float | int) -> str:
    """Format a number for people: 3 significant digits, scientific when tiny or huge, no float noise."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if math.isnan(value) or math.isinf(value):
        return str(value)
    if value == 0:
        return "0"
    if float(value).is_integer() and abs(value) < 1e6:
        return f"{int(value):,}"
    return f"{value:.3g}"  # 0.693, 1.21e-07, 1.23e+07: scientific only where it is shorter


def readable(value: Any) -> str:
    """Show any config or metric value in words: no None, [], dict reprs or 16-digit floats."""
    if value is None or value == "" or value == [] or value == {}:
        return "–"
    if isinstance(value, (bool, int, float)):
        return number(value)
    if isinstance(value, (list, tuple)):
        return ", ".join(readable(v) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{words(k)}: {readable(v)}" for k, v in value.items())
    return str(value)


# Words that stay as written (or get their usual capitals) inside a label: "kl_coef" -> "KL coef".
SPELLED = {"kl": "KL", "eos": "EOS", "lora": "LoRA", "ppo": "PPO", "dpo": "DPO", "ipo": "IPO", "kto": "KTO",
           "orpo": "ORPO", "grpo": "GRPO", "rloo": "RLOO", "sft": "SFT", "gae": "GAE", "lr": "LR", "url": "URL",
           "api": "API", "id": "ID", "ids": "IDs", "gpu": "GPU", "vllm": "vLLM", "bf16": "bf16", "fp16": "fp16"}


def words(name: Any) -> str:
    """Turn a metric or field name into a label: "rewards/accuracies" -> "Rewards accuracies", "kl_coef" -> "KL coef"."""
    parts = [SPELLED.get(w.lower(), w) for w in re.split(r"[_/\s]+", str(name).strip()) if w]
    text = " ".join(parts)
    return text if parts and parts[0] in SPELLED.values() else text[:1].upper() + text[1:]


def clean_log(text: str) -> str:
    """Strip ANSI colour codes and progress bars from a job's log tail; keep the rest as written."""
    lines = []
    for raw in ANSI.sub("", text or "").split("\n"):
        line = raw.rsplit("\r", 1)[-1] if "\r" in raw.rstrip("\r") else raw.rstrip("\r")  # \r redraws a line
        if TQDM.search(line):
            continue
        lines.append(line.rstrip())
    return "\n".join(lines).strip("\n")


@dataclass(frozen=True)
class KeyFigure:
    name: str
    before: str
    after: str
    better: bool | None  # None: no direction known


def _better(name: str, first: float, last: float) -> bool | None:
    if last == first:
        return None
    lower_is_better = "loss" in name or name.endswith("kl")
    return (last < first) if lower_is_better else (last > first)


def key_figures(
    series: dict[str, list[tuple[float, float]]], lead: tuple[tuple[str, str], ...] = ()
) -> list[KeyFigure]:
    """Return the headline metrics as first -> last value (metrics with two or more points).

    `lead` (the kind's headline from training.kinds: (metric, title) pairs) comes first: the
    figure that says whether the run learned (for DPO the implicit-reward accuracy, not loss).
    """
    moving = charted(series)  # a flat line (a constant learning rate) says nothing before -> after
    titles = dict(lead)
    ordered = [n for n, _ in lead if n in moving]
    ordered += [n for n in KEY_METRICS if n in moving and n not in ordered]
    ordered += sorted(n for n in moving if n not in ordered and n not in NOT_HEADLINES)
    figures = []
    for name in ordered[:HEADLINE_SIZE]:
        first, last = series[name][0][1], series[name][-1][1]
        figures.append(KeyFigure(titles.get(name) or words(name), number(first), number(last), _better(name, first, last)))
    return figures


def charted(series: dict[str, list[tuple[float, float]]]) -> dict[str, list[tuple[float, float]]]:
    """Keep the metrics worth a chart: two or more points with some change."""
    return {n: pts for n, pts in series.items() if len(pts) >= 2 and len({v for _, v in pts}) > 1}


def duration(delta: timedelta | None) -> str:
    """Format a duration: "45 s", "3 min 5 s", "2 h 4 min"."""
    if delta is None:
        return "–"
    seconds = max(0, round(delta.total_seconds()))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def timing(*, started: datetime | None, finished: datetime | None, progress: float, now: datetime) -> dict[str, str]:
    """Return elapsed time and, while running with some progress, the estimated time left."""
    if started is None:
        return {"elapsed": "–", "eta": ""}
    elapsed = (finished or now) - started
    eta = ""
    if finished is None and 0.02 <= progress < 1:
        eta = duration(elapsed * ((1 - progress) / progress))
    return {"elapsed": duration(elapsed), "eta": eta}
