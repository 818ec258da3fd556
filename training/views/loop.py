"""The model-loop panel on labeling's project page (registered in labeling.hooks by TrainingConfig.ready)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError

from labeling.access import is_manager
from labeling.hooks import ProjectPanel
from labeling.models import Project
from training import selectors
from training.forms.generate import GenerateRoundForm
from training.models import ACTIVE_RUN_STATUSES


def project_loop_context(project: Project, *, user: Any = None) -> dict[str, Any]:
    """Return the context templates/training/partials/project_loop.html needs."""
    pointers = selectors.project_pointers(project)
    runs = list(selectors.runs_for_project(project)[:5])
    try:
        generate_form = GenerateRoundForm(project=project)
    except ValidationError:  # no generate job installed: show the loop without the form
        generate_form = None
    return {
        "project": project,
        "current_policy": pointers.policy,
        "current_reward": pointers.reward,
        "recent_runs": runs,
        "active_runs": [r for r in runs if r.status in ACTIVE_RUN_STATUSES],
        "generate_form": generate_form,
        "can_manage": bool(user is not None and is_manager(user, project)),
        **selectors.schedule_loop_context(project),
    }


PROJECT_LOOP_PANEL = ProjectPanel(
    name="training-loop", template="training/partials/project_loop.html", context=project_loop_context
)
