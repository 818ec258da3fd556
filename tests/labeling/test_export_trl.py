"""Exported files load with `datasets` and TRL's RewardTrainer and DPOTrainer accept them unchanged."""

from __future__ import annotations

import copy
import zipfile
from pathlib import Path

import pytest

from labeling.exports.services import snapshot_create
from tests.labeling.test_export_snapshots import ranked_project

SPECIALS = ["<pad>", "<|end|>", "<|user|>", "<|assistant|>"]
CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}<|end|>{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def tiny_tokenizer(texts: list[str]):
    """Train a 300-token byte-level BPE on the exported texts and give it a chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=300, special_tokens=SPECIALS, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    wrapped = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="<|end|>", bos_token="<|end|>")
    wrapped.chat_template = CHAT_TEMPLATE
    return wrapped


def tiny_config(tokenizer, **extra):
    from transformers import GPT2Config

    return GPT2Config(
        vocab_size=len(tokenizer), n_positions=128, n_embd=32, n_layer=1, n_head=2,
        pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id, bos_token_id=tokenizer.bos_token_id, **extra,
    )


def load(snapshot, source: str, tmp_path: Path):
    """Load the train split from one of the snapshot's files, the way a user would."""
    from datasets import load_dataset, load_from_disk

    root = Path(snapshot.path)
    if source == "saved_folder":
        with zipfile.ZipFile(root / "hf.zip") as archive:
            archive.extractall(tmp_path / "unzipped")
        return load_from_disk(str(tmp_path / "unzipped" / "hf"))["train"]
    kind = "json" if source == "jsonl" else "parquet"
    return load_dataset(kind, data_files={"train": str(root / f"train.{source}")}, cache_dir=str(tmp_path / "hf-cache"))["train"]


def train_reward(dataset, tokenizer, out: Path) -> dict:
    import torch
    from transformers import GPT2ForSequenceClassification
    from trl import RewardConfig, RewardTrainer

    torch.manual_seed(0)
    model = GPT2ForSequenceClassification(tiny_config(tokenizer, num_labels=1))
    args = RewardConfig(output_dir=str(out), max_steps=2, per_device_train_batch_size=4, bf16=False, use_cpu=True,
                        report_to=[], save_strategy="no", logging_steps=1, max_length=128, dataloader_num_workers=0, gradient_checkpointing=False)
    trainer = RewardTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer)
    return trainer.train().metrics


def train_dpo(dataset, tokenizer, out: Path) -> dict:
    import torch
    from transformers import GPT2LMHeadModel
    from trl import DPOConfig, DPOTrainer

    torch.manual_seed(0)
    model = GPT2LMHeadModel(tiny_config(tokenizer))
    args = DPOConfig(output_dir=str(out), max_steps=2, per_device_train_batch_size=4, bf16=False, use_cpu=True,
                     report_to=[], save_strategy="no", logging_steps=1, max_length=128, dataloader_num_workers=0, gradient_checkpointing=False)
    # An in-memory model has no path to reload the reference from: hand TRL a frozen copy.
    reference = copy.deepcopy(model).eval()
    trainer = DPOTrainer(model=model, ref_model=reference, args=args, train_dataset=dataset, processing_class=tokenizer)
    return trainer.train().metrics


@pytest.fixture
def exported(project):
    """Export the same labels twice: Parquet (plus JSONL) and a saved `datasets` folder."""
    ranked_project(project, 6, annotators=2)
    return {
        "parquet": snapshot_create(project=project, params={"format": "parquet", "test_fraction": 0}),
        "saved_folder": snapshot_create(project=project, params={"format": "save_to_disk", "test_fraction": 0}),
    }


@pytest.mark.slow
@pytest.mark.parametrize("source", ["jsonl", "parquet", "saved_folder"])
def test_files_load_with_datasets_and_train_reward_and_dpo_unchanged(exported, source, tmp_path):
    snapshot = exported["saved_folder" if source == "saved_folder" else "parquet"]
    dataset = load(snapshot, source, tmp_path)
    assert len(dataset) == snapshot.train_rows == 72
    assert dataset[0]["chosen"] == [{"content": "best 0", "role": "assistant"}] and "margin" in dataset.column_names
    texts = [m["content"] for row in dataset.select(range(12)) for col in ("prompt", "chosen", "rejected") for m in row[col]]
    tokenizer = tiny_tokenizer(texts)
    reward = train_reward(dataset, tokenizer, tmp_path / "reward")
    dpo = train_dpo(dataset, tokenizer, tmp_path / "dpo")
    assert reward["train_loss"] > 0 and dpo["train_loss"] > 0
