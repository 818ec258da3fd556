"""Helpers for the schedule and recipe tests: ranked comparisons (real preferences) and chain runs."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from labeling.models import Comparison
from labeling.services import ranking_submit
from tests.factories import make_comparison, make_lease, make_prompt, make_user
from training.models import Run, RunStatus

CHAIN_JOBS = {
    "dpo": "tests.training.fake_job",
    "reward": "tests.training.fake_job",
    "ppo": "tests.training.fake_job",
    "generate": "tests.training.fake_generate",
    "evaluate": "tests.training.fake_evaluate",
}


def rank_new_comparisons(project: Any, n: int, *, annotator: Any = None, marker: str = "Sure!") -> list[Comparison]:
    """Make n two-response comparisons and rank each (the marked answer first): n new preferences."""
    annotator = annotator or make_user()
    made = []
    for _ in range(n):
        prompt = make_prompt(project)
        comparison = make_comparison(
            project, prompt=prompt, texts=[f"{marker} A kind answer to {prompt.pk}.", f"No. ({prompt.pk})"]
        )
        best, worst = comparison.responses.order_by("position").values_list("pk", flat=True)
        make_lease(comparison, annotator)
        ranking_submit(comparison=comparison, annotator=annotator, data={"order": [[best], [worst]]})
        made.append(comparison)
    return made


def mark_finished(run: Run, status: str = RunStatus.SUCCEEDED, **fields: Any) -> Run:
    """Finish a run by hand (as the runner would) so the next trigger is not blocked by it."""
    Run.objects.filter(pk=run.pk).update(status=status, finished_at=timezone.now(), **fields)
    run.refresh_from_db()
    return run
