"""The generate job samples K answers per prompt, batched, into the JSONL the runner ingests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.training.jobs_helpers import make_prompt_rows, read_jsonl, run_job_module, write_jsonl
from training.jobs import common, generate

PROMPTS = ["What does a dog eat?", "How do I make tea?", "What is the opposite of hot?", "Say hello to Anna.",
           "What color is the sky?"]


def _config(tmp_path: Path, model: Path, **overrides) -> dict:
    prompts = write_jsonl(tmp_path / "prompts.jsonl", make_prompt_rows(PROMPTS))
    return {"model": str(model), "prompts_file": str(prompts), "output_file": str(tmp_path / "out" / "responses.jsonl"),
            "run_dir": str(tmp_path / "run"), **overrides}


def test_generate_job_writes_k_responses_per_prompt(tmp_path: Path, tiny_policy: Path) -> None:
    proc = run_job_module("generate", _config(tmp_path, tiny_policy, k=3, batch_size=2, max_new_tokens=24), tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]

    rows = read_jsonl(tmp_path / "out" / "responses.jsonl")
    assert [r["prompt_id"] for r in rows] == [1, 2, 3, 4, 5]
    for row in rows:
        assert len(row["responses"]) == 3
        for item in row["responses"]:
            assert "<|" not in item["text"] and "What does a dog eat" not in item["text"]
            assert item["params"]["temperature"] == 0.8 and item["params"]["max_new_tokens"] == 24
            assert 1 <= item["params"]["num_tokens"] <= 24
    assert not list((tmp_path / "out").glob(".*tmp*")), "the temporary file must be renamed away"

    metrics = read_jsonl(tmp_path / "run" / "metrics.jsonl")
    assert [m["progress"] for m in metrics] == [0.4, 0.8, 1.0]
    assert json.loads((tmp_path / "run" / "result.json").read_text())["responses"] == 15


def test_generate_same_seed_gives_same_responses(tmp_path: Path, tiny_policy: Path) -> None:
    texts = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        generate.main(generate.GenerateJobConfig(**_config(tmp_path / name, tiny_policy, k=2, max_new_tokens=16, seed=5)))
        texts.append([r["text"] for row in read_jsonl(tmp_path / name / "out" / "responses.jsonl") for r in row["responses"]])
    assert texts[0] == texts[1]


def test_generate_names_the_bad_line_of_a_prompts_file(tmp_path: Path, tiny_policy: Path) -> None:
    config = _config(tmp_path, tiny_policy)
    Path(config["prompts_file"]).write_text('{"prompt_id": 1, "prompt": [{"role": "user", "content": "hi"}]}\n'
                                            '{"prompt_id": 2, "prompt": "not a list"}\n')
    with pytest.raises(common.JobError, match="line 2"):
        generate.main(generate.GenerateJobConfig(**config))


@pytest.mark.parametrize(("field", "value"), [("top_p", 0.0), ("k", 0), ("temperature", -1.0), ("batch_size", "8")])
def test_generate_config_rejects_bad_values_naming_the_field(field: str, value: object) -> None:
    data = {"model": "m", "prompts_file": "p", "output_file": "o", field: value}
    with pytest.raises(common.ConfigError, match=f"^{field}:"):
        common.config_from_dict(generate.GenerateJobConfig, data)
