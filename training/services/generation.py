"""Generation rounds: start one, and turn a generate job's output into comparisons."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from labeling.models import Project, Prompt
from labeling.services.comparisons import NewComparison, NewResponse, comparisons_create
from training.models import Run, RunKind
from training.selectors import PromptChoice, prompts_for_generation
from training.services.configs import job_spec
from training.services.runs import run_create

# Names a generate job may give its "responses per prompt" field; the project's K always wins.
K_FIELD_NAMES = ("k", "num_responses", "num_return_sequences", "n")
SOURCE = "generate"
POLICY_SOURCE = "policy"  # the generate job's tag for answers from the run's own policy


def generate_k_field() -> str | None:
    """Return the generate job's field that holds K, if it declares one."""
    spec = job_spec(RunKind.GENERATE)
    names = {f.name for f in spec.user_fields()} | set(spec.system_fields)
    return next((n for n in K_FIELD_NAMES if n in names), None)


def generation_round_start(
    *, project: Project, user: Any, which: str, tag: str = "", config: dict[str, Any] | None = None
) -> Run:
    """Queue a generate run over the chosen prompts, K responses each (K from the project)."""
    if which not in dict(PromptChoice.CHOICES):
        raise ValidationError({"which": f"choose one of {', '.join(dict(PromptChoice.CHOICES))}"})
    if which == PromptChoice.TAG and not tag.strip():
        raise ValidationError({"tag": "give the tag whose prompts to generate for"})
    count = prompts_for_generation(project=project, which=which, tag=tag.strip()).count()
    if count == 0:
        default = " (the default)" if which == PromptChoice.GENERATE_DEFAULT else ""
        advice = PromptChoice.EMPTY_ADVICE[which]
        raise ValidationError({"which": f"no prompts match the choice “{which}”{default}: {advice}"})
    config = dict(config or {})
    # Each round draws a new seed (0, 1, 2, ... per project), so a repeated round is not a copy.
    if "seed" in {f.name for f in job_spec(RunKind.GENERATE).user_fields()}:
        config.setdefault("seed", Run.objects.filter(project=project, kind=RunKind.GENERATE).count())
    k_field = generate_k_field()
    if k_field and k_field not in job_spec(RunKind.GENERATE).system_fields:
        config[k_field] = project.k
    return run_create(
        project=project,
        kind=RunKind.GENERATE,
        config=config,
        user=user,
        inputs={"prompts": {"which": which, "tag": tag.strip()}, "prompt_count": count, "k": project.k},
    )


@dataclass(frozen=True)
class IngestResult:
    comparisons: int
    responses: int
    skipped_prompts: int
    comparison_ids: tuple[int, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "comparisons": self.comparisons, "responses": self.responses, "skipped_prompts": self.skipped_prompts,
            "comparison_ids": list(self.comparison_ids),
        }


def _read_rows(path: Path) -> list[dict[str, Any]]:
    rows = []
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise ValidationError({"output_file": f"line {number} is not JSON: {exc}"}) from exc
    return rows


def _responses(row: dict[str, Any], k: int) -> list[dict[str, Any]] | None:
    """Return the first K well-formed responses of a row, or None when it has fewer."""
    items = row.get("responses")
    if not isinstance(items, list):
        return None
    good = [r for r in items if isinstance(r, dict) and isinstance(r.get("text"), str)]
    return good[:k] if len(good) >= k else None


def _source_name(item: dict[str, Any], policy_name: str) -> str:
    """Tag an answer with where it came from: the policy's name, or the external source's name."""
    source = item.get("source")
    return source if isinstance(source, str) and source and source != POLICY_SOURCE else policy_name


def _params(item: dict[str, Any]) -> dict[str, Any]:
    return item["params"] if isinstance(item.get("params"), dict) else {}


@transaction.atomic
def generation_output_ingest(*, run: Run, output_file: str | Path, policy_name: str) -> IngestResult:
    """Create one comparison of K responses per prompt, tagged with the policy; skip prompts given fewer."""
    project = run.project
    rows = _read_rows(Path(output_file))
    ids = {row.get("prompt_id") for row in rows if isinstance(row.get("prompt_id"), int)}
    prompts = Prompt.objects.in_bulk([i for i in ids if i is not None])
    kept: list[tuple[Prompt, list[dict[str, Any]]]] = []
    for row in rows:
        prompt = prompts.get(row.get("prompt_id"))
        picked = _responses(row, project.k)
        if prompt is not None and prompt.project_id == project.pk and picked is not None:
            kept.append((prompt, picked))
    items = [
        NewComparison(
            prompt.pk,
            [
                NewResponse(item["text"], model_name=_source_name(item, policy_name), generation_params=_params(item))
                for item in picked
            ],
        )
        for prompt, picked in kept
    ]
    comparisons = comparisons_create(project=project, items=items, source=SOURCE, policy_version=policy_name)
    responses = sum(len(item.responses) for item in items)
    made, skipped = len(comparisons), len(rows) - len(comparisons)
    return IngestResult(
        comparisons=made, responses=responses, skipped_prompts=skipped, comparison_ids=tuple(c.pk for c in comparisons)
    )
