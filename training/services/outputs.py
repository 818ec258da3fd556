"""Register a finished run's outputs: its model version or its comparisons, and mark it succeeded."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from training.jobs.checkpoints import checkpoint_root
from training.kinds import Makes, kind_spec
from training.models import ModelKind, ModelVersion, Run, RunStatus
from training.services.generation import generation_output_ingest
from training.services.registry import model_dir_is_complete, model_promote, model_version_register, project_models_get


def _read_result(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "result.json"
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValidationError({"result": f"result.json is not valid JSON: {exc}"}) from exc
    return data if isinstance(data, dict) else {"result": data}


def _model_label(model: str) -> str:
    """Name an unregistered starting model: a local directory by its name, a hub id as is."""
    return Path(model).name if model.startswith("/") else model


def _register(run: Run, values: dict[str, Any], start: ModelVersion | None, result: dict[str, Any]) -> dict[str, Any]:
    """Register the model or ingest the generated responses; return what to keep in Run.outputs."""
    outputs: dict[str, Any] = {"result": result}
    spec = kind_spec(run.kind)
    if spec is not None and spec.model_kind is not None:
        output_dir = Path(values["output_dir"]) if values.get("output_dir") else None
        if output_dir is None or not model_dir_is_complete(output_dir):
            raise ValidationError({"output_dir": f"the job exited 0 but left no complete model at {output_dir}"})
        version = model_version_register(
            project=run.project, kind=spec.model_kind, name=output_dir.name, path=str(output_dir),
            parent=start, run=run, metrics=result,
        )
        outputs.update(model_version_id=version.pk, model_version=version.name)
        if spec.model_kind == ModelKind.REWARD and project_models_get(project=run.project).reward is None:
            model_promote(version=version)  # the project's first reward model: nothing to compare it with
            outputs["made_current"] = True
    if spec is not None and spec.makes == Makes.COMPARISONS:
        output_file = Path(values["output_file"]) if values.get("output_file") else None
        if output_file is None or not output_file.exists():
            raise ValidationError({"output_file": "the generate job exited 0 but wrote no output file"})
        policy_name = start.name if start else _model_label(run.inputs.get("model", ""))
        outputs["generated"] = generation_output_ingest(run=run, output_file=output_file, policy_name=policy_name).as_dict()
        outputs["policy_version"] = policy_name
    return outputs


def run_outputs_register(
    *, run: Run, run_dir: Path, values: dict[str, Any], start: ModelVersion | None, logs: str
) -> bool:
    """Register a cleanly exited run's outputs and mark it succeeded, in one transaction.

    Returns False (and registers nothing) when the run is no longer running, e.g. judged orphaned
    meanwhile. A ValidationError (no complete model, bad output) leaves nothing registered.
    """
    with transaction.atomic():
        locked = Run.objects.select_for_update().select_related("project").get(pk=run.pk)
        if locked.status != RunStatus.RUNNING:
            return False
        outputs = _register(locked, values, start, _read_result(run_dir))
        Run.objects.filter(pk=run.pk).update(
            status=RunStatus.SUCCEEDED, progress=1.0, outputs=outputs, log_tail=logs, finished_at=timezone.now(), error=""
        )
    # Succeeded: the model is registered, so the resume checkpoints only take disk space now.
    transaction.on_commit(lambda: shutil.rmtree(checkpoint_root(run_dir), ignore_errors=True))
    return True
