"""Hyperparameter forms built from a job's config dataclass: one input per user-settable field."""

from __future__ import annotations

import dataclasses
import inspect
import re
import types
import typing
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from training.display import words
from training.services.configs import JobSpec, config_error_field, job_spec

_FIELD_COMMENT = re.compile(r"^\s+(\w+)\s*:[^#]*#\s*(?:system:\s*)?(.+?)\s*$")


class TextListField(forms.CharField):
    """Several values typed as one line, comma-separated: "sigmoid, ipo" -> ["sigmoid", "ipo"]."""

    def __init__(self, *, item: type = str, single: bool = False, **kwargs: Any) -> None:
        self.item, self.single = item, single  # single: one value comes back bare (the hint allows it)
        super().__init__(**kwargs)

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, (list, tuple)):
            return ", ".join(str(v) for v in value)
        return value

    def to_python(self, value: Any) -> Any:
        text = super().to_python(value)
        if not text:
            return None
        items = [part.strip() for part in str(text).split(",") if part.strip()]
        try:
            values = [self.item(part) for part in items]
        except ValueError:
            raise ValidationError(f"give {self.item.__name__} values separated by commas") from None
        return values[0] if self.single and len(values) == 1 else values


def _unwrap_optional(hint: Any) -> tuple[Any, bool]:
    """Return (the hint without None, whether None was allowed)."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in typing.get_args(hint):
        rest = [a for a in typing.get_args(hint) if a is not type(None)]
        return (rest[0] if len(rest) == 1 else typing.Union[tuple(rest)]), True  # noqa: UP007 - built at run time
    return hint, False


def _sequence_item(hint: Any) -> tuple[Any, bool] | None:
    """For list[X], tuple[X, ...] or X | list[X]: return (X, whether a bare X is allowed); else None."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (list, tuple) and args:
        return args[0], False
    if origin in (typing.Union, types.UnionType):
        seqs = [a for a in args if typing.get_origin(a) in (list, tuple)]
        bare = [a for a in args if typing.get_origin(a) not in (list, tuple)]
        if len(seqs) == 1 and bare == [typing.get_args(seqs[0])[0]]:
            return bare[0], True
    return None


def _list_field(item: Any, single: bool, label: str, default: Any, optional: bool) -> forms.Field:
    if typing.get_origin(item) is typing.Literal:
        choices = [(c, c) for c in typing.get_args(item)]
        initial = [default] if isinstance(default, str) else list(default or [])
        return forms.MultipleChoiceField(label=label, choices=choices, initial=initial, required=False, widget=forms.CheckboxSelectMultiple)
    kind = item if item in (str, int, float) else str
    return TextListField(label=label, initial=default, required=not optional, item=kind, single=single, help_text="comma-separated")


def _form_field(f: dataclasses.Field, hint: Any, default: Any) -> forms.Field:
    """Pick a typed form field for one config field from its type hint (JSON only for nested data)."""
    label = words(f.name)
    hint, optional = _unwrap_optional(hint)
    if hint is bool:
        return forms.BooleanField(label=label, required=False, initial=default)
    if hint is int:
        return forms.IntegerField(label=label, initial=default, required=not optional)
    if hint is float:
        return forms.FloatField(label=label, initial=default, required=not optional)
    if typing.get_origin(hint) is typing.Literal:
        choices = [(c, c) for c in typing.get_args(hint)]
        return forms.ChoiceField(label=label, choices=([("", "–")] if optional else []) + choices, initial=default, required=not optional)
    if hint is str:
        return forms.CharField(label=label, initial=default, required=False, max_length=500)
    sequence = _sequence_item(hint)
    if sequence is not None:
        return _list_field(*sequence, label, default, optional)
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
                if named in self.fields:
                    # The field's label already says which one: "Beta: must be >= 1e-06", not "Beta: beta: ...".
                    self.add_error(named, message.removeprefix(f"{named}:").strip())
                else:
                    self.add_error(None, message)


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
            field = self.fields[name]
            field.help_text = "; ".join(h for h in (helps.get(name, ""), field.help_text) if h)
            field.required = False  # empty = the default

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
