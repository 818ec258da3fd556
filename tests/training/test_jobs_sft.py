"""The SFT job teaches the policy its demonstrations: held-out loss falls, their shared opening becomes likely."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.training.jobs_helpers import read_jsonl, run_job_module, weights_differ, write_jsonl
from tests.training.posttrain_helpers import demonstrations, marker_logprob
from training.jobs import common, sft

HELD_OUT_PROMPTS = ["What does a cat eat?", "How do I make tea?", "What is the opposite of cold?", "Tell me about a bird."]


def _config(tmp_path: Path, model: Path, **overrides) -> dict:
    return {
        "model": str(model), "output_dir": str(tmp_path / "out"), "run_dir": str(tmp_path / "run"),
        "train_file": str(write_jsonl(tmp_path / "train.jsonl", demonstrations(64, seed=1))),
        "eval_file": str(write_jsonl(tmp_path / "eval.jsonl", demonstrations(16, seed=2))),
        **overrides,
    }


@pytest.mark.slow
def test_sft_job_with_default_settings_lowers_held_out_loss_and_teaches_the_shared_opening(tmp_path: Path, tiny_policy: Path) -> None:
    proc = run_job_module("sft", _config(tmp_path, tiny_policy), tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]

    out = tmp_path / "out"
    result = json.loads((tmp_path / "run" / "result.json").read_text())
    assert result["eval_loss"] < result["eval_start_loss"] - 0.1
    assert result["loss_mode"] == "completion", "the tiny template has no generation markers: one row per assistant turn"
    assert marker_logprob(out, HELD_OUT_PROMPTS) > marker_logprob(tiny_policy, HELD_OUT_PROMPTS) + 1.0
    assert len(result["samples"]) == 4 and all(s["prompt"] and s["demonstration"].startswith("Indeed!") for s in result["samples"])

    metrics = read_jsonl(tmp_path / "run" / "metrics.jsonl")
    assert metrics[0]["progress"] == 0.0 and "eval_loss" in metrics[0]
    assert metrics[-1]["progress"] == 1.0 and metrics[-1]["eval_loss"] == result["eval_loss"]
    assert any("loss" in m and 0 < m["progress"] < 1 for m in metrics), "training losses reach metrics.jsonl"
    assert weights_differ(tiny_policy, out)
    assert not [p.name for p in out.iterdir() if p.suffix in {".bin", ".pt", ".pkl"}], "no pickles in a saved model"
    assert common.load_tokenizer(str(out)).chat_template == common.load_tokenizer(str(tiny_policy)).chat_template


def _with_generation_markers(policy: Path, tmp_path: Path) -> Path:
    """Copy the policy with a chat template that marks assistant turns for TRL's assistant mask."""
    copy = tmp_path / "marked-policy"
    shutil.copytree(policy, copy)
    config_path = copy / "tokenizer_config.json"
    config = json.loads(config_path.read_text())
    template = (
        "{% for message in messages %}"
        "{% if message['role'] == 'assistant' %}{{ '<|assistant|>' }}{% generation %}{{ message['content'] + '<|end|>' }}{% endgeneration %}"
        "{% else %}{{ '<|' + message['role'] + '|>' + message['content'] + '<|end|>' }}{% endif %}"
        "{% endfor %}"
        "{% if add_generation_prompt %}{{ '<|assistant|>' }}{% endif %}"
    )
    (copy / "chat_template.jinja").unlink(missing_ok=True)
    config["chat_template"] = template
    config_path.write_text(json.dumps(config))
    return copy


@pytest.mark.slow
def test_sft_masks_with_trls_assistant_mask_when_the_template_has_generation_markers(tmp_path: Path, tiny_policy: Path) -> None:
    marked = _with_generation_markers(tiny_policy, tmp_path)
    sft.main(sft.SFTJobConfig(**_config(tmp_path, marked, num_train_epochs=1.0, num_samples=1)))
    result = json.loads((tmp_path / "run" / "result.json").read_text())
    assert result["loss_mode"] == "assistant_mask"
    assert result["eval_loss"] < result["eval_start_loss"]


@pytest.mark.slow
def test_sft_with_lora_saves_a_merged_plain_model(tmp_path: Path, tiny_policy: Path) -> None:
    sft.main(sft.SFTJobConfig(**_config(tmp_path, tiny_policy, use_lora=True, max_steps=3, num_samples=0)))
    out = tmp_path / "out"
    assert not (out / "adapter_config.json").exists()
    assert weights_differ(tiny_policy, out)
    assert "lora" not in " ".join(common.load_causal_lm(str(out)).state_dict())


def test_sft_refuses_a_conversation_that_does_not_end_with_an_answer_naming_the_line(tmp_path: Path) -> None:
    rows = demonstrations(2, seed=0) + [{"messages": [{"role": "user", "content": "Hello?"}]}]
    config = sft.SFTJobConfig(model="unused", output_dir=str(tmp_path / "out"),
                              train_file=str(write_jsonl(tmp_path / "train.jsonl", rows)))
    with pytest.raises(common.JobError, match="train_file line 3: the conversation must end with an assistant turn"):
        sft.main(config)
    assert not (tmp_path / "out").exists()


def test_sft_reads_prompt_completion_rows_and_expands_each_assistant_turn() -> None:
    from training.jobs.demonstrations import check_row, prompt_completion_rows

    user = {"role": "user", "content": "Hi"}
    answer = {"role": "assistant", "content": "Hello."}
    assert check_row({"prompt": [user], "completion": [answer], "id": 7}, "line 1") == [user, answer]
    rows = prompt_completion_rows([[user, answer, user, answer]])
    assert rows == [{"prompt": [user], "completion": [answer]}, {"prompt": [user, answer, user], "completion": [answer]}]


@pytest.mark.parametrize(("field", "value", "message"), [
    ("learning_rate", 0.0, "must be >="),
    ("lr_scheduler_type", "cyclic", "expected one of"),
    ("assistant_only", "yes", "expected true or false"),
    ("num_samples", 100, "must be <="),
    ("max_steps", 0, "must be -1"),
])
def test_sft_config_rejects_bad_values_naming_the_field(field: str, value: object, message: str) -> None:
    with pytest.raises(common.ConfigError, match=f"^{field}: .*{message}"):
        common.config_from_dict(sft.SFTJobConfig, {"model": "m", "train_file": "t", "output_dir": "o", field: value})
