"""Checking a submitted ranking and expanding it into pairwise preferences (no writes)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from labeling.models import Comparison, Flag, Project

MAX_NOTE_CHARS = 5000
MAX_TIME_SPENT_MS = 24 * 3600 * 1000
STRENGTHS = {1: "slightly better", 2: "clearly better", 3: "much better"}


class RankingError(ValueError):
    """The submitted ranking is malformed; `field` names what to fix."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class RankingConflict(Exception):
    """The ranking is well-formed but cannot be stored now (not your lease, already ranked, comparison full)."""


@dataclass(frozen=True)
class RankingInput:
    order: list[list[int]]
    flags: list[str]
    note: str
    time_spent_ms: int
    idempotency_key: str
    strength: int | None


def preferences_from_order(order: list[list[int]], *, strength: int | None = None) -> list[tuple[int, int, float]]:
    """Expand tie groups (best first) into (chosen, rejected, margin) pairs; ties give no pair.

    Groups G1 > G2 > ... give a pair for every a in Gi, b in Gj with i < j and margin j - i, or the
    stated strength when one is given (pairwise mode).
    """
    pairs = []
    for i, better in enumerate(order):
        for j in range(i + 1, len(order)):
            margin = float(strength) if strength is not None else float(j - i)
            pairs.extend((a, b, margin) for a in better for b in order[j])
    return pairs


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_order_shape(order: Any) -> list[list[int]]:
    if not isinstance(order, list) or not order:
        raise RankingError("order", "must be a non-empty list of groups, best first, e.g. [[3], [1, 4], [2]]")
    groups = []
    for n, group in enumerate(order):
        if _is_int(group):
            group = [group]  # a flat list [3, 1, 2] is an order without ties
        if not isinstance(group, list) or not group or not all(_is_int(x) for x in group):
            raise RankingError("order", f"group {n + 1} must be a non-empty list of response ids (integers)")
        groups.append(list(group))
    return groups


def _check_order_ids(groups: list[list[int]], response_ids: list[int], comparison_id: int) -> None:
    seen: set[int] = set()
    valid = set(response_ids)
    for rid in (rid for group in groups for rid in group):
        if rid not in valid:
            raise RankingError("order", f"response {rid} is not part of comparison {comparison_id}")
        if rid in seen:
            raise RankingError("order", f"response {rid} appears more than once")
        seen.add(rid)
    missing = sorted(valid - seen)
    if missing:
        raise RankingError("order", f"every response must be ranked; missing: {', '.join(map(str, missing))}")


def _check_flags(flags: Any) -> list[str]:
    if flags in (None, ""):
        return []
    if not isinstance(flags, list) or not all(isinstance(f, str) for f in flags):
        raise RankingError("flags", "must be a list of strings")
    unknown = sorted(set(flags) - set(Flag.values))
    if unknown:
        raise RankingError("flags", f"unknown flag(s) {', '.join(unknown)}; allowed: {', '.join(Flag.values)}")
    return sorted(set(flags))


def _check_scalars(data: dict[str, Any], project: Project) -> tuple[str, int, str, int | None]:
    note = data.get("note") or ""
    if not isinstance(note, str) or len(note) > MAX_NOTE_CHARS:
        raise RankingError("note", f"must be text of at most {MAX_NOTE_CHARS} characters")
    spent = data.get("time_spent_ms") or 0
    if not _is_int(spent) or spent < 0:
        raise RankingError("time_spent_ms", "must be a non-negative integer (milliseconds)")
    key = data.get("idempotency_key") or ""
    if not isinstance(key, str) or len(key) > 100:
        raise RankingError("idempotency_key", "must be a string of at most 100 characters")
    strength = data.get("strength")
    if strength is not None:
        if project.k != 2:
            raise RankingError("strength", "only pairwise projects (K = 2) take a strength")
        if not _is_int(strength) or strength not in STRENGTHS:
            raise RankingError("strength", "must be 1 (slightly), 2 (clearly) or 3 (much better)")
    return note, min(spent, MAX_TIME_SPENT_MS), key, strength


def ranking_validate(*, comparison: Comparison, data: dict[str, Any], response_ids: list[int] | None = None) -> RankingInput:
    """Check a submitted ranking against its comparison; raise RankingError naming the field.

    `response_ids`: the comparison's response ids when the caller has them (a lease's display
    order lists exactly those), to save the query.
    """
    project = comparison.project
    groups = _check_order_shape(data.get("order"))
    if not response_ids:
        response_ids = list(comparison.responses.values_list("id", flat=True))
    _check_order_ids(groups, response_ids, comparison.pk)
    flags = _check_flags(data.get("flags"))
    has_tie = any(len(g) > 1 for g in groups)
    # "All bad" / "both bad" ranks everything equal; that is a flag, not a tie preference.
    if has_tie and not project.allow_ties and Flag.ALL_BAD not in flags:
        raise RankingError("order", "ties are not allowed in this project")
    note, spent, key, strength = _check_scalars(data, project)
    if strength is not None and len(groups) == 1:
        strength = None  # a tie has no strength
    return RankingInput(groups, flags, note, spent, key, strength)
