"""The reader's vocabulary: verdicts on findings, a lesion's review, reading and analysis status.

These are values, not storage: the store persists them, the GUI edits and shows them, reports
print them. Vertebral level names are in :mod:`mscc_desktop.core.vertebral_levels`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from mscc_desktop.core.grades import GradeGroup


class ReviewDecision(StrEnum):
    """What the reader said about one finding (lesion)."""

    ACCEPT = "accept"
    REJECT = "reject"
    REGRADE = "regrade"  # the reader's grade group is in ``Review.regraded_group``


class ReviewStatus(StrEnum):
    """Study-level reading status shown in the study browser."""

    UNREVIEWED = "unreviewed"
    IN_PROGRESS = "in_progress"  # at least one review or key image saved
    REVIEWED = "reviewed"  # the reader signed the study off


class StudyStatus(StrEnum):
    """Analysis state of a study as a whole, for the study browser."""

    NOT_ANALYSED = "not_analysed"
    RUNNING = "running"
    COMPLETE = "complete"
    STALE = "stale"  # analysed, but the source files changed since
    FAILED = "failed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"
    REFUSED = "refused"


@dataclass(frozen=True, slots=True)
class Review:
    """The reader's current verdict on one lesion of one analysis."""

    analysis_id: int
    lesion_number: int
    decision: ReviewDecision | None  # None: level or comment entered, no verdict yet
    regraded_group: GradeGroup | None  # set exactly when ``decision`` is REGRADE
    vertebral_level: str  # normalised, e.g. "T7" or "T7-T8"; "" when not entered
    comment: str
    user: str
    reviewed_at: datetime
