"""Jobs refuse unsafe model directories with a message a user can act on, and never import Django."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.training.jobs_helpers import (
    REPO_ROOT,
    job_env,
    make_preference_rows,
    make_prompt_rows,
    run_job_module,
    write_jsonl,
)
from training.jobs import common, dpo, evaluate, generate, reward

MY_JOBS = ("bootstrap", "generate", "reward", "dpo", "evaluate", "tinymodel", "sampling", "preferences")


@pytest.fixture(scope="module")
def pickle_only_model(tiny_policy: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny policy re-saved as a pickle checkpoint (pytorch_model.bin), no safetensors."""
    import torch
    from safetensors.torch import load_file

    out = tmp_path_factory.mktemp("pickle") / "model"
    shutil.copytree(tiny_policy, out)
    torch.save(load_file(out / "model.safetensors"), out / "pytorch_model.bin")
    (out / "model.safetensors").unlink()
    return out


@pytest.fixture(scope="module")
def remote_code_model(tiny_policy: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny policy with an auto_map in its config, i.e. a model that wants trust_remote_code."""
    out = tmp_path_factory.mktemp("remote") / "model"
    shutil.copytree(tiny_policy, out)
    config = json.loads((out / "config.json").read_text())
    config["auto_map"] = {"AutoModelForCausalLM": "modeling_evil.EvilModel"}
    (out / "config.json").write_text(json.dumps(config))
    return out


def test_generate_job_refuses_a_pickle_checkpoint_with_a_clear_error(tmp_path: Path, pickle_only_model: Path) -> None:
    config = {"model": str(pickle_only_model), "output_file": str(tmp_path / "out.jsonl"),
              "prompts_file": str(write_jsonl(tmp_path / "p.jsonl", make_prompt_rows(["Hi."])))}
    proc = run_job_module("generate", config, tmp_path, timeout=120)
    assert proc.returncode == common.EXIT_FAILED
    last_line = proc.stderr.strip().splitlines()[-1]
    assert last_line.startswith("error:") and "no .safetensors weights (found pytorch_model.bin)" in last_line
    assert not (tmp_path / "out.jsonl").exists()


def _configs(tmp_path: Path, model: Path) -> list:
    prefs = str(write_jsonl(tmp_path / "prefs.jsonl", make_preference_rows(4)))
    prompts = str(write_jsonl(tmp_path / "p.jsonl", make_prompt_rows(["Hi."])))
    return [
        (dpo.main, dpo.DPOJobConfig(model=str(model), train_file=prefs, output_dir=str(tmp_path / "dpo"))),
        (reward.main, reward.RewardJobConfig(model=str(model), train_file=prefs, output_dir=str(tmp_path / "rm"))),
        (generate.main, generate.GenerateJobConfig(model=str(model), prompts_file=prompts, output_file=str(tmp_path / "o"))),
        (evaluate.main, evaluate.EvaluateJobConfig(model=str(model), ref_model=str(model), reward_model=str(model),
                                                   prompts_file=prompts)),
    ]


def test_every_job_refuses_remote_code_and_pickles(tmp_path: Path, remote_code_model: Path, pickle_only_model: Path) -> None:
    for model, message in ((remote_code_model, "needs trust_remote_code"), (pickle_only_model, "no .safetensors")):
        for main, config in _configs(tmp_path, model):
            with pytest.raises(common.ModelLoadError, match=message):
                main(config)
    assert not any((tmp_path / name).exists() for name in ("dpo", "rm", "o")), "nothing is written on refusal"


def test_a_missing_model_directory_is_named(tmp_path: Path) -> None:
    config = generate.GenerateJobConfig(model=str(tmp_path / "nope"), prompts_file=str(
        write_jsonl(tmp_path / "p.jsonl", make_prompt_rows(["Hi."]))), output_file=str(tmp_path / "o"))
    with pytest.raises(common.ModelLoadError, match="model directory not found"):
        generate.main(config)


def test_bad_config_file_exits_2_naming_the_field(tmp_path: Path) -> None:
    config = {"model": "m", "train_file": "t", "output_dir": "o", "beta": -1}
    proc = run_job_module("dpo", config, tmp_path, timeout=120)
    assert proc.returncode == common.EXIT_BAD_CONFIG
    assert proc.stderr.strip().splitlines()[-1] == "invalid config: beta: must be >= 1e-06, got -1"


def test_job_modules_do_not_import_django() -> None:
    code = ("import sys\n" + "".join(f"import training.jobs.{m}\n" for m in MY_JOBS)
            + "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('django', 'labeling'))\n"
              "print(bad); sys.exit(1 if bad else 0)\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, env=job_env(), capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
