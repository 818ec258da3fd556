"""The tiny offline policy: a real chat model the other job tests train and sample from."""

from __future__ import annotations

from pathlib import Path

from training.jobs.common import load_causal_lm, load_tokenizer
from training.jobs.tinymodel import EOS_TOKEN, build_tiny_policy

USER_TURN = [{"role": "user", "content": "What does a cat eat?"}]


def test_tiny_policy_saves_safetensors_and_a_chat_tokenizer(tiny_policy: Path) -> None:
    assert (tiny_policy / "model.safetensors").exists()
    assert not list(tiny_policy.glob("*.bin"))
    tok = load_tokenizer(str(tiny_policy))
    prompt = tok.apply_chat_template(USER_TURN, add_generation_prompt=True, tokenize=False)
    assert prompt.endswith("<|assistant|>") and "What does a cat eat?" in prompt
    full = tok.apply_chat_template(USER_TURN + [{"role": "assistant", "content": "Fish."}], tokenize=False)
    assert full.startswith(prompt) and full.endswith(EOS_TOKEN)
    assert tok.eos_token == EOS_TOKEN and tok.pad_token_id != tok.eos_token_id
    assert 400 <= len(tok) <= 600


def test_tiny_policy_generates_and_stops_at_eos(tiny_policy: Path) -> None:
    import torch

    tok, model = load_tokenizer(str(tiny_policy)), load_causal_lm(str(tiny_policy))
    enc = tok.apply_chat_template([USER_TURN], add_generation_prompt=True, return_tensors="pt", return_dict=True)
    torch.manual_seed(0)
    out = model.generate(**enc, max_new_tokens=60, do_sample=False)
    new_tokens = out[0, enc["input_ids"].shape[1]:].tolist()
    assert tok.eos_token_id in new_tokens, "the SFT'd policy should end its turn with EOS"


def test_build_is_deterministic_for_a_seed(tmp_path: Path) -> None:
    from safetensors.torch import load_file

    a = load_file(build_tiny_policy(tmp_path / "a", seed=3, sft_steps=3) / "model.safetensors")
    b = load_file(build_tiny_policy(tmp_path / "b", seed=3, sft_steps=3) / "model.safetensors")
    c = load_file(build_tiny_policy(tmp_path / "c", seed=4, sft_steps=3) / "model.safetensors")
    assert all(a[k].equal(b[k]) for k in a)
    assert not all(a[k].equal(c[k]) for k in a)
