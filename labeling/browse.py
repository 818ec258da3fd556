"""Reads for the managers' data browser: comparisons with their rankings, filtered and paged."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Exists, OuterRef, QuerySet

from labeling.models import Comparison, Project, Ranking, ResponseFlag
from labeling.quality import average_ranks, comparison_agreement

PAGE_SIZE = 50


@dataclass(frozen=True)
class BrowseFilters:
    status: str = ""  # "" | open | complete | gold
    tag: str = ""
    annotator: str = ""  # username that ranked it
    policy_version: str = ""
    flag: str = ""  # "" | any | unsafe | all_bad
    agreement: str = ""  # "" | low (< 0.5) | high (>= 0.8) | single (one ranking)


@dataclass
class BrowseRow:
    comparison: Comparison
    rankings: int
    agreement: float | None
    flags: list[str] = field(default_factory=list)


def _filtered(project: Project, f: BrowseFilters) -> QuerySet[Comparison]:
    qs = Comparison.objects.filter(project=project).select_related("prompt")
    if f.status == "open":
        qs = qs.filter(complete=False, gold_response__isnull=True)
    elif f.status == "complete":
        qs = qs.filter(complete=True)
    elif f.status == "gold":
        qs = qs.filter(gold_response__isnull=False)
    if f.tag:
        # Tags are a JSON list; a substring match on its text, then an exact check in Python,
        # works the same on SQLite and PostgreSQL.
        qs = qs.filter(prompt__tags__icontains=f'"{f.tag}"')
    if f.annotator:
        qs = qs.filter(Exists(Ranking.objects.filter(comparison=OuterRef("pk"), annotator__username=f.annotator)))
    if f.policy_version:
        qs = qs.filter(policy_version=f.policy_version)
    if f.flag:
        flagged = Ranking.objects.filter(comparison=OuterRef("pk")).exclude(flags=[])
        if f.flag != "any":
            flagged = flagged.filter(flags__icontains=f'"{f.flag}"')
        qs = qs.filter(Exists(flagged))
    return qs.order_by("-id")


def _orders_by_comparison(ids: list[int]) -> dict[int, list[tuple[list, list[str]]]]:
    found: dict[int, list[tuple[list, list[str]]]] = defaultdict(list)
    for cid, order, flags in Ranking.objects.filter(comparison_id__in=ids).values_list("comparison_id", "order", "flags"):
        found[cid].append((order, flags or []))
    return found


def _keep(row: BrowseRow, agreement: str) -> bool:
    if agreement == "low":
        return row.agreement is not None and row.agreement < 0.5
    if agreement == "high":
        return row.agreement is not None and row.agreement >= 0.8
    if agreement == "single":
        return row.rankings == 1
    return True


def comparisons_browse(*, project: Project, filters: BrowseFilters, page: int = 1) -> tuple[list[BrowseRow], int]:
    """Return one page of the filtered comparisons with their figures, and the number of matches."""
    qs = _filtered(project, filters)
    if not filters.agreement:
        total = qs.count()
        chosen = list(qs[(page - 1) * PAGE_SIZE : page * PAGE_SIZE])
        return _rows(chosen), total
    # Agreement is computed from the rankings, so that filter runs in Python over the matches.
    ranked = qs.filter(Exists(Ranking.objects.filter(comparison=OuterRef("pk"))))
    rows = [r for r in _rows(list(ranked)) if _keep(r, filters.agreement)]
    return rows[(page - 1) * PAGE_SIZE : page * PAGE_SIZE], len(rows)


def _rows(comparisons: list[Comparison]) -> list[BrowseRow]:
    orders = _orders_by_comparison([c.pk for c in comparisons])
    rows = []
    for c in comparisons:
        mine = orders.get(c.pk, [])
        flags = sorted({f for _, fs in mine for f in fs})
        rows.append(BrowseRow(c, len(mine), comparison_agreement([o for o, _ in mine]), flags))
    return rows


def browse_choices(project: Project) -> dict[str, list[str]]:
    """Return the values the filters can take in this project (tags, annotators, policy versions)."""
    tags: set[str] = set()
    for value in project.prompts.exclude(tags=[]).values_list("tags", flat=True).iterator(chunk_size=2000):
        tags.update(t for t in value or [] if isinstance(t, str))
    # order_by(): the models' default ordering (id) would join the DISTINCT and repeat each name once per row.
    rankings = Ranking.objects.filter(comparison__project=project).order_by()
    annotators = rankings.values_list("annotator__username", flat=True).distinct()
    versions = project.comparisons.exclude(policy_version="").order_by().values_list("policy_version", flat=True).distinct()
    return {"tags": sorted(tags), "annotators": sorted(annotators), "policy_versions": sorted(versions)}


@dataclass
class RankingColumn:
    annotator: str
    ranking: Ranking
    ranks: dict[int, float]  # response id -> place (ties share the average)


def comparison_side_by_side(*, comparison: Comparison) -> dict[str, Any]:
    """Return a comparison's responses and every annotator's ranking of them, for the detail view."""
    rankings = list(
        Ranking.objects.filter(comparison=comparison).select_related("annotator").order_by("annotator__username")
    )
    columns = [RankingColumn(r.annotator.username, r, average_ranks(r.order)) for r in rankings]
    responses = list(comparison.responses.all())
    flagged: dict[int, list[str]] = defaultdict(list)
    for rid, name in ResponseFlag.objects.filter(ranking__comparison=comparison).values_list(
        "response_id", "ranking__annotator__username"
    ):
        flagged[rid].append(name)
    table = [(resp, [col.ranks.get(resp.pk) for col in columns], sorted(flagged[resp.pk])) for resp in responses]
    return {
        "columns": columns,
        "table": table,
        "agreement": comparison_agreement([r.order for r in rankings]),
    }
