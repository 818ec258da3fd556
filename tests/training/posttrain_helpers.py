"""Data for the post-training job tests (sft, kto, orpo): learnable, and hard for the untrained policy."""

from __future__ import annotations

import random
from typing import Any

DEMO_MARKER = "Indeed!"


def demonstrations(n: int, *, seed: int, marker: str = DEMO_MARKER) -> list[dict[str, Any]]:
    """Dialogues whose answers all start with `marker`; every fourth one is two turns long."""
    from training.jobs.tinymodel import load_dialogues

    rng = random.Random(seed)
    dialogues = load_dialogues()
    rows = []
    for i in range(n):
        user, assistant = rng.choice(dialogues)["messages"]
        answer = {"role": "assistant", "content": f"{marker} {assistant['content']}"}
        if i % 4 == 3:
            first_user, first_answer = rng.choice(dialogues)["messages"]
            first = [first_user, {"role": "assistant", "content": f"{marker} {first_answer['content']}"}]
            rows.append({"messages": [*first, user, answer], "demonstration_id": i})
        else:
            rows.append({"messages": [user, answer], "demonstration_id": i})
    return rows


def marker_pairs(n: int, *, seed: int, chosen: str = "Well.", rejected: str = "Sure!") -> list[dict[str, Any]]:
    """Pairs that differ only in their opening word; the untrained policy prefers the rejected one."""
    from training.jobs.tinymodel import synthetic_preferences

    rows = synthetic_preferences(n, seed=seed)
    for row in rows:
        body = row["chosen"][0]["content"].split(" ", 1)[1]
        row["chosen"] = [{"role": "assistant", "content": f"{chosen} {body}"}]
        row["rejected"] = [{"role": "assistant", "content": f"{rejected} {body}"}]
    return rows


def marker_logprob(model_dir, prompts: list[str], marker: str = DEMO_MARKER) -> float:  # type: ignore[no-untyped-def]
    """Mean log-probability the saved policy gives `marker` as the start of its answer."""
    from training.jobs import common, finetune

    model, tokenizer = common.load_causal_lm(str(model_dir)), common.load_tokenizer(str(model_dir))
    convs = [[{"role": "user", "content": p}] for p in prompts]
    answers = [[{"role": "assistant", "content": marker}] for _ in prompts]
    # The chat template closes the turn after the marker: score the marker tokens, not the end token.
    scored = finetune.answer_samples(tokenizer, convs, answers, max_length=256)
    from training.jobs.sampling import response_logprobs

    lps = response_logprobs(model.eval(), scored, pad_id=tokenizer.pad_token_id, device="cpu")
    return sum(float(lp[:-1].sum()) for lp in lps) / len(lps)


def addition_question(a: int, b: int) -> str:
    return f"What is {a} + {b}?"


def two_style_demonstrations() -> list[dict[str, Any]]:
    """Small sums answered in two styles: reasoning in <think>/<answer> tags, and a plain sentence.

    A policy trained on both answers in either style, so the format reward starts between 0 and 1
    and GRPO has something to select.
    """
    rows = []
    for a in range(1, 7):
        for b in range(1, 5):
            question = {"role": "user", "content": addition_question(a, b)}
            tagged = f"<think>{a} plus {b} is {a + b}.</think><answer>{a + b}</answer>"
            rows.append({"messages": [question, {"role": "assistant", "content": tagged}]})
            rows.append({"messages": [question, {"role": "assistant", "content": f"The answer is {a + b}."}]})
    return rows


def addition_prompts() -> list[dict[str, Any]]:
    """A prompts_file's rows: sums with their reference answers."""
    pairs = [(a, b) for a in range(2, 6) for b in range(2, 6)]
    return [{"prompt_id": i, "prompt": [{"role": "user", "content": addition_question(a, b)}], "reference": str(a + b)}
            for i, (a, b) in enumerate(pairs)]
