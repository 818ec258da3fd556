"""Forms for "Train now" (data, base model, processes + the kind's hyperparameters) and schedules."""

from __future__ import annotations

import dataclasses
import inspect
import json
import re
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from labeling.exports.params import AGGREGATIONS, FLAGS, PAIR_SELECTIONS, ExportParams
from labeling.models import DatasetSnapshot, Project, SnapshotStatus
from training.forms import JobConfigForm
from training.models import ModelKind, ModelVersion, Recipe
from training.selectors import PromptChoice
from training.services.configs import JobSpec
from training.services.schedules import ScheduleData
from training.services.triggers import TrainRequest, kind_needs_prompts, kind_needs_snapshot

FRESH, EXISTING = "fresh", "existing"
_FIELD_COMMENT = re.compile(r"^\s+(\w+)\s*:[^#]*#\s*(?:system:\s*)?(.+?)\s*$")


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


def _choices(values: tuple[str, ...]) -> list[tuple[str, str]]:
    return [(v, v.replace("_", " ")) for v in values]


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


class TrainForm(forms.Form):
    """Where a run starts and what it reads; the kind's hyperparameters come in a HyperparameterForm."""

    base = forms.ModelChoiceField(
        queryset=ModelVersion.objects.none(),
        required=False,
        empty_label="Current policy",
        help_text="The policy to start from (evaluate: the policy to evaluate against its parent).",
    )
    data = forms.ChoiceField(
        choices=[(FRESH, "A fresh snapshot with these filters"), (EXISTING, "An existing snapshot")],
        initial=FRESH,
        widget=forms.RadioSelect,
        label="Preference data",
    )
    snapshot = forms.ModelChoiceField(
        queryset=DatasetSnapshot.objects.none(), required=False, empty_label="Choose a snapshot"
    )
    exclude_flags = forms.MultipleChoiceField(
        choices=_choices(FLAGS),
        initial=list(FLAGS),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Exclude rankings flagged",
    )
    min_agreement = forms.FloatField(
        initial=0.0, min_value=0.0, max_value=1.0, help_text="Share of rankings (0–1) that must agree on a pair."
    )
    aggregation = forms.ChoiceField(
        choices=_choices(AGGREGATIONS), initial="all", help_text="How several annotators' rankings combine."
    )
    pairs = forms.ChoiceField(choices=_choices(PAIR_SELECTIONS), initial="all", label="Pair selection")
    test_fraction = forms.FloatField(
        initial=ExportParams.test_fraction,
        min_value=0.0,
        max_value=0.5,
        help_text="Share of prompts held out for evaluation (split by prompt).",
    )
    which = forms.ChoiceField(
        label="Prompts", choices=PromptChoice.CHOICES, initial=PromptChoice.ALL, widget=forms.RadioSelect
    )
    tag = forms.CharField(label="Tag", required=False, max_length=100, help_text="Only for “Prompts with a tag”.")
    nproc = forms.IntegerField(
        initial=1,
        min_value=1,
        max_value=64,
        label="Processes",
        help_text="More than 1 runs under torchrun (CPU) or accelerate launch (GPUs).",
    )

    SNAPSHOT_FIELDS = ("data", "snapshot", "exclude_flags", "min_agreement", "aggregation", "pairs", "test_fraction")
    PROMPT_FIELDS = ("which", "tag")

    def __init__(self, *args: Any, project: Project, kind: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.project, self.kind = project, kind
        self.fields["base"].queryset = ModelVersion.objects.filter(project=project, kind=ModelKind.POLICY).order_by(
            "-id"
        )
        self.fields["snapshot"].queryset = DatasetSnapshot.objects.filter(
            project=project, status=SnapshotStatus.SUCCEEDED, kind="preference"
        ).order_by("-id")
        self.needs_snapshot, self.needs_prompts = kind_needs_snapshot(kind), kind_needs_prompts(kind)
        unused = (() if self.needs_snapshot else self.SNAPSHOT_FIELDS) + (
            () if self.needs_prompts else self.PROMPT_FIELDS
        )
        for name in unused:
            del self.fields[name]

    def snapshot_fields(self) -> list[forms.BoundField]:
        return [self[n] for n in self.SNAPSHOT_FIELDS if n in self.fields and n not in ("data", "snapshot")]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if self.needs_snapshot and data.get("data") == EXISTING and not data.get("snapshot"):
            self.add_error("snapshot", "Choose a snapshot, or pick “a fresh snapshot”.")
        if self.needs_prompts and data.get("which") == PromptChoice.TAG and not (data.get("tag") or "").strip():
            self.add_error("tag", "Give the tag whose prompts to use.")
        return data

    def request(self, config: dict[str, Any]) -> TrainRequest:
        """Return the TrainRequest for the service (call after is_valid)."""
        data = self.cleaned_data
        snapshot = snapshot_params = prompts = None
        if self.needs_snapshot and data["data"] == EXISTING:
            snapshot = data["snapshot"]
        elif self.needs_snapshot:
            snapshot_params = {name: data[name] for name in ("min_agreement", "aggregation", "pairs", "test_fraction")}
            snapshot_params["exclude_flags"] = data.get("exclude_flags") or []
        if self.needs_prompts:
            prompts = {"which": data["which"], "tag": (data.get("tag") or "").strip()}
        return TrainRequest(
            kind=self.kind,
            config=config,
            snapshot=snapshot,
            snapshot_params=snapshot_params,
            base=data.get("base"),
            prompts=prompts,
            nproc=data["nproc"],
        )


class ScheduleForm(forms.Form):
    """A project's schedule: recipe, triggers, the evaluation gate, and per-kind hyperparameters."""

    recipe = forms.ChoiceField(
        choices=Recipe.choices,
        initial=Recipe.DPO,
        help_text="The chain: snapshot → train → evaluate → promote → generate.",
    )
    every_n_preferences = forms.IntegerField(
        required=False,
        min_value=1,
        label="Every N new preferences",
        help_text="Fire after this many new preferences since the last run.",
    )
    every_hours = forms.FloatField(
        required=False,
        min_value=0.01,
        label="Every T hours",
        help_text="Fire this long after the last run, once there is something new.",
    )
    auto_promote = forms.BooleanField(
        required=False, help_text="Promote the new policy when it passes the evaluation gate."
    )
    min_win_rate = forms.FloatField(
        initial=0.5,
        min_value=0.0,
        max_value=1.0,
        label="Minimum win rate",
        help_text="Reward-model win rate against its parent on held-out prompts (0–1).",
    )
    generate_next = forms.BooleanField(
        required=False,
        label="Generate the next round",
        help_text="After a promotion, sample new comparisons from the new policy.",
    )
    enabled = forms.BooleanField(required=False, initial=True)
    config = forms.JSONField(
        required=False,
        initial=dict,
        label="Hyperparameters (JSON)",
        help_text='Per kind, e.g. {"dpo": {"beta": 0.1}, "snapshot": {"min_agreement": 0.5}}; empty = defaults.',
        widget=forms.Textarea(attrs={"rows": 4}),
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("every_n_preferences") is None and data.get("every_hours") is None and not self.errors:
            self.add_error("every_n_preferences", "Set a number of new preferences, a number of hours, or both.")
        return data

    def schedule_data(self) -> ScheduleData:
        data = self.cleaned_data
        return ScheduleData(
            recipe=data["recipe"],
            enabled=data["enabled"],
            every_n_preferences=data["every_n_preferences"],
            every_hours=data["every_hours"],
            auto_promote=data["auto_promote"],
            min_win_rate=data["min_win_rate"],
            generate_next=data["generate_next"],
            config=data.get("config") or {},
        )

    def add_service_error(self, exc: ValidationError) -> None:
        """Attach a service's ValidationError to the field it names."""
        for key, messages in getattr(exc, "message_dict", {None: exc.messages}).items():
            for message in messages:
                self.add_error(key if key in self.fields else None, message)


def schedule_initial(schedule: Any) -> dict[str, Any]:
    """Return a form's initial values from a saved schedule."""
    names = ("recipe", "every_n_preferences", "every_hours", "auto_promote", "min_win_rate", "generate_next", "enabled")
    initial = {name: getattr(schedule, name) for name in names}
    initial["config"] = json.dumps(schedule.config or {})
    return initial
