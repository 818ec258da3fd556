"""Finish a run: map the exit to a status, keep the log tail, register outputs of a successful job."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from training.models import Run, RunKind, RunStatus
from training.runner.prepare import PreparedJob
from training.runner.process import Outcome
from training.services.configs import MODEL_KINDS
from training.services.generation import generation_output_ingest
from training.services.recipes import recipe_advance_safely
from training.services.registry import model_dir_is_complete, model_version_register

ERROR_LINES = 20
LOG_LINES = 60


def file_tail(path: Path, *, lines: int, max_bytes: int = 64_000) -> str:
    """Return the last lines of a log file (progress bars' carriage returns count as line ends)."""
    try:
        with path.open("rb") as fh:
            fh.seek(0, 2)
            size = fh.tell()
            fh.seek(max(0, size - max_bytes))
            data = fh.read().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return ""
    kept = [line.rstrip() for line in data.replace("\r", "\n").split("\n") if line.strip()]
    return "\n".join(kept[-lines:])


def log_tail(run_dir: Path) -> str:
    """Return the end of stdout and stderr, labelled."""
    parts = []
    for name in ("stdout", "stderr"):
        text = file_tail(run_dir / f"{name}.log", lines=LOG_LINES)
        if text:
            parts.append(f"--- {name} ---\n{text}")
    return "\n".join(parts)


def exit_error(run: Run, outcome: Outcome, stderr_tail: str) -> tuple[str, str]:
    """Return (status, error) for a job that did not succeed."""
    if outcome.stopped == "cancelled":
        return RunStatus.CANCELLED, "cancelled: the job was stopped on request"
    if outcome.stopped == "timeout":
        head = f"timed out after {int(outcome.elapsed_s)} s (limit {run.timeout_s or 'server default'})"
    elif outcome.returncode is not None and outcome.returncode < 0:
        head = f"killed by {signal.Signals(-outcome.returncode).name}"
    elif outcome.returncode == 2:
        head = "the job refused its config (exit 2)"
    else:
        head = f"the job failed (exit {outcome.returncode})"
    return RunStatus.FAILED, f"{head}\n{stderr_tail}".strip()


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


def _register_outputs(run: Run, job: PreparedJob, result: dict[str, Any]) -> dict[str, Any]:
    """Register the model or ingest the generated responses; return what to keep in Run.outputs."""
    outputs: dict[str, Any] = {"result": result}
    if run.kind in MODEL_KINDS:
        output_dir = job.output_dir
        if output_dir is None or not model_dir_is_complete(output_dir):
            raise ValidationError({"output_dir": f"the job exited 0 but left no complete model at {output_dir}"})
        version = model_version_register(
            project=run.project, kind=MODEL_KINDS[run.kind], name=output_dir.name, path=str(output_dir),
            parent=job.start_version, run=run, metrics=result,
        )
        outputs.update(model_version_id=version.pk, model_version=version.name)
    if run.kind == RunKind.GENERATE:
        if job.output_file is None or not job.output_file.exists():
            raise ValidationError({"output_file": "the generate job exited 0 but wrote no output file"})
        policy_name = job.start_version.name if job.start_version else _model_label(run.inputs.get("model", ""))
        outputs["generated"] = generation_output_ingest(run=run, output_file=job.output_file, policy_name=policy_name).as_dict()
        outputs["policy_version"] = policy_name
    return outputs


def _succeed(run: Run, job: PreparedJob, logs: str) -> bool:
    """Register outputs and mark the run succeeded in one transaction; False if it is no longer running."""
    with transaction.atomic():
        locked = Run.objects.select_for_update().get(pk=run.pk)
        if locked.status != RunStatus.RUNNING:
            return False  # failed elsewhere meanwhile (e.g. judged orphaned): never register its output
        outputs = _register_outputs(locked, job, _read_result(job.run_dir))
        Run.objects.filter(pk=run.pk).update(
            status=RunStatus.SUCCEEDED, progress=1.0, outputs=outputs, log_tail=logs, finished_at=timezone.now(), error=""
        )
    return True


def run_finish(run: Run, job: PreparedJob, outcome: Outcome) -> None:
    """Record how the job ended; register outputs only for a clean exit."""
    logs = log_tail(job.run_dir)
    if outcome.returncode == 0 and outcome.stopped is None:
        try:
            if _succeed(run, job, logs):
                recipe_advance_safely(run.pk)  # after commit; never raises: a chain problem leaves this run succeeded
                return
        except ValidationError as exc:
            run_fail(run, error="; ".join(exc.messages), logs=logs)
        return
    status, error = exit_error(run, outcome, file_tail(job.run_dir / "stderr.log", lines=ERROR_LINES))
    Run.objects.filter(pk=run.pk, status=RunStatus.RUNNING).update(
        status=status, error=error, log_tail=logs, finished_at=timezone.now()
    )


def run_fail(run: Run, *, error: str, logs: str = "") -> None:
    """Mark a running run failed with a reason."""
    Run.objects.filter(pk=run.pk, status=RunStatus.RUNNING).update(
        status=RunStatus.FAILED, error=error, log_tail=logs, finished_at=timezone.now()
    )
