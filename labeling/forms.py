"""Forms of the labeling pages: the ranking (works without JavaScript), members, import, projects."""

from __future__ import annotations

import time
from typing import Any

from django import forms

from labeling.models import Flag, Project, Response, Role
from labeling.services.ranking import MAX_NOTE_CHARS, MAX_TIME_SPENT_MS, STRENGTHS

PAIRWISE_CHOICES = [("a", "A is better"), ("b", "B is better"), ("tie", "Tie"), ("both_bad", "Both bad")]
STRENGTH_CHOICES = [(str(n), label.replace(" better", "")) for n, label in STRENGTHS.items()]


def letter(n: int) -> str:
    """Return the card label for display position n (0 → A)."""
    return chr(ord("A") + n)


class RankingForm(forms.Form):
    """One comparison's ranking: a rank select per response (same rank = tie), or A/B in pairwise mode.

    The same fields serve both the plain form and the JavaScript ranking UI, which fills the
    rank selects from the card order before it submits.
    """

    flags = forms.MultipleChoiceField(choices=Flag.choices, required=False, widget=forms.CheckboxSelectMultiple)
    note = forms.CharField(required=False, max_length=MAX_NOTE_CHARS, widget=forms.Textarea(attrs={"rows": 2}))
    time_spent_ms = forms.IntegerField(required=False, min_value=0, widget=forms.HiddenInput)
    rendered_at = forms.IntegerField(required=False, min_value=0, widget=forms.HiddenInput)
    idempotency_key = forms.CharField(required=False, max_length=100, widget=forms.HiddenInput)
    edit = forms.BooleanField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args: Any, project: Project, responses: list[Response], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.project = project
        self.responses = responses  # in display order
        self.pairwise = project.k == 2 and len(responses) == 2
        if self.pairwise:
            choices = [c for c in PAIRWISE_CHOICES if c[0] != "tie" or project.allow_ties]
            self.fields["choice"] = forms.ChoiceField(
                choices=choices, widget=forms.RadioSelect, label="Which is better?"
            )
            self.fields["strength"] = forms.TypedChoiceField(
                choices=STRENGTH_CHOICES, coerce=int, required=False, widget=forms.RadioSelect, initial="2"
            )
        else:
            rank_choices = [("", "–")] + [(str(n), str(n)) for n in range(1, len(responses) + 1)]
            for n, response in enumerate(responses):
                self.fields[self.rank_field(response)] = forms.TypedChoiceField(
                    choices=rank_choices, coerce=int, label=f"Rank of {letter(n)}",
                    error_messages={"required": f"Give response {letter(n)} a rank (1 = best)."},
                )  # fmt: skip

    @staticmethod
    def rank_field(response: Response) -> str:
        return f"rank_{response.pk}"

    def rank_fields(self) -> list[forms.BoundField]:
        """Return the rank selects in display order (empty in pairwise mode)."""
        return [] if self.pairwise else [self[self.rank_field(r)] for r in self.responses]

    def clean_time_spent_ms(self) -> int | None:
        value = self.cleaned_data.get("time_spent_ms")
        return None if value is None else min(value, MAX_TIME_SPENT_MS)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if self.pairwise and cleaned.get("choice") == "both_bad":
            cleaned["flags"] = sorted(set(cleaned.get("flags") or []) | {Flag.ALL_BAD.value})
        return cleaned

    def _order(self) -> list[list[int]]:
        ids = [r.pk for r in self.responses]
        if self.pairwise:
            choice = self.cleaned_data["choice"]
            if choice == "a":
                return [[ids[0]], [ids[1]]]
            if choice == "b":
                return [[ids[1]], [ids[0]]]
            return [ids]  # tie or both bad
        groups: dict[int, list[int]] = {}
        for response in self.responses:
            groups.setdefault(self.cleaned_data[self.rank_field(response)], []).append(response.pk)
        return [groups[rank] for rank in sorted(groups)]

    def _time_spent(self) -> int:
        spent = self.cleaned_data.get("time_spent_ms")
        if spent is None and self.cleaned_data.get("rendered_at"):
            # Without JavaScript, time from when the server rendered the form is the best guess.
            spent = int(time.time() * 1000) - self.cleaned_data["rendered_at"]
        return max(0, min(int(spent or 0), MAX_TIME_SPENT_MS))

    def service_data(self) -> dict[str, Any]:
        """Return the validated ranking as ranking_submit's `data`."""
        data: dict[str, Any] = {
            "order": self._order(),
            "flags": list(self.cleaned_data.get("flags") or []),
            "note": self.cleaned_data.get("note") or "",
            "time_spent_ms": self._time_spent(),
            "idempotency_key": self.cleaned_data.get("idempotency_key") or "",
        }
        if self.pairwise and self.cleaned_data["choice"] in ("a", "b"):
            data["strength"] = self.cleaned_data.get("strength") or 2
        return data


