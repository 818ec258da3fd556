"""Reads of the labeling side for pages: progress, the comparison as shown, dashboard figures."""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from functools import cache

from django.contrib.auth.models import AbstractBaseUser
from django.db import connection
from django.db.models import Count, Exists, F, Func, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from labeling import rawrows
from labeling.authentication import token_user_with
from labeling.models import (
    Assignment,
    AssignmentStatus,
    Comparison,
    Membership,
    Preference,
    Project,
    Ranking,
    Response,
)
from labeling.quality import QualityReport, RankingRow, quality_report

CHAT_ROLES = ("system", "user", "assistant")


def lease_for_member(*, user: AbstractBaseUser, comparison_id: int) -> Assignment | None:
    """Return the user's assignment on the comparison, with comparison and project, if they belong to its project.

    One query (raw: it runs on every submit, rawrows.py) serves the membership check and the
    ranking's lease check; None means either no lease or no membership (the caller then tells
    404 from 409 the slow way).
    """
    with connection.cursor() as cursor:
        cursor.execute(_lease_sql(connection.vendor, staff=user.is_staff), {"comparison": comparison_id, "user": user.pk})
        row = cursor.fetchone()
    if row is None:
        return None
    (lease, comparison, project), _ = rawrows.split(row, Assignment, Comparison, Project)
    return _lease_with(lease, comparison, project)


def _lease_with(lease: Assignment, comparison: Comparison, project: Project) -> Assignment:
    """The lease with its comparison and project attached (all three from one row)."""
    rawrows.attach(comparison, "project", project)
    rawrows.attach(lease, "comparison", comparison)
    return lease


def member_lease_for_token(key: str, comparison_id: int) -> tuple[AbstractBaseUser | None, Assignment | None]:
    """Token authentication and lease_for_member in one query (the submit's first statement).

    Returns the token's user (None: no such token) and their assignment on the comparison with
    comparison and project, or None as lease_for_member answers it.
    """
    user, (lease, comparison, project) = token_user_with(
        key, columns=_lease_columns(), join=_TOKEN_LEASE_JOIN, params={"comparison": comparison_id},
        models_=(Assignment, Comparison, Project),
    )
    return user, None if lease is None else _lease_with(lease, comparison, project)


def _lease_columns() -> str:
    return f"{rawrows.columns(Assignment, 'a')}, {rawrows.columns(Comparison, 'c')}, {rawrows.columns(Project, 'p')}"


_TOKEN_LEASE_JOIN = (
    f"LEFT JOIN ({Assignment._meta.db_table} a JOIN {Comparison._meta.db_table} c ON c.id = a.comparison_id "
    f"JOIN {Project._meta.db_table} p ON p.id = c.project_id) "
    "ON a.comparison_id = %(comparison)s AND a.annotator_id = u.id AND (u.is_staff OR EXISTS "
    f"(SELECT 1 FROM {Membership._meta.db_table} m WHERE m.project_id = p.id AND m.user_id = u.id))"
)


@cache
def _lease_sql(vendor: str, *, staff: bool) -> str:
    sql = (
        f"SELECT {_lease_columns()} FROM {Assignment._meta.db_table} a JOIN {Comparison._meta.db_table} c ON c.id = a.comparison_id "
        f"JOIN {Project._meta.db_table} p ON p.id = c.project_id "
        "WHERE a.comparison_id = %(comparison)s AND a.annotator_id = %(user)s"
    )
    if staff:
        return sql
    return sql + f" AND EXISTS (SELECT 1 FROM {Membership._meta.db_table} m WHERE m.project_id = p.id AND m.user_id = %(user)s)"


@dataclass(frozen=True)
class AnnotatorProgress:
    ranked: int
    skipped: int
    remaining: int  # open comparisons this annotator has neither ranked nor skipped

    @property
    def total(self) -> int:
        return self.ranked + self.remaining


@dataclass(frozen=True)
class ProjectProgress:
    comparisons: int
    complete: int
    rankings: int
    wanted: int  # comparisons × overlap


