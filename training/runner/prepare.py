"""Prepare a run for its job process: run directory, system fields, config.json, the command line."""

from __future__ import annotations

import json
import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings

from labeling.models import Project
from training.models import ModelVersion, Run
from training.runner.snapshot import SnapshotNotReady, snapshot_ensure
from training.selectors import PromptChoice, project_pointers, prompts_for_generation, reward_model_missing
from training.services.configs import JobSpec, job_spec
from training.services.registry import model_dir_is_complete

TINY_POLICY_NAME = "tiny-policy"
# Environment a job never needs: keep the web app's secrets out of a process that runs model code.
_SECRET_ENV = ("DATABASE_URL", "SECRET_KEY")


class PrepareError(Exception):
    """The run cannot start; the message is shown as the run's error."""


@dataclass
class PreparedJob:
    run_dir: Path
    config_path: Path
    command: list[str]
    env: dict[str, str]
    values: dict[str, Any] = field(default_factory=dict)
    start_version: ModelVersion | None = None

    @property
    def output_dir(self) -> Path | None:
        return Path(self.values["output_dir"]) if self.values.get("output_dir") else None

    @property
    def output_file(self) -> Path | None:
        return Path(self.values["output_file"]) if self.values.get("output_file") else None


def tiny_policy_dir() -> Path:
    """Where manage.py bootstrap_policy caches the offline default policy."""
    return Path(settings.MODELS_DIR) / TINY_POLICY_NAME


def _version(run: Run, key: str) -> ModelVersion | None:
    version_id = run.inputs.get(key)
    if not version_id:
        return None
    found = ModelVersion.objects.filter(pk=version_id, project=run.project).first()
    if found is None:
        raise PrepareError(f"{key}: model version {version_id} does not exist in this project")
    return found


def start_model(run: Run) -> tuple[str, ModelVersion | None]:
    """Pick the starting policy: the run's chosen version, the current policy, the base model, the default."""
    chosen = _version(run, "model_version_id") or project_pointers(run.project).policy
    if chosen is not None:
        return chosen.path, chosen
    for candidate in (run.project.base_model, settings.PREFLOOP_DEFAULT_MODEL):
        if candidate:
            return candidate, None
    if model_dir_is_complete(tiny_policy_dir()):
        return str(tiny_policy_dir()), None
    raise PrepareError("no policy to start from: the project has none and no base model; run `manage.py bootstrap_policy`")


def _reward_model(run: Run) -> str:
    version = _version(run, "reward_version_id") or project_pointers(run.project).reward
    if version is None:
        raise PrepareError(f"the project has no current reward model: {reward_model_missing(run.project)}")
    run.inputs["reward_version_id"] = version.pk
    return version.path


def _ref_model(run: Run, start: ModelVersion | None, start_path: str) -> str:
    ref = _version(run, "ref_version_id") or (start.parent if start else None)
    if ref is not None:
        run.inputs["ref_version_id"] = ref.pk
        return ref.path
    return start_path


def _snapshot_files(run: Run) -> tuple[str, str]:
    """Return (train_file, eval_file) of the run's snapshot; eval is "" when it has no held-out split."""
    snap = run.snapshot
    if snap is None or not snap.path:
        raise PrepareError("this kind needs a dataset snapshot with files")
    names = sorted(snap.files or {}) or sorted(p.name for p in Path(snap.path).glob("*.jsonl"))
    base = Path(snap.path)
    jsonl = [n for n in names if n.endswith(".jsonl") and "/" not in n]  # top level: ids/ holds provenance
    train = next((n for n in jsonl if "train" in n), None)
    held_out = next((n for n in jsonl if "test" in n or "eval" in n), None)
    if train is None:
        raise PrepareError(f"snapshot {snap.name} has no train.jsonl (files: {', '.join(names) or 'none'}); export it as JSONL")
    if held_out and (base / held_out).stat().st_size == 0:
        held_out = None  # an empty held-out split means "no eval set" to a job
    return str(base / train), str(base / held_out) if held_out else ""


def write_prompts_file(run: Run, path: Path) -> int:
    """Write the run's prompts as JSONL rows {prompt_id, prompt, reference}; return how many."""
    choice = run.inputs.get("prompts") or {"which": PromptChoice.ALL}
    prompts = prompts_for_generation(project=run.project, which=choice.get("which", PromptChoice.ALL), tag=choice.get("tag", ""))
    if choice.get("ids") is not None:  # a recipe's evaluate step: the snapshot's held-out prompts only
        prompts = prompts.filter(pk__in=choice["ids"])
    if choice.get("exclude_ids"):  # a recipe's RL step: never train on the held-out prompts
        prompts = prompts.exclude(pk__in=choice["exclude_ids"])
    count = 0
    with path.open("w", encoding="utf-8") as fh:
        for prompt in prompts.iterator():
            row = {"prompt_id": prompt.pk, "prompt": prompt.messages, "reference": prompt.reference or None}
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
    if count == 0:
        raise PrepareError("no prompts to work on: the selection is empty")
    return count


