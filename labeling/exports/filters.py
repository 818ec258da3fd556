"""Which rankings and prompts an export reads: SQL filters, per-prompt filters, tag caps."""

from __future__ import annotations

import hashlib
import hmac
from collections import Counter
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db.models import Exists, OuterRef, QuerySet

from labeling.exports.mix import tags_match
from labeling.exports.params import ExportParams
from labeling.models import Comparison, Membership, Preference, Project, Prompt, Ranking, Response
from labeling.selectors import project_quality

UNTAGGED = ""


def annotator_pseudonym(user_id: int) -> str:
    """Return a stable pseudonym for a user: HMAC of the id with SECRET_KEY, never the username."""
    digest = hmac.new(settings.SECRET_KEY.encode(), f"annotator:{user_id}".encode(), hashlib.sha256)
    return "a-" + digest.hexdigest()[:16]


def _user_ids(project: Project, usernames: tuple[str, ...], field: str) -> tuple[int, ...]:
    if not usernames:
        return ()
    found = dict(get_user_model().objects.filter(username__in=usernames).values_list("username", "id"))
    members = set(Membership.objects.filter(project=project, user_id__in=found.values()).values_list("user_id", flat=True))
    for username in usernames:
        if found.get(username) not in members:
            raise ValidationError({field: [f"{username!r} is not a member of this project."]})
    return tuple(sorted(found[u] for u in usernames))


@dataclass(frozen=True)
class Scope:
    """The resolved filters of one export, frozen at its start so concurrent writes do not leak in."""

    project: Project
    params: ExportParams
    include_ids: tuple[int, ...]
    exclude_ids: tuple[int, ...]
    max_ranking_id: int
    below_quality_ids: tuple[int, ...] = ()  # annotators under min_annotator_agreement / min_gold_accuracy


def scope_resolve(project: Project, params: ExportParams) -> Scope:
    """Resolve usernames and fix the upper ranking id; raise ValidationError naming a bad field."""
    include = _user_ids(project, params.annotators_include, "annotators_include")
    exclude = _user_ids(project, params.annotators_exclude, "annotators_exclude")
    last = Ranking.objects.filter(comparison__project=project).order_by("-id").values_list("id", flat=True).first()
    return Scope(project, params, include, exclude, last or 0, _below_quality(project, params))


def _below_quality(project: Project, params: ExportParams) -> tuple[int, ...]:
    """Return the annotators whose agreement or gold accuracy is under the export's thresholds."""
    if not params.min_annotator_agreement and not params.min_gold_accuracy:
        return ()
    # The dashboard's figures, so the page and the export agree on who is below the bar.
    low = {
        a.annotator
        for a in project_quality(project=project).annotators
        if (a.agreement is not None and a.agreement < params.min_annotator_agreement)
        or (a.gold_accuracy is not None and a.gold_accuracy < params.min_gold_accuracy)
    }
    return tuple(sorted(get_user_model().objects.filter(username__in=low).values_list("id", flat=True)))


def rankings_base(scope: Scope) -> QuerySet[Ranking]:
    """Return the project's rankings that existed when the export started."""
    return Ranking.objects.filter(comparison__project=scope.project, id__lte=scope.max_ranking_id)


def rankings_filtered(scope: Scope, *, counts: Counter | None = None) -> QuerySet[Ranking]:
    """Apply the SQL-side filters; record in `counts` how many rankings each one removed."""
    params = scope.params
    qs = rankings_base(scope)
    steps = []
    if scope.include_ids:
        steps.append(("annotator_not_included", {"annotator_id__in": scope.include_ids}, False))
    if scope.exclude_ids:
        steps.append(("annotator_excluded", {"annotator_id__in": scope.exclude_ids}, True))
    if scope.below_quality_ids:
        steps.append(("annotator_below_quality", {"annotator_id__in": scope.below_quality_ids}, True))
    if params.date_from:
        steps.append(("before_date_from", {"created_at__date__gte": params.date_from}, False))
    if params.date_to:
        steps.append(("after_date_to", {"created_at__date__lte": params.date_to}, False))
    if params.policy_versions:
        steps.append(("policy_version", {"comparison__policy_version__in": params.policy_versions}, False))
    before = qs.count() if counts is not None and steps else 0
    for reason, lookup, negate in steps:
        qs = qs.exclude(**lookup) if negate else qs.filter(**lookup)
        if counts is not None:
            after = qs.count()
            if before - after:
                counts[reason] += before - after
            before = after
    return qs


def comparisons_in_scope(scope: Scope) -> QuerySet[Comparison]:
    """Return comparisons with at least one ranking that passes the SQL filters."""
    rankings = rankings_filtered(scope).filter(comparison_id=OuterRef("pk"))
    return Comparison.objects.filter(project=scope.project).filter(Exists(rankings))


def responses_in_scope(scope: Scope) -> QuerySet[Response]:
    return Response.objects.filter(comparison__in=comparisons_in_scope(scope).values("id"))


def preferences_in_scope(scope: Scope) -> QuerySet[Preference]:
    qs = Preference.objects.filter(comparison__project=scope.project, ranking_id__lte=scope.max_ranking_id)
    if scope.include_ids:
        qs = qs.filter(annotator_id__in=scope.include_ids)
    if scope.exclude_ids or scope.below_quality_ids:
        qs = qs.exclude(annotator_id__in=scope.exclude_ids + scope.below_quality_ids)
    if scope.params.policy_versions:
        qs = qs.filter(comparison__policy_version__in=scope.params.policy_versions)
    return qs


def _seeded_key(seed: int, content_hash: str) -> str:
    return hashlib.sha256(f"cap:{seed}:{content_hash}".encode()).hexdigest()


def capped_prompt_ids(scope: Scope, prompts: QuerySet[Prompt]) -> set[int]:
    """Pick, in a seeded order, prompts until each tag holds cap_per_tag of them.

    A prompt counts against every one of its tags (untagged prompts share one group) and is
    taken only while all of them are under the cap. Holds one small tuple per prompt: tag
    balancing needs to see all candidates, unlike the streaming pass itself.
    """
    cap = scope.params.cap_per_tag
    rows = [(_seeded_key(scope.params.seed, h), pid, tags) for pid, h, tags in prompts.values_list("id", "content_hash", "tags")]
    rows.sort()
    taken: Counter[str] = Counter()
    allowed = set()
    for _, pid, tags in rows:
        if not tags_match(tags, scope.params.tags):
            continue
        groups = sorted(set(tags or ())) or [UNTAGGED]
        if all(taken[g] < cap for g in groups):
            allowed.add(pid)
            taken.update(groups)
    return allowed
