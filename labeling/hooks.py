"""What other apps plug into labeling, registered from their AppConfig.ready(); labeling never imports them.

Project panels: sections a project's page shows below its own, each a template and a callable
`(project, *, user) -> dict | None` giving that template's context (None hides the panel).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


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


_project_panels: dict[str, ProjectPanel] = {}


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