@dataclass(frozen=True)
class AnnotatorStats:
    username: str
    rankings: int
    median_ms: float | None
    skips: int
    flagged: int


@dataclass
class DashboardStats:
    progress: ProjectProgress
    preferences: int
    annotators: list[AnnotatorStats] = field(default_factory=list)
    # Share of rankings whose best group holds the response shown at each position (1-based):
    # with random display order these should be about equal; a slope means position bias.
    top_by_position: list[tuple[int, float]] = field(default_factory=list)
    position_rankings: int = 0  # rankings with a recorded display order (the base of top_by_position)
    flagged: dict[str, int] = field(default_factory=dict)


def annotator_progress(*, project: Project, annotator: AbstractBaseUser) -> AnnotatorProgress:
    """Count what the annotator ranked and skipped in the project, and what is left for them."""
    mine = Assignment.objects.filter(comparison=OuterRef("pk"), annotator=annotator).filter(
        status__in=[AssignmentStatus.SUBMITTED, AssignmentStatus.SKIPPED]
    )
    ranked_by_me = Ranking.objects.filter(comparison=OuterRef("pk"), annotator=annotator)
    remaining = Comparison.objects.filter(project=project, complete=False).filter(~Exists(mine), ~Exists(ranked_by_me))
    ranked = Ranking.objects.filter(comparison__project=project, annotator=annotator).count()
    skipped = Assignment.objects.filter(
        comparison__project=project, annotator=annotator, status=AssignmentStatus.SKIPPED
    ).count()
    return AnnotatorProgress(ranked=ranked, skipped=skipped, remaining=remaining.count())


def project_progress(*, project: Project) -> ProjectProgress:
    """Count the project's comparisons, complete ones, and rankings collected versus wanted."""
    totals = Comparison.objects.filter(project=project).aggregate(
        comparisons=Count("pk"), complete=Count("pk", filter=Q(complete=True))
    )
    rankings = Ranking.objects.filter(comparison__project=project).count()
    return ProjectProgress(
        comparisons=totals["comparisons"],
        complete=totals["complete"],
        rankings=rankings,
        wanted=totals["comparisons"] * project.overlap,
    )


def responses_in_order(comparison: Comparison, display_order: list[int]) -> list[Response]:
    """Return the comparison's responses in the order shown to the annotator (unknown ids last)."""
    responses = list(comparison.responses.all())
    rank = {rid: n for n, rid in enumerate(display_order or [])}
    return sorted(responses, key=lambda r: (rank.get(r.pk, len(rank)), r.position))


def chat_messages(messages: object) -> list[dict[str, str]]:
    """Return prompt messages as [{"role", "content"}] with roles limited to known ones."""
    if not isinstance(messages, list):
        return [{"role": "user", "content": str(messages or "")}]
    out = []
    for message in messages:
        if not isinstance(message, dict):
            continue
        role = message.get("role")
        out.append({"role": role if role in CHAT_ROLES else "other", "content": str(message.get("content") or "")})
    return out


def projects_overview(projects: QuerySet[Project], user: AbstractBaseUser) -> QuerySet[Project]:
    """Annotate projects with comparison counts, the user's rankings and the user's role."""
    comparisons = Comparison.objects.filter(project=OuterRef("pk")).order_by().values("project")
    mine = Ranking.objects.filter(comparison__project=OuterRef("pk"), annotator=user).order_by().values("annotator")
    role = Membership.objects.filter(project=OuterRef("pk"), user=user).values("role")[:1]
    return projects.annotate(
        n_comparisons=_count(comparisons),
        n_complete=_count(comparisons.filter(complete=True)),
        n_mine=_count(mine),
        my_role=Subquery(role),
    )


def _count(queryset: QuerySet) -> Coalesce:
    # Subquery counts: joining three relations with Count() would multiply the rows.
    return Coalesce(Subquery(queryset.annotate(n=Func(F("pk"), function="COUNT")).values("n")), Value(0))


def members_of(project: Project) -> QuerySet[Membership]:
    """Return the project's memberships with users, managers first."""
    return project.memberships.select_related("user").order_by("role", "user__username")


