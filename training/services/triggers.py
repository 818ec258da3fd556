"""Start a training run by hand or from a recipe: pick its data and base model, validate, queue it.

Used by the "Train now" page, the admin actions on Project, the runs API and the recipe chains.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError

from labeling.exports.services import snapshot_create, snapshot_request
from labeling.models import DatasetSnapshot, Project, SnapshotStatus
from training.kinds import export_kind, reads_prompts, reads_snapshot, train_now_kinds
from training.models import ACTIVE_RUN_STATUSES, ModelKind, ModelVersion, Run, Schedule
from training.services.configs import config_validate, job_spec
from training.services.prompts import prompt_selection_resolve
from training.services.runs import ActiveRunExists, ChainPosition, run_create

# Training always reads the conversational JSONL export, whatever the user's export defaults are.
TRAINING_EXPORT = {"format": "jsonl", "style": "conversational"}


def train_kinds_installed() -> list[str]:
    """Return the kinds "Train now" offers whose job module can be imported, in table order."""
    found = []
    for kind in train_now_kinds():
        try:
            job_spec(kind)
        except ValidationError:
            continue
        found.append(kind)
    return found


@dataclass(frozen=True)
class TrainRequest:
    """What to train: the kind, its hyperparameters, its data and where it starts from."""

    kind: str
    config: dict[str, Any] = field(default_factory=dict)
    snapshot: DatasetSnapshot | None = None
    snapshot_params: dict[str, Any] | None = None  # export filters for a fresh snapshot
    base: ModelVersion | None = None  # the starting policy (evaluate: the candidate); None = current
    prompts: dict[str, Any] | None = None  # see training.services.prompts (which, tag, exclude_snapshot_test)
    nproc: int = 1
    inputs: dict[str, Any] = field(default_factory=dict)
    chain: ChainPosition | None = None  # a recipe chain's step (set by training.services.recipes)


def _training_params(params: Any, kind: str) -> dict[str, Any]:
    if not isinstance(params, dict):
        raise ValidationError({"snapshot_params": "must be a JSON object of export filters"})
    return {"name": "training-data", **params, **TRAINING_EXPORT, "kind": kind}


def training_snapshot_create(
    *, project: Project, params: dict[str, Any], user: Any = None, kind: str = "preference"
) -> DatasetSnapshot:
    """Export a fresh snapshot of `kind` (preference or sft) now, in the form training jobs read (conversational JSONL)."""
    return snapshot_create(project=project, params=_training_params(params, kind), user=user)


def training_snapshot_request(
    *, project: Project, params: dict[str, Any], user: Any = None, kind: str = "preference"
) -> DatasetSnapshot:
    """Check the filters and store a pending training snapshot; the run that reads it exports it in the worker.

    Cheap enough for a request: the filters are validated and "is there anything to export?" is
    one query; the export itself happens as the run's first step (training.runner.snapshot).
    """
    return snapshot_request(project=project, params=_training_params(params, kind), user=user, enqueue=False)


def _check_base(project: Project, kind: str, base: ModelVersion | None) -> None:
    if base is None:
        return
    if base.project_id != project.pk:
        raise ValidationError({"base": "the model belongs to another project"})
    if base.kind != ModelKind.POLICY:
        raise ValidationError({"base": f"{base.name} is a {base.kind} model; choose a policy to start {kind} from"})


def _check_snapshot(project: Project, snapshot: DatasetSnapshot, kind: str = "preference") -> None:
    if snapshot.project_id != project.pk:
        raise ValidationError({"snapshot": "the snapshot belongs to another project"})
    if snapshot.status not in (SnapshotStatus.SUCCEEDED, SnapshotStatus.PENDING):  # pending: the worker exports it
        raise ValidationError({"snapshot": f"snapshot {snapshot.name} is {snapshot.status}, not ready"})
    has_jsonl = snapshot.status == SnapshotStatus.PENDING or any(n.endswith(".jsonl") for n in snapshot.files or {})
    if snapshot.kind != kind or not has_jsonl:
        raise ValidationError(
            {"snapshot": f"snapshot {snapshot.name} is not a{'n' if kind[0] in 'aeiou' else ''} {kind} export in JSONL; export one as JSONL"}
        )


def _chain_on(chain: ChainPosition | None, snapshot: DatasetSnapshot | None) -> ChainPosition | None:
    """A chain's first step makes the chain's snapshot: record it on the chain position."""
    if chain is None or chain.snapshot is not None or snapshot is None:
        return chain
    return dataclasses.replace(chain, snapshot=snapshot)


def _refuse_if_active(project: Project, kind: str) -> None:
    """Refuse before exporting anything, so a refused click leaves no stray snapshot behind."""
    active = Run.objects.filter(project=project, kind=kind, status__in=ACTIVE_RUN_STATUSES).first()
    if active is not None:
        raise ActiveRunExists(active)


def train_start(
    *,
    project: Project,
    request: TrainRequest,
    user: Any = None,
    schedule: Schedule | None = None,
    parent_run: Run | None = None,
) -> Run:
    """Validate a training request and queue the run (with a pending snapshot when asked for a fresh one).

    Nothing heavy happens here: a fresh snapshot is only checked and stored pending; the worker
    exports it as the run's first step. Hyperparameters are checked before the snapshot is stored.
    """
    kind = request.kind
    if kind not in train_now_kinds():
        raise ValidationError({"kind": f"choose one of {', '.join(train_now_kinds())}"})
    config_validate(kind, request.config)
    _check_base(project, kind, request.base)
    _refuse_if_active(project, kind)
    snapshot = request.snapshot
    if snapshot is not None:
        _check_snapshot(project, snapshot, export_kind(kind))
    elif reads_snapshot(kind):
        snapshot = training_snapshot_request(
            project=project, params=request.snapshot_params or {}, user=user, kind=export_kind(kind)
        )
    inputs = dict(request.inputs)
    if request.base is not None:
        inputs["model_version_id"] = request.base.pk
    if request.prompts or reads_prompts(kind):
        inputs["prompts"] = prompt_selection_resolve(
            project=project, kind=kind, selection=request.prompts, snapshot=snapshot, internal=request.chain is not None
        )
    return run_create(
        project=project,
        kind=kind,
        config=request.config,
        user=user,
        snapshot=snapshot,
        nproc=request.nproc,
        inputs=inputs,
        schedule=schedule,
        parent_run=parent_run,
        chain=_chain_on(request.chain, snapshot),
    )
