"""Sample balance: pick prompts so the export's tags follow a target mix (proportions).

Runs after the cap per tag, on the prompts that survived it. A prompt belongs to the first of
its tags (alphabetically) that the mix names; prompts with none of them are left out. The
largest export that can meet every share is taken: total = min over tags of available / share,
then floor(share * total) prompts of each tag in a seeded order (the cap's order, so repeating
an export with the same seed picks the same prompts). Counted in prompts, not rows: a
comparison's rows come with its prompt.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError

OTHER = "(other)"
SHARE_TOLERANCE = 0.01  # shares may be written to two decimals: 0.33 + 0.33 + 0.33 is a full mix
MAX_TAGS = 100


def _shares_from_text(value: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for part in (p.strip() for p in value.replace("\n", ",").split(",")):
        if not part:
            continue
        tag, sep, share = part.partition("=")
        if not sep:
            tag, sep, share = part.partition(":")
        if not sep or not tag.strip():
            raise ValidationError({"tag_mix": [f"write the mix as tag=share pairs, e.g. code=0.5, chat=0.5; got {part!r}."]})
        out[tag.strip()] = share.strip()
    return out


def _share(tag: str, value: Any) -> float:
    try:
        if isinstance(value, bool):
            raise ValueError
        share = float(value)
    except (TypeError, ValueError):
        raise ValidationError({"tag_mix": [f"the share of {tag!r} must be a number; got {value!r}."]}) from None
    if not 0 < share <= 1 or math.isnan(share):
        raise ValidationError({"tag_mix": [f"the share of {tag!r} must be above 0 and at most 1; got {share:g}."]})
    return share


def tag_mix_from(value: Any) -> tuple[tuple[str, float], ...]:
    """Validate a target mix ({tag: share} or "tag=share, ..."); shares must add up to 1."""
    if value in (None, "", {}):
        return ()
    if isinstance(value, str):
        value = _shares_from_text(value)
    if not isinstance(value, dict):
        raise ValidationError({"tag_mix": ["must map tags to shares, e.g. {\"code\": 0.5, \"chat\": 0.5}."]})
    if len(value) > MAX_TAGS:
        raise ValidationError({"tag_mix": [f"at most {MAX_TAGS} tags."]})
    mix = {str(tag): _share(str(tag), share) for tag, share in value.items()}
    total = sum(mix.values())
    if abs(total - 1.0) > SHARE_TOLERANCE * len(mix):
        raise ValidationError({"tag_mix": [f"the shares must add up to 1; they add up to {total:g}."]})
    return tuple(sorted((tag, share / total) for tag, share in mix.items()))


def group_of(tags: Iterable[str] | None, mix_tags: set[str]) -> str:
    """The mix group a prompt counts in: its first tag the mix names, else OTHER."""
    named = sorted(set(tags or ()) & mix_tags)
    return named[0] if named else OTHER


def targets(available: Counter, mix: dict[str, float]) -> dict[str, int]:
    """How many prompts of each tag the largest export meeting every share can hold."""
    total = min(available[tag] / share for tag, share in mix.items())
    return {tag: math.floor(share * total + 1e-9) for tag, share in mix.items()}


def _shares(counts: Counter) -> dict[str, dict[str, float]]:
    total = sum(counts.values())
    return {tag: {"prompts": n, "share": round(n / total, 4) if total else 0.0} for tag, n in sorted(counts.items())}


def mixed_prompt_ids(ordered: list[tuple[Any, int, Any]], mix: tuple[tuple[str, float], ...]) -> tuple[set[int], dict[str, Any]]:
    """Pick prompts (rows of (sort key, id, tags), any order) to the mix; return them and the manifest entry."""
    shares = dict(mix)
    mix_tags = set(shares)
    groups = [(key, pid, group_of(tags, mix_tags)) for key, pid, tags in ordered]
    before = Counter(group for _, _, group in groups)
    want = targets(before, shares)
    taken: Counter = Counter()
    allowed: set[int] = set()
    for _, pid, group in sorted(groups, key=lambda row: row[0]):
        if group in want and taken[group] < want[group]:
            allowed.add(pid)
            taken[group] += 1
    report = {"target": {tag: round(share, 4) for tag, share in sorted(shares.items())},
              "before": _shares(before), "after": _shares(taken)}
    return allowed, report


def mix_key(seed: int, content_hash: str) -> str:
    """A prompt's seeded place in the picking order."""
    import hashlib

    return hashlib.sha256(f"mix:{seed}:{content_hash}".encode()).hexdigest()


def tags_match(tags: list | None, wanted: tuple[str, ...]) -> bool:
    """Return whether a prompt passes the tag filter (any wanted tag; no filter passes all)."""
    return not wanted or bool(set(tags or ()) & set(wanted))


def mix_allowed(scope: Any, prompts: Any, capped: set[int] | None) -> tuple[set[int], dict[str, Any]]:
    """Prompts of `prompts` (a queryset) that make the target mix, among those the tag filter and cap keep."""
    params = scope.params
    rows = [(mix_key(params.seed, digest), pid, tags) for pid, digest, tags in prompts.values_list("id", "content_hash", "tags")
            if tags_match(tags, params.tags) and (capped is None or pid in capped)]
    return mixed_prompt_ids(rows, params.tag_mix)
