"""Helpers for the RL job tests: a reward model with a learnable preference, prompt files, configs."""

from __future__ import annotations

import json
from pathlib import Path

from training.jobs.tinymodel import load_dialogues


def write_prompts(path: Path, *, n: int = 32, with_reference: bool = False) -> Path:
    """Write n conversational prompts from the bundled dialogues as a prompts_file."""
    rows = load_dialogues()[:n]
    with path.open("w", encoding="utf-8") as fh:
        for i, row in enumerate(rows):
            user, assistant = row["messages"][0], row["messages"][1]
            reference = assistant["content"].split()[-1].strip(".") if with_reference else None
            fh.write(json.dumps({"prompt_id": i, "prompt": [user], "reference": reference}) + "\n")
    return path


def brevity_pairs(n: int = 96) -> list[dict]:
    """Preference pairs where a one- or two-word answer beats a longer one (3-14 words).

    The tiny policy mostly answers with more words than that, so its score starts low and
    has room to rise: a property a policy can learn in a few updates (stop early).
    """
    rows = load_dialogues()
    pairs = []
    for i in range(n):
        user = rows[i % len(rows)]["messages"][0]
        words = " ".join(rows[(i + j) % len(rows)]["messages"][1]["content"] for j in range(4)).split()
        short = 1 + i % 2
        long = 3 + (i * 5) % 12
        pairs.append({
            "prompt": [user],
            "chosen": [{"role": "assistant", "content": " ".join(words[:short])}],
            "rejected": [{"role": "assistant", "content": " ".join(words[:long])}],
        })
    return pairs


def train_brevity_reward_model(policy_dir: Path, out_dir: Path) -> Path:
    """Train, with the project's reward job, a reward model that scores short answers higher."""
    from training.jobs.reward import RewardJobConfig
    from training.jobs.reward import main as reward_main

    work = out_dir.parent
    train_file = work / "brevity-pairs.jsonl"
    train_file.write_text("".join(json.dumps(row) + "\n" for row in brevity_pairs()), encoding="utf-8")
    config = RewardJobConfig(  # a few seconds: length is easy to learn
        model=str(policy_dir), train_file=str(train_file), output_dir=str(out_dir), run_dir=str(work / "rm-run"),
        learning_rate=3e-3, num_train_epochs=4, per_device_train_batch_size=16, eval_fraction=0.1, logging_steps=100,
    )
    from transformers import set_seed

    set_seed(0)  # the reward job draws its fresh head from the global RNG: fix it so tests do not depend on order
    reward_main(config)
    assert_prefers_short(out_dir)
    return out_dir


def assert_prefers_short(reward_dir: Path) -> None:
    """Check the trained reward model scores a one-word answer above a fourteen-word one."""
    import torch

    from training.jobs import common

    tok = common.load_tokenizer(str(reward_dir), padding_side="right")
    model = common.load_reward_model(str(reward_dir))
    model.config.pad_token_id = tok.pad_token_id
    words = "Summer is the warm season and a frog lives in a pond near the park".split()
    texts = [tok.apply_chat_template([{"role": "user", "content": "What season is warm?"},
                                      {"role": "assistant", "content": " ".join(words[:k])}], tokenize=False) for k in (1, 14)]
    with torch.no_grad():
        short, long = model(**tok(texts, return_tensors="pt", padding=True, add_special_tokens=False)).logits[:, 0].tolist()
    assert short > long + 1.0, f"the brevity reward model did not learn (short {short:.2f}, long {long:.2f})"


_REWARD_MODELS: dict[Path, Path] = {}


def brevity_reward_model(policy_dir: Path, tmp_root: Path) -> Path:
    """Train the brevity reward model once per policy per test process (several modules share it)."""
    if policy_dir not in _REWARD_MODELS:
        _REWARD_MODELS[policy_dir] = train_brevity_reward_model(policy_dir, tmp_root / "brevity-rm")
    return _REWARD_MODELS[policy_dir]


def read_metrics(run_dir: Path) -> list[dict]:
    """Return the metrics.jsonl rows of a run."""
    with (run_dir / "metrics.jsonl").open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def weights_changed(before_dir: Path, after_dir: Path) -> bool:
    """True when any tensor differs between two saved models."""
    from safetensors.torch import load_file

    before = load_file(str(before_dir / "model.safetensors"))
    after = load_file(str(after_dir / "model.safetensors"))
    return any(not (before[k] == after[k]).all() for k in before if k in after)
