"""Hyperparameter forms built from a job's config dataclass: one input per user-settable field."""

from __future__ import annotations

import dataclasses
import inspect
import re
import typing
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from training.services.configs import JobSpec, config_error_field, job_spec

_FIELD_COMMENT = re.compile(r"^\s+(\w+)\s*:[^#]*#\s*(?:system:\s*)?(.+?)\s*$")


def _form_field(f: dataclasses.Field, hint: Any, default: Any) -> forms.Field:
    """Pick a form field for one config field from its type hint."""
    label = f.name.replace("_", " ").capitalize()
    if hint is bool:
        return forms.BooleanField(label=label, required=False, initial=default)
    if hint is int:
        return forms.IntegerField(label=label, initial=default)
    if hint is float:
        return forms.FloatField(label=label, initial=default)
    if typing.get_origin(hint) is typing.Literal:
        choices = [(c, c) for c in typing.get_args(hint)]
        return forms.ChoiceField(label=label, choices=choices, initial=default)
    if hint is str:
        return forms.CharField(label=label, initial=default, required=False, max_length=500)
    return forms.JSONField(label=label, initial=default, required=False, help_text="JSON")


class JobConfigForm(forms.Form):
    """One input per user-settable hyperparameter of a kind, pre-filled with the job's defaults."""

    kind: str = ""
    hidden_fields: tuple[str, ...] = ()

    def __init__(self, *args: Any, kind: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.spec: JobSpec = job_spec(kind or self.kind)
        defaults = self.spec.defaults()
        for f in self.spec.user_fields():
            if f.name in self.hidden_fields or f.name in self.fields:
                continue
            self.fields[f.name] = _form_field(f, self.spec.hints.get(f.name), defaults.get(f.name))

    def config_names(self) -> list[str]:
        return [f.name for f in self.spec.user_fields() if f.name in self.fields]

    def config_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in self.config_names()]

    def config(self) -> dict[str, Any]:
        """Return the hyperparameters the user set (call after is_valid)."""
        return {n: self.cleaned_data[n] for n in self.config_names() if self.cleaned_data.get(n) is not None}

    def add_service_error(self, exc: ValidationError) -> None:
        """Attach a service's ValidationError to the field its message names, else to the form."""
        for key, messages in getattr(exc, "message_dict", {None: exc.messages}).items():
            for message in messages:
                named = config_error_field(message) if key == "config" else key
                self.add_error(named if named in self.fields else None, message)


def config_help(spec: JobSpec) -> dict[str, str]:
    """Return each config field's help: metadata["help"], else the comment at the end of its line."""
    helps: dict[str, str] = {}
    try:
        for line in inspect.getsource(spec.config_class).splitlines():
            match = _FIELD_COMMENT.match(line)
            if match:
                helps.setdefault(match.group(1), match.group(2))
    except (OSError, TypeError):
        pass  # no source (e.g. a frozen build): fields just go without help
    for f in dataclasses.fields(spec.config_class):
        if f.metadata.get("help"):
            helps[f.name] = str(f.metadata["help"])
    return helps


class HyperparameterForm(JobConfigForm):
    """The kind's hyperparameters, pre-filled with the job's defaults, each with its help text."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        helps = config_help(self.spec)
        for name in self.config_names():
            self.fields[name].help_text = helps.get(name, "")
            self.fields[name].required = False  # empty = the default

    def config(self) -> dict[str, Any]:
        """Return only the values that differ from the defaults (the run stores the full config)."""
        defaults = self.spec.defaults()
        out = {}
        for name in self.config_names():
            value = self.cleaned_data.get(name)
            if value is None or value == "" and defaults.get(name) != "":
                continue
            if isinstance(defaults.get(name), tuple) and isinstance(value, list):
                value = tuple(value)
            if value != defaults.get(name):
                out[name] = list(value) if isinstance(value, tuple) else value
        return out
