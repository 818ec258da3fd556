"""Demonstrations: annotators write or edit an answer while ranking; managers accept, reject or edit it.

An accepted demonstration goes into SFT snapshots (messages + the text as the assistant turn)
and into preference snapshots as the comparison's best answer (labeling/exports/build.py).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from labeling.models import Comparison, Demonstration, DemonstrationStatus, Project, Response

MAX_TEXT = 20_000
REVIEW_ACTIONS = ("accept", "reject")


def _clean_text(text: Any) -> str:
    if not isinstance(text, str) or not text.strip():
        raise ValidationError({"text": ["Write the response (it is empty)."]})
    if "\x00" in text:
        raise ValidationError({"text": ["The response contains a NUL character."]})
    if len(text) > MAX_TEXT:
        raise ValidationError({"text": [f"At most {MAX_TEXT} characters; this has {len(text)}."]})
    return text.strip()


def _edited_response(comparison: Comparison, edited_from: Any) -> Response | None:
    if edited_from in (None, ""):
        return None
    try:
        return comparison.responses.get(pk=int(edited_from))
    except (TypeError, ValueError, Response.DoesNotExist):
        raise ValidationError({"edited_from": ["That response is not part of this comparison."]}) from None


@transaction.atomic
def demonstration_submit(*, comparison: Comparison, annotator: Any, text: Any, edited_from: Any = None) -> Demonstration:
    """Store (or replace, while still pending) an annotator's demonstration for a comparison.

    Precondition: the caller checked that the annotator is a member of the comparison's project.
    """
    project = comparison.project
    if not project.allow_demonstrations:
        raise ValidationError({"text": ["This project does not take written responses."]})
    clean = _clean_text(text)
    source = _edited_response(comparison, edited_from)
    existing = Demonstration.objects.select_for_update().filter(comparison=comparison, author=annotator).first()
    if existing is not None:
        if existing.status != DemonstrationStatus.PENDING:
            raise ValidationError({"text": [f"Your response to this comparison was already {existing.status}."]})
        existing.text, existing.edited_from = clean, source
        existing.save(update_fields=["text", "edited_from"])
        return existing
    try:
        with transaction.atomic():
            return Demonstration.objects.create(project=project, comparison=comparison, messages=comparison.prompt.messages,
                                                text=clean, edited_from=source, author=annotator)
    except IntegrityError:  # a concurrent first submit by the same annotator won the unique constraint
        raise ValidationError({"text": ["Your response was just saved from another tab; reload to edit it."]}) from None


@transaction.atomic
def demonstration_review(*, demonstration: Demonstration, reviewer: Any, action: str, text: Any = None) -> Demonstration:
    """Accept (optionally with edited text) or reject a demonstration; a reviewed one may be reviewed again."""
    if action not in REVIEW_ACTIONS:
        raise ValidationError({"action": [f"Choose one of {', '.join(REVIEW_ACTIONS)}."]})
    demo = Demonstration.objects.select_for_update().get(pk=demonstration.pk)
    if action == "accept" and text not in (None, ""):
        demo.text = _clean_text(text)
    demo.status = DemonstrationStatus.ACCEPTED if action == "accept" else DemonstrationStatus.REJECTED
    demo.reviewed_by, demo.reviewed_at = reviewer, timezone.now()
    demo.save(update_fields=["text", "status", "reviewed_by", "reviewed_at"])
    return demo


def demonstrations_import(*, project: Project, dialogues: list[list[dict[str, str]]], author: Any = None) -> int:
    """Store each dialogue that ends with an assistant turn as a pending demonstration; return how many."""
    made = [
        Demonstration(project=project, messages=dialogue[:-1], text=dialogue[-1]["content"].strip(), author=author)
        for dialogue in dialogues
        if len(dialogue) >= 2 and dialogue[-1].get("role") == "assistant" and str(dialogue[-1].get("content", "")).strip()
    ]
    Demonstration.objects.bulk_create(made)
    return len(made)


def demonstrations_pending(project: Project) -> Any:
    """The project's demonstrations waiting for review, oldest first (a selector)."""
    return (Demonstration.objects.filter(project=project, status=DemonstrationStatus.PENDING)
            .select_related("comparison", "author", "edited_from").order_by("id"))
