"""The vertebral numbering the reader confirmed for an analysis.

The program proposes a level for every slice (:mod:`mscc_desktop.core.spine.level_estimate`);
the reader confirms that numbering, or shifts the whole of it by one level, in one action.
What is stored is the proposal as it was (one level name or ``None`` per slice), the reader's
shift and who confirmed it when, in one row per analysis (replaced by a later confirmation),
and an audit row for every confirmation. The confirmed level of a slice is the proposal moved
by the shift, so the record shows both what the program said and what the reader made of it.

Once confirmed, a finding whose review carries no level of its own is named by the levels of
its slices (:meth:`LevelNumbering.level_range`); the PDF, the SR and the exports use that.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from sqlite_utils import Database

from mscc_desktop.core.errors import StoreError
from mscc_desktop.core.review import ReviewStatus
from mscc_desktop.core.spine.levels import LevelNumbering, shift_level
from mscc_desktop.core.vertebral_levels import LEVEL_RANK, VERTEBRAL_LEVELS
from mscc_desktop.storage._sql import now_utc, parse_time, time_text, write_transaction
from mscc_desktop.storage.audit import record_audit, resolve_user
from mscc_desktop.storage.records import AuditAction
from mscc_desktop.storage.reviews import set_study_review_status, study_review_status

MAX_SHIFT = 5
"""The numbering moves by one level at a time; a shift beyond this means the count is wrong,
and the reader should enter levels by hand instead."""


def save_level_numbering(
    db: Database,
    analysis_id: int,
    proposed_levels: Sequence[str | None],
    *,
    shift: int = 0,
    reason: str = "",
    confidence: float = 0.0,
    user: str = "",
) -> LevelNumbering:
    """Record the reader's confirmation of the numbering of one analysis; audited.

    Parameters
    ----------
    db
        An open store.
    analysis_id
        A stored analysis; ``proposed_levels`` must have one entry per slice of it.
    proposed_levels
        The program's proposal as it was (``LevelEstimate.levels`` before any shift).
    shift
        The reader's move of the whole numbering, +1 towards the feet (``-MAX_SHIFT`` to
        ``MAX_SHIFT``).
    reason, confidence
        The estimate's reason and confidence, kept with the record.
    user
        The reader; the operating-system login when empty.

    Raises
    ------
    ValueError
        No level proposed, an unknown level name, or a shift out of range.
    StoreError
        No such analysis, a slice count that does not match it, or the write failed.
    """
    levels = tuple(proposed_levels)
    unknown = sorted({n for n in levels if n is not None and n not in LEVEL_RANK})
    if unknown:
        raise ValueError(
            f"unknown vertebral level(s) {', '.join(unknown)}: use {VERTEBRAL_LEVELS[0]}-"
            f"{VERTEBRAL_LEVELS[-1]}"
        )
    if all(n is None for n in levels):
        raise ValueError(
            "nothing to confirm: the automatic count proposed no level; enter levels per "
            "finding in the review instead"
        )
    if not -MAX_SHIFT <= shift <= MAX_SHIFT:
        raise ValueError(
            f"a shift of {shift} levels is more than a miscount: enter the levels per finding "
            "in the review instead"
        )
    if all(shift_level(n, shift) is None for n in levels if n is not None):
        raise ValueError(f"a shift of {shift} levels moves every level off the spine")
    reader = resolve_user(user)
    now = now_utc()
    with write_transaction(db, doing="saving the level numbering"):
        row = db.execute(
            "SELECT a.n_slices, a.series_ref, s.study_ref FROM analyses a"
            " JOIN series s ON s.id = a.series_ref WHERE a.id = ?",
            [analysis_id],
        ).fetchone()
        if row is None:
            raise StoreError(f"Analysis {analysis_id} is not in the results store.")
        n_slices, series_id, study_id = int(row[0]), int(row[1]), int(row[2])
        if n_slices != len(levels):
            raise StoreError(
                f"The numbering has {len(levels)} slices but analysis {analysis_id} has "
                f"{n_slices}: estimate the levels again on the series as analysed."
            )
        db.execute(
            "INSERT INTO level_numbering (analysis_ref, proposed_levels, shift, reason,"
            " confidence, user, confirmed_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (analysis_ref) DO UPDATE SET proposed_levels ="
            " excluded.proposed_levels, shift = excluded.shift, reason = excluded.reason,"
            " confidence = excluded.confidence, user = excluded.user,"
            " confirmed_at = excluded.confirmed_at",
            [
                analysis_id,
                json.dumps(list(levels)),
                shift,
                reason,
                float(confidence),
                reader,
                time_text(now),
            ],
        )
        numbering = LevelNumbering(
            analysis_id, levels, shift, reason, float(confidence), reader, now
        )
        record_audit(
            db,
            AuditAction.LEVELS_CONFIRMED,
            user=reader,
            study_id=study_id,
            series_id=series_id,
            analysis_id=analysis_id,
            details={
                "shift": shift,
                "proposed": LevelNumbering(
                    analysis_id, levels, 0, reason, confidence, reader, now
                ).extent,
                "confirmed": numbering.extent,
            },
        )
        if study_review_status(db, study_id) is ReviewStatus.UNREVIEWED:
            # Confirming levels is reading the study, as saving a review is.
            set_study_review_status(db, study_id, ReviewStatus.IN_PROGRESS, user=reader)
    return numbering


def load_level_numbering(db: Database, analysis_id: int) -> LevelNumbering | None:
    """The numbering the reader confirmed for an analysis, or ``None`` if not (yet)."""
    row = db.execute(
        "SELECT proposed_levels, shift, reason, confidence, user, confirmed_at"
        " FROM level_numbering WHERE analysis_ref = ?",
        [analysis_id],
    ).fetchone()
    if row is None:
        return None
    try:
        raw = json.loads(row[0])
    except json.JSONDecodeError as error:
        raise StoreError(
            f"The confirmed level numbering of analysis {analysis_id} is damaged ({error}): "
            "confirm the levels again."
        ) from error
    levels = tuple(None if n is None else str(n) for n in raw)
    return LevelNumbering(
        analysis_id,
        levels,
        int(row[1]),
        str(row[2]),
        float(row[3]),
        str(row[4]),
        parse_time(row[5]),
    )
