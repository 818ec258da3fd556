"""Every default export loads with OpenRLHF's and verl's own dataset code, with the flags the README gives.

TRL's preference trainers are covered in test_export_trl.py; its SFT and GRPO trainers here.
OpenRLHF 0.11.2 and verl 0.9.1 are installed with --no-deps (see tests/labeling/consumers.py).
"""

from __future__ import annotations

import csv
import json
import zipfile
from pathlib import Path

import pytest

from labeling.exports.services import snapshot_create
from tests.factories import make_prompt
from tests.labeling.consumers import library_packages, openrlhf_load, openrlhf_strategy
from tests.labeling.test_export_snapshots import ranked_project
from tests.labeling.test_export_trl import tiny_tokenizer

VERL_REWARD = Path(__file__).resolve().parents[2] / "training" / "jobs" / "verl_reward.py"


@pytest.fixture(autouse=True)
def _libraries(monkeypatch, tmp_path):
    import datasets.config

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "hf-cache"))
    with library_packages():
        yield


@pytest.fixture
def tokenizer():
    words = ["Prompt 0: explain topic 0?", "best 0 good 0 meh 0 bad 0", "What is 2+2? Write a poem.", "<think> </think> <answer> 4 </answer>"]
    return tiny_tokenizer(words * 4)


@pytest.fixture
def preferences(project):
    ranked_project(project, 2, annotators=1)
    snapshot = snapshot_create(project=project, params={"format": "save_to_disk", "test_fraction": 0})
    with zipfile.ZipFile(Path(snapshot.path) / "hf.zip") as archive:
        archive.extractall(Path(snapshot.path).parent / "unzipped")
    return snapshot


@pytest.fixture
def prompts(project):
    make_prompt(project, "What is 2+2?", reference="4")
    make_prompt(project, "Write a poem.")
    return snapshot_create(project=project, params={"kind": "prompt", "test_fraction": 0})


def preference_sources(snapshot) -> dict[str, Path]:
    root = Path(snapshot.path)
    return {"jsonl": root / "train.jsonl", "saved_folder": root.parent / "unzipped" / "hf"}


# OpenRLHF ------------------------------------------------------------------------------------

# README: --data.prompt_key prompt --data.chosen_key chosen --data.rejected_key rejected --data.apply_chat_template
OPENRLHF_PREFERENCE_FLAGS = {"prompt_key": "prompt", "chosen_key": "chosen", "rejected_key": "rejected", "apply_chat_template": True}


@pytest.mark.parametrize("source", ["jsonl", "saved_folder"])
@pytest.mark.parametrize("is_dpo", [False, True], ids=["reward", "dpo"])
def test_openrlhf_reward_and_dpo_datasets_read_conversational_preferences_with_the_readme_flags(preferences, tokenizer, source, is_dpo):
    from openrlhf.datasets import RewardDataset

    data = openrlhf_load(preference_sources(preferences)[source])
    dataset = RewardDataset(data, tokenizer, 128, openrlhf_strategy(**OPENRLHF_PREFERENCE_FLAGS), is_dpo=is_dpo, num_processors=1)
    chosen_ids, _, rejected_ids, _, extra = dataset[0]
    chosen, rejected = tokenizer.decode(chosen_ids[0]), tokenizer.decode(rejected_ids[0])
    # The answer is trained together with its prompt, in the chat template, and the margin is kept.
    assert chosen.startswith("<|user|>Prompt 0: explain topic 0?<|end|><|assistant|>best 0") and "good 0" in rejected
    assert extra == 1.0 if not is_dpo else extra == len(tokenizer("<|user|>Prompt 0: explain topic 0?<|end|><|assistant|>")["input_ids"])
    assert len(dataset) == preferences.train_rows == 12
    dataset.collate_fn([dataset[0], dataset[1]])


def test_openrlhf_default_flags_refuse_conversational_rows_which_is_why_the_readme_gives_flags(preferences, tokenizer):
    from openrlhf.datasets import RewardDataset

    data = openrlhf_load(preference_sources(preferences)["jsonl"])
    with pytest.raises(TypeError, match="can only concatenate str"):
        RewardDataset(data, tokenizer, 128, openrlhf_strategy(chosen_key="chosen", rejected_key="rejected"), num_processors=1)[0]


