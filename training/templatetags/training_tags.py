"""Template filters of the training pages: `{% load training_tags %}`."""

from __future__ import annotations

from typing import Any

from django import template

from training import display

register = template.Library()


@register.filter
def readable(value: Any) -> str:
    """Show a config or metric value in words (see training.display.readable)."""
    return display.readable(value)


@register.filter
def label(name: Any) -> str:
    """Turn a metric or field name into a label."""
    return display.words(name)


@register.filter
def clean_log(text: str) -> str:
    """Strip ANSI codes and progress bars from a log tail."""
    return display.clean_log(text)
