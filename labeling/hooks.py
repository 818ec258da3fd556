"""What other apps plug into labeling, registered from their AppConfig.ready(); labeling never imports them.

Two kinds of hook:
- ranking hooks, called after a ranking commits, as `hook(ranking_id=..., project_id=...)`;
- project panels, sections a project's page shows below its own: a template and a callable
  `(project, *, user) -> dict | None` giving that template's context (None hides the panel).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol


class RankingHook(Protocol):
    def __call__(self, *, ranking_id: int, project_id: int) -> None: ...


@dataclass(frozen=True)
class ProjectPanel:
    """A section of the project page owned by another app."""

    name: str
    template: str
    context: Callable[..., dict[str, Any] | None]


@dataclass(frozen=True)
class RenderedPanel:
    name: str
    template: str
    context: dict[str, Any]


_ranking_hooks: list[RankingHook] = []
_project_panels: dict[str, ProjectPanel] = {}


def ranking_hook_register(hook: RankingHook) -> None:
    """Call `hook` after every committed ranking (idempotent: registering twice keeps one)."""
    if hook not in _ranking_hooks:
        _ranking_hooks.append(hook)


def ranking_hooks() -> list[RankingHook]:
    return list(_ranking_hooks)


def project_panel_register(panel: ProjectPanel) -> None:
    """Show a panel on every project page (registering the same name again replaces it)."""
    _project_panels[panel.name] = panel


def project_panels_render(project: Any, *, user: Any) -> list[RenderedPanel]:
    """Return the registered panels with their context for one project page, in registration order."""
    rendered = []
    for panel in _project_panels.values():
        context = panel.context(project, user=user)
        if context is not None:
            rendered.append(RenderedPanel(panel.name, panel.template, context))
    return rendered