def test_openrlhf_reward_dataset_reads_standard_rows_with_prompt_key(project, tokenizer):
    from openrlhf.datasets import RewardDataset

    ranked_project(project, 1, annotators=1)
    snapshot = snapshot_create(project=project, params={"style": "standard", "test_fraction": 0})
    data = openrlhf_load(Path(snapshot.path) / "train.jsonl")
    dataset = RewardDataset(data, tokenizer, 128, openrlhf_strategy(prompt_key="prompt", chosen_key="chosen", rejected_key="rejected"), num_processors=1)
    assert tokenizer.decode(dataset[0][0][0]).startswith("Prompt 0: explain topic 0?best 0")


def test_openrlhf_prompt_dataset_reads_the_prompt_export_with_datasource_and_reference_label(prompts, tokenizer, project):
    from openrlhf.datasets import PromptDataset

    data = openrlhf_load(Path(prompts.path) / "train.parquet")
    # README: --data.input_key prompt --data.label_key reference --data.apply_chat_template
    dataset = PromptDataset(data, tokenizer, openrlhf_strategy(input_key="prompt", label_key="reference", apply_chat_template=True))
    by_prompt = {prompt: (source, label) for source, prompt, label, _ in (dataset[i] for i in range(len(dataset)))}
    assert by_prompt == {
        "<|user|>What is 2+2?<|end|><|assistant|>": (f"prefloop/{project.slug}", "4"),
        "<|user|>Write a poem.<|end|><|assistant|>": (f"prefloop/{project.slug}", ""),
    }


@pytest.mark.parametrize("multiturn", [False, True])
def test_openrlhf_sft_dataset_reads_the_sft_export_with_the_readme_flags(project, tokenizer, multiturn):
    from openrlhf.datasets import SFTDataset

    ranked_project(project, 2, annotators=1)
    snapshot = snapshot_create(project=project, params={"kind": "sft", "test_fraction": 0})
    data = openrlhf_load(Path(snapshot.path) / "train.jsonl")
    # README: --data.input_key messages --data.apply_chat_template (optionally --data.multiturn)
    dataset = SFTDataset(data, tokenizer, 128, openrlhf_strategy(input_key="messages", apply_chat_template=True), num_processors=1, multiturn=multiturn)
    assert (dataset.prompts[0], dataset.responses[0]) == ("<|user|>Prompt 0: explain topic 0?<|end|><|assistant|>", "best 0<|end|>")
    assert len(dataset) == 2


# verl ----------------------------------------------------------------------------------------


def verl_dataset(path: Path, tokenizer):
    from omegaconf import OmegaConf
    from verl.utils.dataset.rl_dataset import RLHFDataset

    # README: data.train_files=<export>/train.parquet data.prompt_key=prompt (verl's default)
    config = OmegaConf.create({"prompt_key": "prompt", "max_prompt_length": 64, "filter_overlong_prompts_workers": 1, "cache_dir": str(path.parent / ".verl")})
    return RLHFDataset(data_files=str(path), tokenizer=tokenizer, config=config)


def verl_reward_fn(**reward_kwargs):
    """Load compute_score the way verl's get_custom_reward_fn does: by file path, kwargs merged in."""
    from verl.utils.import_utils import load_extern_object

    raw = load_extern_object(module_path=str(VERL_REWARD), object_name="compute_score")
    return lambda **kwargs: raw(**kwargs, **reward_kwargs)


def test_verl_rlhf_dataset_reads_the_default_prompt_parquet(prompts, tokenizer, project):
    dataset = verl_dataset(Path(prompts.path) / "train.parquet", tokenizer)
    rows = {row["raw_prompt"][0]["content"]: row for row in (dataset[i] for i in range(len(dataset)))}
    maths = rows["What is 2+2?"]
    assert maths["raw_prompt"] == [{"content": "What is 2+2?", "role": "user"}]
    assert (maths["data_source"], maths["ability"]) == (f"prefloop/{project.slug}", "chat")
    assert maths["reward_model"] == {"ground_truth": "4", "style": "rule"}
    assert rows["Write a poem."]["reward_model"] == {"ground_truth": "", "style": "model"}
    assert maths["index"] == maths["extra_info"]["index"]


def test_verl_scores_prefloop_prompts_with_the_shipped_reward_module(prompts, tokenizer):
    dataset = verl_dataset(Path(prompts.path) / "train.parquet", tokenizer)
    row = next(r for r in (dataset[i] for i in range(len(dataset))) if r["reward_model"]["style"] == "rule")
    score = verl_reward_fn()
    args = {"data_source": row["data_source"], "ground_truth": row["reward_model"]["ground_truth"], "extra_info": row["extra_info"]}
    assert score(solution_str="<think>2 and 2</think><answer>4</answer>", **args)["score"] == 2.0
    assert score(solution_str="<think>hm</think><answer>5</answer>", **args) == {"score": 1.0, "format": 1.0, "correct": 0.0, "has_reference": 1.0}
    assert score(solution_str="4", **args)["score"] == 1.0  # right answer, wrong format
    assert verl_reward_fn(format_weight=0.0)(solution_str="<think></think><answer>4</answer>", **args)["score"] == 1.0
    assert score(solution_str="<think></think><answer>x</answer>", data_source=row["data_source"], ground_truth="", extra_info={})["score"] == 1.0


