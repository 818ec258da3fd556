"""The "Train now" form: where a run starts and what it reads (hyperparameters: forms.hyperparameters)."""

from __future__ import annotations

from typing import Any

from django import forms

from labeling.exports.params import AGGREGATIONS, FLAGS, PAIR_SELECTIONS, ExportParams
from labeling.models import DatasetSnapshot, Project, SnapshotStatus
from training.kinds import export_kind, reads_prompts, reads_snapshot
from training.models import ModelKind, ModelVersion
from training.selectors import PromptChoice
from training.services.distributed import accelerate_config_resolve, accelerate_configs
from training.services.triggers import TrainRequest

FRESH, EXISTING = "fresh", "existing"


def _choices(values: tuple[str, ...]) -> list[tuple[str, str]]:
    return [(v, v.replace("_", " ")) for v in values]


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
        label="Source",  # the fieldset's legend already says "Preference data"
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
    accelerate_config = forms.ChoiceField(
        label="Accelerate config",
        required=False,
        help_text="How several GPUs share the model (DDP, FSDP, DeepSpeed ZeRO-3); see README “Distributed training”.",
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
            project=project, status=SnapshotStatus.SUCCEEDED, kind=export_kind(kind)
        ).order_by("-id")
        self.fields["accelerate_config"].choices = [("", "Worker default"), *((n, n) for n in accelerate_configs())]
        if export_kind(kind) == "sft":
            self.fields["data"].label = "Demonstrations"
        self.needs_snapshot, self.needs_prompts = reads_snapshot(kind), reads_prompts(kind)
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
            inputs=self._accelerate_inputs(),
        )

    def _accelerate_inputs(self) -> dict[str, str]:
        name = self.cleaned_data.get("accelerate_config") or ""
        return {"accelerate_config": accelerate_config_resolve(name), "accelerate_config_name": name} if name else {}
