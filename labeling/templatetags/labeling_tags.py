"""Template helpers for labeling pages: `{% load labeling_tags %}`."""

from __future__ import annotations

from django import template
from django.utils.safestring import SafeString

from labeling import rendering

register = template.Library()


@register.filter(name="render_markdown")
def render_markdown(text: object) -> SafeString:
    """Render untrusted markdown to sanitized HTML (see labeling.rendering)."""
    return rendering.render_markdown(text)


@register.filter
def percent(part: int | float | None, whole: int | float | None) -> int:
    """Return part/whole as a whole percentage clamped to 0–100 (0 when whole is 0)."""
    if not whole or not part:
        return 0
    return max(0, min(100, round(100 * part / whole)))


@register.filter
def seconds(ms: int | float | None) -> str:
    """Format milliseconds as a short duration: 850 ms, 12.4 s, 3 min 5 s."""
    if ms is None:
        return "–"
    ms = float(ms)
    if ms < 1000:
        return f"{ms:.0f} ms"
    if ms < 60_000:
        return f"{ms / 1000:.1f} s"
    minutes, secs = divmod(round(ms / 1000), 60)
    return f"{minutes} min {secs} s"


@register.filter
def option_label(value: object) -> str:
    """Show a stored option value as the page names it ("bradley_terry" -> "Bradley–Terry scores")."""
    from labeling.exports.forms import CHOICE_LABELS

    if value is None or value == "" or value == []:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return ", ".join(option_label(v) for v in value)
    if isinstance(value, str):
        return CHOICE_LABELS.get(value, value)
    return str(value)


@register.filter
def words(name: object) -> str:
    """Turn an identifier into words: "min_agreement" -> "Min agreement"."""
    return str(name).replace("_", " ").capitalize()


@register.filter
def share(value: float | None) -> str:
    """Format a 0–1 share as a whole percentage ("83%"), or "–" when unknown."""
    return "–" if value is None else f"{100 * value:.0f}%"


@register.filter
def signed_points(value: float | None) -> str:
    """Format a difference of shares in percentage points ("+12 pts"), or "–"."""
    return "–" if value is None else f"{100 * value:+.0f} pts"
