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


def brevity_pairs(n: int = 64) -> list[dict]:
    """Preference pairs where the shorter answer wins: a property a policy can learn fast."""
    rows = load_dialogues()
    pairs = []
    for i in range(n):
        user, answer = rows[i % len(rows)]["messages"]
        other = rows[(i + 7) % len(rows)]["messages"][1]["content"]
        words = answer["content"].split()
        pairs.append({
            "prompt": [user],
            "chosen": [{"role": "assistant", "content": " ".join(words[: 1 + i % 2])}],
            "rejected": [{"role": "assistant", "content": f"{answer['content']} {other} {answer['content']}"}],
        })
    return pairs


def train_brevity_reward_model(policy_dir: Path, out_dir: Path) -> Path:
    """Train a reward model (from the policy, num_labels=1) that scores short answers higher."""
    from datasets import Dataset
    from trl import RewardConfig, RewardTrainer

    from training.jobs import common

    tokenizer = common.load_tokenizer(str(policy_dir), padding_side="right")
    model = common.load_reward_model(str(policy_dir))
    model.config.pad_token_id = tokenizer.pad_token_id
    args = RewardConfig(  # a few seconds: length is easy to learn
        output_dir=str(out_dir.parent / "_rm_trainer"), num_train_epochs=2, per_device_train_batch_size=16,
        learning_rate=3e-3, logging_steps=100, save_strategy="no", report_to=[], disable_tqdm=True,
        max_length=None, gradient_checkpointing=False, seed=0, **common.trainer_precision_kwargs(),
    )
    trainer = RewardTrainer(model=model, args=args, train_dataset=Dataset.from_list(brevity_pairs()), processing_class=tokenizer)
    trainer.train()
    trainer.model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
    return out_dir


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
