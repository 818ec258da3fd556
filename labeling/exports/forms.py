"""The export form: every parameter with a sensible default; the service does the validating."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError

from labeling.exports.cleaning import DEDUPE, PERSONAL_DATA
from labeling.exports.params import (
    AGGREGATIONS,
    FLAGS,
    FORMATS,
    KINDS,
    PAIR_SELECTIONS,
    SFT_SOURCES,
    STYLES,
    ExportParams,
)

# What the page shows for each parameter value (the values themselves stay the API's).
CHOICE_LABELS = {
    "preference": "Preference pairs",
    "prompt": "Prompts only (for PPO / RLOO / GRPO)",
    "sft": "SFT conversations",
    "kto": "Judged answers (KTO: best desirable, worst undesirable)",
    "all": "All",
    "majority": "Majority vote",
    "bradley_terry": "Bradley–Terry scores",
    "best_vs_rest": "Best against each other",
    "best_vs_worst": "Best against worst",
    "jsonl": "JSONL",
    "parquet": "Parquet",
    "save_to_disk": "Hugging Face datasets folder (zipped)",
    "csv": "CSV",
    "conversational": "Conversational (chat messages)",
    "standard": "Standard (plain strings)",
    "unsafe": "Unsafe",
    "all_bad": "All bad",
    "keep": "Keep",
    "mask": "Mask them ([EMAIL], [PHONE])",
    "drop": "Drop the responses that contain them",
    "off": "Off",
    "exact": "Exact duplicates",
    "near": "Exact and near duplicates",
    "both": "Accepted demonstrations and the best ranked response",
    "demonstrations": "Accepted demonstrations only",
    "rankings": "Best ranked responses only",
}


def _choices(values: tuple[str, ...]) -> list[tuple[str, str]]:
    return [(v, CHOICE_LABELS.get(v, v.replace("_", " ").capitalize())) for v in values]


class ExportForm(forms.Form):
    """Parameters of a new snapshot, as the page shows them."""

    name = forms.CharField(required=False, max_length=80, help_text="Empty: named after kind and aggregation.")
    kind = forms.ChoiceField(choices=_choices(KINDS), initial="preference")
    aggregation = forms.ChoiceField(choices=_choices(AGGREGATIONS), initial="all")
    pairs = forms.ChoiceField(choices=_choices(PAIR_SELECTIONS), initial="all", label="Pair selection")
    min_agreement = forms.FloatField(initial=0.0, min_value=0.0, max_value=1.0, help_text="Share of rankings (0–1) that must agree on a pair.")
    exclude_flags = forms.MultipleChoiceField(
        choices=_choices(FLAGS), initial=list(FLAGS), required=False, widget=forms.CheckboxSelectMultiple, label="Exclude rankings flagged"
    )
    annotators_include = forms.CharField(required=False, help_text="Usernames, comma-separated; empty = everyone.")
    annotators_exclude = forms.CharField(required=False, help_text="Usernames, comma-separated.")
    min_annotator_agreement = forms.FloatField(
        required=False, initial=0.0, min_value=0.0, max_value=1.0, label="Minimum annotator agreement",
        help_text="Leave out annotators who agree with the others less than this (0–1, see the dashboard).",
    )
    min_gold_accuracy = forms.FloatField(
        required=False, initial=0.0, min_value=0.0, max_value=1.0, label="Minimum gold accuracy",
        help_text="Leave out annotators whose gold accuracy is below this (0–1).",
    )
    date_from = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    policy_versions = forms.CharField(required=False, help_text="Comma-separated; empty = all.")
    tags = forms.CharField(required=False, help_text="Prompts with any of these tags; empty = all.")
    cap_per_tag = forms.IntegerField(required=False, min_value=1, help_text="At most this many prompts per tag.")
    test_fraction = forms.FloatField(initial=ExportParams.test_fraction, min_value=0.0, max_value=0.5)
    seed = forms.IntegerField(initial=0, min_value=0)
    format = forms.ChoiceField(
        choices=[("", "default (Parquet for prompts, else JSONL)"), *_choices(FORMATS)], required=False, help_text="JSONL is always written too."
    )
    style = forms.ChoiceField(choices=_choices(STYLES), initial="conversational")
    data_source = forms.CharField(required=False, max_length=100, help_text="Prompt exports: verl's data_source; empty = prefloop/<project slug>.")
    ability = forms.CharField(required=False, max_length=100, help_text="Prompt exports: verl's ability; empty = chat.")
    drop_secrets = forms.BooleanField(required=False, label="Drop responses with secrets",
                                      help_text="API keys, tokens, private keys (detect-secrets).")
    personal_data = forms.ChoiceField(choices=_choices(PERSONAL_DATA), initial="keep", required=False, label="E-mail addresses and phone numbers")
    dedupe = forms.ChoiceField(choices=_choices(DEDUPE), initial="off", required=False, label="Duplicate responses")
    drop_empty = forms.BooleanField(required=False, label="Drop empty responses")
    min_length = forms.IntegerField(required=False, min_value=0, label="Minimum length",
                                    help_text="Characters; shorter responses are dropped. Empty or 0 = keep all.")
    tag_mix = forms.CharField(required=False, max_length=1000, label="Target mix by tag",
                              help_text="e.g. code=0.5, chat=0.3, math=0.2 (shares add up to 1); applied after the cap per tag.")
    sft_source = forms.ChoiceField(choices=_choices(SFT_SOURCES), initial="both", required=False, label="SFT exports read")
    background = forms.BooleanField(required=False, label="Run in the background (needs the worker)")

    FIELDSETS = (
        ("What", ("name", "kind", "aggregation", "pairs", "style", "format")),
        ("Prompt exports (verl, OpenRLHF)", ("data_source", "ability")),
        ("Filters", ("min_agreement", "exclude_flags", "annotators_include", "annotators_exclude", "min_annotator_agreement", "min_gold_accuracy", "date_from", "date_to", "policy_versions", "tags", "cap_per_tag")),
        ("Cleaning and balance", ("drop_secrets", "personal_data", "dedupe", "drop_empty", "min_length", "tag_mix", "sft_source")),
        ("Split and run", ("test_fraction", "seed", "background")),
    )

    def fieldsets(self) -> list[tuple[str, list[forms.BoundField]]]:
        """Return the fields grouped under the page's legends."""
        return [(legend, [self[name] for name in names]) for legend, names in self.FIELDSETS]

    def params(self) -> dict[str, Any]:
        """Return the cleaned parameters as the service takes them (call after is_valid)."""
        data = {k: v for k, v in self.cleaned_data.items() if k != "background" and v not in (None, "")}
        data["exclude_flags"] = self.cleaned_data.get("exclude_flags") or []
        for key in ("date_from", "date_to"):
            if key in data:
                data[key] = data[key].isoformat()
        return data

    def add_service_error(self, error: ValidationError) -> None:
        """Show a service ValidationError on the field it names, or above the form."""
        if not hasattr(error, "error_dict"):
            self.add_error(None, error)
            return
        for field, errors in error.error_dict.items():
            self.add_error(field if field in self.fields and field != NON_FIELD_ERRORS else None, errors)
