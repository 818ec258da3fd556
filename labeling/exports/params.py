"""Export parameters: one validated, frozen dataclass built from a plain dict (form, API, CLI)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError

from labeling.exports.cleaning import cleaning_fields
from labeling.exports.mix import tag_mix_from

KINDS = ("preference", "prompt", "sft", "kto")
AGGREGATIONS = ("all", "majority", "bradley_terry")
PAIR_SELECTIONS = ("all", "best_vs_rest", "best_vs_worst")
FORMATS = ("jsonl", "parquet", "save_to_disk", "csv")
STYLES = ("conversational", "standard")
FLAGS = ("unsafe", "all_bad")
MAX_NAME = 80
SFT_SOURCES = ("both", "demonstrations", "rankings")
MAX_LABEL = 100  # data_source / ability: short identifiers verl routes rewards by
DEFAULT_FORMAT = {"prompt": "parquet"}  # verl reads Parquet; every other kind defaults to JSONL


@dataclass(frozen=True)
class ExportParams:
    """What goes into a snapshot and how it is written; defaults are the recommended export."""

    name: str = ""
    kind: str = "preference"
    aggregation: str = "all"
    pairs: str = "all"
    min_agreement: float = 0.0
    exclude_flags: tuple[str, ...] = FLAGS
    annotators_include: tuple[str, ...] = ()
    annotators_exclude: tuple[str, ...] = ()
    # Leave out annotators below these (labeling/quality.py); those without the data are kept.
    min_annotator_agreement: float = 0.0
    min_gold_accuracy: float = 0.0
    date_from: str | None = None
    date_to: str | None = None
    policy_versions: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    cap_per_tag: int | None = None
    test_fraction: float = 0.1
    seed: int = 0
    format: str = "jsonl"
    style: str = "conversational"
    data_source: str = ""  # prompt exports: verl's `data_source` (empty: "prefloop/<project slug>")
    ability: str = ""  # prompt exports: verl's `ability` (empty: "chat")
    # Cleaning and balance (labeling/exports/cleaning.py, mix.py); all off by default.
    drop_secrets: bool = False
    personal_data: str = "keep"  # keep | mask | drop (e-mail addresses, phone numbers)
    dedupe: str = "off"  # off | exact | near
    drop_empty: bool = False
    min_length: int = 0  # characters; shorter responses are dropped
    tag_mix: tuple[tuple[str, float], ...] = ()  # target share of prompts per tag, shares add up to 1
    sft_source: str = "both"  # sft exports: accepted demonstrations and/or the consensus-best ranked response

    def as_dict(self) -> dict[str, Any]:
        """Return the canonical JSON-ready form stored on the snapshot and in the manifest."""
        data = dataclasses.asdict(self)
        data["tag_mix"] = dict(self.tag_mix)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in sorted(data.items())}


def _fail(name: str, message: str) -> ValidationError:
    return ValidationError({name: [message]})


def _choice(data: dict, name: str, choices: tuple[str, ...], default: str) -> str:
    value = data.get(name, default)
    if value in (None, ""):
        return default
    if value not in choices:
        raise _fail(name, f"must be one of {', '.join(choices)}; got {value!r}.")
    return value


def _string_list(data: dict, name: str, default: tuple[str, ...] = ()) -> tuple[str, ...]:
    value = data.get(name, default)
    if value in (None, ""):
        return ()
    if isinstance(value, str):
        value = [v for v in (part.strip() for part in value.split(",")) if v]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise _fail(name, "must be a list of strings.")
    return tuple(sorted(set(value)))


def _number(data: dict, name: str, default: float, *, low: float, high: float, integer: bool = False) -> Any:
    value = data.get(name, default)
    if value in (None, ""):
        return default
    try:
        if isinstance(value, bool):
            raise ValueError
        number = int(value) if integer else float(value)
        if integer and isinstance(value, float) and not value.is_integer():
            raise ValueError
    except (TypeError, ValueError):
        raise _fail(name, f"must be {'an integer' if integer else 'a number'}; got {value!r}.") from None
    if not low <= number <= high:
        raise _fail(name, f"must be between {low:g} and {high:g}; got {number:g}.")
    return number


def _date(data: dict, name: str) -> str | None:
    value = data.get(name)
    if value in (None, ""):
        return None
    if isinstance(value, dt.date):
        return value.isoformat()
    try:
        return dt.date.fromisoformat(str(value)).isoformat()
    except ValueError:
        raise _fail(name, f"must be a date like 2025-01-31; got {value!r}.") from None


def _name(data: dict) -> str:
    value = data.get("name") or ""
    if not isinstance(value, str) or len(value) > MAX_NAME:
        raise _fail("name", f"must be text of at most {MAX_NAME} characters.")
    return value.strip()


def _label(data: dict, name: str) -> str:
    value = data.get(name) or ""
    if not isinstance(value, str) or len(value) > MAX_LABEL or any(c.isspace() or not c.isprintable() for c in value):
        raise _fail(name, f"must be a short identifier without spaces (at most {MAX_LABEL} characters), e.g. prefloop/my-project.")
    return value


def params_from_dict(data: dict[str, Any] | None) -> ExportParams:
    """Validate a parameter dict; raise ValidationError naming the first bad field."""
    data = dict(data or {})
    unknown = sorted(set(data) - {f.name for f in dataclasses.fields(ExportParams)})
    if unknown:
        raise _fail(unknown[0], f"unknown parameter {unknown[0]!r}.")
    exclude_flags = _string_list(data, "exclude_flags", FLAGS)
    bad_flags = sorted(set(exclude_flags) - set(FLAGS))
    if bad_flags:
        raise _fail("exclude_flags", f"unknown flag {bad_flags[0]!r}; flags are {', '.join(FLAGS)}.")
    cap = data.get("cap_per_tag")
    kind = _choice(data, "kind", KINDS, "preference")
    params = ExportParams(
        name=_name(data),
        kind=kind,
        aggregation=_choice(data, "aggregation", AGGREGATIONS, "all"),
        pairs=_choice(data, "pairs", PAIR_SELECTIONS, "all"),
        min_agreement=_number(data, "min_agreement", 0.0, low=0.0, high=1.0),
        exclude_flags=exclude_flags,
        annotators_include=_string_list(data, "annotators_include"),
        annotators_exclude=_string_list(data, "annotators_exclude"),
        min_annotator_agreement=_number(data, "min_annotator_agreement", 0.0, low=0.0, high=1.0),
        min_gold_accuracy=_number(data, "min_gold_accuracy", 0.0, low=0.0, high=1.0),
        date_from=_date(data, "date_from"),
        date_to=_date(data, "date_to"),
        policy_versions=_string_list(data, "policy_versions"),
        tags=_string_list(data, "tags"),
        cap_per_tag=None if cap in (None, "") else _number(data, "cap_per_tag", 0, low=1, high=10**9, integer=True),
        test_fraction=_number(data, "test_fraction", 0.1, low=0.0, high=0.5),
        seed=_number(data, "seed", 0, low=0, high=2**31 - 1, integer=True),
        format=_choice(data, "format", FORMATS, DEFAULT_FORMAT.get(kind, "jsonl")),
        style=_choice(data, "style", STYLES, "conversational"),
        data_source=_label(data, "data_source"),
        ability=_label(data, "ability"),
        tag_mix=tag_mix_from(data.get("tag_mix")),
        sft_source=_choice(data, "sft_source", SFT_SOURCES, "both"),
        **cleaning_fields(data),
    )
    if params.date_from and params.date_to and params.date_from > params.date_to:
        raise _fail("date_to", "must not be before date_from.")
    return params
