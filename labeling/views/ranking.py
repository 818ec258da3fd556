"""The ranking page: lease the next comparison, submit a ranking, skip, undo the last one.

Every view answers htmx requests with the `stage` partial of rank.html (progress + the next
comparison), and plain form posts with a redirect back to the page, so it works without JS.
Bad input answers 400 and a conflict 409; htmx requests then get only the `feedback` partial,
retargeted, so the annotator's arrangement stays on screen.
"""

from __future__ import annotations

import time
import uuid
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import reswap, retarget

from labeling import selectors
from labeling.access import project_get_for_member
from labeling.forms import RankingForm, letter, ranking_initial
from labeling.models import Assignment, Comparison, Project, Ranking, Response, ResponseFlag, SkipReason
from labeling.services import (
    RankingConflict,
    RankingError,
    comparison_skip,
    comparison_unskip,
    queue_claim_next,
    ranking_reopen_last,
    ranking_submit,
)
from labeling.services.response_flags import response_flags_set
from labeling.views._render import render_page, wants_partial

TEMPLATE = "labeling/rank.html"
FIELD_LABELS = {"order": "Ranking", "flags": "Flags", "note": "Note", "strength": "Strength"}


@dataclass(frozen=True)
class Card:
    response: Response
    label: str  # A, B, C… by display position, stable while the annotator reorders
    rank: int | None  # initial rank to show (None: unranked)
    tied: bool  # same rank as the card above it


def _cards(form: RankingForm, ranks: dict[int, int | None]) -> list[Card]:
    """Return the cards in their initial arrangement: by rank when one is known, else as displayed."""
    labelled = [(r, letter(n)) for n, r in enumerate(form.responses)]
    if all(ranks.get(r.pk) for r in form.responses):
        labelled.sort(key=lambda item: ranks[item[0].pk])
    cards: list[Card] = []
    for response, label in labelled:
        rank = ranks.get(response.pk)
        tied = bool(cards) and rank is not None and cards[-1].rank == rank
        cards.append(Card(response, label, rank, tied))
    return cards


def _submitted_ranks(form: RankingForm) -> dict[int, int | None]:
    source = form.data if form.is_bound else form.initial
    ranks: dict[int, int | None] = {}
    for response in form.responses:
        try:
            ranks[response.pk] = int(source.get(form.rank_field(response)) or 0) or None
        except (TypeError, ValueError):
            ranks[response.pk] = None
    return ranks


def _display_order(comparison: Comparison, annotator: Any, lease: Assignment | None = None) -> list[int]:
    """Return the order this annotator was shown (their lease's, else their ranking's)."""
    if lease is not None and lease.display_order:
        return lease.display_order
    ranking = Ranking.objects.filter(comparison=comparison, annotator=annotator).only("display_order").first()
    return ranking.display_order if ranking is not None else []


def _ranking_form(project: Project, comparison: Comparison, display_order: list[int], **kwargs: Any) -> RankingForm:
    responses = selectors.responses_in_order(comparison, display_order)
    return RankingForm(project=project, responses=responses, **kwargs)


def _fresh_form(
    project: Project, comparison: Comparison, display_order: list[int], *, ranking: Ranking | None = None
) -> RankingForm:
    """Return an unbound form with a new idempotency key (and the stored order when editing)."""
    form = _ranking_form(project, comparison, display_order)
    initial = {"idempotency_key": uuid.uuid4().hex, "rendered_at": int(time.time() * 1000)}
    if ranking is not None:
        initial |= ranking_initial(form.responses, ranking.order, pairwise=form.pairwise)
        initial |= {"edit": True, "flags": ranking.flags, "note": ranking.note}
        if ranking.strength:
            initial["strength"] = str(ranking.strength)
    form.initial = initial
    return form


def _stage_context(
    request: HttpRequest,
    project: Project,
    *,
    comparison: Comparison | None = None,
    form: RankingForm | None = None,
    lease: Assignment | None = None,
    notice: str = "",
) -> dict[str, Any]:
    """Build what rank.html needs: progress, and the comparison with its form (or nothing left)."""
    context: dict[str, Any] = {
        "project": project,
        "mine": selectors.annotator_progress(project=project, annotator=request.user),
        "overall": selectors.project_progress(project=project),
        "has_ranked": Ranking.objects.filter(comparison__project=project, annotator=request.user).exists(),
        "notice": notice,
        "comparison": comparison,
        "lease": lease,
        "skip_reasons": SkipReason.choices,
    }
    if comparison is not None and form is not None:
        context |= {
            "form": form,
            "cards": _cards(form, _submitted_ranks(form)),
            "chat": selectors.chat_messages(comparison.prompt.messages),
            "editing": str(form["edit"].value()).lower() in ("true", "1", "on"),
            "unsafe_ids": _unsafe_shown(request, form, comparison),
            "submit_url": reverse("labeling:ranking-submit", args=[project.pk, comparison.pk]),
            "skip_url": reverse("labeling:comparison-skip", args=[project.pk, comparison.pk]),
        }
    return context


