"""Forms: a job's hyperparameters (built from its config dataclass) and the "generate next round" form."""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from labeling.models import Project
from training.models import RunKind
from training.selectors import PromptChoice
from training.services.configs import JobSpec, config_error_field, job_spec
from training.services.generation import K_FIELD_NAMES


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


class GenerateRoundForm(JobConfigForm):
    """Generate the next round: which prompts, and the sampling settings (K comes from the project)."""

    kind = RunKind.GENERATE
    hidden_fields = K_FIELD_NAMES
    which = forms.ChoiceField(label="Prompts", choices=PromptChoice.CHOICES, initial=PromptChoice.UNRANKED, widget=forms.RadioSelect)
    tag = forms.CharField(label="Tag", required=False, max_length=100, help_text="Only for “Prompts with a tag”.")

    def __init__(self, *args: Any, project: Project, **kwargs: Any) -> None:
        self.project = project
        super().__init__(*args, **kwargs)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("which") == PromptChoice.TAG and not (data.get("tag") or "").strip():
            self.add_error("tag", "Give the tag whose prompts to generate for.")
        return data
