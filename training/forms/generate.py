"""The "generate next round" form: which prompts, and the sampling settings (K comes from the project)."""

from __future__ import annotations

from typing import Any

from django import forms

from labeling.models import Project
from training.forms.hyperparameters import JobConfigForm
from training.models import RunKind
from training.selectors import PromptChoice, generation_round_sizes
from training.services.generation import K_FIELD_NAMES


class GenerateRoundForm(JobConfigForm):
    """Generate the next round: which prompts, and the sampling settings (K comes from the project)."""

    kind = RunKind.GENERATE
    hidden_fields = K_FIELD_NAMES
    which = forms.ChoiceField(label="Prompts", choices=PromptChoice.CHOICES, initial=PromptChoice.GENERATE_DEFAULT, widget=forms.RadioSelect)
    tag = forms.CharField(label="Tag", required=False, max_length=100, help_text="Only for “Prompts with a tag”.")

    def __init__(self, *args: Any, project: Project, **kwargs: Any) -> None:
        self.project = project
        super().__init__(*args, **kwargs)
        if "seed" in self.fields:  # empty: the service draws a new seed for every round
            self.fields["seed"].required = False
            self.fields["seed"].initial = None
            self.fields["seed"].help_text = "Empty: a new seed every round. Set one only to repeat a round exactly."
        sizes = generation_round_sizes(project)
        self.fields["which"].choices = [
            (choice, f"{label} — {_creates(sizes[choice], project.k)}" if choice in sizes else label)
            for choice, label in PromptChoice.CHOICES
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("which") == PromptChoice.TAG and not (data.get("tag") or "").strip():
            self.add_error("tag", "Give the tag whose prompts to generate for.")
        return data


def _creates(comparisons: int, k: int) -> str:
    """Say what a round would create, before it starts."""
    if comparisons == 0:
        return "creates nothing now"
    noun = "comparison" if comparisons == 1 else "comparisons"
    return f"creates {comparisons} {noun} ({comparisons * k} responses)"