def _next_stage(request: HttpRequest, project: Project, *, notice: str = "") -> dict[str, Any]:
    """Lease the annotator's next comparison and return the stage context for it."""
    lease = queue_claim_next(project=project, annotator=request.user)
    if lease is None:
        return _stage_context(request, project, notice=notice)
    comparison = lease.comparison  # the ordinary claim loaded it with prompt and responses
    form = _fresh_form(project, comparison, lease.display_order)
    return _stage_context(request, project, comparison=comparison, form=form, lease=lease, notice=notice)


@login_required
@require_GET
def comparison_rank(request: HttpRequest, project_id: int) -> HttpResponse:
    """Show the annotator's next comparison (leasing it), or say that nothing is left."""
    project = project_get_for_member(request.user, project_id)
    return render_page(request, TEMPLATE, _next_stage(request, project), partial="stage")


def _after_write(request: HttpRequest, project: Project, notice: str) -> HttpResponse:
    if wants_partial(request):
        return render_page(request, TEMPLATE, _next_stage(request, project, notice=notice), partial="stage")
    messages.success(request, notice)
    return redirect("labeling:comparison-rank", project_id=project.pk)


def _refused(request: HttpRequest, context: dict[str, Any], *, error: str, status: int) -> HttpResponse:
    """Answer a refused ranking: the message only for htmx (arrangement kept), else the page again."""
    context |= {"error": error, "conflict": status == 409}
    if wants_partial(request):
        response = render_page(request, TEMPLATE, context, partial="feedback", status=status)
        return reswap(retarget(response, "#rank-feedback"), "innerHTML")
    return render_page(request, TEMPLATE, context, status=status)


def _unsafe_shown(request: HttpRequest, form: RankingForm, comparison: Comparison) -> set[int]:
    """Return the responses to show as flagged: as posted, or as stored when editing a ranking."""
    if form.is_bound:
        return set(_unsafe_responses(request, form))
    stored = ResponseFlag.objects.filter(ranking__comparison=comparison, ranking__annotator=request.user)
    return set(stored.values_list("response_id", flat=True)) if form.initial.get("edit") else set()


def _unsafe_responses(request: HttpRequest, form: RankingForm) -> list[int]:
    """Return the responses the annotator flagged one by one (only this comparison's)."""
    shown = {r.pk for r in form.responses}
    picked = {int(v) for v in request.POST.getlist("unsafe_response") if v.isdigit()}
    return sorted(picked & shown)


def _conflict_message(comparison: Comparison, annotator: Any, exc: RankingConflict) -> str:
    """Say why a ranking was refused in the annotator's terms (no internal ids)."""
    if Ranking.objects.filter(comparison=comparison, annotator=annotator).exists():
        return (
            "You already ranked this comparison, probably in another tab or window; that ranking is kept. "
            "Go to the next comparison, or change it from My rankings."
        )
    return str(exc)


def _form_error(form: RankingForm) -> str:
    errors = [str(e) for e in form.non_field_errors()]
    for name, field_errors in form.errors.items():
        if name != "__all__":
            label = form.fields[name].label or name.replace("_", " ").capitalize()
            errors.extend(f"{label}: {e}" for e in field_errors)
    return " ".join(errors)


