"""Writes of the labeling side. Import from here: `from labeling.services import ranking_submit`."""

from labeling.services.assignment import comparison_claim_next, comparison_skip, lease_expiry
from labeling.services.comparisons import NewComparison, NewResponse, comparisons_create
from labeling.services.gold import gold_claim_next, queue_claim_next
from labeling.services.history import comparison_unskip
from labeling.services.imports import ImportResult, ImportValidationError, prompts_import
from labeling.services.people import Invite, invite_path, user_invite
from labeling.services.projects import ProjectError, membership_add, membership_remove, project_create
from labeling.services.ranking import (
    RankingConflict,
    RankingError,
    preferences_from_order,
    ranking_reopen_last,
    ranking_submit,
    ranking_validate,
)

__all__ = [
    "NewComparison",
    "NewResponse",
    "comparisons_create",
    "ImportResult",
    "ImportValidationError",
    "ProjectError",
    "membership_add",
    "membership_remove",
    "project_create",
    "prompts_import",
    "RankingConflict",
    "ranking_validate",
    "RankingError",
    "comparison_claim_next",
    "gold_claim_next",
    "queue_claim_next",
    "Invite",
    "invite_path",
    "user_invite",
    "comparison_unskip",
    "comparison_skip",
    "lease_expiry",
    "preferences_from_order",
    "ranking_reopen_last",
    "ranking_submit",
]