def test_verl_default_scorer_does_not_know_prefloop_data_sources_so_the_readme_points_at_ours():
    from verl.utils.reward_score import default_compute_score

    with pytest.raises(NotImplementedError):
        default_compute_score("prefloop/demo", "<answer>4</answer>", "4")


def test_verl_reward_model_dataset_reads_standard_preference_parquet(project, tokenizer):
    from verl.utils.dataset.rm_dataset import RMDataset

    ranked_project(project, 1, annotators=1)
    snapshot = snapshot_create(project=project, params={"style": "standard", "format": "parquet", "test_fraction": 0})
    dataset = RMDataset(str(Path(snapshot.path) / "train.parquet"), tokenizer=tokenizer, max_length=64)
    pair = dataset[0]["input_ids"]
    assert tokenizer.decode(pair[0], skip_special_tokens=True).startswith("Prompt 0: explain topic 0?best 0")


# TRL: the SFT and prompt exports train one step --------------------------------------------


@pytest.mark.slow
def test_trl_sft_trainer_trains_one_step_on_the_sft_export(project, tokenizer, tmp_path):
    from datasets import load_dataset
    from transformers import GPT2LMHeadModel
    from trl import SFTConfig, SFTTrainer

    from tests.labeling.test_export_trl import tiny_config

    ranked_project(project, 4, annotators=1)
    snapshot = snapshot_create(project=project, params={"kind": "sft", "test_fraction": 0})
    dataset = load_dataset("json", data_files=str(Path(snapshot.path) / "train.jsonl"), split="train")
    args = SFTConfig(output_dir=str(tmp_path / "sft"), max_steps=1, per_device_train_batch_size=2, bf16=False, use_cpu=True, report_to=[],
                     save_strategy="no", max_length=64, assistant_only_loss=False, dataloader_num_workers=0)
    trainer = SFTTrainer(model=GPT2LMHeadModel(tiny_config(tokenizer)), args=args, train_dataset=dataset, processing_class=tokenizer)
    assert trainer.train().metrics["train_loss"] > 0


@pytest.mark.slow
def test_trl_grpo_trainer_trains_one_step_on_the_prompt_parquet_with_rule_rewards(prompts, tokenizer, tmp_path):
    from datasets import load_dataset
    from transformers import GPT2LMHeadModel
    from trl import GRPOConfig, GRPOTrainer

    from tests.labeling.test_export_trl import tiny_config
    from training.jobs.rewards import correctness_reward, format_reward

    dataset = load_dataset("parquet", data_files=str(Path(prompts.path) / "train.parquet"), split="train")
    args = GRPOConfig(output_dir=str(tmp_path / "grpo"), max_steps=1, per_device_train_batch_size=2, num_generations=2, max_completion_length=8,
                      bf16=False, use_cpu=True, report_to=[], save_strategy="no", dataloader_num_workers=0, logging_steps=1)
    tokenizer.padding_side = "left"
    trainer = GRPOTrainer(model=GPT2LMHeadModel(tiny_config(tokenizer)), reward_funcs=[format_reward, correctness_reward], args=args,
                          train_dataset=dataset, processing_class=tokenizer)
    assert trainer.train().global_step == 1


# CSV -----------------------------------------------------------------------------------------


def test_csv_conversational_columns_are_json_text_that_decodes_to_the_jsonl_rows(project):
    ranked_project(project, 2, annotators=1)
    snapshot = snapshot_create(project=project, params={"format": "csv", "test_fraction": 0})
    with open(Path(snapshot.path) / "train.csv", newline="", encoding="utf-8") as handle:
        table = list(csv.DictReader(handle))
    # README: decode prompt/chosen/rejected (and ranking_ids) with json.loads before training.
    decoded = [{k: json.loads(v) if k in ("prompt", "chosen", "rejected", "ranking_ids") else v for k, v in row.items()} for row in table]
    expected = [json.loads(line) for line in (Path(snapshot.path) / "train.jsonl").read_text().splitlines()]
    assert [(d["prompt"], d["chosen"], d["rejected"]) for d in decoded] == [(e["prompt"], e["chosen"], e["rejected"]) for e in expected]