@login_required
@require_POST
def ranking_create(request: HttpRequest, project_id: int, comparison_id: int) -> HttpResponse:
    """Store the posted ranking (or edit it after undo) and move on to the next comparison."""
    project = project_get_for_member(request.user, project_id)
    comparison = get_object_or_404(Comparison.objects.select_related("prompt"), pk=comparison_id, project=project)
    comparison.project = project
    lease = Assignment.objects.filter(comparison=comparison, annotator=request.user).first()
    form = _ranking_form(project, comparison, _display_order(comparison, request.user, lease), data=request.POST)
    context = _stage_context(request, project, comparison=comparison, form=form)
    if not form.is_valid():
        return _refused(request, context, error=_form_error(form), status=400)
    editing = form.cleaned_data["edit"]
    unsafe = _unsafe_responses(request, form)
    try:
        # With per-response flags, ranking and flags commit together. Without (the usual case) the
        # submit runs alone, keeping its retry on a locked SQLite database.
        with transaction.atomic() if unsafe or editing else nullcontext():
            ranking, _ = ranking_submit(
                comparison=comparison, annotator=request.user, data=form.service_data(), replace=editing, lease=lease
            )
            if unsafe or editing:
                response_flags_set(ranking=ranking, unsafe=unsafe)
    except RankingError as exc:
        return _refused(request, context, error=f"{FIELD_LABELS.get(exc.field, exc.field)}: {exc.message}", status=400)
    except RankingConflict as exc:
        return _refused(request, context, error=_conflict_message(comparison, request.user, exc), status=409)
    return _after_write(request, project, "Ranking updated." if editing else "Saved.")


@login_required
@require_POST
def comparison_skip_view(request: HttpRequest, project_id: int, comparison_id: int) -> HttpResponse:
    """Skip the comparison: release the lease and never offer it to this annotator again."""
    project = project_get_for_member(request.user, project_id)
    comparison = get_object_or_404(Comparison, pk=comparison_id, project=project)
    if Ranking.objects.filter(comparison=comparison, annotator=request.user).exists():
        # Skipping something already ranked (e.g. while editing it) would only muddle the counts.
        return _after_write(request, project, "Kept your ranking of that comparison.")
    reason = request.POST.get("skip_reason", "")
    comparison_skip(comparison=comparison, annotator=request.user, reason=reason if reason in SkipReason.values else "")
    return _after_write(request, project, "Skipped. You can take it back from My rankings.")


def _edit_stage(request: HttpRequest, project: Project, ranking: Ranking, notice: str) -> HttpResponse:
    """Show a stored ranking on the ranking page, ready to change and save."""
    comparison = Comparison.objects.select_related("prompt").get(pk=ranking.comparison_id)
    display_order = ranking.display_order or _display_order(comparison, request.user)
    form = _fresh_form(project, comparison, display_order, ranking=ranking)
    context = _stage_context(request, project, comparison=comparison, form=form, notice=notice)
    return render_page(request, TEMPLATE, context, partial="stage")


@login_required
@require_GET
def ranking_undo(request: HttpRequest, project_id: int) -> HttpResponse:
    """Reopen the annotator's last ranking in this project for editing."""
    project = project_get_for_member(request.user, project_id)
    ranking = ranking_reopen_last(project=project, annotator=request.user)
    if ranking is None:
        context = _next_stage(request, project, notice="Nothing to undo yet: you have not ranked anything here.")
        return render_page(request, TEMPLATE, context, partial="stage")
    return _edit_stage(request, project, ranking, "Editing your last ranking. Change it and submit, or skip to keep it as it was.")


@login_required
@require_GET
def ranking_edit(request: HttpRequest, project_id: int, comparison_id: int) -> HttpResponse:
    """Reopen one of the annotator's earlier rankings (from My rankings) for editing."""
    project = project_get_for_member(request.user, project_id)
    ranking = get_object_or_404(Ranking, comparison_id=comparison_id, comparison__project=project, annotator=request.user)
    return _edit_stage(request, project, ranking, "Editing an earlier ranking. Change it and save, or keep it as it was.")


@login_required
@require_GET
def ranking_history(request: HttpRequest, project_id: int) -> HttpResponse:
    """List the annotator's rankings and skips in the project, newest first, to edit or take back."""
    project = project_get_for_member(request.user, project_id)
    entries = selectors.annotator_history(project=project, annotator=request.user)
    return render_page(request, "labeling/history.html", {"project": project, "entries": entries})


@login_required
@require_POST
def comparison_unskip_view(request: HttpRequest, project_id: int, comparison_id: int) -> HttpResponse:
    """Take back a skip: lease the comparison again and show it on the ranking page."""
    project = project_get_for_member(request.user, project_id)
    comparison = get_object_or_404(Comparison, pk=comparison_id, project=project)
    if comparison_unskip(comparison=comparison, annotator=request.user):
        messages.success(request, "Skip taken back: here it is again.")
        return redirect("labeling:comparison-rank", project_id=project.pk)
    messages.error(request, "That comparison has since been ranked by enough others, so it cannot be reopened.")
    return redirect("labeling:ranking-history", project_id=project.pk)
