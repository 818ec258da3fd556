"""Build a tiny chat policy from nothing: byte-level BPE tokenizer, 2-layer GPT-2, short SFT.

No download: the tokenizer is trained on training/jobs/data/corpus.txt plus the bundled
dialogues (training/jobs/data/dialogues.jsonl), and the model starts from random weights.
Used by the `bootstrap` job (full step count) and by tests (a few steps).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from training.jobs.common import MetricsWriter, atomic_output_dir, remove_tree, trainer_precision_kwargs

DATA_DIR = Path(__file__).resolve().parent / "data"
CORPUS_FILE = DATA_DIR / "corpus.txt"
DIALOGUES_FILE = DATA_DIR / "dialogues.jsonl"

DEFAULT_SFT_STEPS = 1000  # ~100 s on 2 busy cores; samples read like simple English
VOCAB_SIZE = 512
EOS_TOKEN = "<|end|>"
PAD_TOKEN = "<|pad|>"
ROLE_TOKENS = ("<|system|>", "<|user|>", "<|assistant|>")

# Every turn ends with the EOS token, so a sampled assistant turn stops by itself, and the
# prompt rendered with add_generation_prompt is a token-exact prefix of prompt + answer
# (TRL's SFT/DPO split prompt from completion by that prefix).
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|' + message['role'] + '|>' + message['content'] + '<|end|>' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>' }}{% endif %}"
)


def load_dialogues() -> list[dict[str, Any]]:
    """Read the bundled dialogues: rows of {"messages": [user, assistant]}."""
    with DIALOGUES_FILE.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def synthetic_preferences(n: int, *, seed: int = 0, marker: str = "Sure!") -> list[dict[str, Any]]:
    """Preference pairs a tiny model can learn (for tests, benches, demos): chosen answers start with `marker`.

    Prompts and answers come from the bundled dialogues; rejected answers lack the marker (half of
    them answer another question); margins cycle 1, 2, 3 like rank gaps.
    """
    import random

    rng = random.Random(seed)
    dialogues = load_dialogues()
    rows = []
    for i in range(n):
        user, assistant = rng.choice(dialogues)["messages"]
        other = rng.choice(dialogues)["messages"][1]["content"]
        rows.append({
            "prompt": [user],
            "chosen": [{"role": "assistant", "content": f"{marker} {assistant['content']}"}],
            "rejected": [{"role": "assistant", "content": rng.choice([assistant["content"], other])}],
            "margin": float(1 + i % 3),
            "comparison_id": i,  # a provenance column: jobs must ignore it
        })
    return rows


def _tokenizer_texts() -> Iterator[str]:
    yield from CORPUS_FILE.read_text(encoding="utf-8").splitlines()
    for row in load_dialogues():
        for message in row["messages"]:
            yield message["content"]


def build_tokenizer(vocab_size: int = VOCAB_SIZE):  # type: ignore[no-untyped-def]
    """Train a byte-level BPE on the bundled text and wrap it as a chat tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    specials = [PAD_TOKEN, EOS_TOKEN, *ROLE_TOKENS]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(list(_tokenizer_texts()), trainer=trainer)
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token=EOS_TOKEN,
        bos_token=EOS_TOKEN,
        pad_token=PAD_TOKEN,
        additional_special_tokens=list(ROLE_TOKENS),
        model_max_length=256,
        padding_side="left",
    )
    wrapped.chat_template = CHAT_TEMPLATE
    return wrapped


def build_model(tokenizer, *, seed: int, n_layer: int = 2, n_embd: int = 64, n_head: int = 4):  # type: ignore[no-untyped-def]
    """Create a randomly initialised small GPT-2 sized to the tokenizer (seeded)."""
    from transformers import GenerationConfig, GPT2Config, GPT2LMHeadModel, set_seed

    set_seed(seed)
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=tokenizer.model_max_length,
        n_embd=n_embd,
        n_layer=n_layer,
        n_head=n_head,
        bos_token_id=tokenizer.eos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    model = GPT2LMHeadModel(config)
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.eos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        max_new_tokens=48,
        do_sample=True,
        temperature=0.7,
        top_p=0.9,
    )
    return model


def sft(model, tokenizer, *, steps: int, seed: int, work_dir: Path,  # type: ignore[no-untyped-def]
        metrics: MetricsWriter | None = None, learning_rate: float = 5e-3, batch_size: int = 16):
    """Fine-tune on the bundled dialogues with TRL's SFTTrainer; return the trained model."""
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    from training.jobs.callbacks import MetricsCallback

    args = SFTConfig(
        output_dir=str(work_dir),
        max_steps=steps,
        per_device_train_batch_size=batch_size,
        learning_rate=learning_rate,
        lr_scheduler_type="cosine",
        warmup_steps=min(20, steps // 10),
        weight_decay=0.0,
        logging_steps=max(1, min(25, steps // 4)),
        save_strategy="no",
        report_to=[],
        seed=seed,
        data_seed=seed,
        max_length=128,
        gradient_checkpointing=False,  # TRL turns it on by default; it only slows a model this small
        dataloader_num_workers=0,
        disable_tqdm=True,
        **trainer_precision_kwargs(),
    )
    callbacks = [MetricsCallback(metrics)] if metrics is not None else []
    trainer = SFTTrainer(model=model, args=args, train_dataset=Dataset.from_list(load_dialogues()),
                         processing_class=tokenizer, callbacks=callbacks)
    trainer.train()
    return trainer.model


@contextmanager
def _one_cpu_thread() -> Iterator[None]:
    """Train a 64-dim model on one thread: more only spin against each other (measured 4x slower on 2 busy cores)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def build_tiny_policy(
    out_dir: str | Path,
    *,
    seed: int = 0,
    sft_steps: int = DEFAULT_SFT_STEPS,
    n_layer: int = 2,
    n_embd: int = 64,
    learning_rate: float = 5e-3,
    metrics: MetricsWriter | None = None,
) -> Path:
    """Build tokenizer + tiny GPT-2, fine-tune it on the bundled dialogues, save to out_dir (new)."""
    out_dir = Path(out_dir)
    tokenizer = build_tokenizer()
    model = build_model(tokenizer, seed=seed, n_layer=n_layer, n_embd=n_embd)
    with atomic_output_dir(out_dir) as tmp:
        if sft_steps > 0:
            with _one_cpu_thread():
                model = sft(model, tokenizer, steps=sft_steps, seed=seed, work_dir=tmp / "_trainer",
                            learning_rate=learning_rate, metrics=metrics)
        model = model.to("cpu").float()
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        remove_tree(tmp / "_trainer")
    return out_dir
