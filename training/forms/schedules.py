"""The schedule form: recipe, triggers, the evaluation gate, and per-kind hyperparameters."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from training.models import Recipe
from training.services.schedules import ScheduleData


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
        help_text="After each evaluation, sample new comparisons from the current policy (the new one when it was "
        "promoted), so the loop goes on collecting when the gate keeps the old policy.",
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
