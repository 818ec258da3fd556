"""A run's prompt selection: which prompts a prompt-reading kind works on, checked, with held-out prompts left out.

Users choose `which` (unranked | all | tag), `tag`, and `exclude_snapshot_test` (leave out the
prompts a snapshot holds out for evaluation). PPO, RLOO and GRPO leave them out unless asked not
to, so a policy is never trained on the prompts its evaluation uses. Recipe chains also pass
`ids` (evaluate exactly these) and `exclude_ids` (never these); users cannot.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError

from labeling.models import DatasetSnapshot, Project, SnapshotStatus
from training.kinds import Makes, Reads, kind_spec
from training.selectors import PromptChoice, held_out_prompt_ids

USER_KEYS = ("which", "tag", "exclude_snapshot_test")
SERVICE_KEYS = ("ids", "exclude_ids")


def excludes_held_out_by_default(kind: str) -> bool:
    """True for kinds that train a policy on prompts (PPO, RLOO, GRPO): held-out prompts stay out."""
    spec = kind_spec(kind)
    return spec is not None and spec.reads == Reads.PROMPTS and spec.makes == Makes.POLICY


def _check_keys(selection: dict[str, Any], allowed: tuple[str, ...]) -> None:
    for key in selection:
        if key not in allowed:
            raise ValidationError({"prompts": f"{key}: unknown key; use {', '.join(USER_KEYS)}"})


def _check_choice(selection: dict[str, Any]) -> tuple[str, str]:
    which, tag = selection.get("which", PromptChoice.ALL), selection.get("tag", "")
    if which not in dict(PromptChoice.CHOICES):
        raise ValidationError({"prompts": f"which: choose one of {', '.join(dict(PromptChoice.CHOICES))}"})
    if not isinstance(tag, str) or (which == PromptChoice.TAG and not tag.strip()):
        raise ValidationError({"prompts": "tag: give the tag whose prompts to use"})
    return which, tag.strip()


def _held_out_source(project: Project, snapshot: DatasetSnapshot | None) -> DatasetSnapshot | None:
    """The snapshot whose test split to leave out: the run's own, else the project's newest preference export."""
    if snapshot is not None:
        return snapshot
    return (
        DatasetSnapshot.objects.filter(project=project, kind="preference", status=SnapshotStatus.SUCCEEDED)
        .order_by("-id")
        .first()
    )


def prompt_selection_resolve(
    *, project: Project, kind: str, selection: dict[str, Any] | None, snapshot: DatasetSnapshot | None = None,
    internal: bool = False,
) -> dict[str, Any]:
    """Return the selection a run stores in inputs["prompts"]; ValidationError names an unknown or bad key."""
    selection = dict(selection or {})
    _check_keys(selection, USER_KEYS + SERVICE_KEYS if internal else USER_KEYS)
    which, tag = _check_choice(selection)
    resolved: dict[str, Any] = {"which": which, "tag": tag}
    resolved.update({k: selection[k] for k in SERVICE_KEYS if k in selection})
    exclude = selection.get("exclude_snapshot_test")
    if exclude is None:
        exclude = excludes_held_out_by_default(kind) and not resolved.keys() & set(SERVICE_KEYS)
    elif not isinstance(exclude, bool):
        raise ValidationError({"prompts": "exclude_snapshot_test: must be true or false"})
    source = _held_out_source(project, snapshot) if exclude else None
    if source is not None:
        resolved["exclude_ids"] = sorted({*resolved.get("exclude_ids", ()), *held_out_prompt_ids(source)})
        resolved["held_out_snapshot_id"] = source.pk
    resolved["exclude_snapshot_test"] = bool(exclude)
    return resolved