def _model_output_dir(project: Project, run: Run) -> str:
    path = Path(settings.MODELS_DIR) / project.slug / f"{run.kind}-{run.pk}"
    if path.exists():
        raise PrepareError(f"output directory already exists: {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    return str(path)


def system_values(run: Run, spec: JobSpec, run_dir: Path) -> tuple[dict[str, Any], ModelVersion | None]:
    """Fill every system field the job declares; PrepareError for one the runner cannot fill."""
    values: dict[str, Any] = {}
    start_path, start = ("", None)
    if spec.system_fields & {"model", "ref_model"}:
        start_path, start = start_model(run)
        run.inputs["model"] = start_path
        run.inputs["model_version_id"] = start.pk if start else None
    fillers = {
        "run_dir": lambda: str(run_dir),
        "output_dir": lambda: _model_output_dir(run.project, run),
        "model": lambda: start_path,
        "reward_model": lambda: _reward_model(run),
        "ref_model": lambda: _ref_model(run, start, start_path),
        "train_file": lambda: _snapshot_files(run)[0],
        "eval_file": lambda: _snapshot_files(run)[1],
        "output_file": lambda: str(run_dir / "responses.jsonl"),
        "prompts_file": lambda: str(run_dir / "prompts.jsonl"),
    }
    for name in ("k", "num_responses", "num_return_sequences", "n"):
        fillers[name] = lambda: run.project.k
    for name in sorted(spec.system_fields):
        if name not in fillers:
            raise PrepareError(f"the runner cannot fill the system field {name!r} of the {run.kind} job")
        values[name] = fillers[name]()
    if "prompts_file" in values:
        run.inputs["prompt_count"] = write_prompts_file(run, Path(values["prompts_file"]))
    return values, start


def _gpus_present() -> bool:
    return Path("/dev/nvidia0").exists() or shutil.which("nvidia-smi") is not None


def build_command(*, module: str, config_path: Path, nproc: int, accelerate_config: str = "") -> list[str]:
    """Return the argument list (never a shell string) that runs the job, distributed when nproc > 1."""
    python = settings.PREFLOOP_PYTHON or sys.executable
    job = ["-m", module, "--config", str(config_path)]
    if nproc <= 1:
        return [python, *job]
    if _gpus_present():
        extra = ["--config_file", accelerate_config] if accelerate_config else []
        return [python, "-m", "accelerate.commands.launch", *extra, "--num_processes", str(nproc), *job]
    # accelerate's multi-CPU path wants MPI; torchrun with gloo runs N CPU processes as is.
    return [python, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc), *job]


def job_env(run_id: int | None) -> dict[str, str]:
    """Return the job's environment: offline hub, no telemetry, unbuffered output, no web secrets."""
    env = {k: v for k, v in os.environ.items() if k not in _SECRET_ENV}
    env.update(
        HF_HUB_OFFLINE="1", HF_HUB_DISABLE_TELEMETRY="1", TOKENIZERS_PARALLELISM="false", PYTHONUNBUFFERED="1"
    )
    if run_id is not None:
        env["PREFLOOP_RUN_ID"] = str(run_id)  # lets orphan recovery tell our job from a reused pid
    return env


def run_prepare(run: Run) -> PreparedJob:
    """Export the run's pending snapshot, create the run directory and config.json, and return how to start the job."""
    try:
        snapshot_ensure(run)
    except SnapshotNotReady as exc:
        raise PrepareError(str(exc)) from exc
    try:
        spec = job_spec(run.kind)
    except Exception as exc:  # noqa: BLE001 - an unimportable job is the run's failure, not the worker's
        raise PrepareError(f"cannot load the {run.kind} job: {exc}") from exc
    run_dir = Path(settings.RUNS_DIR) / str(run.pk)
    run_dir.mkdir(parents=True, exist_ok=True)
    values, start = system_values(run, spec, run_dir)
    config_path = run_dir / "config.json"
    config_path.write_text(json.dumps({**run.config, **values}, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    command = build_command(
        module=spec.module, config_path=config_path, nproc=run.nproc, accelerate_config=run.inputs.get("accelerate_config", "")
    )
    run.inputs["launch"] = " ".join(command)  # shown on the run page: how the worker started the job
    Run.objects.filter(pk=run.pk).update(inputs=run.inputs)
    return PreparedJob(run_dir=run_dir, config_path=config_path, command=command, env=job_env(run.pk), values=values, start_version=start)
