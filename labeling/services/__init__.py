"""Writes of the labeling side. Import from here: `from labeling.services import ranking_submit`."""

from labeling.services.assignment import comparison_claim_next, comparison_skip, lease_expiry
from labeling.services.ranking import (
    LeaseConflict,
    RankingConflict,
    RankingError,
    ranking_validate,
    preferences_from_order,
    ranking_reopen_last,
    ranking_submit,
)

__all__ = [
    "LeaseConflict",
    "RankingConflict",
    "ranking_validate",
    "RankingError",
    "comparison_claim_next",
    "comparison_skip",
    "lease_expiry",
    "preferences_from_order",
    "ranking_reopen_last",
    "ranking_submit",
]