def _annotator_stats(project: Project) -> list[AnnotatorStats]:
    times: dict[int, list[int]] = defaultdict(list)
    flagged: Counter[int] = Counter()
    names: dict[int, str] = {}
    rows = Ranking.objects.filter(comparison__project=project).values_list(
        "annotator_id", "annotator__username", "time_spent_ms", "flags"
    )
    for user_id, username, spent, flags in rows.iterator(chunk_size=2000):
        names[user_id] = username
        times[user_id].append(spent)
        flagged[user_id] += bool(flags)
    skips = dict(
        Assignment.objects.filter(comparison__project=project, status=AssignmentStatus.SKIPPED)
        .values_list("annotator_id")
        .annotate(n=Count("pk"))
        .values_list("annotator_id", "n")
    )
    return sorted(
        (
            AnnotatorStats(
                username=names[uid],
                rankings=len(spent),
                median_ms=statistics.median(spent) if spent else None,
                skips=skips.get(uid, 0),
                flagged=flagged[uid],
            )
            for uid, spent in times.items()
        ),
        key=lambda s: (-s.rankings, s.username),
    )


def _top_by_position(project: Project, k: int) -> tuple[list[tuple[int, float]], int, dict[str, int]]:
    top: Counter[int] = Counter()
    flags: Counter[str] = Counter()
    counted = 0
    rows = Ranking.objects.filter(comparison__project=project).values_list("order", "display_order", "flags")
    for order, shown, row_flags in rows.iterator(chunk_size=2000):
        flags.update(row_flags or [])
        if not order or not shown:
            continue
        counted += 1
        best = set(order[0])
        top.update(n + 1 for n, rid in enumerate(shown) if rid in best)
    shares = [(pos, top[pos] / counted if counted else 0.0) for pos in range(1, k + 1)]
    return shares, counted, dict(flags)


def dashboard_stats(*, project: Project) -> DashboardStats:
    """Collect the manager dashboard's figures for one project."""
    top, counted, flags = _top_by_position(project, project.k)
    return DashboardStats(
        progress=project_progress(project=project),
        preferences=Preference.objects.filter(comparison__project=project).count(),
        annotators=_annotator_stats(project),
        top_by_position=top,
        position_rankings=counted,
        flagged=flags,
    )


def quality_rows(project: Project) -> list[RankingRow]:
    """Return the project's rankings as the plain rows labeling.quality computes on."""
    rows = Ranking.objects.filter(comparison__project=project).values_list(
        "comparison_id", "annotator__username", "order", "display_order", "time_spent_ms", "comparison__gold_response_id"
    )
    return [
        RankingRow(comparison_id=c, annotator=name, order=order, display_order=shown or [], time_spent_ms=ms, gold_response_id=gold)
        for c, name, order, shown, ms, gold in rows.iterator(chunk_size=2000)
    ]


def project_quality(*, project: Project) -> QualityReport:
    """Compute the project's agreement and per-annotator quality (see labeling.quality)."""
    return quality_report(quality_rows(project))


@dataclass(frozen=True)
class HistoryEntry:
    comparison: Comparison
    ranking: Ranking | None  # None: skipped
    at: object  # when it was ranked or skipped
    skip_reason: str = ""


def annotator_history(*, project: Project, annotator: AbstractBaseUser, limit: int = 200) -> list[HistoryEntry]:
    """Return the annotator's rankings and skips in the project, newest first."""
    rankings = (
        Ranking.objects.filter(comparison__project=project, annotator=annotator)
        .select_related("comparison__prompt")
        .order_by("-updated_at")[:limit]
    )
    skips = (
        Assignment.objects.filter(comparison__project=project, annotator=annotator, status=AssignmentStatus.SKIPPED)
        .select_related("comparison__prompt")
        .order_by("-updated_at")[:limit]
    )
    entries = [HistoryEntry(r.comparison, r, r.updated_at) for r in rankings]
    entries += [HistoryEntry(s.comparison, None, s.updated_at, s.get_skip_reason_display()) for s in skips]
    return sorted(entries, key=lambda e: e.at, reverse=True)[:limit]
