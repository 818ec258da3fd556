"""The bootstrap job builds a policy that answers in (simple) English, with no download."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.training.jobs_helpers import english_word_share, read_jsonl, run_job_module
from training.jobs import bootstrap, common


@pytest.mark.slow
def test_bootstrap_job_builds_a_policy_that_answers_in_english(tmp_path: Path) -> None:
    out = tmp_path / "policy"
    # Far fewer steps than the default (1000) to keep the suite fast; enough to form words.
    proc = run_job_module("bootstrap", {"output_dir": str(out), "run_dir": str(tmp_path / "run"), "sft_steps": 150,
                                        "learning_rate": 1e-2}, tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (out / "model.safetensors").exists() and (out / "COMPLETE").exists()

    result = json.loads((tmp_path / "run" / "result.json").read_text())
    texts = [s["response"] for s in result["samples"]]
    assert all(texts), result["samples"]
    assert english_word_share(texts) >= 0.6, texts

    metrics = read_jsonl(tmp_path / "run" / "metrics.jsonl")
    losses = [m["loss"] for m in metrics if "loss" in m]
    assert losses[-1] < losses[0] and metrics[-1]["progress"] == 1.0

    model, tok = common.load_causal_lm(str(out)), common.load_tokenizer(str(out))
    assert model.config.n_layer == 2 and len(tok) <= 600


def test_bootstrap_refuses_an_existing_output_dir(tmp_path: Path) -> None:
    (tmp_path / "policy").mkdir()
    config = bootstrap.BootstrapJobConfig(output_dir=str(tmp_path / "policy"), sft_steps=0)
    with pytest.raises(common.JobError, match="already exists"):
        bootstrap.main(config)


def test_bootstrap_config_rejects_negative_steps_by_name() -> None:
    with pytest.raises(common.ConfigError, match="^sft_steps"):
        common.config_from_dict(bootstrap.BootstrapJobConfig, {"output_dir": "x", "sft_steps": -1})