def ranking_initial(responses: list[Response], order: list[list[int]] | None, *, pairwise: bool) -> dict[str, Any]:
    """Return form initial values that show a stored order (used when reopening a ranking)."""
    if not order:
        return {}
    rank_of = {rid: n + 1 for n, group in enumerate(order) for rid in group}
    if pairwise:
        a, b = (rank_of.get(r.pk) for r in responses)
        return {"choice": "tie" if a == b else ("a" if a < b else "b")}
    return {RankingForm.rank_field(r): rank_of.get(r.pk) for r in responses}


class MemberAddForm(forms.Form):
    username = forms.CharField(max_length=150, widget=forms.TextInput(attrs={"autocomplete": "off"}))
    role = forms.ChoiceField(choices=Role.choices, initial=Role.ANNOTATOR)


class InviteForm(forms.Form):
    username = forms.CharField(max_length=150, widget=forms.TextInput(attrs={"autocomplete": "off"}))
    email = forms.EmailField(required=False, help_text="Optional; only shown to managers.")
    role = forms.ChoiceField(choices=Role.choices, initial=Role.ANNOTATOR)


class MemberRemoveForm(forms.Form):
    username = forms.CharField(max_length=150)


class ImportForm(forms.Form):
    file = forms.FileField(required=False, help_text="JSONL, CSV (UTF-8), Parquet, or a zipped datasets folder (save_to_disk).")
    hub_id = forms.CharField(required=False, max_length=200, label="or a Hugging Face dataset id", help_text="e.g. trl-lib/ultrafeedback_binarized (needs a network).")
    split = forms.CharField(required=False, max_length=100, help_text="For a folder or Hub dataset; empty = train.")
    format = forms.ChoiceField(choices=[("", "From the file name"), ("jsonl", "JSONL"), ("csv", "CSV"), ("parquet", "Parquet")], required=False)

    def clean(self) -> dict:
        data = super().clean()
        if not data.get("file") and not data.get("hub_id"):
            self.add_error("file", "This field is required (or give a Hugging Face dataset id).")
        return data


class ProjectForm(forms.Form):
    name = forms.CharField(max_length=200)
    slug = forms.SlugField(max_length=80, required=False, help_text="Leave empty to derive it from the name.")
    instructions = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 8}), help_text="Markdown, shown above every comparison."
    )
    k = forms.IntegerField(min_value=2, max_value=9, initial=4, label="Responses per comparison (K)")
    overlap = forms.IntegerField(min_value=1, max_value=50, initial=1, help_text="Rankings wanted per comparison.")
    allow_ties = forms.BooleanField(required=False, initial=True)
    lease_minutes = forms.IntegerField(min_value=1, max_value=7 * 24 * 60, initial=30)
    base_model = forms.CharField(
        max_length=500, required=False, help_text="Hugging Face id or local path; empty = the tiny local policy."
    )
    allow_demonstrations = forms.BooleanField(
        required=False, initial=False, label="Annotators may write or edit a response",
        help_text="Written responses wait for a manager's review; accepted ones train SFT and count as the best answer.",
    )


class DataFilterForm(forms.Form):
    """The data browser's filters (GET); every field optional, choices from the project's data."""

    status = forms.ChoiceField(
        required=False, choices=[("", "Any status"), ("open", "Open"), ("complete", "Complete"), ("gold", "Gold")]
    )
    tag = forms.ChoiceField(required=False)
    annotator = forms.ChoiceField(required=False, label="Ranked by")
    policy_version = forms.ChoiceField(required=False, label="Policy version")
    flag = forms.ChoiceField(
        required=False,
        choices=[("", "Flagged or not"), ("any", "Any flag"), ("unsafe", "Unsafe"), ("all_bad", "All bad")],
    )
    agreement = forms.ChoiceField(
        required=False,
        choices=[("", "Any agreement"), ("low", "Low (under 50%)"), ("high", "High (80% or more)"), ("single", "Ranked once")],
    )
    page = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)

    def __init__(self, *args: Any, choices: dict[str, list[str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["tag"].choices = [("", "Any tag")] + [(t, t) for t in choices["tags"]]
        self.fields["annotator"].choices = [("", "Anyone")] + [(a, a) for a in choices["annotators"]]
        self.fields["policy_version"].choices = [("", "Any version")] + [(v, v) for v in choices["policy_versions"]]
